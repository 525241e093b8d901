"""jacobian_decay: how does ||dh_T/dh_t|| decay or grow with the gap T - t, for tanh RNNs of
spectral radius rho, an LSTM and a GRU? (the study: rnnflow/studies/jacobian_decay.py)

    python experiments/jacobian_decay.py --backend jax --scale docs
    python experiments/jacobian_decay.py --rhos 0.95 1.05     # other spectral radii

A setting changed here gets a results folder of its own: <out>/<study>/<backend>-seed<S>-<scale>-<digest>/.
"""
import dataclasses

from rnnflow import studies
from rnnflow.studies import jacobian_decay


def main(argv=None):
    parser = studies.argument_parser(__doc__)  # --backend --seed --scale --out --force
    parser.add_argument("--rhos", type=float, nargs="+", help="spectral radii of the tanh RNNs")
    args = parser.parse_args(argv)

    settings = jacobian_decay.SCALES[args.scale]  # jacobian_decay.Settings, a frozen dataclass
    if args.rhos is not None:
        settings = dataclasses.replace(settings, rhos=args.rhos)  # a new Settings, checked on creation
    print(settings)
    result = studies.run("jacobian_decay", backend=args.backend, seed=args.seed, scale=args.scale,
                         out=args.out, settings=settings, force=args.force)

    print(studies.format_summary(result))  # the headline numbers, also in summary.json
    print("figures:", *result.figures, sep="\n  ")


if __name__ == "__main__":
    main()

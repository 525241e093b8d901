"""unit_circle: how far does the gradient reach in an LRU, a minGRU and a selective SSM against a tanh
RNN, an LSTM and a GRU of the same size? (the study: rnnflow/studies/unit_circle.py)

    python experiments/unit_circle.py --scale docs
    python experiments/unit_circle.py --reach-T 100000        # a longer reach measurement

A setting changed here gets a results folder of its own: <out>/<study>/<backend>-seed<S>-<scale>-<digest>/.
"""
import dataclasses

from rnnflow import studies
from rnnflow.studies import unit_circle


def main(argv=None):
    parser = studies.argument_parser(__doc__)  # --backend --seed --scale --out --force
    parser.add_argument("--reach-T", type=int, help="the longest gap of the reach measurement")
    args = parser.parse_args(argv)

    settings = unit_circle.SCALES[args.scale]  # unit_circle.Settings, a frozen dataclass
    if args.reach_T is not None:
        settings = dataclasses.replace(settings, reach_T=args.reach_T)  # a new Settings, checked on creation
    print(settings)
    result = studies.run("unit_circle", backend=args.backend, seed=args.seed, scale=args.scale,
                         out=args.out, settings=settings, force=args.force)

    print(studies.format_summary(result))  # the headline numbers, also in summary.json
    print("figures:", *result.figures, sep="\n  ")


if __name__ == "__main__":
    main()

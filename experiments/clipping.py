"""clipping: does clipping the gradient (by norm or by value) stop a tanh RNN with an exploding
W_hh from diverging on the adding problem? (the study: rnnflow/studies/clipping.py)

    python experiments/clipping.py --backend jax --scale docs
    python experiments/clipping.py --seeds 4                  # more runs per clipping mode

A setting changed here gets a results folder of its own: <out>/<study>/<backend>-seed<S>-<scale>-<digest>/.
"""
import dataclasses

from rnnflow import studies
from rnnflow.studies import clipping


def main(argv=None):
    parser = studies.argument_parser(__doc__)  # --backend --seed --scale --out --force
    parser.add_argument("--seeds", type=int, help="runs per clipping mode")
    args = parser.parse_args(argv)

    settings = clipping.SCALES[args.scale]  # clipping.Settings, a frozen dataclass
    if args.seeds is not None:
        settings = dataclasses.replace(settings, seeds=args.seeds)  # a new Settings, checked on creation
    print(settings)
    result = studies.run("clipping", backend=args.backend, seed=args.seed, scale=args.scale,
                         out=args.out, settings=settings, force=args.force)

    print(studies.format_summary(result))  # the headline numbers, also in summary.json
    print("figures:", *result.figures, sep="\n  ")


if __name__ == "__main__":
    main()

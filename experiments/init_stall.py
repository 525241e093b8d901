"""init_stall: does a sigmoid MLP initialised N(1, 1) stop learning, and do Xavier init, He init +
ReLU and BatchNorm each remove the stall? (the study: rnnflow/studies/init_stall.py)

    python experiments/init_stall.py --backend jax --scale docs
    python experiments/init_stall.py --lr 1e-2                # does a larger step escape the stall?

A setting changed here gets a results folder of its own: <out>/<study>/<backend>-seed<S>-<scale>-<digest>/.
"""
import dataclasses

from rnnflow import studies
from rnnflow.studies import init_stall


def main(argv=None):
    parser = studies.argument_parser(__doc__)  # --backend --seed --scale --out --force
    parser.add_argument("--lr", type=float, help="Adam's learning rate")
    args = parser.parse_args(argv)

    settings = init_stall.SCALES[args.scale]  # init_stall.Settings, a frozen dataclass
    if args.lr is not None:
        settings = dataclasses.replace(settings, lr=args.lr)  # a new Settings, checked on creation
    print(settings)
    result = studies.run("init_stall", backend=args.backend, seed=args.seed, scale=args.scale,
                         out=args.out, settings=settings, force=args.force)

    print(studies.format_summary(result))  # the headline numbers, also in summary.json
    print("figures:", *result.figures, sep="\n  ")


if __name__ == "__main__":
    main()

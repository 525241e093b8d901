"""activations: how do the per-layer gradient distributions of a deep, narrow MLP differ between
ReLU, sigmoid, leaky ReLU, ELU, GELU and Swish? (the study: rnnflow/studies/activations.py)

    python experiments/activations.py --backend jax --scale docs
    python experiments/activations.py --epochs 10             # a longer run

A setting changed here gets a results folder of its own: <out>/<study>/<backend>-seed<S>-<scale>-<digest>/.
"""
import dataclasses

from rnnflow import studies
from rnnflow.studies import activations


def main(argv=None):
    parser = studies.argument_parser(__doc__)  # --backend --seed --scale --out --force
    parser.add_argument("--epochs", type=int, help="passes over the digits")
    args = parser.parse_args(argv)

    settings = activations.SCALES[args.scale]  # activations.Settings, a frozen dataclass
    if args.epochs is not None:
        settings = dataclasses.replace(settings, epochs=args.epochs)  # a new Settings, checked on creation
    print(settings)
    result = studies.run("activations", backend=args.backend, seed=args.seed, scale=args.scale,
                         out=args.out, settings=settings, force=args.force)

    print(studies.format_summary(result))  # the headline numbers, also in summary.json
    print("figures:", *result.figures, sep="\n  ")


if __name__ == "__main__":
    main()

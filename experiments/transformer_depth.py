"""transformer_depth: how does the per-layer gradient norm at init change with depth, for post-LN,
pre-LN, no residual and no LayerNorm? (the study: rnnflow/studies/transformer_depth.py)

    python experiments/transformer_depth.py --backend jax --scale docs
    python experiments/transformer_depth.py --depths 2 4 8     # other numbers of layers

A setting changed here gets a results folder of its own: <out>/<study>/<backend>-seed<S>-<scale>-<digest>/.
"""
import dataclasses

from rnnflow import studies
from rnnflow.studies import transformer_depth


def main(argv=None):
    parser = studies.argument_parser(__doc__)  # --backend --seed --scale --out --force
    parser.add_argument("--depths", type=int, nargs="+", help="numbers of layers, increasing")
    args = parser.parse_args(argv)

    settings = transformer_depth.SCALES[args.scale]  # transformer_depth.Settings, a frozen dataclass
    if args.depths is not None:
        settings = dataclasses.replace(settings, depths=args.depths)  # a new Settings, checked on creation
    print(settings)
    result = studies.run("transformer_depth", backend=args.backend, seed=args.seed, scale=args.scale,
                         out=args.out, settings=settings, force=args.force)

    print(studies.format_summary(result))  # the headline numbers, also in summary.json
    print("figures:", *result.figures, sep="\n  ")


if __name__ == "__main__":
    main()

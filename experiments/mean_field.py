"""mean_field: does the per-layer gradient slope of a wide random MLP follow ln(chi_1)/2, and where
does it stop training? (the study: rnnflow/studies/mean_field.py)

    python experiments/mean_field.py --backend jax --scale docs
    python experiments/mean_field.py --width 1024 --depth 48     # wider and deeper measured MLPs

A setting changed here gets a results folder of its own: <out>/<study>/<backend>-seed<S>-<scale>-<digest>/.
"""
import dataclasses

from rnnflow import studies
from rnnflow.studies import mean_field


def main(argv=None):
    parser = studies.argument_parser(__doc__)  # --backend --seed --scale --out --force
    parser.add_argument("--width", type=int, help="hidden units of the measured MLPs")
    parser.add_argument("--depth", type=int, help="hidden layers of the measured MLPs")
    args = parser.parse_args(argv)

    settings = mean_field.SCALES[args.scale]  # mean_field.Settings, a frozen dataclass
    changes = {k: v for k, v in (("width", args.width), ("depth", args.depth)) if v is not None}
    settings = dataclasses.replace(settings, **changes)  # a new Settings, checked on creation
    print(settings)
    result = studies.run("mean_field", backend=args.backend, seed=args.seed, scale=args.scale,
                         out=args.out, settings=settings, force=args.force)

    print(studies.format_summary(result))  # the headline numbers, also in summary.json
    print("figures:", *result.figures, sep="\n  ")


if __name__ == "__main__":
    main()

"""isometry: which deep networks keep every singular value of their input-output Jacobian near 1?
(the study: rnnflow/studies/isometry.py)

    python experiments/isometry.py --scale docs
    python experiments/isometry.py --width 512       # wider layers: closer to the N -> infinity theory

A setting changed here gets a results folder of its own: <out>/<study>/<backend>-seed<S>-<scale>-<digest>/.
"""
import dataclasses

from rnnflow import studies
from rnnflow.studies import isometry


def main(argv=None):
    parser = studies.argument_parser(__doc__)  # --backend --seed --scale --out --force
    parser.add_argument("--width", type=int, help="units per layer N")
    args = parser.parse_args(argv)

    settings = isometry.SCALES[args.scale]  # isometry.Settings, a frozen dataclass
    if args.width is not None:
        settings = dataclasses.replace(settings, width=args.width)  # a new Settings, checked on creation
    print(settings)
    result = studies.run("isometry", backend=args.backend, seed=args.seed, scale=args.scale,
                         out=args.out, settings=settings, force=args.force)

    print(studies.format_summary(result))  # the headline numbers, also in summary.json
    print("figures:", *result.figures, sep="\n  ")


if __name__ == "__main__":
    main()

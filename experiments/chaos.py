"""chaos: where does a random tanh RNN become chaotic, and does its Lyapunov spectrum follow mean-field theory?
(the study: rnnflow/studies/chaos.py)

    python experiments/chaos.py --scale docs
    python experiments/chaos.py --width 400      # a larger network for the g-sweep: closer to mean field

A setting changed here gets a results folder of its own: <out>/<study>/<backend>-seed<S>-<scale>-<digest>/.
"""
import dataclasses

from rnnflow import studies
from rnnflow.studies import chaos


def main(argv=None):
    parser = studies.argument_parser(__doc__)  # --backend --seed --scale --out --force
    parser.add_argument("--width", type=int, help="units N of the g-sweep's network")
    args = parser.parse_args(argv)

    settings = chaos.SCALES[args.scale]  # chaos.Settings, a frozen dataclass
    if args.width is not None:
        settings = dataclasses.replace(settings, width=args.width)  # a new Settings, checked on creation
    print(settings)
    result = studies.run("chaos", backend=args.backend, seed=args.seed, scale=args.scale,
                         out=args.out, settings=settings, force=args.force)

    print(studies.format_summary(result))  # the headline numbers, also in summary.json
    print("figures:", *result.figures, sep="\n  ")


if __name__ == "__main__":
    main()

"""curse_of_memory: how fast does a linear recurrence's parameter sensitivity grow as lambda -> 1,
and what tames it? (the study: rnnflow/studies/curse_of_memory.py)

    python experiments/curse_of_memory.py --scale docs
    python experiments/curse_of_memory.py --samples 20000000     # smaller Monte-Carlo error bars

A setting changed here gets a results folder of its own: <out>/<study>/<backend>-seed<S>-<scale>-<digest>/.
"""
import dataclasses

from rnnflow import studies
from rnnflow.studies import curse_of_memory


def main(argv=None):
    parser = studies.argument_parser(__doc__)  # --backend --seed --scale --out --force
    parser.add_argument("--samples", type=int, help="squared terms averaged per value of 1 - lambda")
    args = parser.parse_args(argv)

    settings = curse_of_memory.SCALES[args.scale]  # curse_of_memory.Settings, a frozen dataclass
    if args.samples is not None:
        settings = dataclasses.replace(settings, samples=args.samples)  # a new Settings, checked on creation
    print(settings)
    result = studies.run("curse_of_memory", backend=args.backend, seed=args.seed, scale=args.scale,
                         out=args.out, settings=settings, force=args.force)

    print(studies.format_summary(result))  # the headline numbers, also in summary.json
    print("figures:", *result.figures, sep="\n  ")


if __name__ == "__main__":
    main()

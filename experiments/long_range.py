"""long_range: up to which sequence length T do a tanh RNN, an IRNN, an LSTM, a GRU and a
Transformer solve the adding problem? (the study: rnnflow/studies/long_range.py)

    python experiments/long_range.py --backend jax --scale docs
    python experiments/long_range.py --lengths 5 10 20         # other lengths

A setting changed here gets a results folder of its own: <out>/<study>/<backend>-seed<S>-<scale>-<digest>/.
"""
import dataclasses

from rnnflow import studies
from rnnflow.studies import long_range


def main(argv=None):
    parser = studies.argument_parser(__doc__)  # --backend --seed --scale --out --force
    parser.add_argument("--lengths", type=int, nargs="+", help="sequence lengths T, increasing")
    args = parser.parse_args(argv)

    settings = long_range.SCALES[args.scale]  # long_range.Settings, a frozen dataclass
    if args.lengths is not None:
        settings = dataclasses.replace(settings, lengths=args.lengths)  # a new Settings, checked on creation
    print(settings)
    result = studies.run("long_range", backend=args.backend, seed=args.seed, scale=args.scale,
                         out=args.out, settings=settings, force=args.force)

    print(studies.format_summary(result))  # the headline numbers, also in summary.json
    print("figures:", *result.figures, sep="\n  ")


if __name__ == "__main__":
    main()

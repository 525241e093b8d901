"""copy_spectra: where do the recurrent eigenvalues and Lyapunov exponents of a tanh RNN and an LSTM go as
they learn the copy task? (the study: rnnflow/studies/copy_spectra.py)

    python experiments/copy_spectra.py --scale docs
    python experiments/copy_spectra.py --delay 40        # a longer delay to bridge

A setting changed here gets a results folder of its own: <out>/<study>/<backend>-seed<S>-<scale>-<digest>/.
"""
import dataclasses

from rnnflow import studies
from rnnflow.studies import copy_spectra


def main(argv=None):
    parser = studies.argument_parser(__doc__)  # --backend --seed --scale --out --force
    parser.add_argument("--delay", type=int, help="steps between the last symbol and the marker")
    args = parser.parse_args(argv)

    settings = copy_spectra.SCALES[args.scale]  # copy_spectra.Settings, a frozen dataclass
    if args.delay is not None:
        settings = dataclasses.replace(settings, delay=args.delay)  # a new Settings, checked on creation
    print(settings)
    result = studies.run("copy_spectra", backend=args.backend, seed=args.seed, scale=args.scale,
                         out=args.out, settings=settings, force=args.force)

    print(studies.format_summary(result))  # the headline numbers, also in summary.json
    print("figures:", *result.figures, sep="\n  ")


if __name__ == "__main__":
    main()

"""tanh_vs_weights: is vanishing caused by tanh' and exploding by the repeated W_hh? The study
(rnnflow/studies/tanh_vs_weights.py) splits ||dh_T/dh_t|| of two tanh RNNs into both factors.

    python experiments/tanh_vs_weights.py --backend jax --scale docs
    python experiments/tanh_vs_weights.py --steps 60          # longer sequences

A setting changed here gets a results folder of its own: <out>/<study>/<backend>-seed<S>-<scale>-<digest>/.
"""
import dataclasses

from rnnflow import studies
from rnnflow.studies import tanh_vs_weights


def main(argv=None):
    parser = studies.argument_parser(__doc__)  # --backend --seed --scale --out --force
    parser.add_argument("--steps", type=int, help="sequence length T")
    args = parser.parse_args(argv)

    settings = tanh_vs_weights.SCALES[args.scale]  # tanh_vs_weights.Settings, a frozen dataclass
    if args.steps is not None:
        settings = dataclasses.replace(settings, steps=args.steps)  # a new Settings, checked on creation
    print(settings)
    result = studies.run("tanh_vs_weights", backend=args.backend, seed=args.seed, scale=args.scale,
                         out=args.out, settings=settings, force=args.force)

    print(studies.format_summary(result))  # the headline numbers, also in summary.json
    print("figures:", *result.figures, sep="\n  ")


if __name__ == "__main__":
    main()

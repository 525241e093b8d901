"""Command-line entry point: ``rnnflow <command>`` (also ``python -m rnnflow``)."""
from __future__ import annotations

import argparse
import sys


def _demo(args) -> int:
    """Build a tanh RNN and an LSTM in both backends from one seeded parameter set,
    run one batch and report how closely the backends agree."""
    from .config import LSTMConfig, RNNConfig
    from .parity import compare_backends

    reports = [compare_backends(cfg, seed=args.seed, batch=args.batch, steps=args.steps)
               for cfg in (RNNConfig(8, args.hidden, activation="tanh", output_size=4),
                           LSTMConfig(8, args.hidden, output_size=4))]
    for r in reports:
        print(r.line())
    ok = all(r.ok(1e-4) for r in reports)
    print(f"torch and jax {'agree' if ok else 'DISAGREE'} (float32, B={args.batch}, T={args.steps}, "
          f"H={args.hidden}, seed={args.seed}): outputs, all hidden states and parameter gradients")
    return 0 if ok else 1


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="rnnflow", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    demo = sub.add_parser("demo", help="cross-backend parity check on a tanh RNN and an LSTM")
    demo.add_argument("--seed", type=int, default=0)
    demo.add_argument("--batch", type=int, default=16)
    demo.add_argument("--steps", type=int, default=64)
    demo.add_argument("--hidden", type=int, default=32)
    demo.set_defaults(func=_demo)
    args = parser.parse_args(argv)
    return args.func(args)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())

"""Command-line entry point: ``rnnflow <command>`` (also ``python -m rnnflow``)."""
from __future__ import annotations

import argparse
import os
import sys


FLAGSHIP = ("jacobian_decay", "clipping")


def _demo(args) -> int:
    """The main job: check that both backends agree on one seeded parameter set, then run
    the flagship studies at a small scale and print where their figures went."""
    from . import studies
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
    if not ok:
        return 1
    for name in (n for n in FLAGSHIP if n in studies.STUDIES):
        r = studies.run(name, backend=args.backend, seed=args.seed, scale=args.scale, out=args.out,
                        progress=not args.no_progress)
        print(f"== {name} [{args.backend}, {args.scale}]: "
              + ("loaded (already complete)" if r.reused else f"ran in {r.seconds:.1f} s"))
        for path in r.figures:
            print(f"   figure: {os.path.abspath(path)}")
    return 0


def _run(args) -> int:
    """Run one study (or all) in the chosen backend(s); print headline numbers and file paths."""
    import json

    from . import studies
    names = studies.STUDIES if args.name == "all" else (args.name,)
    backends = ("torch", "jax") if args.backend == "both" else (args.backend,)
    for name in names:
        for backend in backends:
            r = studies.run(name, backend=backend, seed=args.seed, scale=args.scale, out=args.out,
                            progress=not args.no_progress, force=args.force)
            state = "loaded (already complete)" if r.reused else f"ran in {r.seconds:.1f} s"
            print(f"== {name} [{backend}, seed {r.seed}, {r.scale}] {state}")
            if args.verbose:
                print(json.dumps(r.summary, indent=2, default=str))
            for path in r.figures:
                print(f"   figure: {path}")
            print(f"   results: {r.folder}/summary.json")
    return 0


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="rnnflow", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    demo = sub.add_parser("demo", help="the main job: backend parity check, then the flagship studies")
    demo.add_argument("--seed", type=int, default=0)
    demo.add_argument("--batch", type=int, default=16)
    demo.add_argument("--steps", type=int, default=64)
    demo.add_argument("--hidden", type=int, default=32)
    from .studies import SCALES, STUDIES
    demo.add_argument("--backend", choices=("torch", "jax"), default="torch")
    demo.add_argument("--scale", choices=SCALES, default="smoke")
    demo.add_argument("--out", default="results")
    demo.add_argument("--no-progress", action="store_true")
    demo.set_defaults(func=_demo)
    run = sub.add_parser("run", help="run a study and write its results folder and figures")
    run.add_argument("name", choices=STUDIES + ("all",))
    run.add_argument("--backend", choices=("torch", "jax", "both"), default="torch")
    run.add_argument("--seed", type=int, default=0)
    run.add_argument("--scale", choices=SCALES, default="smoke",
                     help="smoke: seconds (tests); docs: what the docs show; full: the real thing")
    run.add_argument("--out", default="results", help="results root folder (default: ./results)")
    run.add_argument("--force", action="store_true", help="recompute even if a complete folder exists")
    run.add_argument("--no-progress", action="store_true", help="no progress bars")
    run.add_argument("-v", "--verbose", action="store_true", help="print the headline numbers as JSON")
    run.set_defaults(func=_run)
    args = parser.parse_args(argv)
    return args.func(args)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())

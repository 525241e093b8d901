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


# ---------------------------------------------------------------- errors and argument checks
USER_ERRORS = (ValueError, TypeError, OSError)   # what rnnflow raises for bad input (OSError: FileExists, Permission, ...)


class _Parser(argparse.ArgumentParser):
    """argparse with its errors on one line, ``rnnflow: error: ...`` (exit code 2), like the rest."""

    def error(self, message):
        self.exit(2, f"rnnflow: error: {message} (see {self.prog} --help)\n")


def _count(lo: int):
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is invalid: expected an integer >= {lo}") from None
        if value < lo:
            raise argparse.ArgumentTypeError(f"{value} is invalid: expected an integer >= {lo}")
        return value
    parse.__name__ = f"integer >= {lo}"
    return parse


def _folder(text: str) -> str:
    from .validation import check_folder
    try:
        return check_folder("--out", text)
    except USER_ERRORS as e:
        raise argparse.ArgumentTypeError(str(e).removeprefix("--out=")) from None


def _one_line(e: BaseException) -> str:
    if isinstance(e, OSError) and e.strerror and e.filename:
        return f"{e.strerror}: {e.filename!r}"
    return " ".join(str(e).split()) or type(e).__name__


def main(argv=None) -> int:
    """``rnnflow <command> ...``: 0 on success; a user error is one line on stderr and exit
    code 2 (``--debug`` shows its traceback instead)."""
    parser = _Parser(prog="rnnflow", description=__doc__)
    parser.add_argument("--debug", action="store_true", help="show the full traceback of an error")
    sub = parser.add_subparsers(dest="command", required=True)
    demo = sub.add_parser("demo", help="the main job: backend parity check, then the flagship studies")
    demo.add_argument("--seed", type=_count(0), default=0)
    demo.add_argument("--batch", type=_count(1), default=16)
    demo.add_argument("--steps", type=_count(1), default=64)
    demo.add_argument("--hidden", type=_count(1), default=32)
    from .studies import SCALES, STUDIES
    demo.add_argument("--backend", choices=("torch", "jax"), default="torch")
    demo.add_argument("--scale", choices=SCALES, default="smoke")
    demo.add_argument("--out", type=_folder, default="results")
    demo.add_argument("--no-progress", action="store_true")
    demo.set_defaults(func=_demo)
    run = sub.add_parser("run", help="run a study and write its results folder and figures")
    run.add_argument("name", choices=STUDIES + ("all",))
    run.add_argument("--backend", choices=("torch", "jax", "both"), default="torch")
    run.add_argument("--seed", type=_count(0), default=0)
    run.add_argument("--scale", choices=SCALES, default="smoke",
                     help="smoke: seconds (tests); docs: what the docs show; full: the real thing")
    run.add_argument("--out", type=_folder, default="results", help="results root folder (default: ./results)")
    run.add_argument("--force", action="store_true", help="recompute even if a complete folder exists")
    run.add_argument("--no-progress", action="store_true", help="no progress bars")
    run.add_argument("-v", "--verbose", action="store_true", help="print the headline numbers as JSON")
    run.set_defaults(func=_run)
    args = parser.parse_args(argv)
    try:
        return args.func(args)
    except USER_ERRORS as e:
        if args.debug:
            raise
        print(f"rnnflow: error: {_one_line(e)}", file=sys.stderr)
        return 2


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())

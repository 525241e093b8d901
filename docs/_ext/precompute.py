"""Run every study the gallery shows, in both backends, ``--workers`` at a time, before Sphinx
builds the pages (``make docs``). The pages then reuse these folders (``RNNFLOW_DOCS_REUSE=1``)
and only draw and render: Sphinx runs the pages one after another in one process, so without
this a 2-core machine leaves one core idle for the whole build.

Each (study, backend) run is an ordinary ``rnnflow run NAME --backend B --scale S --out ROOT``
in its own process with its BLAS/XLA/torch threads capped at ``cores // workers``
(:func:`rnnflow.sweep.engines.thread_env`), so two runs do not oversubscribe two cores. The
longest runs start first, ordered by the times the previous build recorded in
``ROOT.times.json`` (next to the results folder, which ``make docs`` wipes; written atomically
after every run), or on a fresh checkout by ``docs/_ext/precompute-times-SCALE.json``. A failed run is reported
with the last lines of its output and leaves nothing to reuse: its page recomputes it and the
build, with ``-W``, shows the error there. Exit status 0 when every run finished, 1 otherwise.

    python docs/_ext/precompute.py [--scale docs] [--workers N] [--out results/docs]
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor, as_completed

HERE = os.path.dirname(os.path.abspath(__file__))
CHECKOUT = os.path.dirname(os.path.dirname(HERE))
BACKENDS = ("torch", "jax")


def tasks(studies, previous: dict) -> list[tuple[str, str]]:
    """Every (study, backend), the longest first by ``previous`` seconds (unknown ones first)."""
    pairs = [(s, b) for s in studies for b in BACKENDS]
    return sorted(pairs, key=lambda p: -previous.get(f"{p[0]}/{p[1]}", float("inf")))


def run_one(study: str, backend: str, *, scale: str, out: str, threads: int,
            force: bool) -> tuple[int, float, bool, str]:
    """``rnnflow run`` in a subprocess: (exit status, seconds, whether it loaded a complete
    folder instead of computing, last lines of its output)."""
    from rnnflow.sweep.engines import thread_env
    cmd = [sys.executable, "-m", "rnnflow", "run", study, "--backend", backend, "--scale", scale,
           "--out", out, "--no-progress"] + (["--force"] if force else [])
    env = {**os.environ, **thread_env(threads)}
    start = time.perf_counter()
    proc = subprocess.run(cmd, cwd=CHECKOUT, env=env, capture_output=True, text=True)
    tail = "\n".join((proc.stdout + proc.stderr).strip().splitlines()[-8:])
    return proc.returncode, time.perf_counter() - start, "loaded (already complete)" in proc.stdout, tail


def main(argv=None) -> int:
    from rnnflow import studies
    from rnnflow.io import atomic_write_text
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--scale", default=os.environ.get("RNNFLOW_SCALE", "docs"), choices=("smoke", "docs", "full"))
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--out", default=os.environ.get("RNNFLOW_DOCS_OUT", os.path.join("results", "docs")))
    parser.add_argument("--force", action="store_true", help="recompute complete folders too")
    args = parser.parse_args(argv)
    if args.workers < 1:
        parser.error(f"--workers={args.workers} is invalid: expected an integer >= 1")
    out = os.path.join(CHECKOUT, args.out)
    threads = max(1, (os.cpu_count() or 1) // args.workers)
    times_file = out.rstrip(os.sep) + ".times.json"
    previous = {}
    for path in (os.path.join(HERE, f"precompute-times-{args.scale}.json"), times_file):
        try:
            with open(path) as f:
                previous.update(json.load(f))
        except (OSError, ValueError):
            pass
    todo = tasks(list(studies.STUDIES), previous)
    print(f"precompute: {len(todo)} runs at scale {args.scale!r}, {args.workers} at a time, "
          f"{threads} thread(s) each, into {args.out}", flush=True)
    start, times, failed = time.perf_counter(), dict(previous), []
    with ThreadPoolExecutor(args.workers) as pool:
        futures = {pool.submit(run_one, s, b, scale=args.scale, out=out, threads=threads, force=args.force): (s, b)
                   for s, b in todo}
        for n, fut in enumerate(as_completed(futures), 1):
            (s, b), (rc, seconds, reused, tail) = futures[fut], fut.result()
            elapsed = time.perf_counter() - start
            if rc == 0 and reused:
                print(f"[{n}/{len(todo)} {elapsed:6.0f} s] {s} ({b}): complete already", flush=True)
            elif rc == 0:
                times[f"{s}/{b}"] = round(seconds, 1)
                os.makedirs(os.path.dirname(times_file), exist_ok=True)
                atomic_write_text(times_file, json.dumps(times, indent=1, sort_keys=True) + "\n")
                print(f"[{n}/{len(todo)} {elapsed:6.0f} s] {s} ({b}): {seconds:.1f} s", flush=True)
            else:
                failed.append((s, b))
                print(f"[{n}/{len(todo)} {elapsed:6.0f} s] {s} ({b}) FAILED (exit {rc}):\n{tail}", flush=True)
    total = time.perf_counter() - start
    serial = sum(times.get(f"{s}/{b}", 0.0) for s, b in todo if (s, b) not in failed)
    print(f"precompute: {len(todo) - len(failed)}/{len(todo)} runs in {total:.0f} s "
          f"(one at a time, their last computed times add up to {serial:.0f} s)", flush=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())

"""Wall time of one 16-cell smoke sweep (tanh_vs_weights, hidden x batch x steps x 2 seeds):
serial (in process), the local pool (os.cpu_count() workers) and Ray (a local Ray started by
the sweep, when ray is installed); each in a fresh results folder, so every cell computes.

    python benchmarks/bench_sweep.py
"""
from __future__ import annotations

import os
import tempfile
import time

from rnnflow.sweep import Sweep, run_sweep

SWEEP = Sweep("tanh_vs_weights", (("hidden", ("4", "8")), ("batch", ("1", "2")), ("steps", ("10", "30"))),
              seeds=(0, 1))


def main() -> None:
    engines = [("serial", dict(workers=1)), (f"pool x{os.cpu_count()}", dict(workers=os.cpu_count()))]
    try:
        import ray  # noqa: F401
        engines.append(("ray (local)", dict(engine="ray")))
    except ImportError:
        pass
    times = {}
    for name, kw in engines:
        with tempfile.TemporaryDirectory() as out:
            t0 = time.perf_counter()
            _, rows = run_sweep(SWEEP, out=out, progress=False, **kw)
            times[name] = time.perf_counter() - t0
            assert all(r["status"] == "finished" for r in rows)
    n = len(SWEEP.cells())
    print(f"{n}-cell smoke sweep on {os.cpu_count()} cores")
    print(f"{'engine':<14} {'wall s':>7} {'s/cell':>7}")
    for name, t in times.items():
        print(f"{name:<14} {t:7.1f} {t / n:7.2f}")
    if "ray (local)" in times:
        pool = times[f"pool x{os.cpu_count()}"]
        print(f"Ray overhead vs the pool: {(times['ray (local)'] - pool) / n:+.2f} s per cell")


if __name__ == "__main__":
    main()

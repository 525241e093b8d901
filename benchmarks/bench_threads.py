"""One thread against two (or ``--threads``) for each analyzer route, by state size: the
measurements behind :mod:`rnnflow.analysis.threads`' rule.

Each row runs the analyzer with ``threads=1`` and ``threads=N`` (torch CPU kernels and the host
BLAS together), interleaved for ``--rounds`` rounds after a warm-up; min ms of each and
t1/tN (above 1: more threads are faster), and what ``threads=None`` picks there.

    python benchmarks/bench_threads.py [--threads 2 --rounds 4] [--quick]
"""
from __future__ import annotations

import argparse
import os
import sys

_HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(_HERE))  # this tree's rnnflow, not the venv's editable install
sys.path.insert(0, _HERE)
import _timing  # noqa: E402

# (route, cell, N, T): T chosen so a call takes 0.1-3 s on one core
CASES = [("exact", "rnn", 128, 256), ("exact", "rnn", 512, 64), ("none", "rnn", 512, 128), ("none", "rnn", 1024, 32),
         ("exact", "lstm", 256, 32), ("topk", "rnn", 1024, 64), ("lyapunov", "rnn", 128, 256),
         ("lyapunov", "rnn", 512, 64), ("reach", "rnn", 128, 256), ("reach", "rnn", 512, 128)]
QUICK = [("exact", "rnn", 32, 32), ("none", "rnn", 64, 16), ("lyapunov", "rnn", 32, 32), ("reach", "rnn", 32, 32)]


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--threads", type=int, default=2, help="the count compared with 1 (default 2)")
    ap.add_argument("--rounds", type=int, default=4)
    ap.add_argument("--quick", action="store_true", help="tiny sizes, 1 round: a check of the script")
    a = ap.parse_args(argv)
    import numpy as np
    import torch
    import rnnflow as rf
    from rnnflow import analysis
    from rnnflow.analysis.threads import choose_threads
    print(_timing.header(a.threads))
    rows = []
    for route, cell, N, T in QUICK if a.quick else CASES:
        cfg = (rf.RNNConfig if cell == "rnn" else rf.LSTMConfig)(8, N // 2 if cell == "lstm" else N)
        model = rf.build(cfg, rf.init_params(cfg, 0), backend="torch")
        x = np.random.default_rng(0).standard_normal((T, 2, 8)).astype("float32")
        call = {"exact": lambda n: analysis.jacobians_over_time(model, x, threads=n),
                "none": lambda n: analysis.jacobians_over_time(model, x, spectral="none", threads=n),
                "topk": lambda n: analysis.jacobians_over_time(model, x, spectral="topk", topk=8, threads=n),
                "lyapunov": lambda n: analysis.lyapunov_spectrum(model, x, warmup=8, threads=n),
                "reach": lambda n: analysis.gradient_reach(model, x, threads=n)}[route]
        fns = {n: _timing.looped(lambda n=n: call(n)) for n in (1, a.threads)}
        wall, _ = _timing.interleave(fns, 1 if a.quick else a.rounds, 1, warmup=1)
        t1, tn = min(wall[1]), min(wall[a.threads])
        auto = choose_threads(N, route in ("none", "topk", "reach"))
        rows.append([route, cell, N, T, f"{t1 * 1e3:.0f}", f"{tn * 1e3:.0f}", f"{t1 / tn:.2f}",
                     "1" if auto == 1 else f"caller's ({torch.get_num_threads()})"])
        print(" | ".join(map(str, rows[-1])), flush=True)
    print()
    print(_timing.markdown(["route", "cell", "N", "T", "1 thread ms", f"{a.threads} threads ms", f"t1/t{a.threads}",
                            "threads=None picks"], rows))


if __name__ == "__main__":
    main()

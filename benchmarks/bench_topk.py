"""Benchmark: the top-k singular values of dh_T/dh_t at a large hidden size, never forming J(t).

``jacobians_over_time(model, xs, spectral="topk", topk=k)`` on a tanh RNN (float64, batch 1,
default Gaussian ``W_hh``, H=2048, T=1024, k=8 by default), timed whole (trace + step
Jacobians + :func:`rnnflow.analysis.topk.topk_norms`) and in parts, for ``--rounds`` rounds
(min and median), with peak memory: ``tracemalloc`` (NumPy allocations of the top-k sweep)
and the process's max RSS (``resource.getrusage``). The bound: the ``T`` steps of one
``(k + 8, H) x (H, H)`` GEMM (one sweep; the route makes about two), and the same with the backward sweep in float32. Torch and BLAS on
``--threads`` threads (default 1). Usage: ``python benchmarks/bench_topk.py [--H 2048 --T 1024]``.
"""
from __future__ import annotations

import argparse
import os
import resource
import sys
import time
import tracemalloc

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))  # this tree's rnnflow


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--H", type=int, default=2048)
    ap.add_argument("--T", type=int, default=1024)
    ap.add_argument("--k", type=int, default=8)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args(argv)
    import torch
    torch.set_num_threads(args.threads)
    import rnnflow
    from rnnflow.analysis import jacobians_over_time
    from rnnflow.analysis.backends import backend_modules
    from rnnflow.analysis.jacobians import run_trace, trace_step_jacobians
    from rnnflow.analysis.topk import OVERSAMPLE, topk_norms
    from threadpoolctl import threadpool_limits
    threadpool_limits(args.threads)
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    H, T, k, I = args.H, args.T, args.k, 8
    cfg = rnnflow.RNNConfig(I, H)
    model = rnnflow.build(cfg, rnnflow.init_params(cfg, 0, np.float64), backend="torch")
    xs = np.random.default_rng(0).standard_normal((T, 1, I))
    bk = backend_modules("torch")
    p = k + OVERSAMPLE
    w = np.random.default_rng(1).standard_normal((H, H))
    x = np.random.default_rng(2).standard_normal((p, H))
    print(f"# {os.cpu_count()} CPUs, load average {' '.join(f'{v:.2f}' for v in os.getloadavg())}; "
          f"numpy {np.__version__}, torch {torch.__version__}, {args.threads} thread(s); "
          f"H={H}, T={T}, k={k} (p={p} vectors), batch 1, float64, {args.rounds} rounds")
    times = {"whole": [], "trace": [], "topk": [], "topk32": [], "bound": []}
    for _ in range(args.rounds):
        t0 = time.perf_counter()
        res = jacobians_over_time(model, xs, spectral="topk", topk=k)
        times["whole"].append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        tr = run_trace(bk, model, xs)
        steps = trace_step_jacobians(bk, model, tr)
        times["trace"].append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        topk_norms(steps, k)
        times["topk"].append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        r32 = topk_norms(steps, k, dtype="float32")
        times["topk32"].append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        for _ in range(T):
            x @ w
        times["bound"].append(time.perf_counter() - t0)
    tracemalloc.start()
    topk_norms(steps, k)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux
    print(f"{'part':34} {'min s':>7} {'median s':>9}")
    for name, label in (("whole", "jacobians_over_time (total)"), ("trace", "  trace + phi'"),
                        ("topk", "  topk_norms"), ("topk32", "topk_norms(dtype='float32')"), ("bound", f"bound: {T} x ({p},{H})x({H},{H})")):
        print(f"{label:34} {min(times[name]):7.2f} {float(np.median(times[name])):9.2f}")
    print(f"# peak memory: topk_norms {peak / 2**20:.0f} MiB (tracemalloc), process max RSS {rss:.0f} MiB; "
          f"W_hh alone {H * H * 8 / 2**20:.0f} MiB, dense J(t) would be {H * H * 8 / 2**20:.0f} MiB per t")
    print(f"# log sigma_1..{k} at the largest gap: {np.array2string(res.log_singular[0, 0], precision=3)}")
    dev = np.abs(r32["log_singular"] - res.log_singular).max()
    print(f"# float32 backward sweep: max |log sigma_i - float64's| = {dev:.1e}")
    print(f"# load average after: {' '.join(f'{v:.2f}' for v in os.getloadavg())}")


if __name__ == "__main__":
    main()

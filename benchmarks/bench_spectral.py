"""Benchmark: log-norms of dh_T/dh_t, before and after closed-form LSTM/GRU step Jacobians
and the batched, certified spectral norms, against the FLOP bound measured in the same run.

Rows (float64, batch 1, torch backend, H=128, T=256 by default): Elman tanh ``exact``,
``power``, ``none``; LSTM (N = 2H) and GRU (N = H) ``none`` and ``exact``. Each row times

* after:  this tree (closed-form step Jacobians, :class:`rnnflow.analysis.spectral.TopSingular`);
* before: autodiff step Jacobians (``analytic=False``; Elman keeps its closed form, which it
  had before) and ``product_norms``/``spectral.py`` as of ``--rev`` (loaded from git);
* bound:  ``T`` chained ``N x N`` ``np.matmul`` (``T * 2 N^3`` flops at this moment's rate);

interleaved (bound, after, before, bound, after, before, ...) for ``--rounds`` rounds; the
table gives min and median over rounds and the ratios of the minima to the bound's minimum.
Torch and BLAS run on one thread. Usage: ``python benchmarks/bench_spectral.py [--rounds 5]``.
"""
from __future__ import annotations

import argparse
import importlib.util
import os
import subprocess
import sys
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))  # this tree's rnnflow


def load_old(rev: str):
    """``product_norms`` of ``rnnflow/analysis/{spectral,products}.py`` at git revision ``rev``."""
    import rnnflow.analysis as pkg
    mods = {}
    for name in ("spectral", "products"):
        src = subprocess.run(["git", "show", f"{rev}:rnnflow/analysis/{name}.py"], check=True,
                             capture_output=True, text=True, cwd=os.path.dirname(pkg.__file__)).stdout
        src = src.replace("from .spectral import", "from ._old_spectral import")
        full = f"rnnflow.analysis._old_{name}"
        spec = importlib.util.spec_from_loader(full, loader=None)
        mod = importlib.util.module_from_spec(spec)
        mod.__package__ = "rnnflow.analysis"
        sys.modules[full] = mod
        exec(compile(src, f"{rev}:{name}.py", "exec"), mod.__dict__)
        mods[name] = mod
    return mods["products"].product_norms


def chain(T: int, n: int):
    w, _ = np.linalg.qr(np.random.default_rng(0).standard_normal((n, n)))   # orthogonal: no overflow

    def run():
        m = np.eye(n)
        for _ in range(T):
            m = np.matmul(m, w)
    return run


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--T", type=int, default=256)
    ap.add_argument("--H", type=int, default=128)
    ap.add_argument("--rev", default="1a996d5", help="git revision of the 'before' spectral code")
    args = ap.parse_args(argv)
    import torch
    torch.set_num_threads(1)
    import rnnflow
    from rnnflow.analysis.backends import backend_modules
    from rnnflow.analysis.jacobians import run_trace, trace_step_jacobians
    from rnnflow.analysis.products import product_norms
    old_norms = load_old(args.rev)
    from threadpoolctl import threadpool_info, threadpool_limits
    threadpool_limits(1)          # after every import: NumPy's and SciPy's OpenBLAS pools
    pools = ", ".join(sorted(f"{i['filepath'].rsplit('/', 1)[-1].split('-')[0]}={i['num_threads']}"
                             for i in threadpool_info()))
    bk = backend_modules("torch")
    H, T, I = args.H, args.T, 8
    xs = np.random.default_rng(0).standard_normal((T, 1, I))

    def model(cfg):
        return rnnflow.build(cfg, rnnflow.init_params(cfg, 0, np.float64), backend="torch")

    def route(m, spectral, analytic, norms):
        h = H if isinstance(m.config, rnnflow.LSTMConfig) else None

        def run():
            tr = run_trace(bk, m, xs)
            norms(trace_step_jacobians(bk, m, tr, 0, analytic), spectral=spectral, h_size=h)
        return run

    elman = model(rnnflow.RNNConfig(I, H, init_hh=rnnflow.Init("orthogonal")))
    gauss = model(rnnflow.RNNConfig(I, H))
    lstm, gru = model(rnnflow.LSTMConfig(I, H)), model(rnnflow.GRUConfig(I, H))
    rows = [("rnn (orthogonal W_hh)", elman, H, s) for s in ("exact", "power", "none")]
    rows += [("rnn (default init)", gauss, H, s) for s in ("exact", "power")]
    rows += [(name, m, n, s) for name, m, n in (("lstm", lstm, 2 * H), ("gru", gru, H)) for s in ("none", "exact")]
    print(f"# {os.cpu_count()} CPUs, load average {' '.join(f'{x:.2f}' for x in os.getloadavg())}; "
          f"torch threads {torch.get_num_threads()}, pools {pools}; T={T}, H={H}, batch 1, float64; "
          f"{args.rounds} rounds interleaved (bound, after, before)")
    print(f"{'model':22} {'mode':6} {'N':>4} {'bound ms':>9} {'after ms min/med':>17} {'before ms min/med':>18} "
          f"{'after/bound':>11} {'before/bound':>12} {'speed-up':>8}")
    for name, m, n, spectral in rows:
        fns = {"bound": chain(T, n), "after": route(m, spectral, True, product_norms),
               "before": route(m, spectral, not isinstance(m.config, (rnnflow.LSTMConfig, rnnflow.GRUConfig)),
                               old_norms)}
        times = {k: [] for k in fns}
        for f in fns.values():
            f()                                               # warm-up
        for _ in range(args.rounds):
            for k, f in fns.items():
                t0 = time.perf_counter()
                f()
                times[k].append(time.perf_counter() - t0)
        mn = {k: min(v) * 1e3 for k, v in times.items()}
        md = {k: float(np.median(v)) * 1e3 for k, v in times.items()}
        print(f"{name:22} {spectral:6} {n:4d} {mn['bound']:9.1f} {mn['after']:8.1f}/{md['after']:<8.1f} "
              f"{mn['before']:9.1f}/{md['before']:<8.1f} {mn['after'] / mn['bound']:11.2f} "
              f"{mn['before'] / mn['bound']:12.2f} {mn['before'] / mn['after']:8.1f}")
    print(f"# rnnflow from {os.path.dirname(rnnflow.__file__)}")
    print(f"# load average after: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")


if __name__ == "__main__":
    main()

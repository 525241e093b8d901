"""Benchmark: log-norms of dh_T/dh_t for every t, rnnflow vs the naive autograd route.

For a tanh RNN (H=128, float64, batch 1 by default) and T in {128, 512, 2048}, both backends:

* rnnflow: ``jacobians_over_time`` per spectral mode ("none" = Frobenius only,
  "power", "exact", and top-8 singular values), end to end (forward pass included);
* naive: the autograd Jacobian of h_T w.r.t. h_t, re-running the tail from h_t, for a
  few t spread over [0, T) and extrapolated to all T of them (its cost grows with T - t);
* FLOP bound: T * 2 H^3 (the backward product J(t-1) = J(t) A_t) divided by the
  float64 H x H matmul rate measured with NumPy (the analyzer's engine) right before
  each row, as the time of T chained H x H matmuls, so the ratio holds on a busy machine.

An LSTM row (autodiff step Jacobians, state (h, c): N = 2H = 256) is compared with
the Elman row. Usage: ``python benchmarks/bench_jacobian.py [--quick]``.
"""
from __future__ import annotations

import argparse
import os
import time

import numpy as np

H, I, TOPK = 128, 8, 8


def best_of(fn, reps: int) -> float:
    """Fastest of ``reps`` timed calls (after one untimed warm-up call)."""
    fn()
    times = []
    for _ in range(reps):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times)


def chained_matmuls(T: int, n: int, reps: int = 3) -> float:
    """Seconds for T chained float64 n x n NumPy matmuls: T * 2 n^3 flops at this moment's rate."""
    w, _ = np.linalg.qr(np.random.default_rng(0).standard_normal((n, n)))   # orthogonal: no overflow

    def run():
        m = np.eye(n)
        for _ in range(T):
            m = m @ w
    return best_of(run, reps)


# ---------------------------------------------------------------- naive routes
def naive_torch(model, xs, ts):
    """Seconds per t of torch.autograd.functional.jacobian(h_T w.r.t. h_t) for each t in ts."""
    import torch
    x = torch.as_tensor(xs)
    with torch.no_grad():
        hs = model(x).hidden[0]                                     # (T, B, H): h_1..h_T
    h0 = torch.zeros_like(hs[0])
    out = []
    for t in ts:
        def tail(h, t=t):
            for s in range(t, x.shape[0]):
                h = model.step(0, h, x[s])
            return h
        start = h0 if t == 0 else hs[t - 1]
        t0 = time.perf_counter()
        torch.autograd.functional.jacobian(tail, start, vectorize=True)
        out.append(time.perf_counter() - t0)
    return np.array(out)


def naive_jax(model, xs, ts):
    """Seconds per t of jax.jacrev(h_T w.r.t. h_t) (jitted tail scan; compile excluded)."""
    import jax
    import jax.numpy as jnp
    from rnnflow.jax import rnn_step
    x = jnp.asarray(xs)
    hs = model(x).hidden[0]
    p = model.params["layers"][0]
    out = []
    for t in ts:
        def tail(h, xt):
            return jax.lax.scan(lambda c, xi: (rnn_step(p, c, xi), None), h, xt)[0]
        jac = jax.jit(jax.jacrev(tail))
        start = jnp.zeros_like(hs[0]) if t == 0 else hs[t - 1]
        jac(start, x[t:]).block_until_ready()                      # compile
        t0 = time.perf_counter()
        jac(start, x[t:]).block_until_ready()
        out.append(time.perf_counter() - t0)
    return np.array(out)


# ---------------------------------------------------------------- main
def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true", help="T in {128, 512}, fewer repetitions")
    ap.add_argument("--threads", type=int, default=2, help="torch and BLAS threads (default 2)")
    ap.add_argument("--batch", type=int, default=1, help="examples B per run (bound and naive scale with B)")
    args = ap.parse_args(argv)
    import jax
    jax.config.update("jax_enable_x64", True)
    import torch
    torch.set_num_threads(args.threads)
    import rnnflow
    from rnnflow.analysis import jacobians_over_time
    try:  # after every import: NumPy's and SciPy's OpenBLAS pools and torch's OpenMP pool
        from threadpoolctl import threadpool_info, threadpool_limits
        threadpool_limits(args.threads)
        pools = ", ".join(sorted({f"{i['internal_api']}={i['num_threads']}" for i in threadpool_info()}))
    except ImportError:  # pragma: no cover
        pools = "threadpoolctl not installed: BLAS pools at their defaults"

    Ts = (128, 512) if args.quick else (128, 512, 2048)
    reps = 1 if args.quick else 2
    n_naive = 2 if args.quick else 3
    rate = 1024 * 2 * H ** 3 / chained_matmuls(1024, H, 5)
    print(f"# machine: {os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.2f}; torch threads "
          f"{torch.get_num_threads()}; thread pools: {pools}")
    print(f"# float64 {H}x{H} NumPy matmul now: {rate / 1e9:.1f} GFLOP/s")
    print("# bound = T * 2 H^3 / matmul rate, re-measured before each row; naive = autograd "
          f"dh_T/dh_t per t, extrapolated from {n_naive} t's to all T")
    header = (f"{'backend':7} {'cell':5} {'T':>5} {'mode':10} {'rnnflow s':>10} {'us/step':>8} "
              f"{'bound s':>8} {'x bound':>8} {'naive s':>10} {'naive/ours':>10}")
    print(header)
    print("-" * len(header))
    modes = [("none", {"spectral": "none"}), ("power", {"spectral": "power"}),
             ("exact", {"spectral": "exact"}), (f"power+top{TOPK}", {"spectral": "power", "topk": TOPK}),
             (f"exact+top{TOPK}", {"spectral": "exact", "topk": TOPK})]
    rng = np.random.default_rng(0)
    elman = {}
    for backend in ("torch", "jax"):
        cfg = rnnflow.RNNConfig(I, H)
        model = rnnflow.build(cfg, rnnflow.init_params(cfg, 0, np.float64), backend=backend)
        for T in Ts:
            xs = rng.standard_normal((T, args.batch, I))
            ts = [int((k + 0.5) * T / n_naive) for k in range(n_naive)]
            per_t = (naive_torch if backend == "torch" else naive_jax)(model, xs[:, :1], ts)  # one example
            naive = float(per_t.mean() * T * args.batch)
            for name, kw in modes:
                bound = chained_matmuls(T, H) * args.batch
                s = best_of(lambda: jacobians_over_time(model, xs, **kw), reps)
                elman[(backend, T, name)] = s
                print(f"{backend:7} {'rnn':5} {T:5d} {name:10} {s:10.3f} {s / T * 1e6:8.0f} {bound:8.3f} "
                      f"{s / bound:8.2f} {naive:10.1f} {naive / s:10.0f}")
        for T in Ts[:2] if args.quick else Ts[1:]:
            cfg = rnnflow.LSTMConfig(I, H)
            model = rnnflow.build(cfg, rnnflow.init_params(cfg, 0, np.float64), backend=backend)
            xs = rng.standard_normal((T, args.batch, I))
            for name, kw in modes[:3]:
                bound = chained_matmuls(T, 2 * H, 1) * args.batch
                s = best_of(lambda: jacobians_over_time(model, xs, **kw), 1)
                print(f"{backend:7} {'lstm':5} {T:5d} {name:10} {s:10.3f} {s / T * 1e6:8.0f} {bound:8.3f} "
                      f"{s / bound:8.2f} {'':>10} {'':>10}   lstm/rnn = {s / elman[(backend, T, name)]:.1f}x")
    print("# x bound: rnnflow time / FLOP bound (targets: <= 2 for log-norms, <= 4 with top-k);"
          " naive/ours: target >= 1000; lstm/rnn: N = 2H makes the product 8x the Elman flops")


if __name__ == "__main__":
    main()

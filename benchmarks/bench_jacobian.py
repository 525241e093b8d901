"""Benchmark: log-norms of dh_T/dh_t for every t, rnnflow against hand-written and naive routes.

For a tanh RNN (H=128, float64, batch 1 by default) and T in {128, 512, 2048}, both backends:

* rnnflow: ``jacobians_over_time`` per spectral mode ("none" = Frobenius only, "power",
  "exact", and top-8 singular values), end to end (forward pass included);
* hand: the best route a user would write: the forward pass, every step Jacobian at once with
  ``vmap(jacrev(step))`` (torch.func / jax, the JAX one jitted with the product in a
  ``lax.scan``), then the product ``J(t-1) = J(t) A_t`` rescaled at each step, log Frobenius
  norms ("hand" against "none") and, for "hand exact" against "exact", the spectral norms of the
  stored products by a batched SVD. Its log-norms are checked against rnnflow's first;
* naive: the autograd Jacobian of h_T w.r.t. h_t, re-running the tail from h_t, for a few t
  spread over [0, T) and extrapolated to all T of them (its cost grows with T - t);
* bound: T * 2 H^3 flops (the product's matmuls) as the time of T chained float64 H x H NumPy
  matmuls (the analyzer's engine), timed as one more route.

Every route is warmed up first (compiles, vmap set-up), then a row's routes run interleaved
(A B, B A, ...) for ``--rounds`` rounds; the table gives min and median over rounds and ratios
of the minima: X/rnnflow above 1 means rnnflow is faster; rnnflow/bound is the cost over the
FLOP bound (lower is better). LSTM rows (state (h, c), N = 2H) are compared with the Elman rows.
One thread by default (torch, BLAS, XLA's ``--xla_cpu_multi_thread_eigen=false``).

    python benchmarks/bench_jacobian.py [--rounds 3 --threads 1 --batch 1] [--quick]
"""
from __future__ import annotations

import argparse
import os
import sys
import time

_HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(_HERE))  # this tree's rnnflow, not the venv's editable install
sys.path.insert(0, _HERE)
import _timing  # noqa: E402

H, I, TOPK = 128, 8, 8
MODES = [("none", {"spectral": "none"}), ("power", {"spectral": "power"}), ("exact", {"spectral": "exact"}),
         (f"power+top{TOPK}", {"spectral": "power", "topk": TOPK}),
         (f"exact+top{TOPK}", {"spectral": "exact", "topk": TOPK})]
HAND_OF = {"none": "hand", "exact": "hand exact"}  # the hand route each mode is compared with


def chained_matmuls(steps: int, n: int):
    """``run(k)``: k times, ``steps`` chained float64 n x n NumPy matmuls (steps * 2 n^3 flops)."""
    import numpy as np
    w, _ = np.linalg.qr(np.random.default_rng(0).standard_normal((n, n)))   # orthogonal: no overflow

    def run(k):
        for _ in range(k):
            m = np.eye(n)
            for _ in range(steps):
                m = m @ w
    return run


# ---------------------------------------------------------------- hand-written routes
def hand_torch(model, xs, spectral: bool):
    """``run()`` -> (log_frobenius (B, T), log_spectral (B, T) or None) by torch.func."""
    import torch
    from torch.func import jacrev, vmap
    x = torch.as_tensor(xs)                                             # (T, B, I)
    T, B, _ = x.shape
    jac = vmap(jacrev(lambda h, xt: model.step(0, h[None], xt[None])[0]))

    def run():
        with torch.no_grad():
            hs = model(x).hidden[0]                                     # (T, B, H): h_1..h_T
        prev = torch.cat([torch.zeros_like(hs[:1]), hs[:-1]])           # h_0..h_{T-1}
        A = jac(prev.reshape(T * B, H), x.reshape(T * B, -1)).reshape(T, B, H, H).detach()
        with torch.no_grad():
            m = torch.eye(H, dtype=A.dtype).expand(B, H, H)
            scale = torch.zeros(B, dtype=A.dtype)
            log_f = torch.empty(T, B, dtype=A.dtype)
            ms = torch.empty_like(A) if spectral else None
            for t in range(T - 1, -1, -1):                              # J(t) = J(t+1) A_{t+1}
                m = m @ A[t]
                n = torch.linalg.matrix_norm(m)
                m = m / n[:, None, None]
                scale += n.log()
                log_f[t] = scale
                if spectral:
                    ms[t] = m
            log_s = (torch.linalg.matrix_norm(ms, ord=2).log() + log_f).T.numpy() if spectral else None
        return log_f.T.numpy(), log_s
    return run


def hand_jax(model, xs, spectral: bool):
    """The same in JAX: one jitted function (forward scan, vmap(jacrev), product scan)."""
    import jax
    import jax.numpy as jnp
    import numpy as np
    from rnnflow.jax import rnn_step
    p = model.params["layers"][0]

    @jax.jit
    def logs(p, x):
        T, B, _ = x.shape
        _, prev = jax.lax.scan(lambda h, xt: (rnn_step(p, h, xt), h), jnp.zeros((B, H), x.dtype), x)
        A = jax.vmap(jax.jacrev(lambda h, xt: rnn_step(p, h[None], xt[None])[0]))(
            prev.reshape(T * B, H), x.reshape(T * B, -1)).reshape(T, B, H, H)

        def prod(carry, a):
            m, scale = carry
            m = m @ a
            n = jnp.linalg.norm(m, axis=(-2, -1))
            m = m / n[:, None, None]
            scale = scale + jnp.log(n)
            return (m, scale), (scale, m if spectral else None)
        init = (jnp.broadcast_to(jnp.eye(H, dtype=x.dtype), (B, H, H)), jnp.zeros(B, x.dtype))
        _, (log_f, ms) = jax.lax.scan(prod, init, A, reverse=True)     # J(t) = J(t+1) A_{t+1}
        log_s = jnp.log(jnp.linalg.svd(ms, compute_uv=False)[..., 0]) + log_f if spectral else None
        return log_f.T, (log_s.T if spectral else None)

    x = jnp.asarray(xs)

    def run():
        log_f, log_s = logs(p, x)
        return np.asarray(log_f), (np.asarray(log_s) if spectral else None)
    return run


# ---------------------------------------------------------------- naive routes
def naive_torch(model, xs, ts):
    """``run(k)``: k times, torch.autograd.functional.jacobian(h_T w.r.t. h_t) for each t in ts."""
    import torch
    x = torch.as_tensor(xs)
    with torch.no_grad():
        hs = model(x).hidden[0]                                     # (T, B, H): h_1..h_T
    h0 = torch.zeros_like(hs[0])

    def tail_from(t):
        def tail(h):
            for s in range(t, x.shape[0]):
                h = model.step(0, h, x[s])
            return h
        return tail

    def run(k):
        for _ in range(k):
            for t in ts:
                torch.autograd.functional.jacobian(tail_from(t), h0 if t == 0 else hs[t - 1], vectorize=True)
    return run


def naive_jax(model, xs, ts):
    """``run(k)``: the same with jax.jacrev over a jitted tail scan (one compile per t, in warm-up)."""
    import jax
    import jax.numpy as jnp
    from rnnflow.jax import rnn_step
    x = jnp.asarray(xs)
    hs = model(x).hidden[0]
    p = model.params["layers"][0]

    def tail(h, xt):
        return jax.lax.scan(lambda c, xi: (rnn_step(p, c, xi), None), h, xt)[0]
    jac = jax.jit(jax.jacrev(tail))
    args = [(jnp.zeros_like(hs[0]) if t == 0 else hs[t - 1], x[t:]) for t in ts]

    def run(k):
        for _ in range(k):
            for a in args:
                jac(*a).block_until_ready()
    return run


# ---------------------------------------------------------------- main
def check_hand(model, xs, jacobians_over_time, hand):
    """Largest |hand - rnnflow| over the log-norms (Frobenius, and spectral vs "exact")."""
    import numpy as np
    ref = jacobians_over_time(model, xs, spectral="exact")
    log_f, log_s = hand()
    err = np.abs(log_f - ref.log_frobenius).max()
    return max(err, np.abs(log_s - ref.log_spectral).max()) if log_s is not None else err


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="T in {32, 128}, 1 round: a smoke run")
    ap.add_argument("--rounds", type=int, default=3, help="interleaved rounds (min and median over them)")
    ap.add_argument("--threads", type=int, default=1, help="torch and BLAS threads (1: XLA too)")
    ap.add_argument("--batch", type=int, default=1, help="examples B per run (bound and naive scale with B)")
    args = ap.parse_args(argv)
    _timing.pin_threads(args.threads)
    import jax
    jax.config.update("jax_enable_x64", True)
    import numpy as np
    import torch  # noqa: F401
    import rnnflow
    from rnnflow.analysis import jacobians_over_time
    _timing.limit_pools(args.threads)

    Ts = (32, 128) if args.quick else (128, 512, 2048)
    lstm_Ts = Ts[:1] if args.quick else (128,)  # T=512 adds ~25 s to the run
    rounds = 1 if args.quick else args.rounds
    n_naive = 2 if args.quick else 3
    B = args.batch
    head = _timing.header(args.threads)
    t_start = time.perf_counter()
    rng = np.random.default_rng(0)
    rows, lstm_rows, elman, errs = [], [], {}, []
    for backend in ("torch", "jax"):
        for cell, Ts_cell in (("rnn", Ts), ("lstm", lstm_Ts)):
            cfg = (rnnflow.RNNConfig if cell == "rnn" else rnnflow.LSTMConfig)(I, H)
            model = rnnflow.build(cfg, rnnflow.init_params(cfg, 0, np.float64), backend=backend)
            N = H if cell == "rnn" else 2 * H
            for T in Ts_cell:
                xs = rng.standard_normal((T, B, I))
                fns = {"bound": chained_matmuls(T * B, N)}
                modes = MODES if cell == "rnn" else MODES[:3]
                for name, kw in modes:
                    fns[name] = _timing.looped(lambda kw=kw: jacobians_over_time(model, xs, **kw))
                if cell == "rnn":
                    hand = hand_torch if backend == "torch" else hand_jax
                    for spectral, name in ((False, "hand"), (True, "hand exact")):
                        run = hand(model, xs, spectral)
                        errs.append(check_hand(model, xs, jacobians_over_time, run))
                        fns[name] = _timing.looped(run)
                    ts = [int((k + 0.5) * T / n_naive) for k in range(n_naive)]
                    fns["naive"] = (naive_torch if backend == "torch" else naive_jax)(model, xs[:, :1], ts)
                wall, _ = _timing.interleave(fns, rounds, warmup=1)
                bound = min(wall["bound"])
                # naive: mean seconds per sampled t, times T of them, times B examples
                naive = min(wall["naive"]) / n_naive * T * B if cell == "rnn" else None
                for name, _kw in modes:
                    s, med = _timing.min_med(wall[name])
                    elman[backend, cell, T, name] = s
                    row = [backend, T, name, f"{s:.3f} / {med:.3f}", f"{s / (T * B) * 1e6:.0f}",
                           f"{bound:.3f}", f"{s / bound:.2f}"]
                    if cell == "rnn":
                        h = HAND_OF.get(name)
                        rows.append(row + [f"{min(wall[h]) / s:.2f}" if h else "", f"{naive:.1f}",
                                           f"{naive / s:.0f}"])
                    else:
                        rnn_s = elman.get((backend, "rnn", T, name))
                        lstm_rows.append(row + [f"{s / rnn_s:.1f}x" if rnn_s else ""])
                print(f"# done {backend} {cell} T={T} ({time.perf_counter() - t_start:.0f} s)", file=sys.stderr)
    print(f"# log ||dh_T/dh_t|| for every t, tanh RNN H={H} I={I}, float64, batch {B}; interleaved, {rounds} "
          f"rounds, min / median; ratios of minima: hand/rnnflow and naive/rnnflow above 1 = rnnflow is "
          f"faster; rnnflow/bound = cost over the FLOP bound (T * 2 H^3 as chained NumPy matmuls)")
    print(f"# {head}")
    print(f"# hand routes agree with rnnflow's log-norms to {max(errs):.1e}; naive: autograd dh_T/dh_t for "
          f"{n_naive} t's, extrapolated to all T")
    print(_timing.markdown(["backend", "T", "mode", "rnnflow min / median (s)", "us/step", "bound (s)",
                            "rnnflow/bound", "hand/rnnflow", "naive (s)", "naive/rnnflow"], rows))
    print(f"\n# LSTM (state (h, c), N = 2H = {2 * H}: 8x the Elman product's flops)")
    print(_timing.markdown(["backend", "T", "mode", "rnnflow min / median (s)", "us/step", "bound (s)",
                            "rnnflow/bound", "lstm/rnn"], lstm_rows))
    print(f"# total {time.perf_counter() - t_start:.0f} s; load average at the end {_timing.load()}")


if __name__ == "__main__":
    main()

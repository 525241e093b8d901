"""Forward+backward time of rnnflow's recurrent models against each backend's peer.

torch: rnnflow.torch.RecurrentNet vs torch.nn.RNN / torch.nn.LSTM (eager, CPU), backward of
       sum(outputs); the LSTM also with ``return_cell=False`` (what the trainer runs).
jax:   rnnflow.jax.recurrent_forward (jit, lax.scan) vs flax.linen.RNN with SimpleCell /
       OptimizedLSTMCell (jit), both as jax.grad of sum(outputs).

Every route is warmed up (compiles included), then the routes of a row run interleaved
(A B, B A, ...) for ``--rounds`` rounds of ``--reps`` calls; the table gives min and median
ms per call over rounds and peer/rnnflow on the minima (above 1: rnnflow is faster), the same
ratio on this process's CPU time (less sensitive to other jobs on shared cores, blind to a
route's own extra threads), and cores = CPU time / wall time of each route. One thread by default (torch intra- and inter-op,
BLAS, and XLA's ``--xla_cpu_multi_thread_eigen=false``); ``--threads N`` raises torch and BLAS
to N and leaves XLA at its default (all cores).

    python benchmarks/bench_models.py [--rounds 20 --reps 5 --threads 1] [--quick]
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

TARGET = {"torch": 0.8, "jax": 1.0}  # peer/rnnflow each backend aims for


def torch_groups(B, T, I, H):
    import torch
    import rnnflow as rf
    torch.manual_seed(0)
    x = torch.randn(T, B, I)
    for cell, ref_cls in (("rnn", torch.nn.RNN), ("lstm", torch.nn.LSTM)):
        cfg = (rf.RNNConfig if cell == "rnn" else rf.LSTMConfig)(I, H)
        ours = rf.build(cfg, rf.init_params(cfg, 0), backend="torch")
        ref = ref_cls(I, H)

        def run_ours(ours=ours, **kw):
            ours.zero_grad(set_to_none=True)
            ours(x, validate=False, **kw).y.sum().backward()

        def run_ref(ref=ref):
            ref.zero_grad(set_to_none=True)
            ref(x)[0].sum().backward()
        fns = {cell: _timing.looped(run_ours)}
        if cell == "lstm":
            fns["lstm (return_cell=False)"] = _timing.looped(lambda: run_ours(return_cell=False))
        fns["peer"] = _timing.looped(run_ref)
        yield "torch", f"torch.nn.{ref_cls.__name__}", fns


def jax_groups(B, T, I, H):
    import flax.linen as nn
    import jax
    import jax.numpy as jnp
    import numpy as np
    import rnnflow as rf
    x = jnp.asarray(np.random.default_rng(0).normal(size=(T, B, I)).astype(np.float32))
    x_bf = jnp.swapaxes(x, 0, 1)  # flax's nn.RNN is batch-major (B, T, I)
    for cell, flax_cell in (("rnn", nn.SimpleCell), ("lstm", nn.OptimizedLSTMCell)):
        cfg = (rf.RNNConfig if cell == "rnn" else rf.LSTMConfig)(I, H)
        model = rf.build(cfg, rf.init_params(cfg, 0), backend="jax")
        s0 = model.initial_state(B)
        g_ours = jax.jit(jax.grad(lambda p, cfg=cfg, s0=s0: rf.jax.recurrent_forward(p, x, s0, cfg).y.sum()))
        ref = nn.RNN(flax_cell(features=H))
        variables = ref.init(jax.random.PRNGKey(0), x_bf)
        g_ref = jax.jit(jax.grad(lambda v, ref=ref: ref.apply(v, x_bf).sum()))
        params = model.params
        yield "jax", f"flax nn.RNN({flax_cell.__name__})", {
            cell: _timing.looped(lambda g=g_ours, p=params: jax.block_until_ready(g(p))),
            "peer": _timing.looped(lambda g=g_ref, v=variables: jax.block_until_ready(g(v)))}


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--steps", type=int, default=128)
    ap.add_argument("--input", type=int, default=32)
    ap.add_argument("--hidden", type=int, default=128)
    ap.add_argument("--rounds", type=int, default=20, help="interleaved rounds (min and median over them)")
    ap.add_argument("--reps", type=int, default=5, help="calls per route per round")
    ap.add_argument("--threads", type=int, default=1, help="torch and BLAS threads (1: XLA too)")
    ap.add_argument("--quick", action="store_true", help="T=32, 3 rounds of 2: a smoke run in seconds")
    a = ap.parse_args(argv)
    if a.quick:
        a.steps, a.rounds, a.reps = 32, 3, 2
    _timing.pin_threads(a.threads)
    import flax  # noqa: F401  (imported here so the header names its version)
    import jax
    import torch  # noqa: F401
    import rnnflow  # noqa: F401
    _timing.limit_pools(a.threads)
    jax.config.update("jax_enable_x64", False)

    B, T, I, H = a.batch, a.steps, a.input, a.hidden
    head = _timing.header(a.threads)  # before the run: the load average it started under
    t_start, rows = time.perf_counter(), []
    for groups in (torch_groups(B, T, I, H), jax_groups(B, T, I, H)):
        for backend, peer, fns in groups:
            wall, cpu = _timing.interleave(fns, a.rounds, a.reps)
            p_min, p_med = _timing.min_med(wall["peer"])
            for name in fns:
                if name == "peer":
                    continue
                o_min, o_med = _timing.min_med(wall[name])
                ratio = p_min / o_min
                cpu_ratio = min(cpu["peer"]) / min(cpu[name])
                rows.append([backend, name, f"{1e3 * o_min:.2f} / {1e3 * o_med:.2f}", peer,
                             f"{1e3 * p_min:.2f} / {1e3 * p_med:.2f}", f"{ratio:.2f}x", f"{cpu_ratio:.2f}x",
                             f">= {TARGET[backend]}x {'ok' if ratio >= TARGET[backend] else 'missed'}",
                             f"{_timing.cores(wall, cpu, name):.2f} / {_timing.cores(wall, cpu, 'peer'):.2f}"])
    print(f"forward+backward, float32, B={B} T={T} I={I} H={H}; interleaved, {a.rounds} rounds of "
          f"{a.reps} calls, min / median ms per call; peer/rnnflow = ratio of the minima "
          f"(above 1: rnnflow is faster), on wall and on CPU time")
    print(head)
    print(_timing.markdown(["backend", "model", "rnnflow min / median (ms)", "peer", "peer min / median (ms)",
                            "peer/rnnflow", "same, CPU time", "target",
                            "cores rnnflow / peer"], rows))
    print(f"total {time.perf_counter() - t_start:.0f} s; load average at the end {_timing.load()}")


if __name__ == "__main__":
    main()

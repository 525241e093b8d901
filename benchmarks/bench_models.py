"""Forward+backward throughput of rnnflow's recurrent models against each backend's peer.

torch: rnnflow.torch.RecurrentNet vs torch.nn.RNN / torch.nn.LSTM (eager, CPU).
jax:   rnnflow.jax.recurrent_forward (jit, lax.scan) vs flax.linen.RNN with
       SimpleCell / LSTMCell (jit), both as jax.grad of sum(outputs).
Ratio = peer time / rnnflow time (> 1: rnnflow is faster), measured in the same run.

    python benchmarks/bench_models.py [--batch 32 --steps 128 --hidden 128 --reps 20]
"""
from __future__ import annotations

import argparse
import os
import platform
import statistics
import time

os.environ.setdefault("XLA_FLAGS", "--xla_cpu_multi_thread_eigen=true intra_op_parallelism_threads=2")

import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402
import torch  # noqa: E402

import rnnflow as rf  # noqa: E402


def timeit(fn, reps: int, warmup: int = 3) -> float:
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(reps):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def torch_rows(B, T, I, H, reps):
    x = torch.randn(T, B, I)
    rows = []
    for cell, ref_cls in (("rnn", torch.nn.RNN), ("lstm", torch.nn.LSTM)):
        cfg = (rf.RNNConfig if cell == "rnn" else rf.LSTMConfig)(I, H)
        ours = rf.build(cfg, rf.init_params(cfg, 0), backend="torch")
        ref = ref_cls(I, H)

        def run_ours(**kw):
            ours.zero_grad(set_to_none=True)
            ours(x, validate=False, **kw).y.sum().backward()

        def run_ref():
            ref.zero_grad(set_to_none=True)
            ref(x)[0].sum().backward()
        t_ref = timeit(run_ref, reps)
        rows.append(("torch", cell, timeit(run_ours, reps), f"torch.nn.{ref_cls.__name__}", t_ref))
        if cell == "lstm":  # what the trainer runs: no cell-state sequence
            rows.append(("torch", "lstm (return_cell=False)", timeit(lambda: run_ours(return_cell=False), reps),
                         f"torch.nn.{ref_cls.__name__}", t_ref))
    return rows


def jax_rows(B, T, I, H, reps):
    import flax.linen as nn
    x = jnp.asarray(np.random.default_rng(0).normal(size=(T, B, I)).astype(np.float32))
    x_bf = jnp.swapaxes(x, 0, 1)  # flax's nn.RNN is batch-major (B, T, I)
    rows = []
    for cell, flax_cell in (("rnn", nn.SimpleCell), ("lstm", nn.OptimizedLSTMCell)):
        cfg = (rf.RNNConfig if cell == "rnn" else rf.LSTMConfig)(I, H)
        model = rf.build(cfg, rf.init_params(cfg, 0), backend="jax")
        s0 = model.initial_state(B)
        g_ours = jax.jit(jax.grad(lambda p: rf.jax.recurrent_forward(p, x, s0, cfg).y.sum()))
        ref = nn.RNN(flax_cell(features=H))
        variables = ref.init(jax.random.PRNGKey(0), x_bf)
        g_ref = jax.jit(jax.grad(lambda v: ref.apply(v, x_bf).sum()))
        t_ours = timeit(lambda: jax.block_until_ready(g_ours(model.params)), reps)
        t_ref = timeit(lambda: jax.block_until_ready(g_ref(variables)), reps)
        rows.append(("jax", cell, t_ours, f"flax nn.RNN({flax_cell.__name__})", t_ref))
    return rows


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--steps", type=int, default=128)
    ap.add_argument("--input", type=int, default=32)
    ap.add_argument("--hidden", type=int, default=128)
    ap.add_argument("--reps", type=int, default=20)
    ap.add_argument("--threads", type=int, default=2)
    a = ap.parse_args(argv)
    torch.set_num_threads(a.threads)
    B, T, I, H = a.batch, a.steps, a.input, a.hidden
    rows = torch_rows(B, T, I, H, a.reps) + jax_rows(B, T, I, H, a.reps)
    print(f"forward+backward, float32, B={B} T={T} I={I} H={H}, {a.threads} threads, median of {a.reps}")
    print(f"machine: {platform.machine()} {os.cpu_count()} CPUs | torch {torch.__version__} | jax {jax.__version__}")
    head = f"| backend | model | rnnflow (ms) | peer | peer (ms) | peer/rnnflow | target |"
    print(head)
    print("|" + "---|" * 7)
    for backend, cell, t_ours, peer, t_ref in rows:
        target = 0.8 if backend == "torch" else 1.0
        ratio = t_ref / t_ours
        print(f"| {backend} | {cell} | {1e3 * t_ours:.2f} | {peer} | {1e3 * t_ref:.2f} | {ratio:.2f}x | "
              f">= {target}x {'ok' if ratio >= target else 'MISSED'} |")


if __name__ == "__main__":
    main()

"""JAX compile time of one training step for deep Transformers: rnnflow's trainer against a
plain ``jax.jit`` step over the same parameters kept per layer.

rnnflow: ``rnnflow.train(..., backend="jax")`` internals (``rnnflow.jax.Stepper``): value_and_grad + per-group gradient
         norms, then clip + Adam, over the layers packed into ``(L, ...)`` arrays
         (``rnnflow.training.packing``).
peer:    what one writes by hand over the schema's flat dict (one array per layer and name):
         ``jit(value_and_grad(loss))`` then ``jit(clip_by_global_norm + adam)``, with the
         forward pass scanning over the layers as rnnflow's does.
Both are timed from a cold cache (first call: trace + compile + one run), float64, B=4, T=16.
Ratio = peer time / rnnflow time (> 1: rnnflow compiles faster).

    python benchmarks/bench_compile.py [--depths 6 24 48 --d-model 32]
"""
from __future__ import annotations

import argparse
import platform
import time

import jax
import jax.numpy as jnp
import numpy as np
import optax

import rnnflow as rf
from rnnflow.jax import trainer as jtrain
from rnnflow.params import flatten, unflatten
from rnnflow.training import TrainConfig


def _batch(I, B=4, T=16):
    rng = np.random.default_rng(0)
    return rng.normal(size=(T, B, I)), rng.normal(size=(B, 1))


def time_rnnflow(config, flat, cfg, x, y) -> float:
    jtrain._grad_fn.cache_clear()
    jtrain._update_fn.cache_clear()
    t0 = time.perf_counter()
    stepper = jtrain.Stepper(config, flat, cfg, None, None)
    stepper.compute(0, x, y)
    stepper.apply()
    jax.block_until_ready(stepper.trainable)
    return time.perf_counter() - t0


def time_peer(config, flat, cfg, x, y) -> float:
    t0 = time.perf_counter()
    params = {k: jnp.asarray(v) for k, v in flat.items()}

    def loss(p):
        y_pred = jtrain.forward(unflatten(p, config), x, config)[0]
        return jnp.mean((y_pred[-1] - y) ** 2)
    tx = optax.chain(optax.clip_by_global_norm(cfg.clip_value), optax.adam(cfg.lr))
    grad = jax.jit(jax.value_and_grad(loss))
    update = jax.jit(lambda p, s, g: (lambda u, s2: (optax.apply_updates(p, u), s2))(*tx.update(g, s, p)))
    state = tx.init(params)
    _, g = grad(params)
    params, state = update(params, state, g)
    jax.block_until_ready(params)
    return time.perf_counter() - t0


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--depths", type=int, nargs="+", default=[6, 24, 48])
    ap.add_argument("--d-model", type=int, default=32)
    ap.add_argument("--heads", type=int, default=4)
    args = ap.parse_args(argv)
    jax.config.update("jax_enable_x64", True)
    print(f"# {platform.machine()}, jax {jax.__version__}, float64; first call = trace + compile + run")
    print("| layers | parameter arrays | rnnflow (s) | peer: jit over per-layer arrays (s) | peer/rnnflow |")
    print("|---|---|---|---|---|")
    cfg = TrainConfig(optimizer="adam", lr=1e-3, clip="norm", clip_value=1.0, batch_size=4, steps=1,
                      loss="mse_last", dtype="float64")
    for depth in args.depths:
        config = rf.TransformerConfig(2, d_model=args.d_model, num_heads=args.heads, num_layers=depth,
                                      output_size=1)
        flat = flatten(rf.init_params(config, seed=0, dtype=np.float64))
        x, y = _batch(2)
        ours = time_rnnflow(config, flat, cfg, x, y)
        peer = time_peer(config, flat, cfg, x, y)
        print(f"| {depth} | {len(flat)} | {ours:.2f} | {peer:.2f} | {peer / ours:.2f}x |", flush=True)


if __name__ == "__main__":
    main()

"""Shared helpers for the diagonal-recurrence tests (LRU, minGRU, minLSTM): NumPy references
of the stack, and both backends' outputs and parameter gradients."""
from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import torch

import rnnflow as rf

EPS = 1e-5


def np_norm(p, x):
    if p is None:
        return x
    if "bias" in p:
        m = x.mean(-1, keepdims=True)
        v = ((x - m) ** 2).mean(-1, keepdims=True)
        return (x - m) / np.sqrt(v + EPS) * p["weight"] + p["bias"]
    return x / np.sqrt((x ** 2).mean(-1, keepdims=True) + EPS) * p["weight"]


def np_stack(config, params, x, state0, recurrence):
    """The contract's stack in NumPy, one time step at a time; ``recurrence(p, h, u)`` -> h'
    (real state) and ``output(p, h, u)`` come from ``recurrence`` as a pair."""
    step, output = recurrence
    z = x @ params["embed"]["weight"].T + params["embed"]["bias"]
    hs = []
    for l, p in enumerate(params["layers"]):
        u = np_norm(p.get("norm"), z)
        h, seq = state0[l], []
        for t in range(x.shape[0]):
            h = step(p, h, u[t])
            seq.append(h)
        seq = np.stack(seq)
        hs.append(seq)
        o = output(p, seq, u)
        z = z + o if config.residual else o
    z = np_norm(params.get("norm_f"), z)
    y = z @ params["head"]["weight"].T + params["head"]["bias"] if "head" in params else z
    return y, np.stack(hs)


def run_both(config, params, x, state0, w, parallel=True):
    """Forward both backends (loss = sum(y * w)); outputs and flat param grads as NumPy."""
    tm = rf.build(config, params, backend="torch")
    out_t = tm(torch.tensor(x), None if state0 is None else torch.tensor(state0), parallel=parallel)
    (out_t.y * torch.tensor(w)).sum().backward()
    grads_t = {k: p.grad.numpy() for k, p in tm.named_parameters()}
    jm = rf.build(config, params, backend="jax")
    s0 = jm.initial_state(x.shape[1]) if state0 is None else jnp.asarray(state0)
    out_j = jm(jnp.asarray(x), None if state0 is None else s0, parallel=parallel)
    loss = lambda p: jnp.sum(rf.jax.diagonal_forward(p, jnp.asarray(x), s0, config, parallel).y * w)
    grads_j = rf.flatten(jax.grad(loss)(jm.params))
    return (out_t.y.detach().numpy(), out_t.hidden.detach().numpy(), grads_t,
            np.asarray(out_j.y), np.asarray(out_j.hidden), grads_j)


def assert_close_scaled(a, b, dtype, what=""):
    """Elementwise closeness with the absolute tolerance scaled by the array's largest entry
    in float32 (rtol 1e-4, atol 1e-4 * max|b|: round-off of the sums behind the largest
    entries also lands on the small ones; a minGRU gradient at T=1 differed by 4.4e-5 relative,
    hypothesis draw of 2026-12-03); float64: rtol 1e-10, atol 1e-12 * max(1, max|b|)."""
    a, b = np.asarray(a), np.asarray(b)
    scale = max(1.0, float(np.abs(b).max())) if b.size else 1.0
    tol = (dict(rtol=1e-4, atol=1e-4 * scale) if np.dtype(dtype) == np.float32
           else dict(rtol=1e-10, atol=1e-12 * scale))
    np.testing.assert_allclose(a, b, err_msg=what, **tol)


def assert_trees_close_scaled(a: dict, b: dict, dtype, what=""):
    assert set(a) == set(b), f"{what}: keys differ: {sorted(set(a) ^ set(b))}"
    for k in a:
        assert_close_scaled(a[k], b[k], dtype, f"{what}[{k}]")

"""Depth and reach at the extremes: exploding stacks and long sequences, where a plain
backward pass overflows to inf/NaN or underflows to 0. The analyzers' log-norms must be
finite and equal to a float64 NumPy reference that renormalises its own way (per example,
by the norm itself), agree between the backends, and a forward pass that leaves the float
range must raise an error naming where."""
from __future__ import annotations

import numpy as np
import pytest

import rnnflow
from rnnflow.analysis import gradient_reach, gradient_through_depth

BACKENDS = ["torch", "jax"]
LOG_MAX64, LOG_TINY64 = np.log(np.finfo(np.float64).max), np.log(np.finfo(np.float64).smallest_subnormal)


def _mlp(depth):
    return rnnflow.MLPConfig(4, 1, width=16, depth=depth, init_weight=rnnflow.Init("he_normal", gain=3.0))


def _mlp_reference(params, x):
    """Per-example log ||dL/dx_l|| (B, L+1) of a ReLU MLP, L = sum(y^2)/2, in float64 NumPy:
    explicit per-layer Jacobians diag(relu'(z_l)) W_l, the gradient renormalised every layer."""
    ws = [(np.float64(p["linear"]["weight"]), np.float64(p["linear"]["bias"])) for p in params["layers"]]
    hs, zs = [np.float64(x)], []
    for w, b in ws:
        zs.append(hs[-1] @ w.T + b)
        hs.append(np.maximum(zs[-1], 0))
    y = hs[-1] @ np.float64(params["head"]["weight"]).T + np.float64(params["head"]["bias"])
    g = y @ np.float64(params["head"]["weight"])                  # dL/dx_L  (B, W)
    logs, acc = [], np.zeros(len(x))
    for l in range(len(ws), -1, -1):
        big = np.abs(g).max(1, keepdims=True)        # y itself is ~1e178: its square overflows
        g, acc = g / big, acc + np.log(big[:, 0])
        n = np.linalg.norm(g, axis=1)
        logs.append(acc + np.log(n))
        g, acc = g / n[:, None], acc + np.log(n)
        if l:
            g = (g * (zs[l - 1] > 0)) @ ws[l - 1][0]
    return np.stack(logs[::-1], 1), hs


@pytest.fixture(scope="module")
def deep400():
    cfg = _mlp(400)
    params = rnnflow.init_params(cfg, 0, np.float64)
    x = np.random.default_rng(0).standard_normal((2, 4))
    out = {be: gradient_through_depth(rnnflow.build(cfg, params, backend=be), x) for be in BACKENDS}
    return params, x, out


@pytest.mark.parametrize("backend", BACKENDS)
def test_depth_float64_beyond_the_float_range(deep400, backend):
    params, x, out = deep400
    want, _ = _mlp_reference(params, x)
    assert want.max() > LOG_MAX64                      # dL/dx_0 itself overflows float64
    res = out[backend]
    assert np.isfinite(res.log_grad_norm).all() and np.isfinite(res.log_grad_norm_total).all()
    np.testing.assert_allclose(res.log_grad_norm, want, rtol=1e-11, atol=0)
    np.testing.assert_allclose(res.log_grad_norm_total, np.logaddexp.reduce(2 * want, axis=0) / 2, rtol=1e-11)


def test_depth_backends_agree_in_float64(deep400):
    _, _, out = deep400
    np.testing.assert_allclose(out["torch"].log_grad_norm, out["jax"].log_grad_norm, rtol=0, atol=1e-6)


@pytest.mark.parametrize("backend", BACKENDS)
def test_depth_float32_gradient_overflow(backend):
    cfg = _mlp(60)                                      # forward in range, dL/dx_l above 3e38
    params = rnnflow.init_params(cfg, 0, np.float32)
    x = np.random.default_rng(0).standard_normal((2, 4)).astype(np.float32)
    res = gradient_through_depth(rnnflow.build(cfg, params, backend=backend), x)
    want, _ = _mlp_reference(params, x)
    assert want.max() > np.log(np.finfo(np.float32).max)
    assert np.isfinite(res.log_grad_norm).all()
    np.testing.assert_allclose(res.log_grad_norm, want, rtol=0, atol=1e-3)


def test_depth_in_range_equals_plain_autograd():
    import torch
    from rnnflow.analysis.backends import backend_modules
    from rnnflow.analysis.depth import depth_stack
    cfg = _mlp(12)
    model = rnnflow.build(cfg, rnnflow.init_params(cfg, 1, np.float64), backend="torch")
    x = np.random.default_rng(1).standard_normal((3, 4))
    res = gradient_through_depth(model, x)
    x0, layers, readout, _ = depth_stack(backend_modules("torch"), model, x)
    acts = [x0.clone().requires_grad_(True)]
    for f in layers:
        acts.append(f(acts[-1]))
    grads = torch.autograd.grad((readout(acts[-1]) ** 2).sum() / 2, acts)
    want = np.stack([0.5 * np.log((g.detach().numpy() ** 2).sum(1)) for g in grads], 1)
    np.testing.assert_allclose(res.log_grad_norm, want, rtol=0, atol=1e-13)


@pytest.mark.parametrize("backend", BACKENDS)
def test_depth_forward_overflow_names_the_layer(backend):
    cfg = _mlp(300)
    params = rnnflow.init_params(cfg, 0, np.float32)
    x = np.random.default_rng(0).standard_normal((2, 4)).astype(np.float32)
    _, hs = _mlp_reference(params, x)
    first = next(l for l, h in enumerate(hs) if np.abs(h).max() > np.finfo(np.float32).max)  # x_first overflows
    with pytest.raises(ValueError, match=rf"float32 range at layer {first - 1}: its output x_{first} .*float64"):
        gradient_through_depth(rnnflow.build(cfg, params, backend=backend), x)


# ---------------------------------------------------------------- reach
def _rnn_reference(params, xs, dirs):
    """log ||d(u_k . y_T)/dx_t|| (K, B, T) of a one-layer tanh RNN in float64 NumPy, the
    cotangent renormalised per (direction, example) every step."""
    p = {k: np.float64(v) for k, v in params["layers"][0].items()}
    T, B, _ = xs.shape
    hs = [np.zeros((B, p["weight_hh"].shape[0]))]
    for t in range(T):
        hs.append(np.tanh(xs[t] @ p["weight_ih"].T + p["bias_ih"] + hs[-1] @ p["weight_hh"].T + p["bias_hh"]))
    out = np.empty((len(dirs), B, T))
    for k, u in enumerate(dirs):
        g, acc = np.tile(u @ np.float64(params["head"]["weight"]), (B, 1)), np.zeros(B)   # dy/dh_T
        for t in range(T, 0, -1):
            g_pre = g * (1 - hs[t] ** 2)
            out[k, :, t - 1] = acc + np.log(np.linalg.norm(g_pre @ p["weight_ih"], axis=1))
            g = g_pre @ p["weight_hh"]
            n = np.linalg.norm(g, axis=1)
            g, acc = g / n[:, None], acc + np.log(n)
    return out


@pytest.fixture(scope="module")
def long_rnn():
    cfg = rnnflow.RNNConfig(2, 8, output_size=2)
    params = rnnflow.init_params(cfg, 0, np.float64)
    xs = np.random.default_rng(0).standard_normal((2000, 2, 2))
    dirs = np.array([[1.0, 0.0], [0.6, -0.8]])
    out = {be: gradient_reach(rnnflow.build(cfg, params, backend=be), xs, directions=dirs) for be in BACKENDS}
    return params, xs, dirs, out


@pytest.mark.parametrize("backend", BACKENDS)
def test_reach_float64_beyond_the_float_range(long_rnn, backend):
    params, xs, dirs, out = long_rnn
    want = _rnn_reference(params, xs, dirs)
    assert want.min() < LOG_TINY64                   # dy_T/dx_0 itself underflows float64
    res = out[backend]
    assert np.isfinite(res.log_norm).all()
    np.testing.assert_allclose(res.log_norm_per_direction, want, rtol=1e-9, atol=0)


def test_reach_backends_agree_in_float64(long_rnn):
    _, _, _, out = long_rnn
    np.testing.assert_allclose(out["torch"].log_norm, out["jax"].log_norm, rtol=0, atol=1e-6)
    np.testing.assert_allclose(out["torch"].log_norm_per_direction, out["jax"].log_norm_per_direction,
                               rtol=0, atol=1e-6)


@pytest.mark.parametrize("backend", BACKENDS)
def test_reach_float32_long_sequence(backend):
    cfg = rnnflow.RNNConfig(2, 8, output_size=1)
    params = rnnflow.init_params(cfg, 0, np.float32)
    xs = np.random.default_rng(0).standard_normal((600, 2, 2)).astype(np.float32)
    res = gradient_reach(rnnflow.build(cfg, params, backend=backend), xs)
    want = _rnn_reference(params, xs, np.eye(1))[0]
    assert want.min() < np.log(np.finfo(np.float32).smallest_subnormal)
    assert np.isfinite(res.log_norm).all()
    np.testing.assert_allclose(res.log_norm, want, rtol=0, atol=2e-3)


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("config", [rnnflow.LSTMConfig(3, 4, num_layers=2, output_size=2),
                                    rnnflow.GRUConfig(3, 4, num_layers=2)], ids=["lstm", "gru"])
def test_reach_stacked_gated_long_sequence_is_finite(config, backend):
    params = rnnflow.init_params(config, 0, np.float64)
    xs = np.random.default_rng(0).standard_normal((400, 1, 3))
    full = gradient_reach(rnnflow.build(config, params, backend=backend), xs)
    assert np.isfinite(full.log_norm).all()     # (tests/test_reach.py checks these against autograd at small T)
    other = gradient_reach(rnnflow.build(config, params, backend="jax" if backend == "torch" else "torch"), xs)
    np.testing.assert_allclose(full.log_norm, other.log_norm, rtol=0, atol=1e-6)


@pytest.mark.parametrize("backend", BACKENDS)
def test_reach_forward_overflow_names_the_step(backend):
    cfg = rnnflow.RNNConfig(2, 8, output_size=1, activation="relu")
    params = rnnflow.init_params(cfg, 0, np.float32)
    params["layers"][0]["weight_hh"] = (4 * np.eye(8)).astype(np.float32)
    xs = np.ones((100, 1, 2), np.float32)
    p = {k: np.float64(v) for k, v in params["layers"][0].items()}
    h, first = np.zeros((1, 8)), None
    for t in range(1, 101):
        h = np.maximum(xs[t - 1] @ p["weight_ih"].T + p["bias_ih"] + h @ p["weight_hh"].T + p["bias_hh"], 0)
        if np.abs(h).max() > np.finfo(np.float32).max:
            first = t
            break
    with pytest.raises(ValueError, match=rf"float32 range at step t={first} .*float64"):
        gradient_reach(rnnflow.build(cfg, params, backend=backend), xs)


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("name", ["rnn", "transformer"])
def test_reach_directions_of_the_wrong_width(name, backend):
    cfg = (rnnflow.RNNConfig(3, 4, output_size=2) if name == "rnn"
           else rnnflow.TransformerConfig(3, d_model=8, num_heads=2, num_layers=1, output_size=2))
    model = rnnflow.build(cfg, rnnflow.init_params(cfg, 0, np.float64), backend=backend)
    with pytest.raises(ValueError, match=r"directions has shape \(1, 3\): expected \(K, O\) with O = 2"):
        gradient_reach(model, np.zeros((4, 1, 3)), directions=np.ones((1, 3)))

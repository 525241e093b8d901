"""Closed-form LSTM/GRU step Jacobians against autodiff of one step (both backends), and the
analyzers that use them against their ``analytic=False`` (autodiff) twins."""
from __future__ import annotations

import numpy as np
import pytest

import rnnflow
from rnnflow.analysis import jacobians_over_time, lyapunov_spectrum
from rnnflow.analysis.backends import backend_modules
from rnnflow.analysis.jacobians import run_trace, trace_step_jacobians

CONFIGS = {"lstm": rnnflow.LSTMConfig, "gru": rnnflow.GRUConfig}


def _model(cell, backend, layers=2, H=5, I=3, seed=0):
    cfg = CONFIGS[cell](I, H, num_layers=layers)
    params = rnnflow.init_params(cfg, seed, np.float64)
    rng = np.random.default_rng(seed + 1)
    for p in params["layers"]:       # non-zero biases, large enough weights to saturate some gates
        for name in p:
            p[name] = p[name] + 0.6 * rng.standard_normal(p[name].shape)
    return rnnflow.build(cfg, params, backend=backend)


def _steps(model, backend, xs, layer, analytic, h0=None):
    bk = backend_modules(backend)
    tr = run_trace(bk, model, xs, h0, layer)
    s = trace_step_jacobians(bk, model, tr, layer, analytic)
    return s, s.block(0, s.T)


@pytest.mark.parametrize("backend", ["torch", "jax"])
@pytest.mark.parametrize("cell", ["lstm", "gru"])
@pytest.mark.parametrize("layer", [0, 1])
def test_closed_form_step_jacobians_equal_autodiff(cell, backend, layer):
    model = _model(cell, backend)
    rng = np.random.default_rng(2)
    xs = 1.5 * rng.standard_normal((7, 3, 3))
    H = 5
    h0 = (rng.standard_normal((2, 3, H)), rng.standard_normal((2, 3, H))) if cell == "lstm" \
        else rng.standard_normal((2, 3, H))
    fast, a = _steps(model, backend, xs, layer, True, h0)
    slow, b = _steps(model, backend, xs, layer, False, h0)
    N = 2 * H if cell == "lstm" else H
    assert a.shape == b.shape == (7, 3, N, N) and fast.dense_fn is not slow.dense_fn
    assert np.abs(b).max() > 0.1
    np.testing.assert_allclose(a, b, rtol=0, atol=1e-12)


@pytest.mark.parametrize("backend", ["torch", "jax"])
@pytest.mark.parametrize("cell", ["lstm", "gru"])
def test_jacobians_over_time_and_lyapunov_analytic_equal_autodiff(cell, backend):
    model = _model(cell, backend, H=16)       # N = 32 (LSTM), 16 (GRU): above the exact-SVD cutoff
    xs = np.random.default_rng(3).standard_normal((40, 2, 3))
    for layer in (0, 1):
        fast = jacobians_over_time(model, xs, layer=layer, topk=3)
        slow = jacobians_over_time(model, xs, layer=layer, topk=3, analytic=False)
        for f in ("log_spectral", "log_frobenius", "log_spectral_h", "log_frobenius_h", "log_singular"):
            np.testing.assert_allclose(getattr(fast, f), getattr(slow, f), rtol=0, atol=1e-9, err_msg=f)
    ly = {a: lyapunov_spectrum(model, xs, warmup=10, layer=1, k=4, analytic=a).exponents for a in (True, False)}
    np.testing.assert_allclose(ly[True], ly[False], rtol=0, atol=1e-10)


def test_lstm_c_block_is_diagonal_forget_gate():
    """dc'/dc = diag(f) with f = sigmoid(a_f): checked from the gates recomputed here."""
    model = _model("lstm", "torch", layers=1)
    xs = np.random.default_rng(4).standard_normal((3, 2, 3))
    _, a = _steps(model, "torch", xs, 0, True)
    p = {k: np.asarray(v.detach()) for k, v in model.layer_params(0).items()}
    h = np.zeros((2, 5))
    gates = xs[0] @ p["weight_ih"].T + p["bias_ih"] + h @ p["weight_hh"].T + p["bias_hh"]
    f = 1 / (1 + np.exp(-gates[:, 5:10]))
    for b in range(2):
        np.testing.assert_allclose(a[0, b, 5:, 5:], np.diag(f[b]), rtol=0, atol=1e-14)


@pytest.mark.parametrize("kind", ["LSTM", "GRU"])
def test_users_torch_module_gets_the_closed_form(kind):
    """A user's nn.LSTM/nn.GRU is copied into an rnnflow model, so its Jacobians use the closed
    form; compared with torch.autograd.functional.jacobian of the user's own module."""
    import torch
    torch.manual_seed(0)
    mod = getattr(torch.nn, kind)(3, 4, num_layers=2, dtype=torch.float64)
    xs = np.random.default_rng(5).standard_normal((6, 1, 3))
    res = jacobians_over_time(mod, xs, layer=1)
    x = torch.as_tensor(xs)
    with torch.no_grad():
        states = [mod(x[:t])[1] for t in range(1, 6)]   # state after t steps
    t = 3                                                 # dz_6/dz_3 of the top layer (N = 8 or 4)

    def tail(z):
        # run the top layer's state z at step t through the remaining inputs
        if kind == "LSTM":
            h, c = states[t - 1]
            hh, cc = h.clone(), c.clone()
            hh[1], cc[1] = z[:4], z[4:]
            _, (h, c) = mod(x[t:], (hh, cc))
            return torch.cat([h[1, 0], c[1, 0]])
        h = states[t - 1].clone()
        h[1] = z
        return mod(x[t:], h)[1][1, 0]
    z0 = torch.cat([states[t - 1][0][1, 0], states[t - 1][1][1, 0]]) if kind == "LSTM" else states[t - 1][1, 0]
    jac = torch.autograd.functional.jacobian(tail, z0).numpy()
    np.testing.assert_allclose(res.log_spectral[0, t], np.log(np.linalg.norm(jac, 2)), rtol=0, atol=1e-10)
    np.testing.assert_allclose(res.log_frobenius[0, t], np.log(np.linalg.norm(jac)), rtol=0, atol=1e-10)


def test_split_form_product_equals_dense_and_names_a_bad_step():
    """The LSTM split form ([L | diagonals]) gives the dense form's norms; NaN names its step."""
    from rnnflow.analysis import StepJacobians, product_norms
    from rnnflow.analysis.step_jacobians import dense_from_split
    rng = np.random.default_rng(6)
    T, B, H = 30, 2, 8
    left = rng.standard_normal((T, B, 2 * H, H)) / 3
    dh, dc = rng.uniform(-1, 1, (T, B, H)), rng.uniform(0, 1, (T, B, H))
    dense = dense_from_split(left, dh, dc)
    assert np.array_equal(dense[..., :H], left) and np.array_equal(dense[3, 1, 2, H + 2], dh[3, 1, 2])
    assert not dense[..., :H, H:][..., ~np.eye(H, dtype=bool)].any()
    split = StepJacobians.split(lambda lo, hi: (left[lo:hi], dh[lo:hi], dc[lo:hi]), T, B, 2 * H)
    a = product_norms(split, topk=3, h_size=H)
    b = product_norms(StepJacobians.dense(dense), topk=3, h_size=H)
    for k in a:
        np.testing.assert_allclose(a[k], b[k], rtol=0, atol=1e-12, err_msg=k)
    dc[11, 1, 4] = np.nan
    with pytest.raises(ValueError, match=r"step t=12 \(input xs\[11\]\)"):
        product_norms(split)

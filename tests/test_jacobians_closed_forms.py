"""Closed forms at T=5000, where the plain float64 product underflows or overflows."""
from __future__ import annotations

import numpy as np
import pytest

import rnnflow
from rnnflow.analysis import StepJacobians, jacobians_over_time, product_norms

T = 5000


def _linear_model(weight_hh, backend):
    """Identity activation, zero biases and inputs: h_t = W_hh h_{t-1}, so J(t) = W^(T-t)."""
    H = weight_hh.shape[0]
    cfg = rnnflow.RNNConfig(2, H, activation="identity")
    params = rnnflow.init_params(cfg, 0, np.float64)
    params["layers"][0]["weight_hh"] = np.asarray(weight_hh, dtype=np.float64)
    return rnnflow.build(cfg, params, backend=backend), np.zeros((T, 1, 2))


def _naive_norm(weight_hh, power):
    """||W^power||_2 by the plain float64 product (what log space avoids)."""
    p = np.eye(weight_hh.shape[0])
    with np.errstate(over="ignore", under="ignore", invalid="ignore"):
        for _ in range(power):
            p = p @ weight_hh
        return np.linalg.norm(p, 2) if np.isfinite(p).all() else np.inf


@pytest.mark.parametrize("backend", ["torch", "jax"])
@pytest.mark.parametrize("lam, naive", [([0.5, -0.45, 0.3], 0.0), ([1.2, 0.9, -1.1], np.inf)])
def test_diagonal_weight_gives_gap_times_log_max_lambda(backend, lam, naive):
    model, xs = _linear_model(np.diag(lam), backend)
    res = jacobians_over_time(model, xs)
    gap = T - np.arange(T)
    lam = np.abs(np.asarray(lam))
    np.testing.assert_allclose(res.log_spectral[0], gap * np.log(lam.max()), rtol=1e-12, atol=1e-9)
    # Frobenius: 0.5 log sum_i lambda_i^(2 gap), by logsumexp
    lg = 2 * gap[:, None] * np.log(lam)[None]
    top = lg.max(1)
    frob = 0.5 * (top + np.log(np.exp(lg - top[:, None]).sum(1)))
    np.testing.assert_allclose(res.log_frobenius[0], frob, rtol=1e-12, atol=1e-9)
    assert np.isfinite(res.log_spectral).all()
    assert _naive_norm(np.diag(lam), T) == naive  # the plain product really is 0 / inf here


@pytest.mark.parametrize("backend", ["torch", "jax"])
def test_orthogonal_weight_keeps_norm_one(backend):
    q, _ = np.linalg.qr(np.random.default_rng(0).standard_normal((6, 6)))
    model, xs = _linear_model(q, backend)
    res = jacobians_over_time(model, xs)
    np.testing.assert_allclose(res.log_spectral, 0.0, atol=1e-9)
    np.testing.assert_allclose(res.log_frobenius, 0.5 * np.log(6), atol=1e-9)


@pytest.mark.parametrize("scale, naive", [(0.8, 0.0), (1.2, np.inf)])
def test_scaled_orthogonal_product_without_a_model(scale, naive):
    """The NumPy accumulator alone, dense form and a size (N=20) that uses power iteration."""
    q, _ = np.linalg.qr(np.random.default_rng(1).standard_normal((20, 20)))
    steps = StepJacobians.lazy(lambda lo, hi: np.broadcast_to(scale * q, (hi - lo, 1, 20, 20)), T, 1, 20)
    gap = T - np.arange(T)
    for spectral in ("exact", "power"):
        res = product_norms(steps, spectral=spectral)
        np.testing.assert_allclose(res["log_spectral"][0], gap * np.log(scale), rtol=1e-12, atol=1e-8)
        np.testing.assert_allclose(res["log_frobenius"][0], gap * np.log(scale) + 0.5 * np.log(20),
                                   rtol=1e-12, atol=1e-8)
    assert _naive_norm(scale * q, T) == naive


def test_spectral_modes_agree_and_power_is_a_lower_bound():
    """N=40 (above the exact-SVD cutoff): "exact" equals "svd"; "power" never exceeds them
    and is exact once the leading direction has separated (large gaps)."""
    rng = np.random.default_rng(4)
    N, steps_T = 40, 300
    w = 1.3 * np.linalg.qr(rng.standard_normal((N, N)))[0] + 0.2 * rng.standard_normal((N, N))
    d = rng.uniform(0.2, 1.0, (steps_T, 2, N))
    steps = StepJacobians.elman(d, w)
    svd = product_norms(steps, spectral="svd", topk=4)
    exact = product_norms(steps, spectral="exact", topk=4)
    power = product_norms(steps, spectral="power", topk=4, power_iters=3)
    np.testing.assert_allclose(exact["log_spectral"], svd["log_spectral"], rtol=0, atol=1e-10)
    np.testing.assert_allclose(exact["log_singular"], svd["log_singular"], rtol=0, atol=1e-8)
    assert (power["log_spectral"] <= svd["log_spectral"] + 1e-10).all()
    np.testing.assert_allclose(power["log_spectral"][:, :200], svd["log_spectral"][:, :200], rtol=0, atol=1e-8)
    np.testing.assert_allclose(power["log_singular"][:, :200], svd["log_singular"][:, :200], rtol=0, atol=1e-7)
    spec = product_norms(steps, spectral="power", power_iters=3)   # k = 1: a 3-vector block
    assert (spec["log_spectral"] <= svd["log_spectral"] + 1e-10).all()
    np.testing.assert_allclose(spec["log_spectral"][:, :200], svd["log_spectral"][:, :200], rtol=0, atol=1e-7)
    none = product_norms(steps, spectral="none")
    assert np.isnan(none["log_spectral"]).all()
    np.testing.assert_allclose(none["log_frobenius"], svd["log_frobenius"], rtol=0, atol=1e-12)


def test_exactly_zero_jacobian_gives_minus_inf_without_warnings():
    d = np.ones((5, 1, 3))
    d[2] = 0.0   # every unit dead at step 3: J(t) = 0 for t < 3
    res = product_norms(StepJacobians.elman(d, np.eye(3)), topk=2)
    assert np.isneginf(res["log_spectral"][0, :3]).all() and np.isneginf(res["log_frobenius"][0, :3]).all()
    np.testing.assert_allclose(res["log_spectral"][0, 3:], 0.0, atol=1e-12)


def test_float32_model_where_the_float32_product_underflows():
    """A float32 tanh RNN (T=256): the plain float32 product of step Jacobians is 0, the
    log-space float64 accumulation is finite and matches the float64 model's."""
    cfg = rnnflow.RNNConfig(4, 32, init_hh=rnnflow.Init("orthogonal", gain=0.6))
    xs = np.random.default_rng(0).standard_normal((256, 1, 4))
    res = {dt: jacobians_over_time(rnnflow.build(cfg, rnnflow.init_params(cfg, 0, dt), backend="torch"),
                                   xs.astype(dt)) for dt in (np.float32, np.float64)}
    r32 = res[np.float32]
    assert np.isfinite(r32.log_spectral).all() and r32.log_spectral[0, 0] < np.log(1e-45)
    np.testing.assert_allclose(r32.log_spectral, res[np.float64].log_spectral, rtol=1e-5, atol=1e-4)
    p = np.eye(32, dtype=np.float32)
    for t in range(255, -1, -1):
        p = (p * r32.dphi[t, 0].astype(np.float32)) @ r32.weight_hh.astype(np.float32)
    assert p.dtype == np.float32 and not p.any()

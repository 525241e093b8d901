"""Lyapunov spectrum (QR method) against closed forms and the Jacobian-product slope."""
from __future__ import annotations

import numpy as np
import pytest

import rnnflow
from rnnflow.analysis import StepJacobians, jacobians_over_time, lyapunov_exponents, lyapunov_spectrum


def _matrix_with_moduli(moduli, seed=0):
    """A non-normal real matrix whose eigenvalues have the given (distinct) moduli."""
    rng = np.random.default_rng(seed)
    p = rng.standard_normal((len(moduli), len(moduli))) + 2 * np.eye(len(moduli))
    signs = np.where(np.arange(len(moduli)) % 2, -1.0, 1.0)
    return p @ np.diag(signs * np.asarray(moduli)) @ np.linalg.inv(p)


def test_linear_map_exponents_are_log_abs_eigenvalues():
    w = _matrix_with_moduli([1.3, 0.9, 0.6, 0.35, 0.1])
    steps = StepJacobians.lazy(lambda lo, hi: np.broadcast_to(w, (hi - lo, 1, 5, 5)), 3000, 1, 5)
    spec = lyapunov_exponents(steps, warmup=200)
    want = np.sort(np.log(np.abs(np.linalg.eigvals(w))))[::-1]
    np.testing.assert_allclose(spec.exponents[0], want, atol=2e-3)
    assert spec.steps == 2800 and spec.warmup == 200


def test_rotation_pairs_share_an_exponent():
    a = 0.9 * np.array([[np.cos(0.3), -np.sin(0.3)], [np.sin(0.3), np.cos(0.3)]])
    w = np.block([[a, np.zeros((2, 1))], [np.zeros((1, 2)), np.array([[0.5]])]])
    spec = lyapunov_exponents(StepJacobians.dense(np.broadcast_to(w, (2000, 1, 3, 3))), warmup=100)
    np.testing.assert_allclose(spec.exponents[0], np.log([0.9, 0.9, 0.5]), atol=2e-3)


@pytest.mark.parametrize("backend", ["torch", "jax"])
def test_autonomous_tanh_rnn_at_its_fixed_point(backend):
    """x = 0, h0 = 0, zero biases: h stays at 0 where tanh' = 1, so the exponents are
    log |eig(W_hh)| (and the driving path is the autonomous one, xs=None)."""
    w = _matrix_with_moduli([1.1, 0.8, 0.5, 0.2], seed=3)
    cfg = rnnflow.RNNConfig(2, 4)
    params = rnnflow.init_params(cfg, 0, np.float64)
    params["layers"][0]["weight_hh"] = w
    model = rnnflow.build(cfg, params, backend=backend)
    spec = lyapunov_spectrum(model, steps=2500, warmup=200)
    want = np.sort(np.log(np.abs(np.linalg.eigvals(w))))[::-1]
    np.testing.assert_allclose(spec.exponents[0], want, atol=2e-3)


@pytest.mark.parametrize("backend", ["torch", "jax"])
def test_largest_exponent_is_the_slope_of_the_log_norm(backend):
    """Input-driven tanh RNN on a long run: lambda_1 == d log||dh_T/dh_t|| / d(T - t)."""
    T = 3000
    cfg = rnnflow.RNNConfig(2, 24, init_hh=rnnflow.Init("normal", std=1.6 / np.sqrt(24)))
    model = rnnflow.build(cfg, rnnflow.init_params(cfg, 2, np.float64), backend=backend)
    xs = np.random.default_rng(0).standard_normal((T, 1, 2))
    lyap = lyapunov_spectrum(model, xs, warmup=0, k=3)
    norms = jacobians_over_time(model, xs, spectral="power")
    far = norms.gap > 300
    slope = np.polyfit(norms.gap[far], norms.log_spectral[0, far], 1)[0]
    assert abs(lyap.max_exponent[0] - slope) < 5e-3          # lambda_1 - lambda_2 is ~0.04 here
    assert abs(lyap.exponents[0, 1] - slope) > 0.02
    assert lyap.exponents[0, 0] >= lyap.exponents[0, 1] >= lyap.exponents[0, 2]


def test_constant_input_forms_agree_and_gated_cells_run():
    cfg = rnnflow.LSTMConfig(3, 4)
    model = rnnflow.build(cfg, rnnflow.init_params(cfg, 0, np.float64), backend="torch")
    c = np.array([0.5, -1.0, 0.2])
    a = lyapunov_spectrum(model, c, steps=300, warmup=50, batch=2)
    b = lyapunov_spectrum(model, np.broadcast_to(c, (350, 2, 3)).copy(), warmup=50)
    np.testing.assert_allclose(a.exponents, b.exponents, atol=1e-12)
    assert a.exponents.shape == (2, 8) and np.all(np.diff(a.exponents, axis=1) <= 0)
    assert a.max_exponent.shape == (2,) and a.mean.shape == (8,)


def test_bad_arguments():
    steps = StepJacobians.dense(np.ones((5, 1, 2, 2)))
    with pytest.raises(ValueError, match="k="):
        lyapunov_exponents(steps, k=3)
    with pytest.raises(ValueError, match="warmup="):
        lyapunov_exponents(steps, warmup=5)
    cfg = rnnflow.RNNConfig(2, 3)
    model = rnnflow.build(cfg, rnnflow.init_params(cfg, 0, np.float64), backend="torch")
    with pytest.raises(ValueError, match="steps is required"):
        lyapunov_spectrum(model, None)
    with pytest.raises(ValueError, match="warmup"):
        lyapunov_spectrum(model, np.zeros((10, 1, 2)), warmup=10)


def test_lstm_tangent_push_equals_the_dense_step_jacobian_times_the_basis(rng):
    """The LSTM's A Q without A (gated_jacobians.lstm_tangent), which the QR iteration takes,
    against the dense A_t of lstm_step_jacobians, and the exponents it gives against the dense form."""
    from rnnflow.analysis.gated_jacobians import lstm_step_jacobians, lstm_tangent
    n, B, H, k = 5, 3, 4, 3
    pre, c, w = rng.normal(size=(n, B, 4 * H)), rng.normal(size=(n, B, H)), rng.normal(size=(4 * H, H))
    q = rng.normal(size=(B, 2 * H, k))
    dense, push = lstm_step_jacobians(pre, c, w), lstm_tangent(pre, c, w)
    for j in range(n):
        np.testing.assert_allclose(push(j, q), dense[j] @ q, rtol=1e-13, atol=1e-13)
    cfg = rnnflow.LSTMConfig(3, 6)
    xs = rng.normal(size=(60, 2, 3))
    got = lyapunov_spectrum(cfg, xs, params=rnnflow.init_params(cfg, 1, np.float64), k=5, warmup=10,
                            backend="torch").exponents
    from rnnflow.analysis.backends import prepare
    from rnnflow.analysis.jacobians import run_trace, trace_step_jacobians
    model, bk, x, h0 = prepare(cfg, xs, None, params=rnnflow.init_params(cfg, 1, np.float64), backend="torch",
                               sequence=False)
    steps = trace_step_jacobians(bk, model, run_trace(bk, model, x, h0, 0), 0, True)
    assert steps.tangent_fn is not None
    ref = lyapunov_exponents(StepJacobians.dense(steps.block(0, 60)), 5, warmup=10)
    np.testing.assert_allclose(got, ref.exponents, rtol=1e-12, atol=1e-14)

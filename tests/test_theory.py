"""Pascanu et al. (2013) section 2.1 bounds, against measured Jacobian products."""
from __future__ import annotations

import numpy as np
import pytest

import rnnflow
from rnnflow.analysis import (
    gamma, jacobians_over_time, log_bound_curve, pascanu_bound,
    sigmoid_chain_log_bound,
)


def test_gamma_values():
    assert gamma("tanh") == 1.0 and gamma("sigmoid") == 0.25 and gamma("silu") == gamma("swish")
    with pytest.raises(ValueError, match="activation="):
        gamma("softplus")


def test_verdicts():
    q, _ = np.linalg.qr(np.random.default_rng(0).standard_normal((5, 5)))
    assert pascanu_bound(0.9 * q, "tanh").verdict == "vanishing"
    assert pascanu_bound(1.1 * q, "tanh").verdict == "may explode"
    assert pascanu_bound(q, "tanh").verdict == "boundary"
    sig = pascanu_bound(3.9 * q, "sigmoid")
    assert sig.verdict == "vanishing" and sig.threshold == 4.0
    assert pascanu_bound(4.1 * q, "sigmoid").verdict == "may explode"
    b = pascanu_bound(0.5 * q, "tanh")
    np.testing.assert_allclose(b.log_bound([0, 1, 10]), [0.0, np.log(0.5), 10 * np.log(0.5)])
    np.testing.assert_allclose(b.spectral_radius, 0.5)
    np.testing.assert_allclose(sigmoid_chain_log_bound(np.arange(4)), np.arange(4) * np.log(0.25))
    np.testing.assert_allclose(log_bound_curve(3, 0.5, 4.0), 3 * np.log(2.0))
    with pytest.raises(ValueError, match="square"):
        pascanu_bound(np.ones((2, 3)))


@pytest.mark.parametrize("activation, std, verdict", [
    ("tanh", 0.1, "vanishing"), ("tanh", 0.6, "may explode"), ("sigmoid", 0.5, "vanishing"),
    ("sigmoid", 3.0, "may explode")])
def test_measured_norms_respect_the_bound(activation, std, verdict):
    """||dh_T/dh_t|| <= (gamma sigma_max)^(T-t) holds for every t, whatever the verdict."""
    cfg = rnnflow.RNNConfig(3, 8, activation=activation, init_hh=rnnflow.Init("normal", std=std))
    model = rnnflow.build(cfg, rnnflow.init_params(cfg, 1, np.float64), backend="torch")
    xs = np.random.default_rng(1).standard_normal((60, 3, 3))
    res = jacobians_over_time(model, xs)
    bound = pascanu_bound(res.weight_hh, activation)
    assert bound.verdict == verdict
    assert (res.log_spectral <= bound.log_bound(res.gap)[None] + 1e-9).all()
    if verdict == "vanishing":
        assert res.log_spectral[:, 0].max() < -5.0

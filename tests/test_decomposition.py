"""The Elman decomposition (phi' factor vs W_hh^k factor) against brute-force products."""
from __future__ import annotations

import numpy as np
import pytest

import rnnflow
from rnnflow.analysis import elman_decomposition, jacobians_over_time


@pytest.mark.parametrize("backend", ["torch", "jax"])
def test_decomposition_against_brute_force(backend):
    T, H = 12, 5
    cfg = rnnflow.RNNConfig(2, H, activation="tanh", init_hh=rnnflow.Init("normal", std=0.8))
    model = rnnflow.build(cfg, rnnflow.init_params(cfg, 3, np.float64), backend=backend)
    xs = 2.0 * np.random.default_rng(2).standard_normal((T, 2, 2))
    dec = elman_decomposition(model, xs)
    res = jacobians_over_time(model, xs)
    w, d = res.weight_hh, np.abs(res.dphi)                       # (H, H), (T, B, H)
    for t in range(T):
        k = T - t
        np.testing.assert_allclose(dec.log_weight_power[t], np.log(np.linalg.norm(np.linalg.matrix_power(w, k), 2)),
                                   atol=1e-10)
        np.testing.assert_allclose(dec.log_dphi_max[:, t], np.log(d[t:].max(axis=2)).sum(0), atol=1e-10)
        np.testing.assert_allclose(dec.log_dphi_mean[:, t], np.log(d[t:]).mean(axis=2).sum(0), atol=1e-10)
        np.testing.assert_allclose(dec.log_dphi_product[:, t], np.log(np.prod(d[t:], axis=0).max(axis=1)), atol=1e-10)
    np.testing.assert_allclose(dec.log_jacobian, res.log_spectral)
    assert (dec.log_jacobian <= dec.log_bound + 1e-9).all()
    assert (dec.log_dphi_product <= dec.log_dphi_max + 1e-12).all()
    np.testing.assert_allclose(dec.log_spectral_radius, np.log(np.abs(np.linalg.eigvals(w)).max()))
    np.testing.assert_allclose(dec.log_sigma_max, np.log(np.linalg.norm(w, 2)))


def test_decomposition_of_a_linear_rnn_is_all_weight():
    cfg = rnnflow.RNNConfig(2, 4, activation="identity")
    model = rnnflow.build(cfg, rnnflow.init_params(cfg, 0, np.float64), backend="jax")
    dec = elman_decomposition(model, np.random.default_rng(0).standard_normal((20, 1, 2)))
    np.testing.assert_allclose(dec.log_dphi_max, 0.0, atol=1e-15)
    np.testing.assert_allclose(dec.log_jacobian[0], dec.log_weight_power, atol=1e-10)


def test_decomposition_needs_an_elman_cell():
    cfg = rnnflow.GRUConfig(2, 3)
    model = rnnflow.build(cfg, rnnflow.init_params(cfg, 0, np.float64), backend="torch")
    with pytest.raises(ValueError, match="Elman"):
        elman_decomposition(model, np.zeros((4, 1, 2)))

"""Gradient reach over time, ``log ||dy_T/dx_t||``, against full autograd Jacobians."""
from __future__ import annotations

import numpy as np
import pytest

import rnnflow
from rnnflow.analysis import gradient_reach

T, B = 7, 2
MODELS = {
    "rnn": rnnflow.RNNConfig(3, 5, output_size=2),
    "lstm": rnnflow.LSTMConfig(3, 4),
    "gru": rnnflow.GRUConfig(3, 4, num_layers=2, output_size=3),
    "transformer": rnnflow.TransformerConfig(3, d_model=8, num_heads=2, num_layers=2, output_size=2),
    "transformer-causal-post": rnnflow.TransformerConfig(3, d_model=8, num_heads=2, num_layers=1, norm="post",
                                                         causal=True),
}


def _model(name, backend, seed=0):
    cfg = MODELS[name]
    return rnnflow.build(cfg, rnnflow.init_params(cfg, seed, np.float64), backend=backend)


def _full_jacobian(model, xs, backend):
    """(B, O, T, B, I): dy_T/dx by autograd of the whole output."""
    if backend == "torch":
        import torch
        return torch.autograd.functional.jacobian(lambda x: model(x).y[-1], torch.as_tensor(xs)).numpy()
    import jax
    import jax.numpy as jnp
    return np.asarray(jax.jacrev(lambda x: model(x).y[-1])(jnp.asarray(xs)))


@pytest.mark.parametrize("backend", ["torch", "jax"])
@pytest.mark.parametrize("name", list(MODELS))
def test_reach_matches_full_jacobian(name, backend):
    model = _model(name, backend)
    xs = np.random.default_rng(1).standard_normal((T, B, 3))
    res = gradient_reach(model, xs, label=name)
    jac = _full_jacobian(model, xs, backend)
    want = np.empty((B, T))
    for b in range(B):
        want[b] = 0.5 * np.log((jac[b, :, :, b, :] ** 2).sum(axis=(0, 2)))
    np.testing.assert_allclose(res.log_norm, want, rtol=0, atol=1e-10)
    np.testing.assert_array_equal(res.gap, T - 1 - np.arange(T))
    assert res.label == name and res.log_norm_per_direction is None
    if name == "transformer-causal-post":   # the last position sees everything, the rest see nothing later
        assert np.isfinite(res.log_norm).all()


def test_reach_per_direction_and_backend_agreement():
    xs = np.random.default_rng(2).standard_normal((T, B, 3))
    dirs = np.array([[1.0, 0.0], [0.6, 0.8]])
    out = {be: gradient_reach(_model("rnn", be), xs, directions=dirs) for be in ("torch", "jax")}
    np.testing.assert_allclose(out["torch"].log_norm_per_direction, out["jax"].log_norm_per_direction, atol=1e-12)
    jac = _full_jacobian(_model("rnn", "torch"), xs, "torch")                       # (B, O, T, B, I)
    proj = np.einsum("ko,botci->kbtci", dirs, jac)
    want = 0.5 * np.log((np.stack([proj[:, b, :, b, :] for b in range(B)], 1) ** 2).sum(-1))  # (K, B, T)
    np.testing.assert_allclose(out["torch"].log_norm_per_direction, want, atol=1e-10)


def test_reach_output_shape_error():
    import torch
    with pytest.raises(ValueError, match=r"\(T, B, O\)"):
        gradient_reach(lambda x: x.sum(-1), torch.zeros(T, B, 3, dtype=torch.float64))


# ---------------------------------------------------------------- depth

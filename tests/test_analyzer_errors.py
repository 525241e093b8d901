"""Bad input: non-finite states name the first bad step; bad shapes raise ValueError."""
from __future__ import annotations

import numpy as np
import pytest

import rnnflow
from rnnflow.analysis import StepJacobians, jacobians_over_time, product_norms, resolve_backend


def _first_overflow(w, T):
    """First t at which h_t = w * h_{t-1}, h_1 = 1, overflows float64."""
    with np.errstate(over="ignore"):
        h = np.float64(1.0)
        for t in range(2, T + 1):
            h = h * w
            if not np.isfinite(h):
                return t
    raise AssertionError("no overflow")


@pytest.mark.parametrize("backend", ["torch", "jax"])
def test_overflowing_hidden_state_names_the_step(backend):
    """Linear RNN with W_hh = 1e120 I: h_t ~ 1e120^(t-1) overflows at a known t."""
    cfg = rnnflow.RNNConfig(1, 2, activation="identity")
    params = rnnflow.init_params(cfg, 0, np.float64)
    params["layers"][0]["weight_hh"] = 1e120 * np.eye(2)
    params["layers"][0]["weight_ih"] = np.ones((2, 1))
    model = rnnflow.build(cfg, params, backend=backend)
    xs = np.zeros((10, 1, 1))
    xs[0] = 1.0
    t = _first_overflow(1e120, 10)
    with pytest.raises(ValueError, match=rf"non-finite \(NaN/Inf\) first at step t={t} "):
        jacobians_over_time(model, xs)


def test_nan_from_a_user_step_names_the_step_torch():
    import torch

    def step(h, x):   # log of a negative number at the step whose input is negative
        return torch.log(x[:, :1].expand_as(h)) + 0.0 * h

    xs = np.ones((6, 2, 1))
    xs[3, 1] = -1.0   # xs[3] feeds step t=4
    with pytest.raises(ValueError, match=r"first at step t=4 .*batch element\(s\) \[1\]"):
        jacobians_over_time(step, torch.as_tensor(xs), torch.zeros(2, 3, dtype=torch.float64))


def test_nan_initial_state_is_step_zero_jax():
    import jax.numpy as jnp
    h0 = jnp.array([[0.0, jnp.nan]])
    with pytest.raises(ValueError, match=r"in h0 \(t=0\)"):
        jacobians_over_time(lambda h, x: jnp.tanh(h + x), jnp.zeros((3, 1, 2)), h0)


def test_non_finite_step_jacobian_names_the_step():
    a = np.ones((6, 1, 2, 2))
    a[2, 0, 1, 1] = np.inf
    with pytest.raises(ValueError, match=r"first at step t=3"):
        product_norms(StepJacobians.dense(a))
    d = np.ones((6, 1, 2))
    d[4, 0, 0] = np.nan
    with pytest.raises(ValueError, match=r"first at step t=5"):
        product_norms(StepJacobians.elman(d, np.eye(2)))


@pytest.mark.parametrize("backend", ["torch", "jax"])
def test_shape_errors(backend):
    cfg = rnnflow.RNNConfig(3, 4)
    model = rnnflow.build(cfg, rnnflow.init_params(cfg, 0, np.float64), backend=backend)
    with pytest.raises(ValueError, match="rank 3"):
        jacobians_over_time(model, np.zeros((5, 3)))
    with pytest.raises(ValueError, match="features"):
        jacobians_over_time(model, np.zeros((5, 2, 2)))
    with pytest.raises(ValueError, match="layer=1"):
        jacobians_over_time(model, np.zeros((5, 2, 3)), layer=1)
    with pytest.raises(ValueError, match="topk="):
        jacobians_over_time(model, np.zeros((5, 2, 3)), topk=5)
    with pytest.raises(ValueError, match="spectral="):
        jacobians_over_time(model, np.zeros((5, 2, 3)), spectral="fast")
    with pytest.raises(ValueError, match="state0"):
        jacobians_over_time(model, np.zeros((5, 2, 3)), np.zeros((1, 3, 4)))


@pytest.mark.parametrize("backend", ["torch", "jax"])
def test_step_function_shape_errors(backend):
    if backend == "torch":
        import torch as lib
        arr = lambda a: lib.as_tensor(np.asarray(a, dtype=np.float64))  # noqa: E731
        grow = lambda h, x: lib.cat([h, h], -1)  # noqa: E731
    else:
        import jax.numpy as lib
        arr = lambda a: lib.asarray(np.asarray(a, dtype=np.float64))  # noqa: E731
        grow = lambda h, x: lib.concatenate([h, h], -1)  # noqa: E731
    xs = arr(np.zeros((4, 2, 3)))
    with pytest.raises(ValueError, match=r"h0 has shape \(3, 5\)"):
        jacobians_over_time(lambda h, x: h, xs, arr(np.zeros((3, 5))))
    with pytest.raises(ValueError, match="returned a state with shapes"):
        jacobians_over_time(grow, xs, arr(np.zeros((2, 5))))
    with pytest.raises(ValueError, match="h0 is required"):
        jacobians_over_time(lambda h, x: h, xs)


def test_backend_must_be_named_when_it_cannot_be_detected():
    with pytest.raises(ValueError, match="pass backend="):
        resolve_backend(lambda h, x: h, np.zeros((2, 1, 1)), np.zeros((1, 1)))
    with pytest.raises(ValueError, match="backend="):
        resolve_backend(None, backend="numpy")
    assert resolve_backend(lambda h, x: h, np.zeros(1), backend="jax") == "jax"


def test_step_jacobian_container_checks():
    with pytest.raises(ValueError, match=r"\(T, B, N, N\)"):
        StepJacobians.dense(np.ones((3, 2, 2)))
    with pytest.raises(ValueError, match="weight has shape"):
        StepJacobians.elman(np.ones((3, 1, 2)), np.eye(3))
    bad = StepJacobians.lazy(lambda lo, hi: np.ones((hi - lo, 1, 3, 3)), 4, 1, 2)
    with pytest.raises(ValueError, match="expected"):
        product_norms(bad)

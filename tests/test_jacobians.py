"""jacobians_over_time against full autograd Jacobians of the unrolled tail (float64).

The brute-force twin: ``J(t) = dh_T/dh_t`` by re-running steps ``t+1..T`` from ``h_t`` and
differentiating the whole tail (``torch.autograd.functional.jacobian`` / ``jax.jacrev``),
once per ``t``: the O(T^2) route the analyzers avoid.
"""
from __future__ import annotations

import numpy as np
import pytest

import rnnflow
from rnnflow.analysis import jacobians_over_time


# ---------------------------------------------------------------- brute force
def _parts(s):
    return tuple(s) if isinstance(s, (tuple, list)) else (s,)


def tail_jacobians_torch(step, xs, h0):
    """(T, B, N, N) full-state ``dh_T/dh_t`` for ``t = 0..T-1``; ``step(h, x)`` batched."""
    import torch
    x = torch.as_tensor(xs)
    parts = tuple(torch.as_tensor(p) for p in _parts(h0))
    sizes = [p.shape[-1] for p in parts]
    pack = (lambda ps: ps[0]) if len(parts) == 1 else tuple
    states = [torch.cat(parts, -1)]
    with torch.no_grad():
        h = pack(parts)
        for t in range(x.shape[0]):
            h = step(h, x[t])
            states.append(torch.cat(_parts(h), -1))
    T, B = x.shape[0], x.shape[1]
    out = np.empty((T, B, sum(sizes), sum(sizes)))
    for t in range(T):
        def tail(z, t=t):
            h = pack(tuple(torch.split(z, sizes, -1)))
            for s in range(t, T):
                h = step(h, x[s])
            return torch.cat(_parts(h), -1)
        jac = torch.autograd.functional.jacobian(tail, states[t])        # (B, N, B, N)
        out[t] = np.stack([jac[b, :, b, :].numpy() for b in range(B)])
    return out


def tail_jacobians_jax(step, xs, h0):
    """(T, B, N, N) full-state ``dh_T/dh_t`` for ``t = 0..T-1``; ``step(h, x)`` batched."""
    import jax
    import jax.numpy as jnp
    x = jnp.asarray(xs)
    parts = tuple(jnp.asarray(p) for p in _parts(h0))
    sizes = [p.shape[-1] for p in parts]
    splits = list(np.cumsum(sizes)[:-1])
    pack = (lambda ps: ps[0]) if len(parts) == 1 else tuple
    states = [jnp.concatenate(parts, -1)]
    h = pack(parts)
    for t in range(x.shape[0]):
        h = step(h, x[t])
        states.append(jnp.concatenate(_parts(h), -1))
    T, B = x.shape[0], x.shape[1]
    out = np.empty((T, B, sum(sizes), sum(sizes)))
    for t in range(T):
        def tail(z, t=t):
            h = pack(tuple(jnp.split(z, splits, -1)))
            for s in range(t, T):
                h = step(h, x[s])
            return jnp.concatenate(_parts(h), -1)
        jac = np.asarray(jax.jacrev(tail)(states[t]))                     # (B, N, B, N)
        out[t] = np.stack([jac[b, :, b, :] for b in range(B)])
    return out


def log_norms(jacs, h_size=None, topk=0):
    """Brute-force log norms of ``(T, B, N, N)`` Jacobians, each ``(B, T)`` (topk: ``(B, T, k)``)."""
    j = jacs if h_size is None else jacs[:, :, :h_size, :h_size]
    sv = np.linalg.svd(j, compute_uv=False)                                # (T, B, n)
    with np.errstate(divide="ignore"):
        spec = np.log(sv[..., 0]).T
        frob = 0.5 * np.log((j ** 2).sum(axis=(2, 3))).T
        top = np.log(sv[..., :topk]).transpose(1, 0, 2) if topk else None
    return spec, frob, top


# ---------------------------------------------------------------- tests
BACKENDS = ("torch", "jax")
CELLS = {
    "rnn-tanh": rnnflow.RNNConfig(3, 5, activation="tanh", init_hh=rnnflow.Init("orthogonal", gain=1.3)),
    "rnn-sigmoid": rnnflow.RNNConfig(3, 5, activation="sigmoid", init_hh=rnnflow.Init("normal", std=1.5)),
    "rnn-relu": rnnflow.RNNConfig(3, 6, activation="relu"),
    "rnn-gelu": rnnflow.RNNConfig(3, 4, activation="gelu"),
    "rnn-identity": rnnflow.RNNConfig(3, 4, activation="identity", init_hh=rnnflow.Init("normal", std=0.6)),
    "lstm": rnnflow.LSTMConfig(3, 4, forget_bias=1.0),
    "gru": rnnflow.GRUConfig(3, 5),
}
T, B = 8, 2
TOL = 1e-8


def assert_top_close(got, want, spec):
    """Top-k log singular values agree where they are above the float64 noise floor
    (``sigma_i > 1e-9 sigma_1``; below it both sides are rounding noise, e.g. relu's dead units)."""
    resolved = want > spec[..., None] - 20.0
    assert resolved[..., 0].all()
    np.testing.assert_allclose(np.where(resolved, got, 0.0), np.where(resolved, want, 0.0), rtol=0, atol=TOL)
    assert (got[~resolved] < spec[..., None].repeat(got.shape[-1], -1)[~resolved] - 15.0).all()


def _setup(name, backend, seed=0):
    cfg = CELLS[name]
    params = rnnflow.init_params(cfg, seed, np.float64)
    rng = np.random.default_rng(seed + 7)
    for layer in params["layers"]:  # non-zero biases so every term of the step is exercised
        layer["bias_ih"] = 0.3 * rng.standard_normal(layer["bias_ih"].shape)
    model = rnnflow.build(cfg, params, backend=backend)
    xs = rng.standard_normal((T, B, cfg.input_size))
    return cfg, model, xs


def _brute(cfg, model, xs, backend, h0_parts):
    step = lambda h, x: model.step(0, h, x)  # noqa: E731
    fn = tail_jacobians_torch if backend == "torch" else tail_jacobians_jax
    return fn(step, xs, h0_parts)


def _h0_parts(cfg, rng):
    h = 0.5 * rng.standard_normal((B, cfg.hidden_size))
    return (h, 0.5 * rng.standard_normal((B, cfg.hidden_size))) if isinstance(cfg, rnnflow.LSTMConfig) else (h,)


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("name", list(CELLS))
def test_matches_full_autograd_jacobian(name, backend):
    cfg, model, xs = _setup(name, backend)
    parts = _h0_parts(cfg, np.random.default_rng(3))
    h0 = tuple(p[None] for p in parts) if len(parts) == 2 else parts[0][None]   # (L=1, B, H)
    res = jacobians_over_time(model, xs, h0, topk=3)
    jac = _brute(cfg, model, xs, backend, parts)
    spec, frob, top = log_norms(jac, topk=3)
    np.testing.assert_allclose(res.log_spectral, spec, rtol=0, atol=TOL)
    np.testing.assert_allclose(res.log_frobenius, frob, rtol=0, atol=TOL)
    assert_top_close(res.log_singular, top, spec)
    spec_h, frob_h, _ = log_norms(jac, h_size=cfg.hidden_size)
    np.testing.assert_allclose(res.log_spectral_h, spec_h, rtol=0, atol=TOL)
    np.testing.assert_allclose(res.log_frobenius_h, frob_h, rtol=0, atol=TOL)
    assert res.log_spectral.shape == (B, T)
    np.testing.assert_array_equal(res.gap, T - np.arange(T))
    assert res.state_sizes == ((cfg.hidden_size,) * (2 if name == "lstm" else 1))


@pytest.mark.parametrize("backend", BACKENDS)
def test_analytic_elman_equals_autodiff_step(backend):
    _, model, xs = _setup("rnn-tanh", backend)
    a = jacobians_over_time(model, xs, topk=2)
    b = jacobians_over_time(model, xs, topk=2, analytic=False)
    assert a.dphi is not None and b.dphi is None
    for field in ("log_spectral", "log_frobenius", "log_singular"):
        np.testing.assert_allclose(getattr(a, field), getattr(b, field), rtol=0, atol=1e-12)


@pytest.mark.parametrize("name", ["rnn-tanh", "lstm", "gru"])
def test_torch_and_jax_agree(name):
    res = {}
    for backend in BACKENDS:
        _, model, xs = _setup(name, backend, seed=5)
        res[backend] = jacobians_over_time(model, xs, topk=2)
    for field in ("log_spectral", "log_frobenius", "log_spectral_h", "log_frobenius_h", "log_singular"):
        np.testing.assert_allclose(getattr(res["torch"], field), getattr(res["jax"], field), rtol=0, atol=1e-10,
                                   err_msg=field)


@pytest.mark.parametrize("backend", BACKENDS)
def test_second_layer_of_a_stack(backend):
    cfg = rnnflow.GRUConfig(3, 4, num_layers=2)
    model = rnnflow.build(cfg, rnnflow.init_params(cfg, 1, np.float64), backend=backend)
    xs = np.random.default_rng(0).standard_normal((6, B, 3))
    res = jacobians_over_time(model, xs, layer=1)
    out = model(model_input(backend, xs))
    below = np.asarray(out.hidden[0].detach() if backend == "torch" else out.hidden[0])
    step = lambda h, x: model.step(1, h, x)  # noqa: E731
    fn = tail_jacobians_torch if backend == "torch" else tail_jacobians_jax
    spec, frob, _ = log_norms(fn(step, below, (np.zeros((B, 4)),)))
    np.testing.assert_allclose(res.log_spectral, spec, rtol=0, atol=TOL)
    np.testing.assert_allclose(res.log_frobenius, frob, rtol=0, atol=TOL)


def model_input(backend, xs):
    if backend == "torch":
        import torch
        return torch.as_tensor(xs)
    import jax.numpy as jnp
    return jnp.asarray(xs)


def test_user_step_function_torch_grucell_with_tuple_free_state():
    import torch
    cell = torch.nn.GRUCell(3, 5, dtype=torch.float64)
    step = lambda h, x: cell(x, h)  # noqa: E731  (torch cells take (x, h))
    xs = np.random.default_rng(0).standard_normal((T, B, 3))
    h0 = torch.zeros(B, 5, dtype=torch.float64)
    res = jacobians_over_time(step, torch.as_tensor(xs), h0)
    assert res.backend == "torch" and res.cell == "step"
    spec, frob, _ = log_norms(tail_jacobians_torch(step, xs, (h0.numpy(),)))
    np.testing.assert_allclose(res.log_spectral, spec, rtol=0, atol=TOL)
    np.testing.assert_allclose(res.log_frobenius, frob, rtol=0, atol=TOL)


def test_user_step_function_jax_with_tuple_state():
    import jax.numpy as jnp
    rng = np.random.default_rng(2)
    w, u = jnp.asarray(0.7 * rng.standard_normal((4, 4))), jnp.asarray(rng.standard_normal((3, 4)))

    def step(state, x):  # a two-part state (h, m): m is a leaky trace of h
        h, m = state
        h = jnp.tanh(h @ w + x @ u + 0.5 * m)
        return h, 0.9 * m + 0.1 * h ** 2

    xs = rng.standard_normal((T, B, 3))
    h0 = (jnp.asarray(0.1 * rng.standard_normal((B, 4))), jnp.zeros((B, 4)))
    res = jacobians_over_time(step, xs, h0, backend="jax", topk=2)
    jac = tail_jacobians_jax(step, xs, tuple(np.asarray(p) for p in h0))
    spec, frob, top = log_norms(jac, topk=2)
    spec_h, frob_h, _ = log_norms(jac, h_size=4)
    np.testing.assert_allclose(res.log_spectral, spec, rtol=0, atol=TOL)
    assert_top_close(res.log_singular, top, spec)
    np.testing.assert_allclose(res.log_spectral_h, spec_h, rtol=0, atol=TOL)
    np.testing.assert_allclose(res.log_frobenius_h, frob_h, rtol=0, atol=TOL)


def test_config_and_params_instead_of_a_model():
    cfg = CELLS["gru"]
    params = rnnflow.init_params(cfg, 4, np.float64)
    xs = np.random.default_rng(0).standard_normal((T, B, cfg.input_size))
    a = jacobians_over_time(cfg, xs, params=params, backend="jax")
    b = jacobians_over_time(rnnflow.build(cfg, params, backend="torch"), xs)
    np.testing.assert_allclose(a.log_spectral, b.log_spectral, atol=1e-10)
    assert a.backend == "jax" and b.backend == "torch"
    with pytest.raises(ValueError, match="needs backend="):
        jacobians_over_time(cfg, xs, params=params)
    with pytest.raises(ValueError, match="params= goes with a config"):
        jacobians_over_time(rnnflow.build(cfg, params, backend="torch"), xs, params=params)

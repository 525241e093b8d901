"""minGRU / minLSTM (Feng et al. 2024): the paper's equations in NumPy, gradcheck, torch/jax
parity, parallel scan vs loop (also at a long T), single steps, bad input."""
import jax.numpy as jnp
import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import rnnflow as rf

from ._diagonal import assert_close_scaled, assert_trees_close_scaled, np_stack, run_both
from ._helpers import assert_close, assert_trees_close

CONFIGS = {"mingru": rf.MinGRUConfig, "minlstm": rf.MinLSTMConfig}


def sig(x):
    return 1 / (1 + np.exp(-x))


def lin(p, x):
    return x @ p["weight"].T + p["bias"]


def np_mingru_step(p, h, u):
    z = sig(lin(p["gate"], u))
    return (1 - z) * h + z * lin(p["cand"], u)


def np_minlstm_step(p, h, u):
    f, i = sig(lin(p["forget"], u)), sig(lin(p["input"], u))
    return f / (f + i) * h + i / (f + i) * lin(p["cand"], u)


def np_out(p, h, u):
    return lin(p["out"], h)


NP = {"mingru": (np_mingru_step, np_out), "minlstm": (np_minlstm_step, np_out)}


def _arr(backend, a):
    return torch.tensor(a) if backend == "torch" else jnp.asarray(a)


def _np(t):
    return np.asarray(t.detach() if isinstance(t, torch.Tensor) else t)


@pytest.mark.parametrize("cell", sorted(CONFIGS))
@pytest.mark.parametrize("norm,residual,O,L", [("layernorm", True, 3, 2), ("rmsnorm", False, None, 1),
                                               ("none", True, None, 2)])
def test_matches_numpy_reference(cell, norm, residual, O, L):
    cfg = CONFIGS[cell](3, 6, 4, num_layers=L, output_size=O, norm=norm, residual=residual)
    params = rf.init_params(cfg, 3, np.float64)
    rng = np.random.default_rng(0)
    x, s0 = rng.normal(size=(9, 2, 3)), rng.normal(size=(L, 2, 4))
    y, h = np_stack(cfg, params, x, s0, NP[cell])
    for backend in ("torch", "jax"):
        m = rf.build(cfg, params, backend=backend)
        for parallel in (True, False):
            out = m(_arr(backend, x), _arr(backend, s0), parallel=parallel)
            np.testing.assert_allclose(_np(out.y), y, rtol=1e-11, atol=1e-12)
            np.testing.assert_allclose(_np(out.hidden), h, rtol=1e-11, atol=1e-12)


@settings(max_examples=10, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(cell=st.sampled_from(sorted(CONFIGS)), I=st.integers(1, 3), D=st.integers(3, 5), N=st.integers(1, 4),
       L=st.integers(1, 2), O=st.sampled_from([None, 2]), T=st.integers(1, 9), B=st.integers(1, 3),
       norm=st.sampled_from(["layernorm", "rmsnorm", "none"]), residual=st.booleans(),
       with_state=st.booleans(), parallel=st.booleans(),
       dtype=st.sampled_from([np.float32, np.float64]), seed=st.integers(0, 2**16))
def test_parity_torch_jax(cell, I, D, N, L, O, T, B, norm, residual, with_state, parallel, dtype, seed):
    cfg = CONFIGS[cell](I, D, N, num_layers=L, output_size=O, norm=norm, residual=residual)
    params = rf.init_params(cfg, seed, dtype)
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(T, B, I)).astype(dtype)
    s0 = rng.normal(size=(L, B, N)).astype(dtype) if with_state else None
    w = rng.normal(size=(T, B, O or D)).astype(dtype)
    yt, ht, gt, yj, hj, gj = run_both(cfg, params, x, s0, w, parallel)
    assert yt.shape == (T, B, O or D) and ht.shape == (L, T, B, N) and yj.dtype == dtype
    assert_close_scaled(yt, yj, dtype, "y")
    assert_close_scaled(ht, hj, dtype, "hidden")
    assert_trees_close_scaled(gt, gj, dtype, "grad")


@pytest.mark.parametrize("cell", sorted(CONFIGS))
def test_parallel_matches_sequential_outputs_and_grads(cell):
    cfg = CONFIGS[cell](2, 5, 4, num_layers=2, output_size=2)
    params = rf.init_params(cfg, 5, np.float64)
    rng = np.random.default_rng(1)
    x, w = rng.normal(size=(19, 2, 2)), rng.normal(size=(19, 2, 2))
    for a, b in zip(run_both(cfg, params, x, None, w, True), run_both(cfg, params, x, None, w, False)):
        if isinstance(a, dict):
            assert_trees_close(a, b, np.float64, "grad")
        else:
            assert_close(a, b, np.float64)


@pytest.mark.parametrize("backend", ["torch", "jax"])
def test_long_sequence_scan_is_stable(backend):
    """T=3000 with strongly contracting gates (products of a_t reach ~1e-600, far below
    float64's range): the parallel scan stays finite and equals the loop."""
    cfg = rf.MinGRUConfig(2, 4, 3)
    params = rf.init_params(cfg, 0, np.float64)
    params["layers"][0]["gate"]["bias"][:] = 1.0   # 1 - z ~ 0.27 per step
    m = rf.build(cfg, params, backend=backend)
    x = _arr(backend, np.random.default_rng(0).normal(size=(3000, 1, 2)))
    par, seq = _np(m(x).hidden), _np(m(x, parallel=False).hidden)
    assert np.isfinite(par).all()
    np.testing.assert_allclose(par, seq, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("cell", sorted(CONFIGS))
def test_gradcheck_torch(cell):
    cfg = CONFIGS[cell](2, 3, 2, num_layers=2, output_size=2)
    model = rf.build(cfg, rf.init_params(cfg, 1, np.float64), backend="torch")
    gate = "gate" if cell == "mingru" else "forget"
    names = [f"layers.0.{gate}.weight", "layers.0.cand.bias", "layers.1.out.weight", "layers.1.norm.bias",
             "head.weight"]
    base = dict(model.named_parameters())
    ws = tuple(base[n].detach().clone().requires_grad_(True) for n in names)
    x = torch.randn(5, 2, 2, dtype=torch.float64, requires_grad=True)
    h0 = torch.randn(2, 2, 2, dtype=torch.float64, requires_grad=True)
    for parallel in (True, False):
        def f(x, h0, *ws):
            return torch.func.functional_call(model, dict(zip(names, ws)), (x, h0),
                                              {"validate": False, "parallel": parallel}).y
        assert torch.autograd.gradcheck(f, (x, h0, *ws))


@pytest.mark.parametrize("cell", sorted(CONFIGS))
def test_check_grads_jax(cell):
    from jax.test_util import check_grads
    cfg = CONFIGS[cell](2, 3, 2, num_layers=2, output_size=2)
    m = rf.build(cfg, rf.init_params(cfg, 1, np.float64), backend="jax")
    x = jnp.asarray(np.random.default_rng(0).normal(size=(5, 2, 2)))
    h0 = jnp.asarray(np.random.default_rng(1).normal(size=(2, 2, 2)))
    f = lambda p, x, h0: rf.jax.diagonal_forward(p, x, h0, cfg, True).y
    check_grads(f, (m.params, x, h0), order=1, modes=("rev",))


@pytest.mark.parametrize("backend", ["torch", "jax"])
@pytest.mark.parametrize("cell", sorted(CONFIGS))
def test_step_function_and_log_decay(cell, backend):
    cfg = CONFIGS[cell](2, 4, 3, num_layers=2)
    params = rf.init_params(cfg, 2, np.float64)
    m = rf.build(cfg, params, backend=backend)
    x = _arr(backend, np.random.default_rng(0).normal(size=(6, 2, 2)))
    hid = _np(m(x).hidden)
    f = m.step_function()
    assert f is rf.build(cfg, rf.init_params(cfg, 9, np.float64), backend=backend).step_function()
    for layer in (0, 1):
        u = m.layer_inputs(x, layer)
        h = m.initial_state(2)[layer]
        for t in range(6):
            h = f(m.layer_params(layer), h, u[t])
            np.testing.assert_allclose(_np(h), hid[layer, t], rtol=1e-12, atol=1e-13)
        p, un = params["layers"][layer], _np(u)
        h0 = np.random.default_rng(3).normal(size=(2, 3))
        np.testing.assert_allclose(_np(f(m.layer_params(layer), _arr(backend, h0), u[2])),
                                   NP[cell][0](p, h0, un[2]), rtol=1e-12)
        # log|dh_t/dh_{t-1}|: log(1 - z) for minGRU, log f/(f+i) for minLSTM
        if cell == "mingru":
            a = 1 - sig(lin(p["gate"], un))
        else:
            fg, ig = sig(lin(p["forget"], un)), sig(lin(p["input"], un))
            a = fg / (fg + ig)
        np.testing.assert_allclose(_np(m.log_decay(x, layer)), np.log(a), rtol=1e-12)


@pytest.mark.parametrize("backend", ["torch", "jax"])
def test_bad_input_and_state(backend):
    cfg = rf.MinLSTMConfig(2, 4, 3, num_layers=2)
    m = rf.build(cfg, rf.init_params(cfg, 0, np.float64), backend=backend)
    with pytest.raises(ValueError, match=r"state0 has shape \(2, 5, 6\), expected \(2, 5, 3\)"):
        m(_arr(backend, np.zeros((4, 5, 2))), _arr(backend, np.zeros((2, 5, 6))))
    with pytest.raises(ValueError, match="x has dtype complex128"):
        m(_arr(backend, np.zeros((4, 5, 2), np.complex128)))
    with pytest.raises(ValueError, match="MinGRUConfig.norm"):
        rf.MinGRUConfig(2, 4, 3, norm="batch")
    with pytest.raises(ValueError, match="MinLSTMConfig.d_model"):
        rf.MinLSTMConfig(2, 0, 3)

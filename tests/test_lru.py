"""LRU (Orvieto et al. 2023): the paper's equations in NumPy, init on the ring, gradcheck,
torch/jax parity, parallel scan vs loop, single steps, bad input."""
import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import rnnflow as rf

from ._diagonal import assert_close_scaled, assert_trees_close_scaled, np_stack, run_both
from ._helpers import assert_close, assert_trees_close


def np_lru_step(p, h, u):
    """The paper's recurrence with complex numbers: h' = lambda h + gamma (B u)."""
    n = p["nu_log"].shape[0]
    lam = np.exp(-np.exp(p["nu_log"]) + 1j * np.exp(p["theta_log"]))
    gamma = np.exp(p["gamma_log"]) if "gamma_log" in p else 1.0
    hc = h[..., :n] + 1j * h[..., n:]
    new = lam * hc + gamma * ((p["B_re"] + 1j * p["B_im"]) @ u.T).T
    return np.concatenate([new.real, new.imag], -1)


def np_lru_output(p, h, u):
    n = p["nu_log"].shape[0]
    hc = h[..., :n] + 1j * h[..., n:]
    return (hc @ (p["C_re"] + 1j * p["C_im"]).T).real + p["D"] * u


NP_LRU = (np_lru_step, np_lru_output)


@pytest.mark.parametrize("norm,residual,normalize,O,L", [
    ("layernorm", True, True, 3, 2), ("rmsnorm", False, False, None, 1), ("none", True, True, None, 2)])
def test_matches_numpy_reference(norm, residual, normalize, O, L):
    cfg = rf.LRUConfig(3, 6, 4, num_layers=L, output_size=O, norm=norm, residual=residual,
                       normalize=normalize, r_min=0.5)
    params = rf.init_params(cfg, 3, np.float64)
    rng = np.random.default_rng(0)
    x = rng.normal(size=(9, 2, 3))
    s0 = rng.normal(size=(L, 2, 8))
    y, h = np_stack(cfg, params, x, s0, NP_LRU)
    for backend in ("torch", "jax"):
        m = rf.build(cfg, params, backend=backend)
        xs = torch.tensor(x) if backend == "torch" else jnp.asarray(x)
        ss = torch.tensor(s0) if backend == "torch" else jnp.asarray(s0)
        for parallel in (True, False):
            out = m(xs, ss, parallel=parallel)
            np.testing.assert_allclose(np.asarray(out.y.detach() if backend == "torch" else out.y), y,
                                       rtol=1e-11, atol=1e-12)
            np.testing.assert_allclose(np.asarray(out.hidden.detach() if backend == "torch" else out.hidden), h,
                                       rtol=1e-11, atol=1e-12)


def test_init_on_the_ring():
    cfg = rf.LRUConfig(2, 4, 20000, r_min=0.4, r_max=0.9, max_phase=math.pi)
    p = rf.init_params(cfg, 0, np.float64)["layers"][0]
    r = np.exp(-np.exp(p["nu_log"]))
    phase = np.exp(p["theta_log"])
    assert r.min() >= 0.4 - 1e-12 and r.max() <= 0.9 + 1e-12
    assert phase.min() >= 0 and phase.max() <= math.pi
    # |lambda|^2 uniform on [r_min^2, r_max^2]: mean and variance of U[a, b]
    a, b = 0.16, 0.81
    assert abs((r ** 2).mean() - (a + b) / 2) < 4 * (b - a) / math.sqrt(12 * 20000)
    assert abs((r ** 2).var() - (b - a) ** 2 / 12) < 0.05 * (b - a) ** 2 / 12
    np.testing.assert_allclose(np.exp(p["gamma_log"]), np.sqrt(1 - r ** 2), rtol=1e-12)
    assert "gamma_log" not in rf.init_params(cfg.replace(normalize=False, state_size=3))["layers"][0]


def test_defaults_and_unit_circle_opt_in():
    cfg = rf.LRUConfig(1, 2, 3)
    assert (cfg.r_min, cfg.r_max, cfg.max_phase, cfg.normalize) == (0.9, 0.999, 2 * math.pi, True)
    assert cfg.state_width == 6 and rf.models.model_kind(cfg) == "diagonal"
    p = rf.init_params(rf.LRUConfig(1, 2, 500, r_min=0.0, r_max=1.0, allow_unstable=True), 0, np.float64)
    rf.check_params(rf.LRUConfig(1, 2, 500, r_min=0.0, r_max=1.0, allow_unstable=True), p)  # finite


@pytest.mark.parametrize("kw,field", [
    ({"r_min": 0.95, "r_max": 0.9}, "r_min"), ({"r_max": 1.0}, "r_max"),
    ({"r_max": 1.01, "allow_unstable": True}, "r_max"), ({"r_min": -0.1}, "r_min"),
    ({"max_phase": -1.0}, "max_phase"), ({"norm": "batchnorm"}, "norm"), ({"normalize": 1}, "normalize"),
    ({"state_size": 0}, "state_size"), ({"residual": "yes"}, "residual"),
])
def test_bad_config_names_the_field(kw, field):
    with pytest.raises(ValueError, match=f"LRUConfig.{field}|{field}="):
        rf.LRUConfig(**{"input_size": 2, "d_model": 4, "state_size": 3, **kw})


@pytest.mark.parametrize("backend", ["torch", "jax"])
def test_bad_input_and_state(backend):
    cfg = rf.LRUConfig(2, 4, 3, num_layers=2)
    m = rf.build(cfg, rf.init_params(cfg, 0, np.float64), backend=backend)
    arr = torch.tensor if backend == "torch" else jnp.asarray
    with pytest.raises(ValueError, match=r"state0 has shape \(2, 5, 3\), expected \(2, 5, 6\)"):
        m(arr(np.zeros((4, 5, 2))), arr(np.zeros((2, 5, 3))))
    with pytest.raises(ValueError, match="x has dtype complex128"):
        m(arr(np.zeros((4, 5, 2), np.complex128)))
    with pytest.raises(ValueError, match="state0 has dtype complex128"):
        m(arr(np.zeros((4, 5, 2))), arr(np.zeros((2, 5, 3), np.complex128)))
    with pytest.raises(ValueError, match="x has 3 features"):
        m(arr(np.zeros((4, 5, 3))))
    bad = rf.init_params(cfg, 0, np.float64)
    bad["layers"][0]["B_re"] = bad["layers"][0]["B_re"] + 0j
    with pytest.raises(TypeError, match=r"params\['layers.0.B_re'\] is complex"):
        rf.build(cfg, bad, backend=backend)


@settings(max_examples=10, deadline=None, suppress_health_check=[HealthCheck.too_slow])
# D >= 3: a LayerNorm over 2 features outputs +-1 whatever its input, so its exact gradient
# is O(eps) and float32 rounding alone decides the digits compared.
@given(I=st.integers(1, 3), D=st.integers(3, 5), N=st.integers(1, 4), L=st.integers(1, 2),
       O=st.sampled_from([None, 2]), T=st.integers(1, 9), B=st.integers(1, 3),
       norm=st.sampled_from(["layernorm", "rmsnorm", "none"]), residual=st.booleans(),
       normalize=st.booleans(), with_state=st.booleans(), parallel=st.booleans(),
       dtype=st.sampled_from([np.float32, np.float64]), seed=st.integers(0, 2**16))
def test_parity_torch_jax(I, D, N, L, O, T, B, norm, residual, normalize, with_state, parallel, dtype, seed):
    cfg = rf.LRUConfig(I, D, N, num_layers=L, output_size=O, norm=norm, residual=residual,
                       normalize=normalize, r_min=0.5)
    params = rf.init_params(cfg, seed, dtype)
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(T, B, I)).astype(dtype)
    s0 = rng.normal(size=(L, B, 2 * N)).astype(dtype) if with_state else None
    w = rng.normal(size=(T, B, O or D)).astype(dtype)
    yt, ht, gt, yj, hj, gj = run_both(cfg, params, x, s0, w, parallel)
    assert yt.shape == (T, B, O or D) and ht.shape == (L, T, B, 2 * N) and yj.dtype == dtype
    assert_close_scaled(yt, yj, dtype, "y")
    assert_close_scaled(ht, hj, dtype, "hidden")
    assert_trees_close_scaled(gt, gj, dtype, "grad")


def test_parallel_matches_sequential_outputs_and_grads():
    cfg = rf.LRUConfig(2, 5, 4, num_layers=2, output_size=2, r_min=0.0)
    params = rf.init_params(cfg, 5, np.float64)
    rng = np.random.default_rng(1)
    x, w = rng.normal(size=(19, 2, 2)), rng.normal(size=(19, 2, 2))
    par, seq = run_both(cfg, params, x, None, w, True), run_both(cfg, params, x, None, w, False)
    for a, b in zip(par, seq):
        if isinstance(a, dict):
            assert_trees_close(a, b, np.float64, "grad")
        else:
            assert_close(a, b, np.float64)


def test_gradcheck_torch():
    cfg = rf.LRUConfig(2, 3, 2, num_layers=2, output_size=2, r_min=0.3)
    model = rf.build(cfg, rf.init_params(cfg, 1, np.float64), backend="torch")
    names = ["layers.0.nu_log", "layers.0.theta_log", "layers.0.gamma_log", "layers.0.B_im",
             "layers.1.C_re", "layers.1.D", "layers.0.norm.weight", "head.weight"]
    base = dict(model.named_parameters())
    ws = tuple(base[n].detach().clone().requires_grad_(True) for n in names)
    x = torch.randn(5, 2, 2, dtype=torch.float64, requires_grad=True)
    h0 = torch.randn(2, 2, 4, dtype=torch.float64, requires_grad=True)
    for parallel in (True, False):
        def f(x, h0, *ws):
            return torch.func.functional_call(model, dict(zip(names, ws)), (x, h0),
                                              {"validate": False, "parallel": parallel}).y
        assert torch.autograd.gradcheck(f, (x, h0, *ws))


def test_check_grads_jax():
    from jax.test_util import check_grads
    cfg = rf.LRUConfig(2, 3, 2, num_layers=2, output_size=2, r_min=0.3)
    m = rf.build(cfg, rf.init_params(cfg, 1, np.float64), backend="jax")
    x = jnp.asarray(np.random.default_rng(0).normal(size=(5, 2, 2)))
    h0 = jnp.asarray(np.random.default_rng(1).normal(size=(2, 2, 4)))
    for parallel in (True, False):
        f = lambda p, x, h0: rf.jax.diagonal_forward(p, x, h0, cfg, parallel).y
        check_grads(f, (m.params, x, h0), order=1, modes=("rev",))


@pytest.mark.parametrize("backend", ["torch", "jax"])
def test_step_function_replays_the_states(backend):
    cfg = rf.LRUConfig(2, 4, 3, num_layers=2)
    params = rf.init_params(cfg, 2, np.float64)
    m = rf.build(cfg, params, backend=backend)
    x = np.random.default_rng(0).normal(size=(6, 2, 2))
    xs = torch.tensor(x) if backend == "torch" else jnp.asarray(x)
    hid = np.asarray(m(xs).hidden.detach() if backend == "torch" else m(xs).hidden)
    f = m.step_function()
    for layer in (0, 1):
        u = m.layer_inputs(xs, layer)
        h = m.initial_state(2)[layer]
        for t in range(6):
            h = f(m.layer_params(layer), h, u[t])
            np.testing.assert_allclose(np.asarray(h.detach() if backend == "torch" else h), hid[layer, t],
                                       rtol=1e-12, atol=1e-13)
        # the step in closed form, against the NumPy reference
        h0 = np.random.default_rng(3).normal(size=(2, 6))
        want = np_lru_step(params["layers"][layer], h0, np.asarray(u[2].detach() if backend == "torch" else u[2]))
        got = f(m.layer_params(layer), torch.tensor(h0) if backend == "torch" else jnp.asarray(h0), u[2])
        np.testing.assert_allclose(np.asarray(got.detach() if backend == "torch" else got), want, rtol=1e-12)
        ld = np.asarray(m.log_decay(xs, layer).detach() if backend == "torch" else m.log_decay(xs, layer))
        lam = np.exp(-np.exp(params["layers"][layer]["nu_log"]))
        np.testing.assert_allclose(ld, np.broadcast_to(np.log(np.concatenate([lam, lam])), (6, 2, 6)), rtol=1e-12)

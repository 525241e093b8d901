"""Selective SSM (Mamba): a hand-written NumPy reference of the paper's equations, torch<->jax
parity on hypothesis-drawn configs, gradcheck, parallel vs sequential scans, the diagonal
step Jacobian against autodiff, Mamba's init, and the input errors."""
import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import torch
import torch.nn.functional as F
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import rnnflow as rf
from rnnflow.jax import ssm as jssm
from rnnflow.plotting import plot_decay_heatmap
from rnnflow.torch import ssm as tssm

from ._helpers import assert_close, assert_trees_close

# float32: the two backends' parallel scans add in different orders
TOL32 = dict(rtol=2e-4, atol=2e-5)


def _close(a, b, dtype, what=""):
    if np.dtype(dtype) == np.float32:
        np.testing.assert_allclose(np.asarray(a), np.asarray(b), err_msg=what, **TOL32)
    else:
        assert_close(a, b, dtype, what)


# ---------------------------------------------------------------- NumPy reference
def _silu(v):
    return v / (1.0 + np.exp(-v))


def _norm(cfg, p, v):
    if cfg.norm == "none":
        return v
    if cfg.norm == "rmsnorm":
        return v / np.sqrt((v ** 2).mean(-1, keepdims=True) + 1e-5) * p["weight"]
    mu, var = v.mean(-1, keepdims=True), v.var(-1, keepdims=True)
    return (v - mu) / np.sqrt(var + 1e-5) * p["weight"] + p["bias"]


def reference(cfg, P, x, h0=None):
    """Mamba's block written from the paper (Algorithm 2, Fig. 3), loops over time and taps."""
    T, B, _ = x.shape
    E, N, R, K = cfg.inner_size, cfg.state_size, cfg.delta_rank, cfg.d_conv
    s = x @ P["embed"]["weight"].T + P["embed"]["bias"]
    hidden = []
    for l, p in enumerate(P["layers"]):
        u = _norm(cfg, p.get("norm"), s)
        xz = u @ p["in_proj"]["weight"].T
        xi, z = xz[..., :E], (xz[..., E:] if cfg.gate else None)
        if cfg.conv:
            w, xc = p["conv"]["weight"], np.zeros_like(xi)
            for t in range(T):
                xc[t] = p["conv"]["bias"]
                for j in range(K):          # j steps back; tap K-1 is the current input
                    if t - j >= 0:
                        xc[t] += w[:, K - 1 - j] * xi[t - j]
            xi = xc
        xs = _silu(xi)
        A = -np.exp(p["A_log"])                                   # (E, N)
        h = np.zeros((B, E, N)) if h0 is None else h0[l].reshape(B, E, N)
        outs, hs = [], []
        for t in range(T):
            dbc = xs[t] @ p["x_proj"]["weight"].T
            delta = np.log1p(np.exp(dbc[:, :R] @ p["dt_proj"]["weight"].T + p["dt_proj"]["bias"]))  # (B, E)
            b_t, c_t = dbc[:, R:R + N], dbc[:, R + N:]
            h = np.exp(delta[:, :, None] * A) * h + delta[:, :, None] * b_t[:, None, :] * xs[t][:, :, None]
            y = (h * c_t[:, None, :]).sum(-1) + p["D"] * xs[t]
            if cfg.gate:
                y = y * _silu(z[t])
            outs.append(y @ p["out_proj"]["weight"].T)
            hs.append(h.reshape(B, -1))
        o = np.stack(outs)
        s = s + o if cfg.residual else o
        hidden.append(np.stack(hs))
    y = _norm(cfg, P.get("norm_f"), s)
    if "head" in P:
        y = y @ P["head"]["weight"].T + P["head"]["bias"]
    return y, np.stack(hidden)


def _perturbed(cfg, seed, dtype=np.float64):
    """init_params with every array moved off its init (norms not 1, biases not 0, Delta
    spread over [1e-3, 3]) so that no term hides behind a zero or a one."""
    rng = np.random.default_rng(seed + 1)
    P = rf.init_params(cfg, seed, np.float64)
    P = rf.params.map_arrays(lambda a: a + 0.1 * rng.normal(size=a.shape), P)
    for p in P["layers"]:
        p["dt_proj"]["bias"] = rng.uniform(-6.0, 1.0, size=p["dt_proj"]["bias"].shape)
    return rf.params.map_arrays(lambda a: np.asarray(a, dtype), P)


VARIANTS = {
    "full": {},
    "no_conv": dict(conv=False),
    "no_gate": dict(gate=False),
    "plain": dict(conv=False, gate=False, norm="none", residual=False),
    "rmsnorm_k2_head": dict(norm="rmsnorm", d_conv=2, output_size=3, num_layers=2, dt_rank=3),
}


@pytest.mark.parametrize("variant", sorted(VARIANTS))
def test_matches_numpy_reference(variant):
    cfg = rf.SelectiveSSMConfig(3, 6, 4, expand=2, **VARIANTS[variant])
    P = _perturbed(cfg, 3)
    rng = np.random.default_rng(0)
    x = rng.normal(size=(9, 2, 3))
    h0 = rng.normal(size=(cfg.num_layers, 2, cfg.state_width))
    y_ref, h_ref = reference(cfg, P, x, h0)
    for backend in ("torch", "jax"):
        m = rf.build(cfg, P, backend=backend)
        for parallel in (True, False):
            if backend == "torch":
                out = m(torch.tensor(x), torch.tensor(h0), parallel=parallel)
                y, h = out.y.detach(), out.hidden.detach()
            else:
                out = m(jnp.asarray(x), jnp.asarray(h0), parallel=parallel)
                y, h = out.y, out.hidden
            np.testing.assert_allclose(np.asarray(y), y_ref, rtol=1e-10, atol=1e-12, err_msg=f"{backend} y")
            np.testing.assert_allclose(np.asarray(h), h_ref, rtol=1e-10, atol=1e-12, err_msg=f"{backend} h")


def test_conv_is_torch_conv1d_as_in_mamba():
    """Our (E, K) depthwise kernel is Mamba's nn.Conv1d(E, E, K, groups=E, padding=K-1)[..., :T]."""
    rng = np.random.default_rng(1)
    T, B, E, K = 7, 2, 5, 4
    w, b = rng.normal(size=(E, K)), rng.normal(size=E)
    x = rng.normal(size=(T, B, E))
    ref = F.conv1d(torch.tensor(x).permute(1, 2, 0), torch.tensor(w)[:, None, :], torch.tensor(b),
                   padding=K - 1, groups=E)[..., :T].permute(2, 0, 1)
    p = {"weight": torch.tensor(w), "bias": torch.tensor(b)}
    torch.testing.assert_close(tssm.causal_conv(p, torch.tensor(x)), ref, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(np.asarray(jssm.causal_conv({"weight": jnp.asarray(w), "bias": jnp.asarray(b)},
                                                           jnp.asarray(x))), ref.numpy(), rtol=1e-12, atol=1e-12)


def test_single_step_closed_form():
    """ssm_step against h' = exp(Delta A) h + Delta B x written out for one channel pair."""
    cfg = rf.SelectiveSSMConfig(2, 4, 3)
    P = _perturbed(cfg, 5)
    p = P["layers"][0]
    rng = np.random.default_rng(2)
    h, x = rng.normal(size=(2, cfg.state_width)), rng.normal(size=(2, cfg.inner_size))
    R, N = cfg.delta_rank, cfg.state_size
    want = np.empty_like(h)
    for b in range(2):
        dbc = p["x_proj"]["weight"] @ x[b]
        for e in range(cfg.inner_size):
            delta = math.log1p(math.exp(p["dt_proj"]["weight"][e] @ dbc[:R] + p["dt_proj"]["bias"][e]))
            for n in range(N):
                a = -math.exp(p["A_log"][e, n])
                want[b, e * N + n] = math.exp(delta * a) * h[b, e * N + n] + delta * dbc[R + n] * x[b, e]
    tp = rf.torch.to_backend(p)
    np.testing.assert_allclose(tssm.ssm_step(tp, torch.tensor(h), torch.tensor(x)).numpy(), want, rtol=1e-12)
    jp = rf.jax.to_backend(p)
    np.testing.assert_allclose(np.asarray(jssm.ssm_step(jp, jnp.asarray(h), jnp.asarray(x))), want, rtol=1e-12)


# ---------------------------------------------------------------- parity
def run_both(cfg, P, x, h0, w, wh, parallel):
    tm = rf.build(cfg, P, backend="torch")
    out_t = tm(torch.tensor(x), None if h0 is None else torch.tensor(h0), parallel=parallel)
    ((out_t.y * torch.tensor(w)).sum() + (out_t.hidden * torch.tensor(wh)).sum()).backward()
    grads_t = {k: p.grad.numpy() for k, p in tm.named_parameters()}
    jm = rf.build(cfg, P, backend="jax")
    s0 = jm.initial_state(x.shape[1]) if h0 is None else jnp.asarray(h0)
    out_j = jm(jnp.asarray(x), None if h0 is None else s0, parallel=parallel)

    def loss(p):
        o = jssm.ssm_forward(p, jnp.asarray(x), s0, cfg, parallel)
        return jnp.sum(o.y * w) + jnp.sum(o.hidden * wh)
    return out_t, out_j, grads_t, rf.flatten(jax.grad(loss)(jm.params))


@settings(max_examples=10, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(I=st.integers(1, 3), D=st.integers(1, 6), N=st.integers(1, 4), L=st.integers(1, 2),
       expand=st.integers(1, 2), conv=st.booleans(), d_conv=st.integers(1, 4), gate=st.booleans(),
       norm=st.sampled_from(["layernorm", "rmsnorm", "none"]), residual=st.booleans(),
       O=st.sampled_from([None, 2]), T=st.integers(1, 9), B=st.integers(1, 3), with_state=st.booleans(),
       parallel=st.booleans(), dtype=st.sampled_from([np.float32, np.float64]), seed=st.integers(0, 2**16))
def test_parity_torch_jax(I, D, N, L, expand, conv, d_conv, gate, norm, residual, O, T, B, with_state,
                          parallel, dtype, seed):
    cfg = rf.SelectiveSSMConfig(I, D, N, num_layers=L, output_size=O, norm=norm, residual=residual,
                                expand=expand, conv=conv, d_conv=d_conv, gate=gate)
    P = _perturbed(cfg, seed, dtype)
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(T, B, I)).astype(dtype)
    h0 = rng.normal(size=(L, B, cfg.state_width)).astype(dtype) if with_state else None
    w = rng.normal(size=(T, B, O or D)).astype(dtype)
    wh = rng.normal(size=(L, T, B, cfg.state_width)).astype(dtype)
    out_t, out_j, grads_t, grads_j = run_both(cfg, P, x, h0, w, wh, parallel)
    assert out_t.y.shape == out_j.y.shape == (T, B, O or D)
    assert out_t.hidden.shape == out_j.hidden.shape == (L, T, B, cfg.state_width)
    assert out_t.cell is None and out_j.cell is None
    assert out_t.y.dtype == getattr(torch, np.dtype(dtype).name) and out_j.y.dtype == dtype
    _close(out_t.y.detach(), out_j.y, dtype, "y")
    _close(out_t.hidden.detach(), out_j.hidden, dtype, "hidden")
    assert set(grads_t) == set(grads_j)
    for k in grads_t:
        _close(grads_t[k], grads_j[k], dtype, f"grad[{k}]")


def test_round_trip_and_same_params_same_model():
    cfg = rf.SelectiveSSMConfig(2, 5, 3, num_layers=2, output_size=1)
    P = rf.init_params(cfg, 4, np.float64)
    for backend in ("torch", "jax"):
        back = rf.export_params(rf.build(cfg, P, backend=backend))
        assert_trees_close(rf.flatten(back), rf.flatten(P), np.float64, backend)


# ---------------------------------------------------------------- gradients
def _grad_config():
    return rf.SelectiveSSMConfig(2, 3, 2, num_layers=2, output_size=2, d_conv=3)


@pytest.mark.parametrize("parallel", [True, False])
def test_gradcheck_torch(parallel):
    cfg = _grad_config()
    model = rf.build(cfg, _perturbed(cfg, 1), backend="torch")
    names = [n for n, _ in model.named_parameters()]
    weights = tuple(p.detach().clone().requires_grad_(True) for _, p in model.named_parameters())
    x = torch.randn(5, 2, 2, dtype=torch.float64, requires_grad=True)
    h0 = torch.randn(2, 2, cfg.state_width, dtype=torch.float64, requires_grad=True)

    def f(x, h0, *ws):
        out = torch.func.functional_call(model, dict(zip(names, ws)), (x, h0),
                                         {"validate": False, "parallel": parallel})
        return out.y, out.hidden
    assert torch.autograd.gradcheck(f, (x, h0, *weights))


@pytest.mark.parametrize("parallel", [True, False])
def test_check_grads_jax(parallel):
    from jax.test_util import check_grads
    cfg = _grad_config()
    model = rf.build(cfg, _perturbed(cfg, 1), backend="jax")
    rng = np.random.default_rng(0)
    x = jnp.asarray(rng.normal(size=(5, 2, 2)))
    h0 = jnp.asarray(rng.normal(size=(2, 2, cfg.state_width)))
    f = lambda params, x, h0: jssm.ssm_forward(params, x, h0, cfg, parallel)
    check_grads(f, (model.params, x, h0), order=1, modes=["rev"], eps=1e-6)  # default 1e-4: its O(eps^2) error shows


# ---------------------------------------------------------------- parallel vs sequential
def test_parallel_scan_equals_loop_under_strong_decay():
    """Chunks that do not divide T, decays down to exp(-60) per step and Delta A sums far
    below float64's exp range: the scans stay finite and equal to the loop."""
    rng = np.random.default_rng(3)
    T = 203
    log_a = -rng.exponential(3.0, size=(T, 2, 3))
    log_a[50:60] = -60.0
    bx, h0 = rng.normal(size=(T, 2, 3)), rng.normal(size=(2, 3))
    want = np.empty((T, 2, 3))
    h = h0
    for t in range(T):
        h = np.exp(log_a[t]) * h + bx[t]
        want[t] = h
    args = [torch.tensor(a) for a in (log_a, bx, h0)]
    for chunk in (1, 4, 7, 64, 1000):
        got = tssm.scan_parallel(*args, chunk=chunk).numpy()
        np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-13, err_msg=f"chunk={chunk}")
    np.testing.assert_allclose(tssm.scan_sequential(*args).numpy(), want, rtol=1e-12, atol=1e-13)
    jargs = [jnp.asarray(a) for a in (log_a, bx, h0)]
    np.testing.assert_allclose(np.asarray(jssm.scan_parallel(*jargs)), want, rtol=1e-12, atol=1e-13)
    np.testing.assert_allclose(np.asarray(jssm.scan_sequential(*jargs)), want, rtol=1e-12, atol=1e-13)


def test_parallel_vs_sequential_outputs_and_gradients():
    """A model over T=80 (> one torch chunk of 64): outputs and every parameter gradient agree."""
    cfg = rf.SelectiveSSMConfig(2, 4, 3, num_layers=2, output_size=1)
    P = _perturbed(cfg, 7)
    rng = np.random.default_rng(0)
    x = rng.normal(size=(80, 2, 2))
    res = {}
    for parallel in (True, False):
        tm = rf.build(cfg, P, backend="torch")
        out = tm(torch.tensor(x), parallel=parallel)
        (out.y.sum() + out.hidden[0, -1].sum()).backward()
        res["torch", parallel] = (out.y.detach().numpy(), {k: p.grad.numpy() for k, p in tm.named_parameters()})
        jm = rf.build(cfg, P, backend="jax")
        s0 = jm.initial_state(2)

        def loss(p, parallel=parallel):
            o = jssm.ssm_forward(p, jnp.asarray(x), s0, cfg, parallel)
            return o.y.sum() + o.hidden[0, -1].sum()
        res["jax", parallel] = (np.asarray(jm(jnp.asarray(x), parallel=parallel).y),
                                rf.flatten(jax.grad(loss)(jm.params)))
    for backend in ("torch", "jax"):
        (y_p, g_p), (y_s, g_s) = res[backend, True], res[backend, False]
        np.testing.assert_allclose(y_p, y_s, rtol=1e-10, atol=1e-12, err_msg=backend)
        assert_trees_close(g_p, g_s, np.float64, f"{backend} grad")


# ---------------------------------------------------------------- the step, its Jacobian, log_decay
def test_step_reproduces_forward_and_jacobian_is_diag_exp_log_decay():
    """hidden[t] == step(hidden[t-1], layer_inputs[t]); autodiff's dh_t/dh_{t-1} is
    diag(exp(log_decay[t])) exactly, in both backends."""
    cfg = rf.SelectiveSSMConfig(2, 3, 2, num_layers=2)
    P = _perturbed(cfg, 9)
    x = np.random.default_rng(0).normal(size=(6, 1, 2))
    tm, jm = rf.build(cfg, P, backend="torch"), rf.build(cfg, P, backend="jax")
    for layer in (0, 1):
        xt = torch.tensor(x)
        hid = tm(xt).hidden[layer].detach()                        # (T, 1, S)
        inp = tm.layer_inputs(xt, layer).detach()                  # (T, 1, E)
        assert inp.shape == (6, 1, cfg.inner_size)
        ld = tm.log_decay(xt, layer).detach().numpy()              # (T, 1, S)
        np.testing.assert_allclose(ld, np.asarray(jm.log_decay(jnp.asarray(x), layer)), rtol=1e-12)
        f = tm.step_function()
        p = tm.layer_params(layer)
        h_prev = torch.cat([torch.zeros(1, 1, cfg.state_width, dtype=torch.float64), hid[:-1]])
        for t in range(6):
            torch.testing.assert_close(f(p, h_prev[t], inp[t]), hid[t], rtol=1e-12, atol=1e-14)
            jac = torch.autograd.functional.jacobian(lambda h: f(p, h, inp[t]), h_prev[t])[0, :, 0, :]
            np.testing.assert_allclose(jac.numpy(), np.diag(np.exp(ld[t, 0])), rtol=1e-12, atol=1e-15)
            jjac = jax.jacrev(lambda h: jm.step_function()(jm.layer_params(layer), h, jnp.asarray(inp[t].numpy())))(
                jnp.asarray(h_prev[t].numpy()))[0, :, 0, :]
            np.testing.assert_allclose(np.asarray(jjac), np.diag(np.exp(ld[t, 0])), rtol=1e-12, atol=1e-15)


def test_log_decay_against_a_finite_difference_of_the_forward():
    """log_decay is the per-step log-decay of the *model's* state: perturb state0 of one
    coordinate and read the change in hidden[layer, 0]."""
    cfg = rf.SelectiveSSMConfig(2, 3, 2, num_layers=1, conv=True)
    P = _perturbed(cfg, 2)
    x = torch.tensor(np.random.default_rng(0).normal(size=(4, 1, 2)))
    m = rf.build(cfg, P, backend="torch")
    ld = m.log_decay(x, 0).detach().numpy()[0, 0]
    S, eps = cfg.state_width, 1e-6
    base = m(x).hidden[0, 0, 0].detach().numpy()
    for k in range(S):
        h0 = torch.zeros(1, 1, S, dtype=torch.float64)
        h0[0, 0, k] = eps
        d = (m(x, h0).hidden[0, 0, 0].detach().numpy() - base) / eps
        np.testing.assert_allclose(d[k], np.exp(ld[k]), rtol=1e-8)
        assert np.abs(np.delete(d, k)).max() < 1e-9


# ---------------------------------------------------------------- init
def test_mamba_init():
    cfg = rf.SelectiveSSMConfig(3, 32, 5, dt_min=1e-3, dt_max=1e-1)
    P = rf.init_params(cfg, 0, np.float64)
    p = P["layers"][0]
    E, N = cfg.inner_size, cfg.state_size
    np.testing.assert_allclose(-np.exp(p["A_log"]), -np.tile(np.arange(1.0, N + 1), (E, 1)), rtol=1e-15)
    dt = np.log1p(np.exp(p["dt_proj"]["bias"]))
    np.testing.assert_allclose(dt.min(), 1e-3, rtol=0.5)   # log-uniform over two decades, E=64 draws
    assert 1e-3 <= dt.min() and dt.max() <= 1e-1
    assert cfg.delta_rank == 2 and p["dt_proj"]["weight"].shape == (E, 2)
    assert np.abs(p["dt_proj"]["weight"]).max() <= 2 ** -0.5
    np.testing.assert_array_equal(p["D"], np.ones(E))
    assert p["x_proj"]["weight"].shape == (2 + 2 * N, E)
    assert rf.param_shapes(cfg.replace(gate=False))["layers"][0]["in_proj"]["weight"] == (E, 32)
    assert "conv" not in rf.param_shapes(cfg.replace(conv=False))["layers"][0]
    assert "norm_f" not in rf.param_shapes(cfg.replace(norm="none"))
    assert set(rf.param_shapes(cfg.replace(norm="rmsnorm"))["norm_f"]) == {"weight"}


# ---------------------------------------------------------------- errors
@pytest.mark.parametrize("kw,field", [
    (dict(dt_min=0.2, dt_max=0.1), "dt_max"), (dict(dt_min=0.0), "dt_min"), (dict(norm="batch"), "norm"),
    (dict(expand=0), "expand"), (dict(d_conv=0), "d_conv"), (dict(dt_rank=0), "dt_rank"),
    (dict(conv=1), "conv"), (dict(state_size=0), "state_size"),
])
def test_bad_config(kw, field):
    base = dict(input_size=2, d_model=4, state_size=3)
    with pytest.raises(ValueError, match=rf"SelectiveSSMConfig\.{field}="):
        rf.SelectiveSSMConfig(**{**base, **kw})


@pytest.mark.parametrize("backend", ["torch", "jax"])
def test_bad_inputs(backend):
    cfg = rf.SelectiveSSMConfig(2, 4, 3, num_layers=2)
    m = rf.build(cfg, rf.init_params(cfg, 0, np.float64), backend=backend)
    arr = torch.tensor if backend == "torch" else jnp.asarray
    x = np.zeros((5, 2, 2))
    with pytest.raises(ValueError, match=r"state0 has shape \(2, 2, 3\), expected \(2, 2, 24\).*S=24"):
        m(arr(x), arr(np.zeros((2, 2, 3))))
    with pytest.raises(ValueError, match="x has dtype complex128"):
        m(arr(x.astype(np.complex128)))
    with pytest.raises(ValueError, match="expected I=2"):
        m(arr(np.zeros((5, 2, 3))))
    with pytest.raises(ValueError, match="layer=2 is invalid"):
        m.log_decay(arr(x), 2)
    with pytest.raises(ValueError, match=r"params\['layers.0.A_log'\] has shape"):
        P = rf.init_params(cfg, 0)
        P["layers"][0]["A_log"] = P["layers"][0]["A_log"][:, :2]
        rf.build(cfg, P, backend=backend)


# ---------------------------------------------------------------- the heat map
def _text_input(text):
    vocab = sorted(set(text))
    x = np.zeros((len(text), 1, len(vocab)))
    x[np.arange(len(text)), 0, [vocab.index(c) for c in text]] = 1.0
    return x, len(vocab)


def test_decay_rates_average_over_n_is_delta_times_mean_abs_a():
    """Averaging Delta_t A_en over n gives Delta_t mean_n |A_en|: at init A = -(1..N), so the
    channel's rate is Delta_t (N + 1) / 2 with Delta_t from the model's own dt projection."""
    from rnnflow.plotting.ssm import decay_rates
    text = "selective state spaces"
    x, vocab = _text_input(text)
    cfg = rf.SelectiveSSMConfig(vocab, 8, 4)
    m = rf.build(cfg, rf.init_params(cfg, 0, np.float64), backend="torch")
    xt = torch.tensor(x)
    rates = decay_rates(m.log_decay(xt, 0).detach().numpy(), state_size=4)       # (T, E)
    p = m.layer_params(0)
    u = m.layer_inputs(xt, 0).detach()                                             # (T, 1, E)
    dbc = u @ p["x_proj"]["weight"].T.detach()
    delta = np.log1p(np.exp((dbc[..., :cfg.delta_rank] @ p["dt_proj"]["weight"].T + p["dt_proj"]["bias"])
                            .detach().numpy()))[:, 0]
    np.testing.assert_allclose(rates, delta * 2.5, rtol=1e-12)
    assert decay_rates(np.zeros((3, 2, 6)) - 1.0).shape == (3, 6)


def test_decay_heatmap_plot(tmp_path):
    from matplotlib.figure import Figure
    text = "the quick brown fox jumps over the lazy dog"
    x, vocab = _text_input(text)
    cfg = rf.SelectiveSSMConfig(vocab, 8, 4, num_layers=2)
    m = rf.build(cfg, rf.init_params(cfg, 0, np.float64), backend="jax")
    ld = np.asarray(m.log_decay(jnp.asarray(x), 1))
    fig = plot_decay_heatmap(ld, list(text), state_size=cfg.state_size)
    assert isinstance(fig, Figure)
    ax = fig.axes[0]
    assert ax.get_xlabel() and "channel" in ax.get_ylabel() and ax.get_title()
    assert "nats per token" in fig.axes[1].get_ylabel()                       # the colour bar
    assert [t.get_text() for t in ax.get_xticklabels()] == list(text)
    assert ax.images[0].get_array().shape == (cfg.inner_size, len(text))
    fig.savefig(tmp_path / "heat.png")
    assert (tmp_path / "heat.png").stat().st_size > 1000
    fig = plot_decay_heatmap(ld, channels=[0, 5, 9], sort=False)
    assert ax is not fig.axes[0] and fig.axes[0].images[0].get_array().shape == (3, len(text))


@pytest.mark.parametrize("kw,match", [
    (dict(state_size=5), "state_size=5 is invalid"), (dict(channels=[99]), "channels=.99. is invalid"),
    (dict(tokens=["a"]), "tokens has 1 labels"), (dict(batch=3), "batch=3 is invalid"),
])
def test_decay_heatmap_bad_input(kw, match):
    ld = -np.ones((4, 2, 8))
    tokens = kw.pop("tokens", None)
    with pytest.raises(ValueError, match=match):
        plot_decay_heatmap(ld, tokens, **kw)
    with pytest.raises(ValueError, match="finite and <= 0"):
        plot_decay_heatmap(-ld)

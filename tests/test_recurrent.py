"""Elman RNN, LSTM, GRU: torch/jax parity, autograd checks, hand-computed goldens,
agreement with torch.nn's own cells, parameter round trips and input validation."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import rnnflow as rf
from rnnflow.activations import ACTIVATIONS

from ._helpers import assert_close, assert_trees_close

CELLS = {"rnn": rf.RNNConfig, "lstm": rf.LSTMConfig, "gru": rf.GRUConfig}


def _config(cell, I, H, L, O, act):
    kw = {"activation": act} if cell == "rnn" else {}
    return CELLS[cell](I, H, num_layers=L, output_size=O, **kw)


def _state0(config, B, rng, dtype):
    s = rng.normal(size=(config.num_layers, B, config.hidden_size)).astype(dtype)
    if config.cell == "lstm":
        return s, rng.normal(size=s.shape).astype(dtype)
    return s


def run_both(config, params, x, state0, w):
    """Forward both backends, loss = sum(y * w); return outputs and param grads (numpy)."""
    tm = rf.build(config, params, backend="torch")
    ts = None if state0 is None else (tuple(torch.tensor(s) for s in state0) if isinstance(state0, tuple)
                                      else torch.tensor(state0))
    out_t = tm(torch.tensor(x), ts)
    (out_t.y * torch.tensor(w)).sum().backward()
    grads_t = {k: p.grad.numpy() for k, p in tm.named_parameters()}

    jm = rf.build(config, params, backend="jax")
    js = None if state0 is None else (tuple(jnp.asarray(s) for s in state0) if isinstance(state0, tuple)
                                      else jnp.asarray(state0))
    out_j = jm(jnp.asarray(x), js)
    s0 = js if js is not None else jm.initial_state(x.shape[1])
    loss = lambda p: jnp.sum(rf.jax.recurrent_forward(p, jnp.asarray(x), s0, config).y * w)
    grads_j = rf.flatten(jax.grad(loss)(jm.params))
    return out_t, out_j, grads_t, grads_j


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(cell=st.sampled_from(sorted(CELLS)), act=st.sampled_from(ACTIVATIONS),
       I=st.integers(1, 4), H=st.integers(1, 5), L=st.integers(1, 2), O=st.sampled_from([None, 1, 3]),
       T=st.integers(1, 6), B=st.integers(1, 3), with_state=st.booleans(),
       dtype=st.sampled_from([np.float32, np.float64]), seed=st.integers(0, 2**16))
def test_parity_torch_jax(cell, act, I, H, L, O, T, B, with_state, dtype, seed):
    config = _config(cell, I, H, L, O, act)
    params = rf.init_params(config, seed, dtype)
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(T, B, I)).astype(dtype)
    state0 = _state0(config, B, rng, dtype) if with_state else None
    y_shape = (T, B, O or H)
    w = rng.normal(size=y_shape).astype(dtype)
    out_t, out_j, grads_t, grads_j = run_both(config, params, x, state0, w)
    assert out_t.y.shape == y_shape and out_j.y.shape == y_shape
    assert out_t.y.dtype == getattr(torch, np.dtype(dtype).name) and out_j.y.dtype == dtype
    assert_close(out_t.y.detach(), out_j.y, dtype, "y")
    assert_close(out_t.hidden.detach(), out_j.hidden, dtype, "hidden")
    if cell == "lstm":
        assert_close(out_t.cell.detach(), out_j.cell, dtype, "cell")
    else:
        assert out_t.cell is None and out_j.cell is None
    assert_trees_close(grads_t, grads_j, dtype, "grad")


@pytest.mark.parametrize("cell,torch_cls,act", [
    ("rnn", torch.nn.RNN, "tanh"), ("rnn", torch.nn.RNN, "relu"),
    ("lstm", torch.nn.LSTM, "tanh"), ("gru", torch.nn.GRU, "tanh"),
])
def test_same_numbers_as_torch_nn(cell, torch_cls, act):
    """Our schema in PyTorch's layout loads into torch.nn.{RNN,LSTM,GRU} unchanged."""
    config = _config(cell, 3, 5, 2, None, act)
    params = rf.init_params(config, 7, np.float64)
    kw = {"nonlinearity": act} if cell == "rnn" else {}
    ref = torch_cls(3, 5, num_layers=2, dtype=torch.float64, **kw)
    with torch.no_grad():
        for l, layer in enumerate(params["layers"]):
            for name, value in layer.items():
                getattr(ref, f"{name}_l{l}").copy_(torch.tensor(value))
    x = torch.tensor(np.random.default_rng(0).normal(size=(6, 2, 3)))
    ours = rf.build(config, params, backend="torch")(x)
    theirs, _ = ref(x)
    torch.testing.assert_close(ours.y, theirs, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(np.asarray(rf.build(config, params, backend="jax")(x.numpy()).y),
                               theirs.detach().numpy(), rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("cell", sorted(CELLS))
def test_gradcheck_torch(cell):
    config = _config(cell, 2, 3, 2, 2, "tanh")
    model = rf.build(config, rf.init_params(config, 1, np.float64), backend="torch")
    x = torch.randn(4, 2, 2, dtype=torch.float64, requires_grad=True)
    names = ["layers.0.weight_hh", "layers.1.weight_ih", "head.weight"]
    base = dict(model.named_parameters())
    weights = tuple(base[n].detach().clone().requires_grad_(True) for n in names)

    def f(x, *ws):
        return torch.func.functional_call(model, dict(zip(names, ws)), (x,), {"validate": False}).y
    assert torch.autograd.gradcheck(f, (x, *weights))


@pytest.mark.parametrize("cell", sorted(CELLS))
def test_check_grads_jax(cell):
    from jax.test_util import check_grads
    config = _config(cell, 2, 3, 2, 2, "tanh")
    model = rf.build(config, rf.init_params(config, 1, np.float64), backend="jax")
    x = jnp.asarray(np.random.default_rng(0).normal(size=(4, 2, 2)))
    s0 = model.initial_state(2)
    f = lambda params, x: rf.jax.recurrent_forward(params, x, s0, config).y
    check_grads(f, (model.params, x), order=1, modes=["rev"])


# ---------------------------------------------------------------- hand-computed goldens
def _both(config, params, x):
    y_t = rf.build(config, params, backend="torch")(torch.tensor(x)).y.detach().numpy()
    y_j = np.asarray(rf.build(config, params, backend="jax")(jnp.asarray(x)).y)
    return y_t, y_j


def test_golden_tanh_rnn_two_units():
    # W_ih = 0.5 (2x1), W_hh = [[0.1, -0.2], [0.3, 0.4]], b_ih = [0.1, 0], b_hh = [0, -0.1]
    config = rf.RNNConfig(1, 2)
    p = {"layers": [{"weight_ih": np.array([[0.5], [0.5]]), "weight_hh": np.array([[0.1, -0.2], [0.3, 0.4]]),
                     "bias_ih": np.array([0.1, 0.0]), "bias_hh": np.array([0.0, -0.1])}]}
    x = np.array([[[1.0]], [[-2.0]]])  # T=2, B=1
    # t=1: a = 0.5*1 + [0.1, 0] + 0 + [0, -0.1] = [0.6, 0.4]; h1 = tanh(a)
    h1 = np.array([np.tanh(0.6), np.tanh(0.4)])
    # t=2: a = 0.5*(-2) + [0.1, -0.1] + [0.1*h1[0] - 0.2*h1[1], 0.3*h1[0] + 0.4*h1[1]]
    a2 = np.array([-1.0 + 0.1 + 0.1 * h1[0] - 0.2 * h1[1], -1.0 - 0.1 + 0.3 * h1[0] + 0.4 * h1[1]])
    want = np.stack([h1, np.tanh(a2)])[:, None, :]
    for got in _both(config, p, x):
        np.testing.assert_allclose(got, want, rtol=1e-14)


def test_golden_lstm_one_unit():
    config = rf.LSTMConfig(1, 1)
    # gates i, f, g, o with W_ih = [1, 2, 3, 4], W_hh = [0.5]*4, biases 0 except b_ih_f = 1
    p = {"layers": [{"weight_ih": np.array([[1.0], [2.0], [3.0], [4.0]]), "weight_hh": np.full((4, 1), 0.5),
                     "bias_ih": np.array([0.0, 1.0, 0.0, 0.0]), "bias_hh": np.zeros(4)}]}
    x = np.array([[[0.5]], [[-1.0]]])
    sig = lambda z: 1 / (1 + np.exp(-z))
    h, c, hs = 0.0, 0.0, []
    for xt in (0.5, -1.0):
        i, f, g, o = sig(xt + 0.5 * h), sig(2 * xt + 1 + 0.5 * h), np.tanh(3 * xt + 0.5 * h), sig(4 * xt + 0.5 * h)
        c = f * c + i * g
        h = o * np.tanh(c)
        hs.append(h)
    for got in _both(config, p, x):
        np.testing.assert_allclose(got.ravel(), hs, rtol=1e-14)


def test_golden_gru_one_unit():
    config = rf.GRUConfig(1, 1)
    # gates r, z, n: W_ih = [1, -1, 2], W_hh = [0.5, 0.25, -1], b_hh_n = 0.3 (inside r * (...))
    p = {"layers": [{"weight_ih": np.array([[1.0], [-1.0], [2.0]]), "weight_hh": np.array([[0.5], [0.25], [-1.0]]),
                     "bias_ih": np.zeros(3), "bias_hh": np.array([0.0, 0.0, 0.3])}]}
    x = np.array([[[1.0]], [[0.5]]])
    sig = lambda z: 1 / (1 + np.exp(-z))
    h, hs = 0.0, []
    for xt in (1.0, 0.5):
        r, z = sig(xt + 0.5 * h), sig(-xt + 0.25 * h)
        n = np.tanh(2 * xt + r * (-h + 0.3))
        h = (1 - z) * n + z * h
        hs.append(h)
    for got in _both(config, p, x):
        np.testing.assert_allclose(got.ravel(), hs, rtol=1e-14)


# ---------------------------------------------------------------- parameters and steps
@pytest.mark.parametrize("cell", sorted(CELLS))
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_param_round_trip_is_exact(cell, dtype):
    config = _config(cell, 3, 4, 2, 2, "tanh")
    p0 = rf.init_params(config, 5, dtype)
    p1 = rf.export_params(rf.build(config, p0, backend="torch"))
    p2 = rf.export_params(rf.build(config, p1, backend="jax"))
    for k, v in rf.flatten(p0).items():
        for p in (p1, p2):
            got = rf.flatten(p)[k]
            assert got.dtype == dtype and np.array_equal(got, v), k


@pytest.mark.parametrize("cell", sorted(CELLS))
def test_step_reproduces_forward(cell):
    config = _config(cell, 2, 3, 2, None, "tanh")
    params = rf.init_params(config, 2, np.float64)
    x = np.random.default_rng(3).normal(size=(5, 2, 2))
    for backend, conv in (("torch", torch.tensor), ("jax", jnp.asarray)):
        m = rf.build(config, params, backend=backend)
        out = m(conv(x))
        hidden = np.asarray(out.hidden.detach() if backend == "torch" else out.hidden)
        init = m.initial_state(2)
        inp = conv(x)
        for l in range(2):
            state = (init[0][l], init[1][l]) if cell == "lstm" else init[l]
            for t in range(5):
                state = m.step(l, state, inp[t])
                h = state[0] if cell == "lstm" else state
                np.testing.assert_allclose(np.asarray(h.detach() if backend == "torch" else h),
                                           hidden[l, t], rtol=1e-12, atol=1e-14)
            inp = conv(hidden[l])


# ---------------------------------------------------------------- validation at the entry
@pytest.mark.parametrize("backend", ["torch", "jax"])
def test_bad_inputs_raise_clear_errors(backend):
    config = rf.LSTMConfig(3, 4)
    m = rf.build(config, backend=backend)
    conv = torch.tensor if backend == "torch" else jnp.asarray
    good = np.zeros((5, 2, 3), np.float32)
    with pytest.raises(ValueError, match=r"\(rank 2\): expected rank 3"):
        m(conv(good[0]))
    with pytest.raises(ValueError, match="has 4 features.*expected I=3"):
        m(conv(np.zeros((5, 2, 4), np.float32)))
    bad = good.copy()
    bad[2, 1, 0] = np.nan
    with pytest.raises(ValueError, match="NaN or Inf"):
        m(conv(bad))
    if backend == "torch" or jax.config.jax_enable_x64:
        with pytest.raises(ValueError, match="dtype float64 but the model's parameters are float32"):
            m(conv(good.astype(np.float64)))
    with pytest.raises(ValueError, match="pair"):
        m(conv(good), conv(np.zeros((1, 2, 4), np.float32)))
    z = conv(np.zeros((2, 2, 4), np.float32))
    with pytest.raises(ValueError, match=r"h0 has shape \(2, 2, 4\), expected \(1, 2, 4\)"):
        m(conv(good), (z, z))
    if backend == "torch":
        z = np.zeros((1, 2, 4), np.float32)
        with pytest.raises(TypeError, match="h0 must be a torch.Tensor, got ndarray"):
            m(conv(good), (z, z))


def test_build_errors():
    with pytest.raises(ValueError, match="backend='tf'"):
        rf.build(rf.RNNConfig(1, 1), backend="tf")
    with pytest.raises(TypeError, match="config must be"):
        rf.build("rnn", backend="torch")
    with pytest.raises(ValueError, match=r"layers.0.weight_ih.*\(3, 1\), expected \(2, 1\)"):
        rf.build(rf.RNNConfig(1, 2), rf.init_params(rf.RNNConfig(1, 3)), backend="jax")


def test_float64_without_x64_is_refused():
    jax.config.update("jax_enable_x64", False)
    try:
        with pytest.raises(ValueError, match="jax_enable_x64"):
            rf.build(rf.RNNConfig(1, 2), dtype=np.float64, backend="jax")
    finally:
        jax.config.update("jax_enable_x64", True)


@pytest.mark.parametrize("config", [
    rf.RNNConfig(3, 5, num_layers=2, activation="tanh"), rf.RNNConfig(3, 5, activation="relu"),
    rf.LSTMConfig(3, 5, num_layers=2), rf.GRUConfig(3, 5, num_layers=2),
], ids=["rnn_tanh", "rnn_relu", "lstm", "gru"])
def test_torch_fused_kernels_equal_the_loop(config, monkeypatch):
    """The fused path (torch's own kernels + the LSTM cell-state scan) and the Python loop
    give the same states, cell states and parameter gradients."""
    import rnnflow.torch.rnn as trnn
    calls = []
    for name in ("rnn_tanh", "rnn_relu", "lstm", "gru"):
        real = getattr(torch, name)
        wrapped = (lambda real, name: lambda *a: calls.append(name) or real(*a))(real, name)
        monkeypatch.setattr(torch, name, wrapped)
        if name.startswith("rnn_"):
            monkeypatch.setitem(trnn._FUSED_RNN, name.removeprefix("rnn_"), wrapped)
    m = rf.build(config, rf.init_params(config, 0, np.float64), backend="torch")
    x = torch.randn(37, 4, 3, dtype=torch.float64)
    h0 = torch.randn(config.num_layers, 4, 5, dtype=torch.float64)
    s0 = (h0, torch.randn_like(h0)) if config.cell == "lstm" else h0
    grads = []
    for fused in (True, False):
        out = m(x, s0, fused=fused)
        loss = (out.y ** 2).sum() + (out.cell.sum() if out.cell is not None else 0)
        grads.append((out, torch.autograd.grad(loss, list(m.parameters()))))
        if fused:
            assert len(calls) == config.num_layers, calls
    (a, ga), (b, gb) = grads
    torch.testing.assert_close(a.hidden, b.hidden, rtol=1e-12, atol=1e-13)
    if config.cell == "lstm":
        torch.testing.assert_close(a.cell, b.cell, rtol=1e-12, atol=1e-13)
    for u, v in zip(ga, gb):
        torch.testing.assert_close(u, v, rtol=1e-10, atol=1e-11)


def test_torch_build_leaves_global_rng_alone():
    torch.manual_seed(123)
    expected = torch.rand(3)
    torch.manual_seed(123)
    rf.build(rf.LSTMConfig(2, 3, output_size=2), backend="torch")
    rf.build(rf.MLPConfig(3, 2, width=4, depth=2, batchnorm=True), backend="torch")
    torch.testing.assert_close(torch.rand(3), expected)


@pytest.mark.parametrize("name", ACTIVATIONS)
def test_activation_derivative_at_kinks_matches_across_backends(name):
    from rnnflow.activations import dphi
    from rnnflow.jax.activations import get_activation as jget
    from rnnflow.torch.activations import get_activation as tget
    x = np.array([-1.0, 0.0, 1.0])
    xt = torch.tensor(x, requires_grad=True)
    tget(name)(xt).sum().backward()
    gj = jax.vmap(jax.grad(jget(name)))(jnp.asarray(x))
    np.testing.assert_allclose(xt.grad.numpy(), np.asarray(gj), rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(dphi(name, x), xt.grad.numpy(), rtol=1e-12, atol=1e-15)


def test_return_cell_false_skips_only_the_cells():
    config = rf.LSTMConfig(3, 4, num_layers=2)
    m = rf.build(config, rf.init_params(config, 0, np.float64), backend="torch")
    x = torch.randn(6, 2, 3, dtype=torch.float64)
    full, lean = m(x), m(x, return_cell=False)
    assert lean.cell is None and full.cell.shape == (2, 6, 2, 4)
    torch.testing.assert_close(full.hidden, lean.hidden, rtol=0, atol=0)

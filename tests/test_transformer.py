"""Transformer encoder: torch/jax parity, agreement with torch.nn.TransformerEncoderLayer,
autograd checks, hand-computed goldens, dropout, parameter round trips and input validation."""
import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

import rnnflow as rf
from rnnflow.activations import ACTIVATIONS

from ._helpers import TOL, assert_close

BIAS = rf.Init("uniform", low=-0.5, high=0.5)  # non-zero biases exercise every bias path


def assert_parity(res_t, res_j, dtype, ref64=None):
    """torch vs jax results (flat dicts of arrays: outputs and gradients) agree.

    float64: every entry within the shared tolerance. float32: rounding amplified by LayerNorm /
    BatchNorm cancellations breaks elementwise agreement at the shared tolerance for ~10% of random
    draws, and moves torch itself that far from its float64 result. So float32 is compared in norm
    over all entries: ||t - j|| <= atol * sqrt(N) + rtol * ||t64|| + 2 * ||t - t64||, the shared
    tolerance in norm form plus twice torch's own float32 error: the backends may differ by what
    float32 rounding does to torch, not more.
    """
    assert set(res_t) == set(res_j)
    for k in res_t:
        assert np.asarray(res_t[k]).dtype == np.asarray(res_j[k]).dtype == dtype, k
        assert np.shape(res_t[k]) == np.shape(res_j[k]), k
    if dtype == np.float64:
        for k in res_t:
            assert_close(res_t[k], res_j[k], dtype, k)
        return
    keys = sorted(res_t)
    t, j, r = (np.concatenate([np.ravel(res[k]).astype(np.float64) for k in keys]) for res in (res_t, res_j, ref64))
    tol = TOL[np.float32]
    bound = tol["atol"] * math.sqrt(t.size) + tol["rtol"] * np.linalg.norm(r) + 2 * np.linalg.norm(t - r)
    worst = max(keys, key=lambda k: np.linalg.norm(np.asarray(res_t[k], np.float64) - res_j[k]))
    assert np.linalg.norm(t - j) <= bound, (f"float32 results differ by {np.linalg.norm(t - j):.3g} > {bound:.3g} "
                                            f"(most in {worst!r})")


def run_both(config, params, x, w):
    """Forward both backends, loss = sum(y * w); y, hidden and gradients (parameters and x)
    as flat dicts of numpy arrays, torch's and jax's."""
    tm = rf.build(config, params, backend="torch")
    xt = torch.tensor(x, requires_grad=True)
    out_t = tm(xt)
    (out_t.y * torch.tensor(w)).sum().backward()
    res_t = {"y": out_t.y.detach().numpy(), "hidden": out_t.hidden.detach().numpy(), "grad x": xt.grad.numpy(),
             **{f"grad {k}": p.grad.numpy() for k, p in tm.named_parameters()}}
    assert out_t.cell is None

    def loss(p, x):  # one compiled function for outputs and gradients keeps the test fast
        out = rf.jax.transformer_forward(p, x, config)
        return jnp.sum(out.y * w), out
    jm = rf.build(config, params, backend="jax")
    (_, out_j), (gp, gx) = jax.jit(jax.value_and_grad(loss, argnums=(0, 1), has_aux=True))(jm.params, x)
    res_j = {"y": out_j.y, "hidden": out_j.hidden, "grad x": gx,
             **{f"grad {k}": g for k, g in rf.flatten(gp).items()}}
    assert out_j.cell is None
    return res_t, {k: np.asarray(v) for k, v in res_j.items()}


@st.composite
def transformer_configs(draw):
    # no d_model=2: LayerNorm over 2 features is +-d/sqrt(d^2 + eps), whose gradient is nearly all
    # cancellation (float32 gets it ~1% wrong in either backend); the goldens cover D=2
    heads, d_model = draw(st.sampled_from([(1, 1), (1, 3), (3, 3), (1, 4), (2, 4), (4, 4), (3, 6)]))
    T = draw(st.integers(1, 4))
    config = rf.TransformerConfig(
        draw(st.integers(1, 3)), d_model=d_model, num_heads=heads,
        num_layers=draw(st.integers(1, 2)), d_ff=draw(st.integers(1, 5)),
        activation=draw(st.sampled_from(ACTIVATIONS)), residual=draw(st.booleans()),
        norm=draw(st.sampled_from(["post", "pre", "none"])), final_norm=draw(st.sampled_from([None, True, False])),
        positional=draw(st.sampled_from(["sinusoidal", "learned", "none"])), max_len=draw(st.integers(T, 6)),
        causal=draw(st.booleans()), output_size=draw(st.sampled_from([None, 2])), init_bias=BIAS)
    return config, T


EXAMPLES = [  # always run, whatever the random draws: both LN placements with every feature on
    rf.TransformerConfig(2, d_model=4, num_heads=2, num_layers=2, d_ff=3, norm="post", positional="learned",
                         max_len=5, causal=True, output_size=2, init_bias=BIAS),
    rf.TransformerConfig(3, d_model=6, num_heads=3, num_layers=2, d_ff=5, norm="pre", activation="swish",
                         init_bias=BIAS),
]


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(drawn=transformer_configs(), B=st.integers(1, 2), seed=st.integers(0, 2**16))
@example(drawn=(EXAMPLES[0], 4), B=2, seed=0)
@example(drawn=(EXAMPLES[1], 3), B=2, seed=1)
def test_parity_torch_jax(drawn, B, seed):
    """Same parameters in both backends: same y, hidden and gradients, in float64 and float32."""
    config, T = drawn
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(T, B, config.input_size))
    y_shape = (T, B, config.output_size or config.d_model)
    w = rng.normal(size=y_shape)
    ref = None
    for dtype in (np.float64, np.float32):
        res_t, res_j = run_both(config, rf.init_params(config, seed, dtype), x.astype(dtype), w.astype(dtype))
        assert res_t["y"].shape == res_j["y"].shape == y_shape
        assert res_t["hidden"].shape == (config.num_layers + 1, T, B, config.d_model)
        assert_parity(res_t, res_j, dtype, ref)
        ref = res_t


# ---------------------------------------------------------------- brute-force twin: torch.nn
@pytest.mark.parametrize("norm", ["post", "pre"])
@pytest.mark.parametrize("causal", [False, True])
@pytest.mark.parametrize("act", ["relu", "gelu"])
def test_block_same_numbers_as_torch_nn(norm, causal, act):
    """One block equals torch.nn.TransformerEncoderLayer loaded with the same weights."""
    config = rf.TransformerConfig(3, d_model=6, num_heads=2, num_layers=1, d_ff=5, activation=act,
                                  norm=norm, causal=causal, init_bias=BIAS)
    params = rf.init_params(config, 3, np.float64)
    p = params["layers"][0]
    ref = torch.nn.TransformerEncoderLayer(6, 2, dim_feedforward=5, dropout=0.0, activation=act,
                                           norm_first=norm == "pre", dtype=torch.float64)
    pairs = {"self_attn.in_proj_weight": p["attn"]["in_proj"]["weight"],
             "self_attn.in_proj_bias": p["attn"]["in_proj"]["bias"],
             "self_attn.out_proj.weight": p["attn"]["out_proj"]["weight"],
             "self_attn.out_proj.bias": p["attn"]["out_proj"]["bias"]}
    for ours, theirs in (("fc1", "linear1"), ("fc2", "linear2"), ("norm1", "norm1"), ("norm2", "norm2")):
        pairs |= {f"{theirs}.weight": p[ours]["weight"], f"{theirs}.bias": p[ours]["bias"]}
    ref.load_state_dict({k: torch.tensor(v) for k, v in pairs.items()})
    x = torch.tensor(np.random.default_rng(0).normal(size=(4, 2, 6)))
    mask = torch.ones(4, 4, dtype=torch.bool).triu(1) if causal else None  # torch: True = blocked
    theirs = ref(x, src_mask=mask)
    ours = rf.build(config, params, backend="torch").step(0, x)
    torch.testing.assert_close(ours, theirs, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(np.asarray(rf.build(config, params, backend="jax").step(0, x.numpy())),
                               theirs.detach().numpy(), rtol=1e-12, atol=1e-12)


# ---------------------------------------------------------------- autograd checks
SMALL = dict(d_model=4, num_heads=2, num_layers=2, d_ff=3, activation="tanh", positional="learned",
             max_len=5, causal=True, output_size=2, init_bias=BIAS)


@pytest.mark.parametrize("norm", ["post", "pre"])
def test_gradcheck_torch(norm):
    config = rf.TransformerConfig(2, norm=norm, **SMALL)
    model = rf.build(config, rf.init_params(config, 1, np.float64), backend="torch")
    x = torch.randn(3, 2, 2, dtype=torch.float64, requires_grad=True)
    names = ["layers.0.attn.in_proj.weight", "layers.1.norm1.weight", "pos.weight"]
    base = dict(model.named_parameters())
    weights = tuple(base[n].detach().clone().requires_grad_(True) for n in names)

    def f(x, *ws):
        return torch.func.functional_call(model, dict(zip(names, ws)), (x,), {"validate": False}).y
    assert torch.autograd.gradcheck(f, (x, *weights))


@pytest.mark.parametrize("norm", ["post", "pre"])
def test_check_grads_jax(norm):
    from jax.test_util import check_grads
    config = rf.TransformerConfig(2, norm=norm, **SMALL)
    model = rf.build(config, rf.init_params(config, 1, np.float64), backend="jax")
    x = jnp.asarray(np.random.default_rng(0).normal(size=(3, 2, 2)))
    f = lambda params, x: rf.jax.transformer_forward(params, x, config).y
    check_grads(f, (model.params, x), order=1, modes=["rev"])


# ---------------------------------------------------------------- hand-computed goldens
def _golden_params(config):
    eye = np.eye(2)
    zero = np.zeros(2)
    return {
        "embed": {"weight": eye, "bias": zero},
        "layers": [{
            # q = k = h, v = diag(1, 2) h
            "attn": {"in_proj": {"weight": np.vstack([eye, eye, np.diag([1.0, 2.0])]), "bias": np.zeros(6)},
                     "out_proj": {"weight": eye, "bias": zero}},
            "fc1": {"weight": eye, "bias": zero},
            "fc2": {"weight": 0.5 * eye, "bias": np.array([0.1, 0.0])},
            **({"norm1": {"weight": np.ones(2), "bias": zero}, "norm2": {"weight": np.ones(2), "bias": zero}}
               if config.norm != "none" else {}),
        }],
    }


def _both(config, params, x):
    out_t = rf.build(config, params, backend="torch")(torch.tensor(x))
    out_j = rf.build(config, params, backend="jax")(jnp.asarray(x))
    return [(o.y.detach().numpy(), o.hidden.detach().numpy()) for o in (out_t,)] + [
        (np.asarray(out_j.y), np.asarray(out_j.hidden))]


def test_golden_attention_by_hand():
    """T=2, D=2, one head, no LN, sinusoidal positions, relu MLP, residual."""
    config = rf.TransformerConfig(2, d_model=2, num_heads=1, num_layers=1, d_ff=2, activation="relu",
                                  norm="none", positional="sinusoidal")
    x = np.array([[[1.0, 0.0]], [[0.0, -1.0]]])  # (T=2, B=1, I=2)
    # PE[t] = [sin(t), cos(t)] for D=2 (frequency 10000^0 = 1)
    h = np.array([[1.0 + 0.0, 0.0 + 1.0], [0.0 + math.sin(1.0), -1.0 + math.cos(1.0)]])
    v = h * np.array([1.0, 2.0])
    out = np.zeros((2, 2))
    for t in range(2):
        s0, s1 = h[t] @ h[0] / math.sqrt(2.0), h[t] @ h[1] / math.sqrt(2.0)
        a0 = math.exp(s0) / (math.exp(s0) + math.exp(s1))
        out[t] = a0 * v[0] + (1.0 - a0) * v[1]
    x1 = h + out
    x2 = x1 + 0.5 * np.maximum(x1, 0.0) + np.array([0.1, 0.0])
    for y, hidden in _both(config, _golden_params(config), x):
        np.testing.assert_allclose(hidden[:, :, 0], np.stack([h, x2]), rtol=1e-14, atol=1e-15)
        np.testing.assert_allclose(y[:, 0], x2, rtol=1e-14, atol=1e-15)


def test_golden_causal_post_ln_by_hand():
    """Causal, post-LN, no positions: query 0 sees only key 0; LN of a 2-vector is +-d / sqrt(d^2 + eps)."""
    eps = 1e-5
    config = rf.TransformerConfig(2, d_model=2, num_heads=1, num_layers=1, d_ff=2, activation="relu",
                                  norm="post", positional="none", causal=True, layer_norm_eps=eps)
    x = np.array([[[1.0, 0.0]], [[0.5, 2.0]]])
    h = x[:, 0]
    v = h * np.array([1.0, 2.0])

    def ln(z):
        d = (z[0] - z[1]) / 2.0
        return np.array([d, -d]) / math.sqrt(d * d + eps)

    s0, s1 = h[1] @ h[0] / math.sqrt(2.0), h[1] @ h[1] / math.sqrt(2.0)
    a0 = 1.0 / (1.0 + math.exp(s1 - s0))
    attn = np.stack([v[0], a0 * v[0] + (1.0 - a0) * v[1]])
    x1 = np.stack([ln(h[t] + attn[t]) for t in range(2)])
    x2 = np.stack([ln(x1[t] + 0.5 * np.maximum(x1[t], 0.0) + np.array([0.1, 0.0])) for t in range(2)])
    for y, hidden in _both(config, _golden_params(config), x):
        np.testing.assert_allclose(hidden[1, :, 0], x2, rtol=1e-12, atol=1e-14)
        np.testing.assert_allclose(y[:, 0], x2, rtol=1e-12, atol=1e-14)


def test_sinusoidal_table_matches_formula():
    from rnnflow.jax.transformer import sinusoidal_table as table_j
    from rnnflow.torch.transformer import sinusoidal_table as table_t
    T, D = 7, 5
    want = np.array([[math.sin(t / 10000 ** (i / D)) if i % 2 == 0 else math.cos(t / 10000 ** ((i - 1) / D))
                      for i in range(D)] for t in range(T)])
    np.testing.assert_allclose(table_t(T, D), want, rtol=1e-13, atol=1e-15)
    np.testing.assert_array_equal(table_j(T, D), table_t(T, D))


# ---------------------------------------------------------------- parameters, steps, modes
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_param_round_trip_is_exact(dtype):
    config = rf.TransformerConfig(3, d_model=4, num_heads=2, num_layers=2, d_ff=3, positional="learned",
                                  max_len=5, output_size=2, init_bias=BIAS)
    p0 = rf.init_params(config, 5, dtype)
    for backend in ("torch", "jax"):
        p1 = rf.export_params(rf.build(config, p0, backend=backend))
        flat = rf.flatten(p1)
        assert set(flat) == set(rf.flatten(p0))
        for k, v in rf.flatten(p0).items():
            assert flat[k].dtype == dtype and np.array_equal(flat[k], v), (backend, k)


def test_module_names_are_the_schema():
    config = rf.TransformerConfig(3, d_model=4, num_heads=2, num_layers=2, positional="learned", max_len=5,
                                  final_norm=True, output_size=2)
    model = rf.build(config, backend="torch")
    names = {k for k, _ in model.named_parameters()} | {k for k, _ in model.named_buffers()}
    assert names == set(rf.flatten(rf.init_params(config)))


def test_step_reproduces_forward():
    config = rf.TransformerConfig(2, d_model=4, num_heads=2, num_layers=2, d_ff=3, causal=True, norm="post")
    params = rf.init_params(config, 2, np.float64)
    x = np.random.default_rng(3).normal(size=(4, 2, 2))
    for backend, conv in (("torch", torch.tensor), ("jax", jnp.asarray)):
        m = rf.build(config, params, backend=backend)
        hidden = np.asarray(m(conv(x)).hidden.detach() if backend == "torch" else m(conv(x)).hidden)
        for l in range(2):
            h = m.step(l, conv(hidden[l]))
            np.testing.assert_allclose(np.asarray(h.detach() if backend == "torch" else h), hidden[l + 1],
                                       rtol=1e-13, atol=1e-14)


def test_dropout_only_in_train_mode():
    config = rf.TransformerConfig(2, d_model=4, num_heads=2, num_layers=1, dropout=0.5)
    params = rf.init_params(config, 0, np.float64)
    x = np.random.default_rng(0).normal(size=(3, 2, 2))
    tm = rf.build(config, params, backend="torch")
    jm = rf.build(config, params, backend="jax")
    y_j = np.asarray(jm(jnp.asarray(x)).y)  # eval by default in JAX
    tm.eval()
    np.testing.assert_allclose(tm(torch.tensor(x)).y.detach().numpy(), y_j, rtol=1e-12)
    tm.train()
    assert not np.allclose(tm(torch.tensor(x)).y.detach().numpy(), y_j)
    k1, k2 = jax.random.key(1), jax.random.key(2)
    a, b = (np.asarray(jm(jnp.asarray(x), train=True, key=k).y) for k in (k1, k1))
    c = np.asarray(jm(jnp.asarray(x), train=True, key=k2).y)
    np.testing.assert_array_equal(a, b)
    assert not np.allclose(a, y_j) and not np.allclose(a, c)
    with pytest.raises(ValueError, match=r"dropout=0.5 in train mode needs a PRNG key"):
        jm(jnp.asarray(x), train=True)
    with pytest.raises(ValueError, match=r"needs a PRNG key"):
        jm.step(0, jnp.zeros((3, 2, 4)), train=True)


@pytest.mark.parametrize("backend", ["torch", "jax"])
def test_dropout_statistics(backend):
    """Inverted dropout: about `rate` of the entries zeroed, survivors scaled by 1 / (1 - rate)."""
    if backend == "torch":
        from rnnflow.torch.transformer import dropout
        out = dropout(torch.ones(20000, dtype=torch.float64), 0.25, True).numpy()
    else:
        from rnnflow.jax.transformer import dropout
        out = np.asarray(dropout(jnp.ones(20000), 0.25, True, jax.random.key(0)))
    assert set(np.unique(out)) == {0.0, 1.0 / 0.75}
    assert abs((out == 0).mean() - 0.25) < 0.02


# ---------------------------------------------------------------- validation at the entry
@pytest.mark.parametrize("backend", ["torch", "jax"])
def test_bad_inputs_raise_clear_errors(backend):
    config = rf.TransformerConfig(3, d_model=4, num_heads=2, num_layers=1, positional="learned", max_len=4)
    m = rf.build(config, backend=backend)
    conv = torch.tensor if backend == "torch" else jnp.asarray
    good = np.zeros((4, 2, 3), np.float32)
    m(conv(good))
    with pytest.raises(ValueError, match=r"\(rank 2\): expected rank 3"):
        m(conv(good[0]))
    with pytest.raises(ValueError, match="has 4 features.*expected I=3"):
        m(conv(np.zeros((4, 2, 4), np.float32)))
    bad = good.copy()
    bad[2, 1, 0] = np.nan
    with pytest.raises(ValueError, match="NaN or Inf"):
        m(conv(bad))
    with pytest.raises(ValueError, match="dtype float64 but the model's parameters are float32"):
        m(conv(good.astype(np.float64)))
    with pytest.raises(ValueError, match="T=5 exceeds TransformerConfig.max_len=4"):
        m(conv(np.zeros((5, 2, 3), np.float32)))
    with pytest.raises(ValueError, match="T=5 exceeds"):  # also without the entry checks
        m(conv(np.zeros((5, 2, 3), np.float32)), validate=False)

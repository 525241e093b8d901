"""Deep MLP: torch/jax parity (BatchNorm running stats included), agreement with torch.nn's
own layers, autograd checks, hand-computed goldens, dropout, round trips and input validation."""
import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

import rnnflow as rf
from rnnflow.activations import MLP_ACTIVATIONS
from rnnflow.params import is_buffer

from .test_transformer import assert_parity

BIAS = rf.Init("uniform", low=-0.5, high=0.5)  # non-zero biases exercise every bias path
STATS = ("running_mean", "running_var")


def _flat_stats(bn_stats):
    return {f"bn_stats.{l}.{k}": np.asarray(v.detach() if isinstance(v, torch.Tensor) else v)
            for l, s in enumerate(bn_stats or []) for k, v in s.items()}


def run_both(config, params, x0, x, w, train):
    """A train-mode call on x0 (moves the BatchNorm stats), then a call on x in the given mode
    with loss = sum(y * w). Returns flat dicts of numpy arrays (torch's, jax's): outputs of both
    calls, gradients of the second, and the parameters/buffers each model holds at the end."""
    tm = rf.build(config, params, backend="torch")
    first_t = tm(torch.tensor(x0))
    tm.train(train)
    xt = torch.tensor(x, requires_grad=True)
    out_t = tm(xt)
    (out_t.y * torch.tensor(w)).sum().backward()
    res_t = {"first y": first_t.y.detach().numpy(), **{f"first {k}": v for k, v in _flat_stats(first_t.bn_stats).items()},
             "y": out_t.y.detach().numpy(), "hidden": out_t.hidden.detach().numpy(), "grad x": xt.grad.numpy(),
             **_flat_stats(out_t.bn_stats),
             **{f"grad {k}": p.grad.numpy() for k, p in tm.named_parameters()},
             **{f"final {k}": v for k, v in rf.flatten(rf.export_params(tm)).items()}}

    jm = rf.build(config, params, backend="jax")
    first_j = jm(jnp.asarray(x0))

    def loss(p, x):  # one compiled function for outputs and gradients keeps the test fast
        out = rf.jax.mlp_forward(p, x, config, train=train)
        return jnp.sum(out.y * w), out
    (_, out_j), (gp, gx) = jax.jit(jax.value_and_grad(loss, argnums=(0, 1), has_aux=True))(jm.params, x)
    grads = rf.flatten(gp)
    for k in filter(is_buffer, grads):  # running stats are buffers: no gradient, as in torch
        assert not np.any(np.asarray(grads[k])), k
    jm(jnp.asarray(x), train=train)  # the model stores the stats the pure call returned
    res_j = {"first y": first_j.y, **{f"first {k}": v for k, v in _flat_stats(first_j.bn_stats).items()},
             "y": out_j.y, "hidden": out_j.hidden, "grad x": gx, **_flat_stats(out_j.bn_stats),
             **{f"grad {k}": g for k, g in grads.items() if not is_buffer(k)},
             **{f"final {k}": v for k, v in rf.flatten(rf.export_params(jm)).items()}}
    assert (out_t.bn_stats is None) == (out_j.bn_stats is None) == (not config.batchnorm)
    return res_t, {k: np.asarray(v) for k, v in res_j.items()}


@st.composite
def mlp_cases(draw):
    config = rf.MLPConfig(
        draw(st.integers(1, 4)), draw(st.integers(1, 3)), width=draw(st.integers(1, 5)),
        depth=draw(st.integers(1, 3)), activation=draw(st.sampled_from(MLP_ACTIVATIONS)),
        batchnorm=draw(st.booleans()), residual=draw(st.booleans()),
        bn_momentum=draw(st.sampled_from([0.1, 0.5, 1.0])), init_bias=BIAS)
    # BatchNorm of a batch of 2 is +-d/sqrt(d^2 + eps): its gradient is nearly all cancellation,
    # which float32 gets ~1% wrong in either backend; the torch.nn comparison covers B=2
    B = draw(st.integers(3, 5) if config.batchnorm else st.integers(1, 4))
    return config, B


EXAMPLE = rf.MLPConfig(3, 2, width=3, depth=3, activation="prelu", batchnorm=True, residual=True,
                       bn_momentum=0.5, init_bias=BIAS)  # every feature on, I == W: always run


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(case=mlp_cases(), train=st.booleans(), seed=st.integers(0, 2**16))
@example(case=(EXAMPLE, 4), train=True, seed=0)
@example(case=(EXAMPLE.replace(activation="elu"), 3), train=False, seed=1)
def test_parity_torch_jax(case, train, seed):
    """Same parameters in both backends: same y, hidden, running stats (after two calls) and
    gradients, in float64 and float32, in train and eval mode."""
    config, B = case
    rng = np.random.default_rng(seed)
    x0, x = rng.normal(size=(2, B, config.input_size))
    w = rng.normal(size=(B, config.output_size))
    ref = None
    for dtype in (np.float64, np.float32):
        res_t, res_j = run_both(config, rf.init_params(config, seed, dtype), x0.astype(dtype), x.astype(dtype),
                                w.astype(dtype), train)
        assert res_t["y"].shape == (B, config.output_size)
        assert res_t["hidden"].shape == (config.depth, B, config.width)
        assert_parity(res_t, res_j, dtype, ref)
        ref = res_t


# ---------------------------------------------------------------- brute-force twin: torch.nn
@pytest.mark.parametrize("act,batchnorm,residual,B", [
    ("prelu", True, True, 2), ("relu", True, False, 5), ("tanh", False, True, 3), ("gelu", True, True, 4),
])
def test_same_numbers_as_torch_nn(act, batchnorm, residual, B):
    """nn.Linear / nn.BatchNorm1d / nn.PReLU loaded with our parameters: same outputs and the
    same running statistics after train-mode calls, then the same eval-mode outputs."""
    config = rf.MLPConfig(3, 2, width=4, depth=3, activation=act, batchnorm=batchnorm, residual=residual,
                          bn_momentum=0.3, init_bias=BIAS)
    params = rf.init_params(config, 4, np.float64)
    kw = {"dtype": torch.float64}
    layers = []
    for l, p in enumerate(params["layers"]):
        lin = torch.nn.Linear(3 if l == 0 else 4, 4, **kw)
        bn = torch.nn.BatchNorm1d(4, eps=config.bn_eps, momentum=config.bn_momentum, **kw) if batchnorm else None
        phi = torch.nn.PReLU(1, **kw) if act == "prelu" else {"relu": torch.nn.ReLU(), "tanh": torch.nn.Tanh(),
                                                              "gelu": torch.nn.GELU()}[act]
        with torch.no_grad():
            for mod, name in ((lin, "linear"), (bn, "bn"), (phi, "prelu")):
                for k, v in p.get(name, {}).items():
                    getattr(mod, k).copy_(torch.tensor(v))
        layers.append((lin, bn, phi))
    head = torch.nn.Linear(4, 2, **kw)
    with torch.no_grad():
        head.weight.copy_(torch.tensor(params["head"]["weight"]))
        head.bias.copy_(torch.tensor(params["head"]["bias"]))

    def reference(x, train):
        h = x
        for l, (lin, bn, phi) in enumerate(layers):
            if bn is not None:
                bn.train(train)
            z = lin(h)
            a = phi(bn(z) if bn is not None else z)
            h = h + a if residual and l > 0 else a
        return head(h)

    rng = np.random.default_rng(0)
    tm, jm = rf.build(config, params, backend="torch"), rf.build(config, params, backend="jax")
    for train in (True, True, False):
        x = rng.normal(size=(B, 3))
        want = reference(torch.tensor(x), train).detach().numpy()
        tm.train(train)
        np.testing.assert_allclose(tm(torch.tensor(x)).y.detach().numpy(), want, rtol=1e-12, atol=1e-12)
        np.testing.assert_allclose(np.asarray(jm(jnp.asarray(x), train=train).y), want, rtol=1e-12, atol=1e-12)
        for model in (tm, jm):
            got = rf.export_params(model)
            for l, (_, bn, _) in enumerate(layers):
                for k in STATS if batchnorm else ():
                    np.testing.assert_allclose(got["layers"][l]["bn"][k], getattr(bn, k).numpy(),
                                               rtol=1e-12, atol=1e-14)


# ---------------------------------------------------------------- autograd checks
SMALL = rf.MLPConfig(2, 2, width=3, depth=2, activation="prelu", batchnorm=True, residual=True, init_bias=BIAS)


@pytest.mark.parametrize("train", [True, False])
def test_gradcheck_torch(train):
    model = rf.build(SMALL, rf.init_params(SMALL, 1, np.float64), backend="torch")
    model.train(train)
    x = torch.randn(4, 2, dtype=torch.float64, requires_grad=True)
    names = ["layers.0.linear.weight", "layers.1.bn.weight", "layers.0.prelu.weight", "head.bias"]
    base = dict(model.named_parameters())
    weights = tuple(base[n].detach().clone().requires_grad_(True) for n in names)

    def f(x, *ws):
        return torch.func.functional_call(model, dict(zip(names, ws)), (x,), {"validate": False}).y
    assert torch.autograd.gradcheck(f, (x, *weights))


def test_check_grads_jax():
    from jax.test_util import check_grads
    params = rf.jax.to_backend(rf.init_params(SMALL, 1, np.float64))
    x = jnp.asarray(np.random.default_rng(0).normal(size=(4, 2)))
    train = lambda params, x: rf.jax.mlp_forward(params, x, SMALL, train=True).y
    check_grads(train, (params, x), order=1, modes=["rev"])

    def evaluate(w, x):  # the running stats are buffers (no gradient): vary a weight and x
        layers = [{**params["layers"][0], "linear": {**params["layers"][0]["linear"], "weight": w}},
                  params["layers"][1]]
        return rf.jax.mlp_forward({**params, "layers": layers}, x, SMALL, train=False).y
    check_grads(evaluate, (params["layers"][0]["linear"]["weight"], x), order=1, modes=["rev"])


# ---------------------------------------------------------------- hand-computed goldens
def test_golden_prelu_residual_by_hand():
    config = rf.MLPConfig(2, 1, width=2, depth=2, activation="prelu", residual=True)
    params = {"layers": [
        {"linear": {"weight": np.array([[1.0, -1.0], [0.5, 2.0]]), "bias": np.array([0.0, -1.0])},
         "prelu": {"weight": np.array([0.25])}},
        {"linear": {"weight": np.array([[-1.0, 0.0], [1.0, 1.0]]), "bias": np.array([0.5, 0.0])},
         "prelu": {"weight": np.array([0.1])}},
    ], "head": {"weight": np.array([[2.0, -1.0]]), "bias": np.array([0.3])}}
    x = np.array([[1.0, 2.0], [-1.0, 0.5]])
    # row 0: z0 = [1 - 2, 0.5 + 4 - 1] = [-1, 3.5] -> h0 = [-0.25, 3.5]
    #        z1 = [0.25 + 0.5, -0.25 + 3.5] = [0.75, 3.25] -> h1 = h0 + z1 = [0.5, 6.75]
    # row 1: z0 = [-1 - 0.5, -0.5 + 1 - 1] = [-1.5, -0.5] -> h0 = [-0.375, -0.125]
    #        z1 = [0.375 + 0.5, -0.5] = [0.875, -0.5] -> h1 = h0 + [0.875, -0.05] = [0.5, -0.175]
    h0 = np.array([[-0.25, 3.5], [-0.375, -0.125]])
    h1 = np.array([[0.5, 6.75], [0.5, -0.175]])
    y = h1 @ np.array([2.0, -1.0])[:, None] + 0.3
    for backend, conv in (("torch", torch.tensor), ("jax", jnp.asarray)):
        out = rf.build(config, params, backend=backend)(conv(x))
        get = (lambda a: a.detach().numpy()) if backend == "torch" else np.asarray
        np.testing.assert_allclose(get(out.hidden), np.stack([h0, h1]), rtol=1e-15, atol=1e-15)
        np.testing.assert_allclose(get(out.y), y, rtol=1e-15)
        assert out.bn_stats is None


def test_golden_batchnorm_by_hand():
    eps, m = 1e-5, 0.1
    config = rf.MLPConfig(1, 1, width=2, depth=1, activation="relu", batchnorm=True, bn_momentum=m, bn_eps=eps)
    params = {"layers": [{
        "linear": {"weight": np.array([[1.0], [-2.0]]), "bias": np.array([0.0, 1.0])},
        "bn": {"weight": np.array([1.0, 0.5]), "bias": np.array([0.0, 0.1]),
               "running_mean": np.zeros(2), "running_var": np.ones(2)}}],
        "head": {"weight": np.array([[1.0, 1.0]]), "bias": np.array([0.0])}}
    x = np.array([[1.0], [2.0], [4.0]])
    z = np.array([[1.0, -1.0], [2.0, -3.0], [4.0, -7.0]])
    mean = np.array([7.0 / 3.0, -11.0 / 3.0])
    var = ((z - mean) ** 2).sum(0) / 3.0                        # biased: normalises the batch
    bn = (z - mean) / np.sqrt(var + eps) * [1.0, 0.5] + [0.0, 0.1]
    h = np.maximum(bn, 0.0)
    rm, rv = m * mean, (1 - m) * 1.0 + m * var * 3.0 / 2.0      # unbiased: running variance
    # then eval on one example: normalise with the running stats
    z1 = np.array([3.0, -5.0])
    h1 = np.maximum((z1 - rm) / np.sqrt(rv + eps) * [1.0, 0.5] + [0.0, 0.1], 0.0)
    for backend, conv in (("torch", torch.tensor), ("jax", jnp.asarray)):
        model = rf.build(config, params, backend=backend)
        get = (lambda a: a.detach().numpy()) if backend == "torch" else np.asarray
        out = model(conv(x))
        np.testing.assert_allclose(get(out.hidden[0]), h, rtol=1e-13, atol=1e-15)
        np.testing.assert_allclose(get(out.y)[:, 0], h.sum(1), rtol=1e-13, atol=1e-15)
        np.testing.assert_allclose(get(out.bn_stats[0]["running_mean"]), rm, rtol=1e-14)
        np.testing.assert_allclose(get(out.bn_stats[0]["running_var"]), rv, rtol=1e-14)
        if backend == "torch":
            model.eval()
            out = model(conv(x[:1] + 2.0))
        else:
            out = model(conv(x[:1] + 2.0), train=False)
        np.testing.assert_allclose(get(out.hidden[0, 0]), h1, rtol=1e-13, atol=1e-15)
        np.testing.assert_allclose(get(out.bn_stats[0]["running_var"]), rv, rtol=1e-14)


# ---------------------------------------------------------------- parameters, steps, modes
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_param_round_trip_is_exact(dtype):
    p0 = rf.init_params(SMALL, 5, dtype)
    for backend in ("torch", "jax"):
        flat = rf.flatten(rf.export_params(rf.build(SMALL, p0, backend=backend)))
        assert set(flat) == set(rf.flatten(p0))
        for k, v in rf.flatten(p0).items():
            assert flat[k].dtype == dtype and np.array_equal(flat[k], v), (backend, k)


def test_module_names_are_the_schema():
    model = rf.build(SMALL, backend="torch")
    names = {k for k, _ in model.named_parameters()} | {k for k, _ in model.named_buffers()}
    assert names == set(rf.flatten(rf.init_params(SMALL)))
    assert {k for k, _ in model.named_buffers()} == {f"layers.{l}.bn.{k}" for l in range(2) for k in STATS}


@pytest.mark.parametrize("train", [True, False])
def test_step_reproduces_forward_and_leaves_stats_alone(train):
    params = rf.init_params(SMALL, 2, np.float64)
    x = np.random.default_rng(3).normal(size=(4, 2))
    for backend, conv in (("torch", torch.tensor), ("jax", jnp.asarray)):
        m = rf.build(SMALL, params, backend=backend)
        if backend == "torch":
            m.train(train)
            hidden = m(conv(x)).hidden.detach().numpy()
        else:
            hidden = np.asarray(m(conv(x), train=train).hidden)
        before = rf.flatten(rf.export_params(m))
        inputs = [x, hidden[0]]
        for l in range(2):
            h = m.step(l, conv(inputs[l])) if backend == "torch" else m.step(l, conv(inputs[l]), train=train)
            np.testing.assert_allclose(np.asarray(h.detach() if backend == "torch" else h), hidden[l],
                                       rtol=1e-13, atol=1e-14)
        after = rf.flatten(rf.export_params(m))
        assert all(np.array_equal(before[k], after[k]) for k in before), backend


def test_jax_model_keeps_stats_like_torch_and_stays_pure():
    params = rf.init_params(SMALL, 0, np.float64)
    x = jnp.asarray(np.random.default_rng(0).normal(size=(4, 2)))
    jm = rf.build(SMALL, params, backend="jax")
    p0 = jm.params
    out = rf.jax.mlp_forward(p0, x, SMALL)
    assert jm.params is p0  # the function is pure
    jm(x)
    assert jm.params is not p0 and np.array_equal(p0["layers"][0]["bn"]["running_var"], np.ones(3))
    np.testing.assert_array_equal(jm.params["layers"][1]["bn"]["running_mean"], out.bn_stats[1]["running_mean"])
    p1 = jm.params
    jm(x, train=False)
    assert jm.params is p1  # eval leaves the stats alone
    jax.jit(lambda x: jm(x, validate=False).y)(x)
    assert jm.params is p1  # under a transformation the stats are returned, not stored


def test_dropout_only_in_train_mode():
    config = rf.MLPConfig(2, 2, width=8, depth=2, dropout=0.5)
    params = rf.init_params(config, 0, np.float64)
    x = np.random.default_rng(0).normal(size=(3, 2))
    tm, jm = rf.build(config, params, backend="torch"), rf.build(config, params, backend="jax")
    y_j = np.asarray(jm(jnp.asarray(x), train=False).y)
    tm.eval()
    np.testing.assert_allclose(tm(torch.tensor(x)).y.detach().numpy(), y_j, rtol=1e-12)
    tm.train()
    assert not np.allclose(tm(torch.tensor(x)).y.detach().numpy(), y_j)
    a, b, c = (np.asarray(jm(jnp.asarray(x), key=jax.random.key(k)).y) for k in (1, 1, 2))
    np.testing.assert_array_equal(a, b)
    assert not np.allclose(a, y_j) and not np.allclose(a, c)
    with pytest.raises(ValueError, match=r"MLPConfig.dropout=0.5 in train mode needs a PRNG key"):
        jm(jnp.asarray(x))
    with pytest.raises(ValueError, match="needs a PRNG key"):
        jm.step(0, jnp.asarray(x))


# ---------------------------------------------------------------- validation at the entry
@pytest.mark.parametrize("backend", ["torch", "jax"])
def test_bad_inputs_raise_clear_errors(backend):
    config = rf.MLPConfig(3, 2, width=4, depth=2, batchnorm=True)
    m = rf.build(config, backend=backend)
    conv = torch.tensor if backend == "torch" else jnp.asarray
    good = np.zeros((4, 3), np.float32)
    m(conv(good))
    with pytest.raises(ValueError, match=r"\(rank 3\): expected rank 2, layout \(B, I\)"):
        m(conv(good[None]))
    with pytest.raises(ValueError, match="has 4 features.*expected I=3"):
        m(conv(np.zeros((4, 4), np.float32)))
    bad = good.copy()
    bad[1, 2] = np.inf
    with pytest.raises(ValueError, match="NaN or Inf"):
        m(conv(bad))
    with pytest.raises(ValueError, match="dtype float64 but the model's parameters are float32"):
        m(conv(good.astype(np.float64)))
    with pytest.raises(ValueError, match=r"BatchNorm in train mode needs a batch of at least 2 \(got B=1\)"):
        m(conv(good[:1]))
    with pytest.raises(ValueError, match="at least 2"):  # also without the entry checks
        m(conv(good[:1]), validate=False)
    with pytest.raises(ValueError, match="at least 2"):
        m.step(0, conv(good[:1]))
    if backend == "torch":
        m.eval()
        assert m(conv(good[:1])).y.shape == (1, 2)
    else:
        assert m(conv(good[:1]), train=False).y.shape == (1, 2)

"""Configs validate on construction; the parameter schema and initialisers are exact."""
import math

import numpy as np
import pytest

import rnnflow as rf
from rnnflow import initializers
from rnnflow.config import INIT_KINDS


# ---------------------------------------------------------------- config validation
BAD_CONFIGS = [
    ("hidden0", lambda: rf.RNNConfig(3, 0), "RNNConfig.hidden_size=0"),
    ("hidden_neg", lambda: rf.LSTMConfig(3, -2), "LSTMConfig.hidden_size=-2"),
    ("hidden_float", lambda: rf.GRUConfig(3, 2.5), "GRUConfig.hidden_size=2.5"),
    ("hidden_bool", lambda: rf.RNNConfig(3, True), "hidden_size=True"),
    ("input0", lambda: rf.RNNConfig(0, 4), "input_size=0"),
    ("layers0", lambda: rf.RNNConfig(3, 4, num_layers=0), "num_layers=0"),
    ("output0", lambda: rf.RNNConfig(3, 4, output_size=0), "output_size=0"),
    ("activation", lambda: rf.RNNConfig(3, 4, activation="softsign"), "activation='softsign'"),
    ("prelu_rnn", lambda: rf.RNNConfig(3, 4, activation="prelu"), "activation='prelu'"),
    ("forget_nan", lambda: rf.LSTMConfig(3, 4, forget_bias=float("nan")), "forget_bias=nan"),
    ("init_type", lambda: rf.RNNConfig(3, 4, init_hh="orthogonal"), "init_hh='orthogonal'"),
    ("heads", lambda: rf.TransformerConfig(3, d_model=10, num_heads=4), "num_heads=4"),
    ("dropout1", lambda: rf.TransformerConfig(3, dropout=1.0), "dropout=1.0"),
    ("dropout_neg", lambda: rf.MLPConfig(3, 2, dropout=-0.1), "dropout=-0.1"),
    ("norm", lambda: rf.TransformerConfig(3, norm="middle"), "norm='middle'"),
    ("positional", lambda: rf.TransformerConfig(3, positional="rope"), "positional='rope'"),
    ("residual_type", lambda: rf.TransformerConfig(3, residual="yes"), "residual='yes'"),
    ("mlp_act", lambda: rf.MLPConfig(3, 2, activation="softmax"), "activation='softmax'"),
    ("mlp_depth", lambda: rf.MLPConfig(3, 2, depth=0), "depth=0"),
    ("bn_momentum", lambda: rf.MLPConfig(3, 2, bn_momentum=1.5), "bn_momentum=1.5"),
    ("init_kind", lambda: rf.Init("lecun"), "Init.kind='lecun'"),
    ("init_std", lambda: rf.Init("normal", std=-1.0), "Init.std=-1.0"),
    ("init_range", lambda: rf.Init("uniform", low=0.5, high=0.1), "Init.high=0.1"),
    ("init_rho", lambda: rf.Init("normal", spectral_radius=0.0), "Init.spectral_radius=0.0"),
    ("init_rho_zeros", lambda: rf.Init("zeros", spectral_radius=1.0), "Init.spectral_radius=1.0"),
]


@pytest.mark.parametrize("make,needle", [b[1:] for b in BAD_CONFIGS], ids=[b[0] for b in BAD_CONFIGS])
def test_bad_config_names_field_and_value(make, needle):
    with pytest.raises(ValueError) as err:
        make()
    msg = str(err.value)
    assert needle in msg and "expected" in msg, msg


def test_configs_are_frozen_and_normalised():
    c = rf.RNNConfig(3, 4, activation="silu")
    assert c.activation == "swish"
    with pytest.raises(Exception):
        c.hidden_size = 5
    assert rf.TransformerConfig(3, d_model=8, num_heads=2).d_ff == 32
    assert rf.TransformerConfig(3, norm="pre").final_norm is True
    assert rf.TransformerConfig(3, norm="post").final_norm is False
    with pytest.raises(ValueError, match="hidden_size=0"):
        c.replace(hidden_size=0)


# ---------------------------------------------------------------- schema
@pytest.mark.parametrize("config", [
    rf.RNNConfig(3, 4, num_layers=2, output_size=2), rf.LSTMConfig(3, 4), rf.GRUConfig(3, 4, num_layers=3),
    rf.TransformerConfig(3, d_model=8, num_heads=2, positional="learned", max_len=16, output_size=1),
    rf.MLPConfig(5, 3, width=6, depth=3, batchnorm=True, activation="prelu"),
], ids=lambda c: type(c).__name__)
def test_init_matches_schema_and_is_seeded(config):
    p = rf.init_params(config, seed=3)
    rf.check_params(config, p)
    q = rf.init_params(config, seed=3)
    r = rf.init_params(config, seed=4)
    fp, fq, fr = rf.flatten(p), rf.flatten(q), rf.flatten(r)
    assert all(np.array_equal(fp[k], fq[k]) for k in fp)
    assert any(not np.array_equal(fp[k], fr[k]) for k in fp if fp[k].std() > 0)
    assert all(a.dtype == np.float32 for a in fp.values())
    back = rf.flatten(rf.unflatten(fp, config))
    assert list(back) == list(fp) and all(np.array_equal(back[k], fp[k]) for k in fp)


def test_recurrent_schema_is_pytorch_layout():
    shapes = rf.param_shapes(rf.LSTMConfig(3, 5, num_layers=2, output_size=7))
    assert shapes["layers"][0]["weight_ih"] == (20, 3)
    assert shapes["layers"][1]["weight_ih"] == (20, 5)
    assert shapes["layers"][1]["weight_hh"] == (20, 5)
    assert shapes["head"]["weight"] == (7, 5)
    assert rf.param_shapes(rf.GRUConfig(2, 4))["layers"][0]["bias_hh"] == (12,)


def test_check_params_names_the_bad_entry():
    c = rf.RNNConfig(3, 4)
    p = rf.init_params(c)
    p["layers"][0]["weight_hh"] = np.zeros((4, 5), np.float32)
    with pytest.raises(ValueError, match=r"layers.0.weight_hh.*\(4, 5\).*\(4, 4\)"):
        rf.check_params(c, p)
    del p["layers"][0]["bias_hh"]
    with pytest.raises(ValueError, match="missing 'layers.0.bias_hh'"):
        rf.check_params(c, p)


def test_forget_bias_lands_in_forget_block():
    p = rf.init_params(rf.LSTMConfig(2, 3, forget_bias=1.0))["layers"][0]
    np.testing.assert_array_equal(p["bias_ih"], [0, 0, 0, 1, 1, 1, 0, 0, 0, 0, 0, 0])
    np.testing.assert_array_equal(p["bias_hh"], np.zeros(12))


def test_bad_seed_and_dtype():
    with pytest.raises(ValueError, match="seed=-1"):
        rf.init_params(rf.RNNConfig(2, 2), seed=-1)
    with pytest.raises(ValueError, match="dtype=int32"):
        rf.init_params(rf.RNNConfig(2, 2), dtype=np.int32)


# ---------------------------------------------------------------- initialiser statistics
N_OUT, N_IN = 400, 300


def _var_ok(w, var):
    # sample variance of n iid draws: sd = var * sqrt(2/(n-1)) (normal); allow 5 sd
    n = w.size
    assert abs(w.var() - var) < 5 * var * math.sqrt(2.0 / (n - 1)) * 1.5, (w.var(), var)


@pytest.mark.parametrize("kind,var", [
    ("xavier_normal", 2.0 / (N_IN + N_OUT)),
    ("xavier_uniform", 2.0 / (N_IN + N_OUT)),
    ("he_normal", 2.0 / N_IN),
    ("he_uniform", 2.0 / N_IN),
])
def test_glorot_he_variance(kind, var):
    w = initializers.sample(rf.Init(kind), (N_OUT, N_IN), np.random.default_rng(0))
    assert abs(w.mean()) < 5 * math.sqrt(var / w.size)
    _var_ok(w, var)
    if kind.endswith("uniform"):
        assert np.abs(w).max() <= math.sqrt(3 * var) + 1e-12


def test_normal_mean_one_std_one_is_expressible():
    # seed 001's RandomNormal(mean=1, stddev=1)
    w = initializers.sample(rf.Init("normal", mean=1.0, std=1.0), (N_OUT, N_IN), np.random.default_rng(0))
    assert abs(w.mean() - 1.0) < 5 / math.sqrt(w.size)
    _var_ok(w, 1.0)


def test_uniform_constant_zeros():
    rng = np.random.default_rng(0)
    w = initializers.sample(rf.Init("uniform", low=-0.3, high=0.2), (50, 40), rng)
    assert w.min() >= -0.3 and w.max() < 0.2 and abs(w.mean() + 0.05) < 0.01
    np.testing.assert_array_equal(initializers.sample(rf.Init("constant", value=0.7), (3,), rng), [0.7] * 3)
    np.testing.assert_array_equal(initializers.sample(rf.Init("zeros"), (2, 2), rng), np.zeros((2, 2)))


@pytest.mark.parametrize("shape", [(6, 6), (8, 3), (3, 8)])
def test_orthogonal(shape):
    w = initializers.sample(rf.Init("orthogonal", gain=2.0), shape, np.random.default_rng(0))
    small = min(shape)
    gram = w @ w.T if shape[0] <= shape[1] else w.T @ w
    np.testing.assert_allclose(gram, 4.0 * np.eye(small), atol=1e-12)


def test_identity_irnn():
    w = initializers.sample(rf.Init("identity", gain=0.5), (4, 4), np.random.default_rng(0))
    np.testing.assert_array_equal(w, 0.5 * np.eye(4))


@pytest.mark.parametrize("rho", [0.5, 1.0, 1.1, 3.0])
def test_spectral_radius_rescale_hits_rho(rho):
    init = rf.Init("normal", std=0.3, spectral_radius=rho)
    w = initializers.sample(init, (64, 64), np.random.default_rng(1))
    assert abs(np.max(np.abs(np.linalg.eigvals(w))) - rho) < 1e-6
    # per gate block for an LSTM's weight_hh
    p = rf.init_params(rf.LSTMConfig(2, 16, init_hh=init), dtype=np.float64)["layers"][0]["weight_hh"]
    for b in range(4):
        blk = p[16 * b:16 * (b + 1)]
        assert abs(np.max(np.abs(np.linalg.eigvals(blk))) - rho) < 1e-6


def test_every_init_kind_runs():
    for kind in INIT_KINDS:
        w = initializers.sample(rf.Init(kind), (5, 5), np.random.default_rng(0))
        assert w.shape == (5, 5) and np.isfinite(w).all()


def test_core_imports_no_framework():
    import subprocess
    import sys
    code = ("import sys, rnnflow, rnnflow.params, rnnflow.initializers, rnnflow.config;"
            "bad=[m for m in ('torch','jax','flax') if m in sys.modules]; assert not bad, bad")
    subprocess.run([sys.executable, "-c", code], check=True)


def test_max_derivative_is_an_upper_bound():
    from rnnflow.activations import MAX_DERIVATIVE, dphi
    x = np.linspace(-10, 10, 200001)
    for name, gamma in MAX_DERIVATIVE.items():
        peak = np.abs(dphi(name, x)).max()
        assert peak <= gamma <= peak + 1e-4, (name, peak, gamma)


def test_flatten_treats_shapes_as_leaves():
    shapes = rf.param_shapes(rf.TransformerConfig(3, d_model=8, num_heads=2, num_layers=1))
    flat = rf.flatten(shapes)
    assert flat["embed.weight"] == (8, 3) and "embed.weight.0" not in flat
    assert flat["layers.0.attn.in_proj.bias"] == (24,)

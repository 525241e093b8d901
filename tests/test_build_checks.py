"""build() and the configs refuse bad parameters and fields with a message naming the key
or field, the value or dtype, and what is accepted (issue 12, items 5 and 8)."""
from __future__ import annotations

import json
import dataclasses

import numpy as np
import pytest

import rnnflow
from rnnflow.params import map_arrays

BACKENDS = ["torch", "jax"]
CFG = rnnflow.RNNConfig(2, 3, output_size=1)


def _params(**changes):
    p = rnnflow.init_params(CFG, 0)
    for k, fn in changes.items():
        p["layers"][0][k] = fn(p["layers"][0][k])
    return p


def _nan(w):
    w = w.copy()
    w[1, 2] = np.nan
    return w


BAD = {
    "nan": (lambda: _params(weight_hh=_nan), ValueError,
            r"params\['layers\.0\.weight_hh'\] contains NaN \(1 of 9 entries, first at index \(1, 2\)\): "
            r"expected finite values"),
    "inf": (lambda: _params(bias_hh=lambda b: b - np.inf), ValueError,
            r"params\['layers\.0\.bias_hh'\] contains Inf .*expected finite"),
    "complex": (lambda: _params(weight_hh=lambda w: w + 0.5j), TypeError,
                r"params\['layers\.0\.weight_hh'\] is complex \(complex64\): expected real float32 or float64"),
    "mixed": (lambda: _params(weight_hh=lambda w: w.astype(np.float64)), ValueError,
              r"params mixes float dtypes: 'layers\.0\.weight_ih' is float32 but 'layers\.0\.weight_hh' is "
              r"float64: .*pass dtype=np\.float32 / np\.float64 to build"),
    "int": (lambda: _params(weight_ih=lambda w: np.ones(w.shape, np.int64)), TypeError,
            r"params\['layers\.0\.weight_ih'\] has dtype int64 .*expected a float32 or float64 array"),
    "list": (lambda: [np.zeros(3)], TypeError,
             r"params must be a nested dict of float arrays in RNNConfig's schema .*got list"),
    "str": (lambda: "params.npz", TypeError, r"params must be a nested dict .*got str"),
    "str-leaf": (lambda: _params(weight_hh=lambda w: "0.5"), TypeError,
                 r"params\['layers\.0\.weight_hh'\] has dtype <U3 \(str\): expected a float32 or float64 array"),
    "float16": (lambda: map_arrays(lambda a: a.astype(np.float16), rnnflow.init_params(CFG, 0)), ValueError,
                r"params are float16: expected float32 or float64 .*dtype="),
}


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("case", list(BAD))
def test_build_refuses_bad_params(case, backend):
    make, exc, msg = BAD[case]
    with pytest.raises(exc, match=msg):
        rnnflow.build(CFG, make(), backend=backend)


@pytest.mark.parametrize("backend", BACKENDS)
def test_load_params_refuses_nan(backend):
    model = rnnflow.build(CFG, backend=backend)
    mod = __import__(f"rnnflow.{backend}", fromlist=["load_params"])
    with pytest.raises(ValueError, match=r"params\['layers\.0\.weight_hh'\] contains NaN"):
        mod.load_params(model, _params(weight_hh=_nan))


@pytest.mark.parametrize("backend", BACKENDS)
def test_mixed_dtypes_with_an_explicit_dtype_are_cast(backend):
    p = _params(weight_hh=lambda w: w.astype(np.float64))
    model = rnnflow.build(CFG, p, backend=backend, dtype=np.float64)
    back = rnnflow.export_params(model)
    assert back["layers"][0]["weight_ih"].dtype == np.float64
    np.testing.assert_array_equal(back["layers"][0]["weight_hh"], p["layers"][0]["weight_hh"])
    np.testing.assert_array_equal(back["layers"][0]["weight_ih"], p["layers"][0]["weight_ih"].astype(np.float64))


def test_numpy_integers_are_accepted_and_stored_as_int():
    cfg = rnnflow.RNNConfig(np.int32(4), np.int64(8), num_layers=np.int64(2))
    assert cfg == rnnflow.RNNConfig(4, 8, num_layers=2)
    assert type(cfg.hidden_size) is int and type(cfg.input_size) is int
    json.dumps(dataclasses.asdict(cfg))                           # fields are JSON-ready
    assert rnnflow.MLPConfig(np.int64(4), np.int64(2), width=np.int16(8)).width == 8
    assert rnnflow.TransformerConfig(np.int64(3), d_model=np.int64(8), num_heads=2).d_model == 8
    assert type(rnnflow.Init("normal", std=np.float32(0.5)).std) is float
    with pytest.raises(ValueError, match=r"RNNConfig\.hidden_size=0 is invalid: expected an integer >= 1"):
        rnnflow.RNNConfig(4, np.int64(0))
    with pytest.raises(ValueError, match=r"MLPConfig\.batchnorm=.*expected True or False"):
        rnnflow.MLPConfig(4, 2, batchnorm=np.bool_(True))


@pytest.mark.parametrize("make, msg", [
    (lambda: rnnflow.RNNConfig(4, 8, init_ih=rnnflow.Init(spectral_radius=0.9)),
     r"RNNConfig\.init_ih=Init\(.*\) is invalid: expected an Init with spectral_radius=None here: it draws "
     r"layers\.0\.weight_ih \(per gate block\) of shape \(8, 4\), and a spectral radius needs square"),
    (lambda: rnnflow.LSTMConfig(4, 8, output_size=2, init_out=rnnflow.Init(spectral_radius=1.0)),
     r"LSTMConfig\.init_out=.*head\.weight of shape \(2, 8\)"),
    (lambda: rnnflow.GRUConfig(4, 8, init_bias=rnnflow.Init("normal", spectral_radius=1.0)),
     r"GRUConfig\.init_bias=.*the biases of shape \(24,\)"),
    (lambda: rnnflow.MLPConfig(4, 2, width=4, init_weight=rnnflow.Init(spectral_radius=1.0)),
     r"MLPConfig\.init_weight=.*head\.weight of shape \(2, 4\)"),
    (lambda: rnnflow.TransformerConfig(8, d_model=8, num_heads=2, init_weight=rnnflow.Init(spectral_radius=1.0)),
     r"TransformerConfig\.init_weight=.*layers\.0\.attn\.in_proj\.weight of shape \(24, 8\)"),
    (lambda: rnnflow.Init("normal", std=0.0, spectral_radius=0.9),
     r"Init\.std=0\.0 is invalid: expected a number > 0 with spectral_radius=0\.9"),
    (lambda: rnnflow.Init("orthogonal", gain=0.0, spectral_radius=0.9),
     r"Init\.gain=0\.0 is invalid: expected a non-zero number with spectral_radius=0\.9"),
], ids=["rnn-ih", "lstm-out", "gru-bias", "mlp", "transformer", "std0", "gain0"])
def test_spectral_radius_needs_square_non_constant_draws(make, msg):
    with pytest.raises(ValueError, match=msg):
        make()


def test_spectral_radius_where_square_still_works():
    cfg = rnnflow.RNNConfig(8, 8, init_ih=rnnflow.Init("normal", spectral_radius=0.5),
                            init_hh=rnnflow.Init("normal", spectral_radius=0.9))
    p = rnnflow.init_params(cfg, 0, np.float64)["layers"][0]
    assert np.isclose(np.abs(np.linalg.eigvals(p["weight_ih"])).max(), 0.5)
    assert np.isclose(np.abs(np.linalg.eigvals(p["weight_hh"])).max(), 0.9)


@pytest.mark.parametrize("dtype", ["banana", None, np.int32, "complex64"])
def test_init_params_dtype(dtype):
    with pytest.raises(ValueError, match=r"init_params\(dtype=.*\) is invalid: expected np\.float32 or np\.float64"):
        rnnflow.init_params(CFG, 0, dtype)

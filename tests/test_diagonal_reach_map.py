"""The chunked fast path (rnnflow.analysis.diagonal.chunked_log_spectral) against the one-shot
fast path ``jacobians_over_time(...).log_spectral``: the exact ``log ||dh_T/dh_t||_2`` profile
of a diagonal model computed in time chunks, for every diagonal cell, both backends, layer 0
(no state crosses chunks; the SSM's conv lead-in) and layer 1 (states carried)."""
import numpy as np
import pytest

import rnnflow as rf
from rnnflow.analysis import jacobians_over_time
from rnnflow.analysis.diagonal import chunked_log_spectral

BACKENDS = ("torch", "jax")
CONFIGS = {"lru": lambda: rf.LRUConfig(3, 8, 8, num_layers=2, r_min=0.5),
           "mingru": lambda: rf.MinGRUConfig(3, 8, 16, num_layers=2),
           "minlstm": lambda: rf.MinLSTMConfig(3, 8, 16, num_layers=2, norm="rmsnorm"),
           "ssm": lambda: rf.SelectiveSSMConfig(3, 8, 2, num_layers=2),
           "ssm_noconv": lambda: rf.SelectiveSSMConfig(3, 8, 2, num_layers=2, conv=False)}


def _model(kind, backend, seed=0):
    cfg = CONFIGS[kind]()
    return rf.build(cfg, rf.init_params(cfg, seed, np.float64), backend=backend)


def _layers(kind):
    return (0,) if kind == "ssm" else (0, 1)


@pytest.mark.parametrize("kind", sorted(CONFIGS))
@pytest.mark.parametrize("backend", BACKENDS)
def test_chunked_matches_one_shot_T500(kind, backend):
    """T = 500 in chunks of 64 (the last one short), float64, to 1e-10."""
    m = _model(kind, backend)
    x = np.random.default_rng(1).normal(size=(500, 2, 3))
    for layer in _layers(kind):
        ref = jacobians_over_time(m, x, layer=layer).log_spectral
        got = chunked_log_spectral(m, x, layer=layer, chunk=64)
        assert got.shape == ref.shape == (2, 500)
        assert ref[:, 0].max() < -0.5                # the sums have decayed: really tested
        np.testing.assert_allclose(got, ref, rtol=0, atol=1e-10, err_msg=f"layer {layer}")


@pytest.mark.parametrize("kind", ["mingru", "ssm_noconv"])
@pytest.mark.parametrize("backend", BACKENDS)
def test_chunked_carries_h0_and_any_chunk_size(kind, backend):
    m = _model(kind, backend, seed=3)
    cfg = m.config
    x = np.random.default_rng(2).normal(size=(70, 1, 3))
    h0 = np.random.default_rng(3).normal(size=(cfg.num_layers, 1, cfg.state_width))
    ref = jacobians_over_time(m, x, h0, layer=1).log_spectral
    for chunk in (1, 7, 70, 1000):
        got = chunked_log_spectral(m, x, h0, layer=1, chunk=chunk)
        np.testing.assert_allclose(got, ref, rtol=0, atol=1e-10, err_msg=f"chunk={chunk}")


@pytest.mark.parametrize("backend", BACKENDS)
def test_chunked_from_config(backend):
    cfg = CONFIGS["lru"]()
    params = rf.init_params(cfg, 0, np.float64)
    x = np.random.default_rng(0).normal(size=(40, 1, 3))
    ref = jacobians_over_time(cfg, x, params=params, backend=backend).log_spectral
    got = chunked_log_spectral(cfg, x, params=params, backend=backend, chunk=16)
    np.testing.assert_allclose(got, ref, rtol=0, atol=1e-10)


def test_chunked_refusals():
    x = np.zeros((10, 1, 3))
    with pytest.raises(ValueError, match="layer 1 of a selective SSM with conv=True"):
        chunked_log_spectral(_model("ssm", "torch"), x, layer=1)
    with pytest.raises(ValueError, match="chunk=0 is invalid"):
        chunked_log_spectral(_model("mingru", "torch"), x, chunk=0)
    cfg = rf.RNNConfig(3, 4)
    rnn = rf.build(cfg, rf.init_params(cfg, 0, np.float64), backend="torch")
    with pytest.raises(ValueError, match="needs a diagonal model"):
        chunked_log_spectral(rnn, x)
    with pytest.raises(ValueError, match="layer=2 is invalid"):
        chunked_log_spectral(_model("mingru", "torch"), x, layer=2)


def test_chunked_names_the_last_bad_step():
    x = np.random.default_rng(0).normal(size=(60, 1, 3))
    x[5] = x[37] = np.nan
    with pytest.raises(ValueError, match=r"last at step t=38 \(input xs\[37\]\)"):
        chunked_log_spectral(_model("mingru", "torch"), x, chunk=16)

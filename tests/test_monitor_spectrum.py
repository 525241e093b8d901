"""The monitor's spectrum record (rnnflow.training.spectrum): recorded eigenvalues and sigma_max
against numpy.linalg on the checkpointed parameters, Lyapunov exponents against a direct
lyapunov_spectrum call on the same probe, torch against jax, resume against an uninterrupted
run, and the errors, which name the field."""
from __future__ import annotations

import importlib
import inspect

import numpy as np
import pytest

import rnnflow
from rnnflow.analysis import lyapunov_spectrum
from rnnflow.analysis.timescales import lru_eigenvalues
from rnnflow.training import GradientHistory, ResultsDir, TrainConfig, copy_data
from rnnflow.training.spectrum import SpectrumSettings, probe_inputs

BACKENDS = ("torch", "jax")
RNN = rnnflow.RNNConfig(6, 7, output_size=6)
LSTM = rnnflow.LSTMConfig(6, 5, output_size=6)
GRU = rnnflow.GRUConfig(6, 5, output_size=6)
LRU = rnnflow.LRUConfig(6, 4, 5, output_size=6)
MINGRU = rnnflow.MinGRUConfig(6, 4, 5, output_size=6)
SETTINGS = SpectrumSettings(k=3, probe_batch=2, warmup=3)
STEPS, EVERY = 6, 2


def data():
    return copy_data(6, 4, n_symbols=4, n_copy=2, dtype=np.float64)   # T = 10, B = 4, I = 6


def train_config(**kw):
    kw = {"steps": STEPS, "batch_size": 4, "loss": "xent_all", "optimizer": "adam", "lr": 0.05,
          "hist_every": EVERY, "dtype": "float64", **kw}
    return TrainConfig(**kw)


def monitor(backend, spectrum=SETTINGS):
    return importlib.import_module(f"rnnflow.{backend}").GradientMonitor(spectrum=spectrum)


def fit(backend, config, out_dir=None, **kw):
    return rnnflow.train(config, None, data(), train_config(**kw), backend=backend, progress=False,
                         monitor=monitor(backend), out_dir=out_dir)


def params_at(folder, result, step):
    """The flat params after ``step`` steps: the initial ones, a checkpoint's, or the final ones."""
    if step == 0:
        return rnnflow.params.flatten(rnnflow.init_params(result.model_config, 0, np.float64))
    ckpt = ResultsDir(folder).load_checkpoint(step)
    return ckpt.params


def same_set(a, b, tol):
    """Every value of ``a`` within ``tol`` of one of ``b`` and back (order-free)."""
    d = np.abs(np.asarray(a)[:, None] - np.asarray(b)[None, :])
    return d.min(axis=1).max() < tol and d.min(axis=0).max() < tol


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("config", [RNN, LSTM, GRU], ids=["rnn", "lstm", "gru"])
def test_records_equal_numpy_and_lyapunov_on_the_checkpointed_params(backend, config, tmp_path):
    r = fit(backend, config, out_dir=tmp_path, checkpoint_every=EVERY, keep_checkpoints=10)
    sp = r.gradients.spectrum
    assert sp.epoch.tolist() == [0, 1, 2, 3] and sp.iteration.tolist() == [0, 2, 4, 6]
    gates = {rnnflow.RNNConfig: 1, rnnflow.LSTMConfig: 4, rnnflow.GRUConfig: 3}[type(config)]
    H = config.hidden_size
    assert sp.eigenvalues.shape == (4, gates, H) and sp.lyapunov.shape == (4, 1, 2, 3)
    probe = probe_inputs(data(), SETTINGS, np.float64)
    for i, step in enumerate(sp.iteration):
        flat = params_at(tmp_path, r, int(step))
        W = flat["layers.0.weight_hh"]
        for j in range(gates):
            block = W[j * H:(j + 1) * H]
            lam = np.linalg.eigvals(block)
            assert same_set(sp.eigenvalues[i, j], lam, 1e-10)
            np.testing.assert_allclose(sp.spectral_radius[i, j], np.abs(lam).max(), rtol=1e-12)
            np.testing.assert_allclose(sp.sigma_max[i, j], np.linalg.norm(block, 2), rtol=1e-12)
        direct = lyapunov_spectrum(config, probe, params=rnnflow.params.unflatten(flat, config), k=3, warmup=3,
                                   backend=backend)
        np.testing.assert_allclose(sp.lyapunov[i, 0], direct.exponents, rtol=1e-10, atol=1e-12)
    assert not np.allclose(sp.eigenvalues[0], sp.eigenvalues[-1])      # training moved them
    # the results folder holds the same records (gradients.npz, spectrum/*)
    back = GradientHistory.load(tmp_path).spectrum
    np.testing.assert_array_equal(back.eigenvalues, sp.eigenvalues)
    assert back.matrices == sp.matrices and back.settings == SETTINGS.to_dict()
    rows = (tmp_path / "gradient_spectrum.csv").read_text().splitlines()
    assert rows[0] == "epoch,iteration,name,quantity,value" and len(rows) == 1 + 4 * (2 * gates + 3)
    last = [r.split(",") for r in rows if r.startswith("3,6,")]
    assert float(next(r[4] for r in last if r[3] == "sigma_max")) == sp.sigma_max[-1, 0]
    assert float(next(r[4] for r in last if r[3] == "lyapunov_1")) == pytest.approx(sp.lambda_max[-1, 0], rel=1e-15)
    assert rnnflow.training.load_result(tmp_path).gradients.spectrum.epoch.tolist() == [0, 1, 2, 3]


def test_lru_records_its_lambda():
    r = fit("torch", LRU)
    sp = r.gradients.spectrum
    lam = lru_eigenvalues(r.params)[0]
    assert same_set(sp.eigenvalues[-1, 0], lam, 1e-12)
    np.testing.assert_allclose(sp.sigma_max[-1, 0], np.abs(lam).max(), rtol=1e-12)
    # a diagonal layer's exponents are the time means of log|lambda| (complex units: twice each)
    np.testing.assert_allclose(sp.lyapunov[-1, 0, 0], np.sort(np.log(np.abs(lam)))[::-1][[0, 0, 1]], rtol=1e-10)


@pytest.mark.parametrize("config", [RNN, LSTM, MINGRU], ids=["rnn", "lstm", "mingru"])
def test_torch_and_jax_records_agree(config):
    t, j = (fit(b, config).gradients.spectrum for b in BACKENDS)
    for name in ("spectral_radius", "sigma_max", "lyapunov"):
        np.testing.assert_allclose(getattr(t, name), getattr(j, name), rtol=1e-9, atol=1e-11, err_msg=name)
    np.testing.assert_allclose(t.eigenvalues, j.eigenvalues, atol=1e-9)


def test_input_dependent_decay_records_its_effective_lambda():
    """minGRU: lambda_i = exp(mean_t log a_t,i), whose logs, sorted, are the exponents of a
    one-sequence probe (k = S: all of them), from the trained params by a direct call."""
    S = MINGRU.state_width
    mon = monitor("torch", SpectrumSettings(k=S, probe_batch=1, warmup=3))
    r = rnnflow.train(MINGRU, None, data(), train_config(), backend="torch", progress=False, monitor=mon)
    sp = r.gradients.spectrum
    probe = probe_inputs(data(), SpectrumSettings(probe_batch=1), np.float64)
    direct = lyapunov_spectrum(MINGRU, probe, params=r.params, k=S, warmup=3, backend="torch").exponents[0]
    np.testing.assert_allclose(np.log(np.abs(sp.eigenvalues[-1, 0])), direct, rtol=1e-10, atol=1e-13)
    np.testing.assert_allclose(sp.lyapunov[-1, 0, 0], direct, rtol=1e-10, atol=1e-13)
    assert np.all(np.abs(sp.eigenvalues) < 1)                          # a gated decay contracts


@pytest.mark.parametrize("backend", BACKENDS)
def test_resume_gives_the_uninterrupted_records(backend, tmp_path):
    whole = fit(backend, RNN).gradients.spectrum
    fit(backend, RNN, out_dir=tmp_path, steps=4, checkpoint_every=EVERY)         # "interrupted" after 4 steps
    resumed = fit(backend, RNN, out_dir=tmp_path, checkpoint_every=EVERY)
    assert resumed.resumed_from == 4
    sp = resumed.gradients.spectrum
    assert sp.epoch.tolist() == whole.epoch.tolist()
    for name in ("eigenvalues", "spectral_radius", "sigma_max", "lyapunov"):
        np.testing.assert_allclose(getattr(sp, name), getattr(whole, name), rtol=1e-12, atol=1e-14, err_msg=name)
    again = fit(backend, RNN, out_dir=tmp_path, checkpoint_every=EVERY)          # finished: read back as is
    assert again.resumed_from == STEPS
    np.testing.assert_array_equal(again.gradients.spectrum.lyapunov, sp.lyapunov)


@pytest.mark.parametrize("field,value,match", [
    ("every", 0, "SpectrumSettings.every=0 is invalid: expected an integer >= 1"),
    ("k", -1, "SpectrumSettings.k=-1 is invalid: expected an integer >= 0"),
    ("probe_batch", 0, "SpectrumSettings.probe_batch=0 is invalid"),
    ("probe_length", 1, "SpectrumSettings.probe_length=1 is invalid: expected an integer >= 2"),
    ("seed", True, "SpectrumSettings.seed=True is invalid"),
])
def test_settings_name_the_bad_field(field, value, match):
    with pytest.raises(ValueError, match=match):
        SpectrumSettings(**{field: value})
    with pytest.raises(ValueError, match=r"SpectrumSettings.warmup=5 is invalid: expected an integer in \[0, "
                                         r"probe_length=5\)"):
        SpectrumSettings(probe_length=5, warmup=5)


@pytest.mark.parametrize("backend", BACKENDS)
def test_bad_input_against_the_model_and_data_names_the_field(backend):
    def run(config=RNN, spectrum=SETTINGS, **kw):
        mon = monitor(backend, spectrum)
        return rnnflow.train(config, None, data(), train_config(**kw), backend=backend, progress=False, monitor=mon)
    with pytest.raises(ValueError, match=r"SpectrumSettings.k=8 is invalid: expected an integer in \[0, N=7\], the "
                                         "state size of a layer of this RNNConfig"):
        run(spectrum=SpectrumSettings(k=8))
    with pytest.raises(ValueError, match=r"SpectrumSettings.k=11 is invalid: expected an integer in \[0, N=10\].*"
                                         r"\(h and c: 2H\)"):
        run(config=LSTM, spectrum=SpectrumSettings(k=11))
    with pytest.raises(ValueError, match="SpectrumSettings.probe_batch=5 is invalid: expected at most the data's "
                                         "batch size B=4"):
        run(spectrum=SpectrumSettings(probe_batch=5))
    with pytest.raises(ValueError, match="SpectrumSettings.probe_length=11 is invalid: expected None or at most "
                                         "the data's sequence length T=10"):
        run(spectrum=SpectrumSettings(probe_length=11))
    with pytest.raises(ValueError, match=r"SpectrumSettings.warmup=10 is invalid: expected None or an integer in "
                                         r"\[0, T=10\)"):
        run(spectrum=SpectrumSettings(warmup=10))
    with pytest.raises(ValueError, match="TrainConfig.hist_every=0 is invalid with a monitor's spectrum record"):
        run(hist_every=0)
    with pytest.raises(ValueError, match=r"GradientMonitor.spectrum='yes' is invalid: expected None, True"):
        monitor(backend, "yes")
    mlp = rnnflow.MLPConfig(input_size=6, output_size=6)
    with pytest.raises(TypeError, match="spectrum record needs a recurrent model .* got MLPConfig"):
        monitor(backend).bind_model(mlp, np.zeros((3, 1, 6)))


def test_own_loop_epoch_end_needs_the_params_when_a_record_is_due():
    mon = monitor("jax", SpectrumSettings(every=2))
    mon.record(grads={"w": np.ones(3)}, loss=1.0)
    assert not mon.spectrum_due()
    mon.epoch_end()                        # epoch 1: no record due
    assert mon.spectrum_due()
    with pytest.raises(ValueError, match=r"this epoch ends with a spectrum record \(SpectrumSettings.every=2\): "
                                         r"pass epoch_end\(params=...\)"):
        mon.epoch_end()
    with pytest.raises(ValueError, match="this monitor has no spectrum record"):
        monitor("jax", None).record_spectrum({})


def test_monitors_take_the_same_arguments():
    def args(backend):
        cls = importlib.import_module(f"rnnflow.{backend}").GradientMonitor
        return [(p.name, p.kind, p.default) for p in inspect.signature(cls).parameters.values() if p.name != "module"]
    assert args("torch") == args("jax") and ("spectrum", inspect.Parameter.KEYWORD_ONLY, None) in args("jax")

"""The status a training run ends with says whether its loss or gradients blew up (issue 11)."""
from __future__ import annotations

import functools
import json

import numpy as np
import pytest

import rnnflow
from rnnflow.training import TrainConfig, adding_data, load_result

TRAIN = {b: functools.partial(rnnflow.train, backend=b) for b in ("torch", "jax")}
RNN = rnnflow.RNNConfig(input_size=2, hidden_size=6, output_size=1)
F64 = dict(dtype="float64", batch_size=4)


def _scaled_from(step0, scale):
    """Adding-problem data whose targets are ``scale`` times larger from ``step0`` on."""
    data = adding_data(6, 4, dtype=np.float64)
    return lambda step, rng: (lambda x, y: (x, y * (scale if step >= step0 else 1.0)))(*data(step, rng))


@pytest.mark.parametrize("backend", ["torch", "jax"])
def test_relu_blow_up_ends_non_finite_not_finished(backend, tmp_path):
    """The user's repro: ReLU, spectral radius 3, lr 0.5; the blown-up steps are skipped
    (params stay finite) and the status says non-finite, naming the first such step."""
    cfg_m = rnnflow.RNNConfig(input_size=2, hidden_size=16, output_size=1, activation="relu",
                              init_hh=rnnflow.Init("orthogonal", spectral_radius=3.0))
    cfg = TrainConfig(optimizer="sgd", lr=0.5, steps=12, batch_size=8, dtype="float64")
    r = TRAIN[backend](cfg_m, None, adding_data(20, 8, dtype=np.float64), cfg, progress=False, out_dir=tmp_path)
    m = r.metrics
    bad = ~(np.isfinite(m.loss) & np.isfinite(m.grad_norm))
    assert bad.any() and r.status == "non-finite"
    first = int(np.flatnonzero(bad)[0])
    assert r.first_nonfinite_step == first
    assert m.skipped[bad].all() and all(np.isfinite(v).all() for v in rnnflow.flatten(r.params).values())
    assert r.describe().startswith(f"non-finite: non-finite loss at step {first}")
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert summary["outcome"] == "non-finite" and summary["first_nonfinite_step"] == first
    assert summary["status"] == "finished"  # the lifecycle word the results folder reads back
    loaded = load_result(tmp_path)       # verifies the manifest: summary.json was written once, before it
    assert loaded.first_nonfinite_step == first and loaded.status == "non-finite"
    again = TRAIN[backend](cfg_m, None, lambda s, g: pytest.fail("recomputed"), cfg, progress=False, out_dir=tmp_path)
    assert again.status == "non-finite" and again.resumed_from == 12


@pytest.mark.parametrize("backend", ["torch", "jax"])
def test_loss_grown_a_million_fold_ends_diverged(backend, tmp_path):
    """Targets x 1e4 from step 3 on: the loss grows ~1e8-fold but stays finite."""
    cfg = TrainConfig(optimizer="sgd", lr=1e-12, steps=6, **F64)
    r = TRAIN[backend](RNN, rnnflow.init_params(RNN, 0, np.float64), _scaled_from(3, 1e4), cfg,
                       progress=False, out_dir=tmp_path)
    loss = r.metrics.loss
    assert np.isfinite(loss).all() and not r.events
    assert (loss[:3] < 1e6 * loss[0]).all() and (loss[3:] > 1e6 * loss[0]).all()
    assert r.status == "diverged" and r.first_diverged_step == 3 and r.first_nonfinite_step is None
    assert "at step 3" in r.describe()
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert summary["outcome"] == "diverged" and summary["first_diverged_step"] == 3


@pytest.mark.parametrize("backend", ["torch", "jax"])
def test_healthy_and_stopped_runs_keep_their_status(backend):
    cfg = TrainConfig(optimizer="adam", lr=0.01, steps=4, **F64)
    p = rnnflow.init_params(RNN, 0, np.float64)
    r = TRAIN[backend](RNN, p, _scaled_from(2, 10.0), cfg, progress=False)  # grows 100x: not diverged
    assert r.status == "finished" and r.describe() == "finished"
    stop = TRAIN[backend](RNN, p, _scaled_from(2, 1e200), cfg.replace(nonfinite="stop"), progress=False)
    assert stop.status == "stopped" and stop.first_nonfinite_step == 2

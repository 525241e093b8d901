"""The copy_spectra study: a smoke run in both backends (figures, summary, reuse), its headline
numbers against its own arrays, and its settings' errors."""
from __future__ import annotations

import dataclasses
import os

import numpy as np
import pytest

from rnnflow import studies
from rnnflow.studies import copy_spectra
from rnnflow.tasks import copy_baseline

from ._helpers import flat_numbers


def test_copy_spectra_smoke_both_backends(tmp_path):
    results = {}
    for backend in ("torch", "jax"):
        r = studies.run("copy_spectra", backend=backend, scale="smoke", out=str(tmp_path), progress=False)
        assert not r.reused and [os.path.basename(p) for p in r.figures] == \
            ["eigenvalues.png", "spectrum_trace.png", "loss.png"]
        for png in r.figures:
            assert os.path.getsize(png) > 5000 and os.path.getsize(png[:-3] + "svg") > 5000
        s = r.summary
        assert s["baseline_loss"] == pytest.approx(copy_baseline(10, n_symbols=4, n_copy=3))
        data = np.load(os.path.join(r.folder, "data.npz"))
        for name, key in (("tanh RNN", "tanh_RNN"), ("LSTM", "LSTM")):
            assert s[name]["status"] == "finished"
            epochs = data[f"{key}/epoch"]
            assert epochs.tolist() == list(range(7))             # init + 60 steps / 10 per epoch
            radius = data[f"{key}/spectral_radius"]
            first = next(m for m in s[name] if m.startswith("layers."))
            assert s[name][first]["spectral_radius_init"] == pytest.approx(radius[0, 0])
            assert s[name][first]["spectral_radius_init"] == pytest.approx(1.0, abs=1e-5)   # orthogonal init
            lyap = data[f"{key}/lyapunov"]                       # (R, L, P, k)
            assert lyap.shape == (7, 1, 2, 4)
            assert s[name]["lambda_max_final"] == pytest.approx(lyap[-1, 0, :, 0].mean())
        results[backend] = flat_numbers(r.summary)
    assert results["torch"].keys() == results["jax"].keys()
    # before training both backends record the same parameters: float32 rounding only
    for k in [k for k in results["torch"] if k.endswith("_init")]:
        assert results["torch"][k] == pytest.approx(results["jax"][k], rel=1e-5, abs=1e-6), k
    again = studies.run("copy_spectra", backend="torch", scale="smoke", out=str(tmp_path), progress=False)
    assert again.reused and flat_numbers(again.summary) == results["torch"]


@pytest.mark.parametrize("field,value,message", [
    ("delay", 0, r"copy_spectra\.Settings\.delay=0 is invalid: expected an integer >= 1"),
    ("steps", 0, r"copy_spectra\.Settings\.steps=0 is invalid: expected an integer >= 1"),
    ("k", 17, r"copy_spectra\.Settings\.k=17 is invalid: expected an integer in \[0, hidden=16\]"),
    ("probe_batch", 17, r"copy_spectra\.Settings\.probe_batch=17 is invalid: expected an integer in \[1, batch=16\]"),
    ("lr", 0.0, r"copy_spectra\.Settings\.lr=0\.0 is invalid"),
])
def test_copy_spectra_settings_name_the_bad_field(field, value, message):
    with pytest.raises(ValueError, match=message):
        dataclasses.replace(copy_spectra.SCALES["smoke"], **{field: value})

"""The training studies (clipping, activations, init_stall, long_range) at smoke scale in both
backends: files written, resume without recomputing, the effects each study exists to show,
and the same first losses in torch and JAX."""
import json
import math
import os

import numpy as np
import pytest

from rnnflow import studies
from rnnflow.studies import clipping, init_stall, long_range
from rnnflow.tasks import ADDING_BASELINE_MSE

TRAINING_STUDIES = ("clipping", "activations", "init_stall", "long_range")
BACKENDS = ("torch", "jax")


@pytest.fixture(scope="module")
def smoke(tmp_path_factory):
    """``smoke(name, backend)``: the study's first smoke run (computed once per module)."""
    out = str(tmp_path_factory.mktemp("training_studies"))
    done = {}

    def get(name, backend):
        if (name, backend) not in done:
            done[name, backend] = studies.run(name, backend=backend, scale="smoke", out=out, progress=False)
        return done[name, backend]
    get.out = out
    return get


def _arrays(result):
    with np.load(os.path.join(result.folder, "data.npz")) as z:
        return {k: z[k] for k in z.files}


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("name", TRAINING_STUDIES)
def test_smoke_run_writes_its_files_and_resumes(smoke, name, backend):
    r = smoke(name, backend)
    assert not r.reused and len(r.figures) >= 2
    for png in r.figures:
        assert os.path.getsize(png) > 5000, png
        assert os.path.getsize(png[:-3] + "svg") > 5000, png
    summary_path = os.path.join(r.folder, "summary.json")
    with open(summary_path) as f:
        saved = json.load(f)
    assert saved["status"] == "complete" and saved["backend"] == backend and saved["study"] == name
    assert os.path.getsize(os.path.join(r.folder, "data.npz")) > 0
    stamp = os.stat(summary_path).st_mtime_ns
    again = studies.run(name, backend=backend, scale="smoke", out=smoke.out, progress=False)
    assert again.reused and again.seconds == r.seconds and again.figures == r.figures
    assert os.stat(summary_path).st_mtime_ns == stamp  # nothing rewritten
    assert json.dumps(again.summary, sort_keys=True) == json.dumps(saved["results"], sort_keys=True)


@pytest.mark.parametrize("name", TRAINING_STUDIES)
def test_torch_and_jax_start_from_the_same_losses(smoke, name):
    torch_arrays, jax_arrays = _arrays(smoke(name, "torch")), _arrays(smoke(name, "jax"))
    keys = sorted(k for k in torch_arrays if k.endswith("/loss"))
    assert keys and keys == sorted(k for k in jax_arrays if k.endswith("/loss"))
    for k in keys:  # float32 training: the first steps agree to rounding
        np.testing.assert_allclose(torch_arrays[k][:3], jax_arrays[k][:3], rtol=2e-4, err_msg=k)


@pytest.mark.parametrize("backend", BACKENDS)
def test_init_stall_shows_the_stall_and_each_fix(smoke, backend):
    s = smoke("init_stall", backend).summary
    stall = s["N(1,1), sigmoid"]
    assert stall["stalled"]
    assert stall["median_grad_norm_first_layer"] == 0.0           # saturated sigmoid: exactly zero
    assert stall["loss_final_epoch"] > 0.95 * math.log(10)         # no better than ignoring the input
    assert abs(stall["relative_drop_second_half"]) < 0.01
    assert stall["test_accuracy"] < 0.2
    for fix in ("Xavier, sigmoid", "He, ReLU", "N(1,1), sigmoid + BN"):
        row = s[fix]
        assert not row["stalled"], fix
        assert row["loss_final_epoch"] < 0.2 * math.log(10), fix
        assert row["relative_drop_second_half"] > 0.2, fix
        assert row["test_accuracy"] > 0.8, fix
    assert not s["N(1,1), ReLU"]["stalled"]


def test_stall_criterion():
    ln10 = math.log(10)
    assert init_stall.stalled(12.0, 2.31, 2.305)
    assert not init_stall.stalled(2.3, 1.0, 0.5)          # keeps falling
    assert not init_stall.stalled(2.3, 0.5, 0.49)         # flat, but learnt
    assert init_stall.stalled(ln10, ln10, ln10)
    assert init_stall.epoch_means(np.arange(7.0), 3).tolist() == [1.0, 4.0]


@pytest.mark.parametrize("backend", BACKENDS)
def test_clipping_bounds_the_update_that_unclipped_runs_exceed(smoke, backend):
    r = smoke("clipping", backend)
    a = _arrays(r)
    seeds = range(clipping.SCALES["smoke"].seeds)
    n_params = sum(int(np.prod(v.shape)) for v in _flat_params().values())
    for s in seeds:
        post = a[f"norm/seed{s}/grad_norm_clipped"]
        assert not a[f"norm/seed{s}/skipped"].any()
        assert np.all(post <= clipping.CLIP_NORM * (1 + 1e-6)), post.max()
        # value clipping bounds each entry, so the norm by c sqrt(n)
        assert np.all(a[f"value/seed{s}/grad_norm_clipped"] <= clipping.CLIP_VALUE * math.sqrt(n_params) * (1 + 1e-6))
    pre_none = np.concatenate([a[f"none/seed{s}/grad_norm"] for s in seeds])
    assert np.nanmax(pre_none) > clipping.CLIP_NORM            # clipping had something to clip
    pre_norm = np.concatenate([a[f"norm/seed{s}/grad_norm"] for s in seeds])
    assert np.nanmax(pre_norm) > clipping.CLIP_NORM            # ... and did clip
    assert r.summary["norm"]["max_grad_norm_after_clipping"] <= clipping.CLIP_NORM * (1 + 1e-6)
    assert r.summary["none"]["max_grad_norm"] > clipping.CLIP_NORM
    cliff = r.summary["cliff"]
    free, clipped = cliff["no clipping"], cliff["norm clipping (c = 1)"]
    assert clipped["max_step"] <= cliff["lr"] * clipping.CLIFF["threshold"] + 1e-12
    assert free["max_step"] > 10 * clipped["max_step"]          # thrown off the wall
    assert clipped["final_error"] < 1e-3 < free["final_error"]


def _flat_params():
    from rnnflow.params import flatten, init_params
    s = clipping.SCALES["smoke"]
    return flatten(init_params(clipping.model_config(s.hidden, s.rho), 0))


def test_divergence_and_spike_definitions():
    n = 100
    calm = np.full(n, 0.03)
    assert clipping.summarise(calm, 0) == {"final_loss": pytest.approx(0.03), "spikes": 0,
                                           "nonfinite_events": 0, "diverged": False}
    assert clipping.summarise(calm, 1)["diverged"]                    # a non-finite step
    high = calm.copy()
    high[-10:] = 2.5 * ADDING_BASELINE_MSE
    assert clipping.summarise(high, 0)["diverged"]                    # ends worse than 2x baseline
    spiky = calm.copy()
    spiky[5] = spiky[50] = 20 * ADDING_BASELINE_MSE                   # the first 10% are not counted
    spiky[60] = np.inf
    out = clipping.summarise(spiky, 0)
    assert out["spikes"] == 2 and not out["diverged"]
    blown = calm.copy()
    blown[-1] = np.inf
    assert clipping.summarise(blown, 0)["diverged"]


@pytest.mark.parametrize("backend", BACKENDS)
def test_activations_sigmoid_gradient_vanishes_toward_the_input(smoke, backend):
    s = smoke("activations", backend).summary
    assert set(s) == set(studies.get("activations").ACTIVATIONS)
    sig = s["Sigmoid"]["grad_ratio_first_over_last_median"]
    for other in ("ReLU", "Leaky ReLU", "ELU", "GELU", "Swish"):
        assert sig < 0.2 * s[other]["grad_ratio_first_over_last_median"], other


@pytest.mark.parametrize("backend", BACKENDS)
def test_long_range_reports_every_architecture_and_length(smoke, backend):
    s = smoke("long_range", backend).summary
    lengths = long_range.SCALES["smoke"].lengths
    for arch in long_range.LR:
        row = s[arch]
        assert row["longest_T_solved"] in (None, *lengths)
        for T in lengths:
            assert 0.0 <= row[f"T={T}"]["solved_rate"] <= 1.0
    assert s["criterion"]["solved_rate_at_least"] == long_range.SOLVED_RATE


def test_fixed_length_adding_keeps_markers_and_target():
    for T in (5, 10, 37, 100):
        x, y = long_range.fixed_length_adding(T, 64)(0, np.random.default_rng(T))
        assert x.shape == (T, 64, 2) and y.shape == (64, 1)
        assert np.all(x[:, :, 1].sum(axis=0) == 2)
        marked = np.where(x[:, :, 1] == 1, x[:, :, 0], 0.0).sum(axis=0) / 2
        np.testing.assert_allclose(marked, y[:, 0], rtol=1e-6)
    assert long_range.longest_solved({10: 1.0, 50: 0.95, 100: 0.6}) == 50
    assert long_range.longest_solved({10: 0.7}) is None

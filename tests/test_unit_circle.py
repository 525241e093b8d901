"""The unit_circle study's pieces: LRU eigenvalues and timescales from the parameters, the reach
crossing, the matched parameter counts, the reach of a time-invariant LRU against its closed form
``log ||dh_T/dh_t||_2 = gap * max_i log|lambda_i|``, and its figures."""
import math

import numpy as np
import pytest

import rnnflow as rf
from rnnflow.analysis.timescales import LN_1E6, crossing_gap, decades_per_step, lru_eigenvalues, timescales
from rnnflow.plotting.unit_circle import plot_eigenvalues, plot_state_reach, plot_timescales
from rnnflow.studies import unit_circle
from rnnflow.studies._common import StudyContext


def test_lru_eigenvalues_are_on_the_configured_ring():
    cfg = rf.LRUConfig(2, 4, 200, num_layers=2, r_min=0.9, r_max=0.99, max_phase=math.pi / 4)
    lams = lru_eigenvalues(rf.init_params(cfg, 0))
    assert len(lams) == 2 and all(l.shape == (200,) for l in lams)
    for lam in lams:
        assert (np.abs(lam) >= 0.9 - 1e-12).all() and (np.abs(lam) <= 0.99 + 1e-12).all()
        assert (np.angle(lam) >= 0).all() and (np.angle(lam) <= math.pi / 4 + 1e-12).all()
    with pytest.raises(ValueError, match="not an LRU parameter dict"):
        lru_eigenvalues(rf.init_params(rf.MinGRUConfig(2, 4, 3), 0))


def test_timescales_closed_form_and_errors():
    lam = np.array([math.exp(-1 / 10), math.exp(-1 / 1000), 1.0])
    np.testing.assert_allclose(timescales(np.log(lam)), [10.0, 1000.0, np.inf], rtol=1e-12)
    with pytest.raises(ValueError, match="<= 0"):
        timescales([0.1])


def test_crossing_gap_and_slope():
    gap = np.arange(1, 101)
    ln = gap * math.log(0.5)                       # 0.5^gap: below 1e-6 from gap 20 (0.5^20 = 9.5e-7)
    assert crossing_gap(gap, ln) == 20
    assert crossing_gap(gap[::-1], ln[::-1]) == 20  # order does not matter
    assert crossing_gap(gap, np.zeros(100)) is None
    assert crossing_gap(gap, np.where(gap > 5, -np.inf, 0.0)) == 6
    np.testing.assert_allclose(decades_per_step(gap, ln), math.log10(0.5), rtol=1e-12)
    assert LN_1E6 == pytest.approx(math.log(1e-6))


def test_architectures_match_the_parameter_count():
    s = unit_circle.SCALES["docs"]
    archs = unit_circle.architectures(s)
    assert set(archs) == set(unit_circle.LR)
    for label, cfg in archs.items():
        n = unit_circle.count_params(cfg)
        assert abs(n - s.params) / s.params < 0.1, (label, n)
    assert unit_circle.count_params(rf.RNNConfig(2, 3, output_size=1)) == 3 * 2 + 3 * 3 + 3 + 3 + 3 + 1


@pytest.mark.parametrize("backend", ["torch", "jax"])
def test_reach_of_an_lru_is_its_slowest_eigenvalue_times_the_gap(backend, tmp_path):
    """A time-invariant LRU: J(t) = diag(lambda)^gap, so log ||J||_2 = gap * max_i log|lambda_i|."""
    cfg = rf.LRUConfig(2, 4, 6, output_size=1, r_min=0.5, r_max=0.9)
    ctx = StudyContext("unit_circle", backend, 0, "smoke", str(tmp_path), unit_circle.SCALES["smoke"], progress=False)
    gap, ln = unit_circle.reach(ctx, cfg, 400)
    lam = lru_eigenvalues(rf.init_params(cfg, seed=0, dtype=np.float64))[0]
    want = gap * np.log(np.abs(lam)).max()
    np.testing.assert_allclose(ln, np.broadcast_to(want, ln.shape), rtol=1e-10, atol=1e-10)
    assert crossing_gap(gap, ln[0]) == math.ceil(LN_1E6 / np.log(np.abs(lam)).max() - 1e-9)


def test_figures(tmp_path):
    gap = np.arange(1, 1001)
    fig = plot_state_reach({"slow": (gap, np.log(0.9999) * gap[None]), "fast": (gap, np.log(0.5) * gap[None])})
    ax = fig.axes[0]
    assert ax.get_xscale() == "log" and ax.get_ylim() == (-12.0, 1.0)
    assert "gap" in ax.get_xlabel() and "partial h_T" in ax.get_ylabel()
    assert [l.get_label() for l in ax.get_lines()][:1] == ["slow"]
    assert any(l.get_marker() == "v" for l in ax.get_lines())   # the fast curve leaves through the floor
    fig.savefig(tmp_path / "reach.png")
    lam = lru_eigenvalues(rf.init_params(rf.LRUConfig(2, 4, 16, num_layers=2), 0))
    fig = plot_eigenvalues(lam, [l * 0.99 for l in lam], title="t")
    assert len(fig.axes) == 4 and [a.get_xlabel() for a in fig.axes[:2]] == [r"Re $\lambda$", r"phase $\arg\lambda$ (rad)"]
    assert fig.axes[1].get_yscale() == "log"
    fig.savefig(tmp_path / "eig.png")
    fig = plot_timescales(timescales(np.log(np.abs(lam[0]))), horizon=200)
    assert "timescale" in fig.axes[0].get_xlabel() and fig.axes[0].get_xscale() == "log"
    fig.savefig(tmp_path / "tau.png")


@pytest.mark.parametrize("backend", ["torch", "jax"])
def test_the_monitor_records_every_group_of_a_diagonal_model(backend):
    """rf.train(..., monitor=) on an LRU: one group per schema key, and the per-step norms are the
    trainer's own group norms (recorded independently in TrainResult.metrics)."""
    import importlib
    from rnnflow.training.data import adding_data
    mon = importlib.import_module(f"rnnflow.{backend}").GradientMonitor()
    cfg = rf.LRUConfig(2, 8, 6, output_size=1)
    r = rf.train(cfg, None, adding_data(20, 8), rf.TrainConfig(steps=5, batch_size=8, loss="mse_last"),
                 backend=backend, progress=False, monitor=mon)
    h = mon.history()
    assert set(h.groups) == set(rf.flatten(rf.init_params(cfg, 0)))
    norms = np.asarray(h.norm)
    assert norms.shape[0] == 5 and np.isfinite(norms).all() and (norms > 0).all()
    shared = [g for g in h.groups if g in r.metrics.group_norms]
    assert shared, (h.groups, list(r.metrics.group_norms))
    for g in shared:
        i = h.groups.index(g)
        np.testing.assert_allclose(norms[:, i], r.metrics.group_norms[g], rtol=1e-5, err_msg=g)


def test_copy_task_models_take_the_one_hot_input_and_match_the_count():
    s, K = unit_circle.SCALES["docs"], unit_circle.COPY_SYMBOLS + 2
    for label, cfg in unit_circle.architectures(s, K, K).items():
        assert cfg.input_size == K and cfg.output_size == K, label
        assert abs(unit_circle.count_params(cfg) - s.params) / s.params < 0.1, label


def test_copy_settings_are_checked():
    base = unit_circle.SCALES["smoke"]
    import dataclasses
    with pytest.raises(ValueError, match="copy_delays"):
        dataclasses.replace(base, copy_delays=(10, 5))
    with pytest.raises(ValueError, match="copy_steps"):
        dataclasses.replace(base, copy_steps=0)
    assert dataclasses.replace(base, copy_delays=[]).copy_delays == ()


def test_the_copy_part_scores_the_recalled_symbols(tmp_path):
    """A smoke run's copy rows: one accuracy per model and delay in [0, 1], the longest solved
    consistent with them, and the figure written."""
    r = rf.studies.run("unit_circle", backend="torch", out=str(tmp_path), progress=False)
    copy = r.summary["copy"]
    for label in unit_circle.LR:
        row = copy[label]
        accs = {int(k[2:]): v["accuracy"] for k, v in row.items() if k.startswith("T=")}
        assert set(accs) == set(unit_circle.SCALES["smoke"].copy_delays)
        assert all(0.0 <= a <= 1.0 for a in accs.values())
        solved = [T for T, a in accs.items() if a >= unit_circle.COPY_SOLVED]
        assert row["longest_T_solved"] == (max(solved) if solved else None)
    assert any(f.endswith("copy_vs_delay.png") for f in r.figures)

"""Plot functions return a labelled headless Figure (smoke tests)."""
from __future__ import annotations

import numpy as np
import pytest
from matplotlib.figure import Figure

import rnnflow
from rnnflow.analysis import (
    elman_decomposition, gradient_reach, gradient_through_depth, jacobians_over_time, lyapunov_spectrum,
    pascanu_bound,
)
from rnnflow.plotting import (
    plot_depth_profile, plot_elman_decomposition, plot_jacobian_norms, plot_lyapunov_spectrum, plot_reach,
)


@pytest.fixture(scope="module")
def rnn():
    cfg = rnnflow.RNNConfig(2, 6, output_size=2)
    model = rnnflow.build(cfg, rnnflow.init_params(cfg, 0, np.float64), backend="torch")
    return model, np.random.default_rng(0).standard_normal((20, 3, 2))


def _check(fig, tmp_path, name):
    assert isinstance(fig, Figure)
    ax = fig.axes[0]
    assert ax.get_xlabel() and ax.get_ylabel() and ax.get_title()
    assert "(" in ax.get_xlabel() or "index" in ax.get_xlabel()     # units or a plain index
    assert ax.get_legend() is not None and ax.get_legend().get_texts()
    fig.savefig(tmp_path / f"{name}.png")
    assert (tmp_path / f"{name}.png").stat().st_size > 1000


def test_jacobian_norms_plot(rnn, tmp_path):
    model, xs = rnn
    norms = jacobians_over_time(model, xs)
    fig = plot_jacobian_norms(norms, theory=pascanu_bound(norms.weight_hh), lyapunov=lyapunov_spectrum(model, xs, warmup=5))
    _check(fig, tmp_path, "norms")
    assert len(fig.axes[0].get_legend().get_texts()) == 3
    _check(plot_jacobian_norms(norms, which="frobenius"), tmp_path, "frob")
    with pytest.raises(ValueError, match="which="):
        plot_jacobian_norms(norms, which="nuclear")


def test_decomposition_plot(rnn, tmp_path):
    model, xs = rnn
    _check(plot_elman_decomposition(elman_decomposition(model, xs)), tmp_path, "dec")


def test_reach_plot(rnn, tmp_path):
    model, xs = rnn
    fig = plot_reach({"rnn": gradient_reach(model, xs), "rnn again": gradient_reach(model, xs)})
    _check(fig, tmp_path, "reach")
    assert [t.get_text() for t in fig.axes[0].get_legend().get_texts()] == ["rnn", "rnn again"]


def test_depth_plot(tmp_path):
    import torch
    layers = [torch.tanh, torch.sigmoid, torch.tanh]
    prof = gradient_through_depth(layers, torch.ones(4, 3, dtype=torch.float64), lambda y: y.sum(),
                                  jacobians=True, label="toy")
    _check(plot_depth_profile(prof, bounds={"toy": np.log(0.25)}), tmp_path, "depth")
    _check(plot_depth_profile([prof], jacobians=True), tmp_path, "depth_jac")
    with pytest.raises(ValueError, match="bounds"):
        plot_depth_profile(prof, bounds={"other": 0.0})


def test_lyapunov_plot_and_existing_axes(rnn, tmp_path):
    model, xs = rnn
    spec = lyapunov_spectrum(model, xs, warmup=5)
    _check(plot_lyapunov_spectrum(spec), tmp_path, "lyap")
    fig = Figure()
    ax = fig.add_subplot()
    assert plot_lyapunov_spectrum({"a": spec, "b": spec}, ax=ax) is fig


def test_plotting_does_not_import_a_framework():
    import subprocess
    import sys
    code = ("import sys, rnnflow.plotting, rnnflow.analysis; "
            "bad = [m for m in ('torch', 'jax') if m in sys.modules]; assert not bad, bad")
    subprocess.run([sys.executable, "-W", "error", "-c", code], check=True)


def test_depth_scaling_plot_fits_exponents_and_anchors_the_reference(tmp_path):
    from rnnflow.plotting import plot_depth_scaling
    L = np.array([6, 12, 24, 48])
    fig = plot_depth_scaling(L, {"flat": np.full(4, 2.0), "inv sqrt": 3.0 * L ** -0.5},
                             reference="inv sqrt", exponent=-0.5, ylabel="g (units)")
    _check(fig, tmp_path, "scaling")
    texts = [t.get_text() for t in fig.axes[0].get_legend().get_texts()]
    assert texts[:2] == ["flat (fitted exponent +0.00)", "inv sqrt (fitted exponent -0.50)"]
    ref = fig.axes[0].get_lines()[-1].get_ydata()
    np.testing.assert_allclose(ref, 3.0 * L ** -0.5, rtol=1e-12)   # through the anchor, slope -1/2
    assert fig.axes[0].get_xscale() == "log" and fig.axes[0].get_yscale() == "log"
    with pytest.raises(ValueError, match=r"depths=\[6.0, 3.0\] is invalid"):
        plot_depth_scaling([6, 3], {"a": [1.0, 1.0]})
    with pytest.raises(ValueError, match=r"values\['a'\] is invalid: expected 2 finite positive"):
        plot_depth_scaling([3, 6], {"a": [1.0, 0.0]})
    with pytest.raises(ValueError, match="reference='b' is not one of"):
        plot_depth_scaling([3, 6], {"a": [1.0, 2.0]}, reference="b")


def _fake_norms(gap, log10_values):
    """A JacobianNorms stand-in: ``log10_values`` (B, n) stored in natural log, as the analyzer does."""
    from types import SimpleNamespace
    return SimpleNamespace(gap=np.asarray(gap), log_spectral_h=np.asarray(log10_values) * np.log(10.0),
                           state_sizes=None, cell="rnn")


def test_decay_family_bounds_end_on_the_frame_and_the_band_is_explained():
    from types import SimpleNamespace
    from rnnflow.plotting import plot_decay_family
    gap = np.arange(10, 0, -1)                                   # T - t for t = 0 .. 9, as the analyzer orders it
    curve = 2.0 - 0.5 * gap + np.array([[-0.1], [0.0], [0.1]])   # B=3 sequences, log10 norms in [-3.1, 1.6]
    growing = SimpleNamespace(log_bound=lambda g: np.asarray(g, float) * np.log(10.0))  # log10 bound = gap
    fig = plot_decay_family({"a": _fake_norms(gap, curve)}, bounds={"a": growing})
    ax = fig.axes[0]
    lo, hi = ax.get_ylim()
    assert lo < -3.1 and 1.6 < hi < 3.0                          # the frame follows the measured curve
    for line in ax.get_lines():
        y = np.asarray(line.get_ydata(), float)
        assert np.all(y[np.isfinite(y)] <= hi + 1e-9), line      # nothing is drawn past the top
    dashed = [ln for ln in ax.get_lines() if ln.get_linestyle() == "--" and len(ln.get_xdata()) > 1]
    x, y = np.asarray(dashed[0].get_xdata(), float), np.asarray(dashed[0].get_ydata(), float)
    ok = np.isfinite(y)
    np.testing.assert_allclose([x[ok][-1], y[ok][-1]], [hi, hi])   # y = gap meets the top at gap = top
    assert any(ln.get_marker() == "^" and np.allclose(ln.get_xydata(), [[hi, hi]]) for ln in ax.get_lines())
    texts = [t.get_text() for t in ax.get_legend().get_texts()]
    assert any("min-max" in t and "B=3" in t and "input sequences" in t for t in texts)
    assert any("Pascanu bound" in t and "leaves the frame" in t for t in texts)


def _tick_labels(ax, axis="y"):
    """The tick labels drawn inside the view (major and minor)."""
    ax.figure.draw_without_rendering()
    a = ax.yaxis if axis == "y" else ax.xaxis
    lo, hi = sorted(a.get_view_interval())
    k = 1 if axis == "y" else 0
    return [t.get_text() for t in a.get_ticklabels(which="both")
            if t.get_text() and lo <= t.get_position()[k] <= hi]


def test_a_log_axis_spanning_less_than_a_decade_gets_plain_tick_labels():
    from rnnflow.plotting import plot_loss_curves
    step = np.arange(30)
    loss = np.linspace(2.45, 2.15, 30)
    from types import SimpleNamespace
    run = SimpleNamespace(step=step, loss=loss)
    ax = plot_loss_curves({"a": run, "b": SimpleNamespace(step=step, loss=loss * 0.98)}, logy=True).axes[0]
    assert ax.get_yscale() == "log"
    labels = _tick_labels(ax)
    assert len(labels) >= 3 and not any("10^" in s or "times" in s for s in labels), labels
    values = sorted(float(s) for s in labels)
    assert 2.1 <= values[0] and values[-1] <= 2.5
    wide = plot_loss_curves({"a": SimpleNamespace(step=step, loss=np.logspace(0, -3, 30))}, logy=True).axes[0]
    assert any("10^{-2}" in s for s in _tick_labels(wide))       # decades stay powers of ten


def test_runs_whose_curves_coincide_are_both_visible_and_named():
    from types import SimpleNamespace
    from rnnflow.plotting import plot_loss_curves
    step = np.arange(40)
    base = np.exp(-step / 20) + 0.1
    runs = {"ReLU": SimpleNamespace(step=step, loss=base), "other": SimpleNamespace(step=step, loss=base * 3),
            "Leaky ReLU": SimpleNamespace(step=step, loss=base * 1.0005)}
    ax = plot_loss_curves(runs).axes[0]
    lines = {ln.get_label(): ln for ln in ax.get_lines() if not ln.get_label().startswith("_")}
    under, over = lines["ReLU"], lines["Leaky ReLU (dashed, on ReLU)"]
    assert over.get_linestyle() != under.get_linestyle() and over.get_zorder() > under.get_zorder()
    assert under.get_linewidth() > 2 * over.get_linewidth()       # the wide one shows round the dashes
    assert lines["other"].get_linestyle() == "-"                  # a separate curve is left alone


def test_gradient_norms_shade_each_skipped_stretch_once():
    from types import SimpleNamespace
    from matplotlib.patches import Rectangle
    from rnnflow.plotting import plot_gradient_norms
    step = np.arange(30)
    skipped = np.zeros(30, bool)
    skipped[[2, 3, 4, 5, 6, 7, 15, 16]] = True                    # two stretches, eight steps
    norms = np.tile(np.linspace(1.0, 2.0, 30)[:, None], (1, 2))
    m = SimpleNamespace(step=step, skipped=skipped, groups=("a", "b"), group_norms={},
                        group_norm_matrix=lambda: norms)
    fig = plot_gradient_norms({"run": m})
    ax = fig.axes[0]
    spans = [p for p in ax.patches if isinstance(p, Rectangle)]
    assert sorted((round(p.get_x() + 0.5), round(p.get_x() + p.get_width() - 0.5)) for p in spans) == [(2, 7), (15, 16)]
    assert not [ln for ln in ax.get_lines() if len(set(ln.get_xdata())) == 1]   # no vertical line per step
    assert "skipped steps" in [t.get_text() for t in fig.legends[0].get_texts()]

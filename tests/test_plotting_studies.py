"""The figures the studies used to build by hand, now plotting functions: each returns a headless
Figure with the expected axes, labelled (units in the labels, log scales where values span decades),
and refuses malformed input with a message naming the argument."""
from __future__ import annotations

import numpy as np
import pytest
from matplotlib.figure import Figure

import rnnflow
from rnnflow.analysis import elman_decomposition
from rnnflow.plotting import plot_depth_ratio, plot_elman_decomposition_panels, plot_weight_grad_profile


def _labelled(ax):
    assert ax.get_xlabel() and ax.get_ylabel() and ax.get_title()
    assert "(" in ax.get_xlabel() and "(" in ax.get_ylabel()          # units (or what the axis counts)
    assert ax.get_legend() is not None and ax.get_legend().get_texts()


def _saves(fig, tmp_path, name):
    fig.savefig(tmp_path / f"{name}.png")
    assert (tmp_path / f"{name}.png").stat().st_size > 1000


def test_elman_decomposition_panels_draw_one_labelled_panel_per_decomposition(tmp_path):
    cfg = rnnflow.RNNConfig(2, 6)
    model = rnnflow.build(cfg, rnnflow.init_params(cfg, 0, np.float64), backend="torch")
    rng = np.random.default_rng(0)
    decs = {"small inputs": elman_decomposition(model, 0.01 * rng.standard_normal((12, 2, 2))),
            "large inputs": elman_decomposition(model, 3.0 * rng.standard_normal((12, 2, 2)))}
    fig = plot_elman_decomposition_panels(decs)
    assert isinstance(fig, Figure) and len(fig.axes) == 2
    assert [ax.get_title() for ax in fig.axes] == list(decs)
    for ax in fig.axes:
        _labelled(ax)
    _saves(fig, tmp_path, "panels")
    assert len(plot_elman_decomposition_panels({"one": decs["small inputs"]}).axes) == 1
    with pytest.raises(ValueError, match="decompositions="):
        plot_elman_decomposition_panels({})


def test_weight_grad_profile_is_a_log_plot_per_layer(tmp_path):
    norms = {"post-LN": np.array([1e-3, 1e-2, 1e-1]), "pre-LN": np.array([1e-2, 1e-2, 1e-2])}
    fig = plot_weight_grad_profile(norms, weight="fc2", title="at init")
    assert isinstance(fig, Figure) and len(fig.axes) == 1
    ax = fig.axes[0]
    _labelled(ax)
    assert ax.get_yscale() == "log" and "W^{fc2}_l" in ax.get_ylabel() and ax.get_title() == "at init"
    assert [t.get_text() for t in ax.get_legend().get_texts()] == list(norms)
    assert ax.get_lines()[0].get_xdata().tolist() == [1, 2, 3]           # layers count from 1
    assert "W_l" in plot_weight_grad_profile(norms).axes[0].get_ylabel()
    _saves(fig, tmp_path, "weights")
    with pytest.raises(ValueError, match=r"norms\['bad'\] is invalid"):
        plot_weight_grad_profile({"bad": [1.0, 0.0]})


def test_depth_ratio_is_plotted_against_depth_on_a_log_axis(tmp_path):
    depths = (2, 6, 24)
    fig = plot_depth_ratio(depths, {"post-LN": [0.1, 0.2, 0.5], "no LayerNorm": [1.0, 3.0, 9.0]}, title="ratio")
    assert isinstance(fig, Figure) and len(fig.axes) == 1
    ax = fig.axes[0]
    _labelled(ax)
    assert ax.get_xscale() == "log" and ax.get_title() == "ratio"
    assert [t.get_text() for t in ax.get_xticklabels()] == ["2", "6", "24"]
    assert any(np.all(np.asarray(line.get_ydata()) == 0.0) for line in ax.get_lines())   # even flow
    _saves(fig, tmp_path, "ratio")
    with pytest.raises(ValueError, match=r"ratios\['short'\] is invalid: expected 3 finite numbers"):
        plot_depth_ratio(depths, {"short": [0.1, 0.2]})
    with pytest.raises(ValueError, match=r"depths=\[6.0, 2.0\] is invalid"):
        plot_depth_ratio((6, 2), {"x": [0.1, 0.2]})


def test_depth_scaling_names_a_left_out_variant_and_ticks_a_sub_decade_axis_plainly():
    from rnnflow.plotting import plot_depth_scaling
    L = np.array([2, 6])
    fig = plot_depth_scaling(L, {"a": [6.3, 4.1], "b": [2.4, 1.3]}, reference="b",
                             left_out={"residual, no LayerNorm": "1e14 at L=6: off this scale"})
    ax = fig.axes[0]
    texts = [t.get_text() for t in ax.get_legend().get_texts()]
    assert any("residual, no LayerNorm" in t and "off this scale" in t and "not drawn" in t for t in texts)
    fig.draw_without_rendering()
    lo, hi = ax.get_ylim()
    shown = [t.get_text() for t in ax.get_yticklabels(which="both") if t.get_text() and lo <= t.get_position()[1] <= hi]
    assert len(shown) >= 2 and not any("10^" in s or "times" in s for s in shown), shown


def test_depth_profile_legend_says_what_the_band_is():
    from types import SimpleNamespace
    from rnnflow.plotting import plot_depth_profile
    prof = SimpleNamespace(label="toy", layer=np.arange(4), log_grad_norm=np.log([[1, 2, 3, 4], [2, 3, 4, 5.0]]),
                           log_jacobian_spectral=None)
    texts = [t.get_text() for t in plot_depth_profile({"toy": prof}).axes[0].get_legend().get_texts()]
    assert texts[0] == "toy" and any("min-max" in t and "B=2" in t for t in texts[1:])


def test_skipped_steps_are_marked_once_per_stretch_not_once_per_step():
    from types import SimpleNamespace
    from rnnflow.plotting import plot_grad_norm_trace
    step = np.arange(40)
    skipped = np.zeros(40, bool)
    skipped[[3, 4, 5, 6, 20, 21, 30]] = True                      # three stretches, seven steps
    m = SimpleNamespace(step=step, grad_norm=np.where(skipped, np.nan, 1.0 + step), grad_norm_clipped=1.0 + step,
                        skipped=skipped)
    ax = plot_grad_norm_trace({"run": m}).axes[0]
    crosses = [ln for ln in ax.get_lines() if ln.get_marker() == "x"]
    assert len(crosses) == 1 and sorted(crosses[0].get_xdata()) == [3, 20, 30]
    bars = [ln for ln in ax.get_lines() if ln.get_linewidth() >= 3]
    x = np.asarray(bars[0].get_xdata(), float)
    segments = [seg for seg in np.split(x, np.flatnonzero(np.isnan(x))) if np.isfinite(seg).any()]
    assert [tuple(seg[np.isfinite(seg)]) for seg in segments] == [(3, 6), (20, 21), (30, 30)]
    assert any("7 steps skipped" in t.get_text() for t in ax.get_legend().get_texts())


def test_cliff_colour_bar_is_labelled_at_whole_decades_only():
    from types import SimpleNamespace
    from rnnflow.plotting import plot_cliff
    W, B = np.meshgrid(np.linspace(0, 1, 20), np.linspace(0, 1, 20))
    E = 10.0 ** (-6 + 5.6 * W)                                    # 1e-6 .. ~4e-1, like the cliff
    path = SimpleNamespace(clip="none", points=np.array([[0.2, 0.2], [0.5, 0.6]]))
    fig = plot_cliff(W, B, E, {"no clipping": path})
    fig.draw_without_rendering()
    bar = [ax for ax in fig.axes if ax is not fig.axes[0]][0]
    labels = [t.get_text() for t in bar.get_yticklabels(which="both") if t.get_text()]
    assert labels == [f"$10^{{{k}}}$" for k in range(-6, 0)], labels

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

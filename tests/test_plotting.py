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

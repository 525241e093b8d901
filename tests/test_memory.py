"""Curse of memory: closed forms against autograd sums and Monte-Carlo simulation; fitted exponents."""
from __future__ import annotations

import math

import numpy as np
import pytest

from rnnflow.analysis.memory import (
    CASES, PREDICTED_EXPONENT, curse_of_memory, fit_exponent, sensitivity_mean_square, state_variance,
)


def _autograd_sums(e: float, case: str, backend: str):
    """``E h^2 = sum_k c_k^2`` and ``E (dh/dtheta)^2 = sum_k (dc_k/dtheta)^2`` for the impulse
    response ``h_T = sum_k c_k x_{T-k}``, ``c_k = a(lambda) lambda^k`` (60 time constants), with
    ``dc/dtheta`` by forward-mode autodiff (torch.func.jvp or jax.jvp, float64)."""
    if backend == "torch":
        import torch as xp
        k = xp.arange(int(60 / e), dtype=xp.float64)
        jvp = xp.func.jvp
    else:
        import jax
        import jax.numpy as xp
        k = xp.arange(int(60 / e), dtype=xp.float64)
        jvp = jax.jvp

    def coefficients(theta):                                            # (K,)
        lam = xp.exp(-xp.exp(theta)) if case.startswith("exp") else theta
        a = xp.sqrt(1 - lam ** 2) if case.endswith("normalized") else xp.ones_like(lam)
        return a * lam ** k
    lam0 = 1.0 - e
    theta = xp.asarray(math.log(-math.log(lam0)) if case.startswith("exp") else lam0, dtype=xp.float64)
    c, dc = jvp(coefficients, (theta,), (xp.ones_like(theta),))
    return float((c ** 2).sum()), float((dc ** 2).sum())


@pytest.mark.parametrize("backend", ["torch", "jax"])
@pytest.mark.parametrize("case", CASES)
@pytest.mark.parametrize("e", [0.3, 0.05, 0.002])
def test_closed_forms_match_autodiff_of_the_impulse_response(case, e, backend):
    var, sens = _autograd_sums(e, case, backend)
    assert state_variance(e, case) == pytest.approx(var, rel=1e-10)
    assert sensitivity_mean_square(e, case) == pytest.approx(sens, rel=1e-10)


def test_closed_forms_by_hand():
    lam = 0.5
    assert state_variance(0.5) == pytest.approx(1 / (1 - lam ** 2))
    assert sensitivity_mean_square(0.5) == pytest.approx((1 + lam ** 2) / (1 - lam ** 2) ** 3)
    assert sensitivity_mean_square(0.5, "normalized") == pytest.approx(1 / (1 - lam ** 2) ** 2)
    assert sensitivity_mean_square(0.5, "exp") == pytest.approx((lam * math.log(lam)) ** 2 * 80 / 27)


def test_monte_carlo_within_ten_percent_of_the_closed_forms():
    e = np.array([0.1, 0.03, 0.01, 0.003])
    r = curse_of_memory(e, samples=4_000_000, seed=1)
    for c in CASES:
        assert np.all(np.abs(r.sens_ms[c] / r.predicted(c) - 1) < 0.10), (c, r.sens_ms[c] / r.predicted(c))
        assert np.all(np.abs(r.state_ms[c] / state_variance(e, c) - 1) < 0.10), c
        # and consistent with the estimator's own error bar (4 sigma)
        assert np.all(np.abs(r.sens_ms[c] - r.predicted(c)) < 4 * r.sens_ms_se[c] + 1e-12), c


def test_fitted_exponents_over_four_decades():
    e = np.logspace(-4, -1, 7)
    r = curse_of_memory(e, samples=2_000_000, seed=2)
    for c in CASES:
        assert r.exponent(c) == pytest.approx(PREDICTED_EXPONENT[c], abs=0.05), c
        assert r.exponent(c, measured=False) == pytest.approx(PREDICTED_EXPONENT[c], abs=0.01), c


@pytest.mark.slow
def test_fitted_exponents_many_samples():
    e = np.logspace(-4, -1, 7)
    r = curse_of_memory(e, samples=20_000_000, seed=3)
    for c in CASES:
        assert np.all(np.abs(r.sens_ms[c] / r.predicted(c) - 1) < 0.10), c
        assert r.exponent(c) == pytest.approx(PREDICTED_EXPONENT[c], abs=0.02), c


def test_fit_exponent_of_a_power_law():
    e = np.logspace(-3, -1, 5)
    assert fit_exponent(e, 3 * e ** -1.25) == pytest.approx(-1.25, abs=1e-12)


@pytest.mark.parametrize("kwargs,match", [
    (dict(one_minus_lambda=0.0), r"curse_of_memory\.one_minus_lambda=0\.0 is invalid"),
    (dict(one_minus_lambda=[0.1, 1.5]), r"curse_of_memory\.one_minus_lambda=\[0\.1, 1\.5\] is invalid"),
    (dict(one_minus_lambda=0.1, samples=10), r"curse_of_memory\.samples=10 is invalid"),
    (dict(one_minus_lambda=0.1, seed=-1), r"curse_of_memory\.seed=-1 is invalid"),
])
def test_bad_input_names_the_field(kwargs, match):
    with pytest.raises(ValueError, match=match):
        curse_of_memory(**kwargs)
    with pytest.raises(ValueError, match=r"state_variance\.case='lru' is invalid"):
        state_variance(0.1, "lru")


def test_plot_curse_of_memory(tmp_path):
    from rnnflow.plotting.memory import plot_curse_of_memory
    r = curse_of_memory([1e-2, 1e-1], samples=100_000, seed=0)
    fig = plot_curse_of_memory(r)
    ax = fig.axes[0]
    assert ax.get_xscale() == "log" and ax.get_yscale() == "log" and len(ax.lines) >= 4
    fig.savefig(tmp_path / "m.png")


def test_the_study_at_smoke_scale(tmp_path):
    from rnnflow import studies
    r = studies.run("curse_of_memory", backend="jax", scale="smoke", out=str(tmp_path), progress=False)
    for c in CASES:
        assert r.summary[c]["fitted_exponent"] == pytest.approx(PREDICTED_EXPONENT[c], abs=0.1)

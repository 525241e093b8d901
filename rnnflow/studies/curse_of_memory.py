"""curse_of_memory: parameter sensitivity of a linear recurrence near ``|lambda| = 1`` (Zucchet & Orvieto 2024).

For ``h_t = lambda h_{t-1} + x_t`` (white unit-variance input, stationary) the state gradient
``lambda^k`` never explodes, but ``sqrt(E (dh/dlambda)^2)`` grows like ``(1 - lambda)^(-3/2)``;
with the input normalisation ``sqrt(1 - lambda^2) x_t`` like ``(1 - lambda)^(-1)``; with
``lambda = exp(-exp(nu))`` the sensitivity to ``nu`` like ``(1 - lambda)^(-1/2)``, and with both it
stays bounded (rnnflow.analysis.memory: closed forms derived in its docstring). The study
measures all four by Monte-Carlo (long simulated sequences and the forward sensitivity
recursion ``s_t = h_{t-1} + lambda s_{t-1}``) over ``1 - lambda`` in [1e-4, 1e-1] and fits the
log-log exponents. The simulation is NumPy (scipy.signal.lfilter): both backends give the same
numbers; the closed forms are checked against each backend's autodiff in tests/test_memory.py.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..analysis.memory import CASES, PARAMETER, PREDICTED_EXPONENT, curse_of_memory
from ..plotting.memory import plot_curse_of_memory
from ..validation import check_int, check_real

NAME = "curse_of_memory"
QUESTION = "How fast does a linear recurrence's parameter sensitivity grow as lambda -> 1, and what tames it?"


@dataclass(frozen=True)
class Settings:
    """What a scale sets (see ``SCALES``)."""

    points: int          # values of 1 - lambda, log-spaced over [low, 1e-1]
    low: float           # the smallest 1 - lambda
    samples: int         # squared terms averaged per value (sequences x steps kept)

    def __post_init__(self):
        owner = f"{NAME}.Settings"
        check_int(owner, "points", self.points, 2)
        check_real(owner, "low", self.low, lo=0.0, hi=0.1, lo_open=True, hi_open=True)
        check_int(owner, "samples", self.samples, 1000)


SCALES = {
    "smoke": Settings(points=3, low=1e-2, samples=100_000),
    "docs": Settings(points=7, low=1e-4, samples=20_000_000),
    "full": Settings(points=13, low=1e-4, samples=100_000_000),
}


def run(ctx) -> dict:
    s = ctx.settings
    e = np.logspace(np.log10(s.low), -1.0, s.points)
    r = curse_of_memory(e, samples=s.samples, seed=ctx.seed)
    results = {}
    for c in CASES:
        ratio = r.sens_ms[c] / r.predicted(c)
        results[c] = {"parameter": PARAMETER[c], "fitted_exponent": r.exponent(c),
                      "closed_form_exponent": r.exponent(c, measured=False), "predicted_exponent": PREDICTED_EXPONENT[c],
                      "max_rel_error_vs_closed_form": float(np.max(np.abs(ratio - 1)))}
        ctx.save_arrays(**{f"{c}/sens_ms": r.sens_ms[c], f"{c}/sens_ms_se": r.sens_ms_se[c],
                           f"{c}/state_ms": r.state_ms[c]})
    ctx.save_arrays(one_minus_lambda=e)
    fig = plot_curse_of_memory(r)
    fig.axes[0].set_title(f"Curse of memory: Monte-Carlo ({s.samples:.0e} terms per point) vs closed forms "
                          f"({ctx.backend} run)", fontsize="medium")
    ctx.save_figure(fig, "sensitivity")
    return results

"""The curse of memory: parameter sensitivity of ``h_t = lambda h_{t-1} + a x_t`` against ``1 - lambda``."""
from __future__ import annotations

import numpy as np

from ._common import log_axis, new_axes

_LABEL = {"plain": r"plain, $\partial h/\partial\lambda$",
          "normalized": r"$\sqrt{1-\lambda^2}\,x_t$, $\partial h/\partial\lambda$",
          "exp": r"$\lambda=e^{-e^\nu}$, $\partial h/\partial\nu$",
          "exp_normalized": r"$\sqrt{1-\lambda^2}\,x_t$ and $\lambda=e^{-e^\nu}$, $\partial h/\partial\nu$"}


def plot_curse_of_memory(result, *, ax=None):
    """Log-log figure of the root-mean-square sensitivity ``sqrt(E (dh/dtheta)^2)`` against
    ``1 - lambda`` for a :class:`rnnflow.analysis.memory.CurseOfMemory`: Monte-Carlo points with
    2-standard-error bars, closed forms as lines, fitted and predicted exponents in the legend."""
    from ..analysis.memory import CASES, PREDICTED_EXPONENT, sensitivity_mean_square
    fig, ax = new_axes(ax, figsize=(6.8, 4.6))
    e = result.one_minus_lambda
    fine = np.logspace(np.log10(e.min()), np.log10(e.max()), 200)
    for c in CASES:
        ms, se = result.sens_ms[c], result.sens_ms_se[c]
        rms = np.sqrt(ms)
        err = se / rms                                # 2 standard errors of m, through d sqrt(m) = dm / (2 sqrt(m))
        (line,) = ax.plot(fine, np.sqrt(sensitivity_mean_square(fine, c)), linewidth=1.2)
        ax.errorbar(e, rms, yerr=err, fmt="o", color=line.get_color(), markersize=4, capsize=2,
                    label=f"{_LABEL[c]}: fitted {result.exponent(c):+.3f} (theory {PREDICTED_EXPONENT[c]:+.1f})")
    log_axis(ax, "x")
    log_axis(ax)
    ax.set_xlabel(r"$1-\lambda$ (distance of the eigenvalue from 1)")
    ax.set_ylabel(r"$\sqrt{E\,(\partial h_t/\partial\theta)^2}$ (state units per parameter unit)")
    ax.set_title("Curse of memory: points Monte-Carlo, lines closed forms")
    ax.legend(loc="best", fontsize="x-small", title="exponent of the rms sensitivity", title_fontsize="x-small")
    return fig

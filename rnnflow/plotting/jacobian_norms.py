"""``log ||dh_T/dh_t||`` against the gap ``T - t``, with theory overlays."""
from __future__ import annotations

import numpy as np

from ._common import LOG10E, band, new_axes


def plot_jacobian_norms(norms, *, theory=None, lyapunov=None, which: str = "spectral", ax=None):
    """Figure of ``log10 ||dh_T/dh_t||`` vs gap (batch mean, min-max band).

    Args:
      norms:    :class:`rnnflow.analysis.JacobianNorms`.
      theory:   optional :class:`rnnflow.analysis.PascanuBound`: draws the upper bound
                ``(T - t) log(gamma sigma_max)``.
      lyapunov: optional :class:`rnnflow.analysis.LyapunovSpectrum`: draws the line of
                slope ``lambda_1`` through the measured curve's mean at the largest gap.
      which:    ``"spectral"``, ``"frobenius"`` or ``"h"`` (the ``h`` block of a tuple state).
    """
    fields = {"spectral": ("log_spectral", r"\|\partial h_T/\partial h_t\|_2"),
              "frobenius": ("log_frobenius", r"\|\partial h_T/\partial h_t\|_F"),
              "h": ("log_spectral_h", r"\|\partial h_T/\partial h_t\|_2\ (h\ block)")}
    if which not in fields:
        raise ValueError(f"which={which!r} is invalid: expected one of {tuple(fields)}")
    field, name = fields[which]
    fig, ax = new_axes(ax)
    gap = norms.gap
    band(ax, gap, getattr(norms, field) * LOG10E, label=f"measured ({norms.cell}, B={norms.log_spectral.shape[0]})")
    if theory is not None:
        ax.plot(gap, theory.log_bound(gap) * LOG10E, "--", color="black",
                label=rf"bound $(T-t)\,\log(\gamma\,\sigma_{{max}})$, $\gamma\sigma_{{max}}$="
                      rf"{theory.gamma * theory.sigma_max:.3g} ({theory.verdict})")
    if lyapunov is not None:
        lam = float(np.mean(lyapunov.max_exponent))
        y = getattr(norms, field).mean(axis=0)
        i = int(np.argmax(gap))
        ax.plot(gap, (y[i] + lam * (gap - gap[i])) * LOG10E, ":", color="tab:red",
                label=rf"Lyapunov slope $\lambda_1$={lam:.3g} / step")
    ax.axhline(0.0, color="grey", linewidth=0.6)
    ax.set_xlabel(r"gap $T - t$ (steps)")
    ax.set_ylabel(rf"$\log_{{10}} {name}$ (dimensionless)")
    ax.set_title("Jacobian of the last state w.r.t. earlier states")
    ax.legend(loc="best", fontsize="small")
    return fig

"""The Jacobian over time drawn: ``log ||dh_T/dh_t||`` against the gap ``T - t``.

:func:`plot_jacobian_norms` draws one :class:`~rnnflow.analysis.JacobianNorms` with its
theory overlays (Pascanu's bound, the Lyapunov slope); :func:`plot_decay_family` several
on one axes, each with its Pascanu bound.

For a tuple state (an LSTM's ``(h, c)``) the labels say which Jacobian is drawn: the
joint one, ``d(h,c)_T/d(h,c)_t`` (``log_spectral``, ``log_frobenius``), or its ``h``
block, ``dh_T/dh_t`` with ``c_t`` held fixed (``log_spectral_h``, ``log_frobenius_h``).
"""
from __future__ import annotations

import numpy as np
from matplotlib.lines import Line2D

from ._common import LOG10E, band, band_handle, new_axes


def jacobian_label(norms, field: str) -> str:
    """The mathtext norm a :class:`~rnnflow.analysis.JacobianNorms` field holds: for an LSTM's
    joint ``log_spectral`` the norm of ``d(h,c)_T/d(h,c)_t``, for ``log_spectral_h`` that of
    ``dh_T/dh_t`` marked as the ``h`` block."""
    joint = len(getattr(norms, "state_sizes", ()) or ()) > 1
    block = field.endswith("_h")
    x = r"(h,c)" if joint and not block else "h"
    sub = "F" if "frobenius" in field else "2"
    text = rf"\|\partial {x}_T/\partial {x}_t\|_{sub}"
    return text + (r"\ \mathrm{(h\ block)}" if joint and block else "")


def plot_jacobian_norms(norms, *, theory=None, lyapunov=None, which: str = "spectral", ax=None):
    """Figure of ``log10 ||dh_T/dh_t||`` (a tuple state: ``d(h,c)_T/d(h,c)_t``, or with ``which="h"``
    its h block) vs gap (batch mean, min-max band).

    Args:
      norms:    :class:`rnnflow.analysis.JacobianNorms`.
      theory:   optional :class:`rnnflow.analysis.PascanuBound`: draws the upper bound
                ``(T - t) log(gamma sigma_max)``.
      lyapunov: optional :class:`rnnflow.analysis.LyapunovSpectrum`: draws the line of
                slope ``lambda_1`` through the measured curve's mean at the largest gap.
      which:    ``"spectral"``, ``"frobenius"`` or ``"h"`` (the ``h`` block of a tuple state).
    """
    fields = {"spectral": "log_spectral", "frobenius": "log_frobenius", "h": "log_spectral_h"}
    if which not in fields:
        raise ValueError(f"which={which!r} is invalid: expected one of {tuple(fields)}")
    field = fields[which]
    name = jacobian_label(norms, field)
    fig, ax = new_axes(ax)
    gap = norms.gap
    band(ax, gap, getattr(norms, field) * LOG10E, label=_measured_label(norms))
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
    part = "" if len(norms.state_sizes or ()) < 2 else \
        "\n(h block of the (h, c) state)" if field.endswith("_h") else "\n(the joint (h, c) state)"
    ax.set_title("Jacobian of the last state w.r.t. earlier states" + part)
    ax.legend(loc="best", fontsize="small")
    return fig


def _measured_label(norms) -> str:
    """The legend label of a measured curve: the cell, and what the line and the band are."""
    B = norms.log_spectral.shape[0]
    return f"measured ({norms.cell}): mean over B={B} input sequences" + (", shaded min-max" if B > 1 else "")


def plot_decay_family(curves: dict, *, bounds: dict | None = None, which: str = "log_spectral_h",
                      title: str = "How far back does the gradient reach?", ax=None):
    """Figure of ``log10 ||dh_T/dh_t||_2`` (or the field ``which``) vs gap for ``{label: JacobianNorms}``:
    each curve the mean over its input sequences, shaded from their min to their max (the
    legend says so).

    bounds: ``{label: PascanuBound}``; each draws ``(T-t) log10(gamma sigma_max)`` dashed in
    its curve's colour. The y-range follows the measured curves; a bound that leaves it
    (``gamma sigma_max > 1`` grows without limit) is drawn up to the frame and ends in a
    triangle there.
    which: the JacobianNorms field to draw (default the ``h`` block, comparable across cells).
    """
    fig, ax = new_axes(ax, figsize=(9.6, 4.6))
    lo, hi = np.inf, -np.inf
    colours = {}
    for label, norms in curves.items():
        values = getattr(norms, which) * LOG10E
        colours[label] = band(ax, norms.gap, values, label=label).get_color()
        finite = values[np.isfinite(values)]
        if finite.size:
            lo, hi = min(lo, finite.min()), max(hi, finite.max())
    if np.isfinite(lo):
        pad = 0.08 * max(hi - lo, 1.0)
        lo, hi = lo - pad, hi + pad
        ax.set_ylim(lo, hi)
    exits = False
    for label, b in (bounds or {}).items():
        if label not in curves:
            continue
        gap = np.sort(np.asarray(curves[label].gap, dtype=np.float64))
        x, y, out = clip_to_frame(gap, b.log_bound(gap) * LOG10E, lo, hi)
        ax.plot(x, y, "--", color=colours[label], linewidth=0.9)
        for xe, ye, up in out:
            ax.plot([xe], [ye], "^" if up else "v", color=colours[label], markersize=6, clip_on=False)
            exits = True
    handles, names = ax.get_legend_handles_labels()
    if bounds:
        handles.append(Line2D([], [], linestyle="--", color="black", linewidth=0.9,
                              marker="^" if exits else None, markersize=6))
        names.append(r"Pascanu bound $(T-t)\log_{10}(\gamma\,\sigma_{max})$" + "\ndashed in each curve's colour"
                     + ("\n(triangle: where it leaves the frame)" if exits else ""))
    shaded = band_handle({k: getattr(n, which) for k, n in curves.items()})
    if shaded is not None:
        handles.append(shaded[0])
        names.append(shaded[1])
    ax.axhline(0.0, color="grey", linewidth=0.6)
    ax.set_xlabel(r"gap $T - t$ (time steps)")
    labels = sorted({jacobian_label(n, which) for n in curves.values()}, key=len)
    ax.set_ylabel(rf"$\log_{{10}} {labels[-1 if len(labels) == 1 else 0]}$"
                  + ("" if len(labels) == 1 else "\n(h block of tuple states)"))
    ax.set_title(title)
    # beside the axes: the curves fan out over the whole frame
    ax.legend(handles, names, loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize="small")
    return fig


def clip_to_frame(x, y, lo: float, hi: float):
    """``(x, y)`` cut where the curve leaves ``[lo, hi]``: each crossing becomes a point on
    the edge (linear interpolation) followed by a NaN break, and the points outside are
    dropped. Returns ``(x, y, exits)`` with ``exits`` a list of ``(x, y, upward)`` at the
    crossings out of the range. ``lo`` or ``hi`` infinite: no cut on that side."""
    x, y = np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64)
    inside = (y >= lo) & (y <= hi)
    xs, ys, exits = [], [], []
    for i in range(len(x)):
        if i and inside[i] != inside[i - 1] and np.isfinite(y[i]) and np.isfinite(y[i - 1]):
            edge = hi if max(y[i], y[i - 1]) > hi else lo
            xe = x[i - 1] + (edge - y[i - 1]) * (x[i] - x[i - 1]) / (y[i] - y[i - 1])
            if inside[i - 1]:                   # leaving: end on the edge, then break
                xs += [xe, np.nan]
                ys += [edge, np.nan]
                exits.append((float(xe), float(edge), edge == hi))
            else:                               # coming back: start on the edge
                xs.append(xe)
                ys.append(edge)
        if inside[i]:
            xs.append(x[i])
            ys.append(y[i])
    return np.array(xs), np.array(ys), exits

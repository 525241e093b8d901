"""Spectrum-record plots: the recurrent matrices' eigenvalues migrating in the complex plane over
training, and their spectral radius, sigma_max and the largest Lyapunov exponent per epoch.

Input: :class:`rnnflow.training.SpectrumHistory` (``result.gradients.spectrum`` of a run with
``GradientMonitor(spectrum=...)``), or ``{label: SpectrumHistory}`` to draw several runs.
"""
from __future__ import annotations

import math

import numpy as np
from matplotlib import colormaps
from matplotlib.cm import ScalarMappable
from matplotlib.colors import Normalize
from matplotlib.figure import Figure
from matplotlib.patches import Patch

from ._common import band


def _runs(history) -> list:
    if isinstance(history, dict):
        return list(history.items())
    return [("", history)]


def _panels(history, matrices) -> list:
    """``[(title, history, matrix index)]`` for each run and each chosen matrix it has."""
    out = []
    for label, h in _runs(history):
        names = h.matrices if matrices is None else [m for m in matrices if m in h.matrices]
        for m in names:
            out.append((f"{label}: {m}" if label else m, h, h.matrices.index(m)))
    if not out:
        raise ValueError(f"matrices={matrices!r} names none of the recorded matrices "
                         f"{[list(h.matrices) for _, h in _runs(history)]}")
    return out


def plot_eigenvalue_migration(history, matrices=None, *, ncols: int | None = None, title: str | None = None,
                              cmap: str = "viridis"):
    """The eigenvalues of each recorded matrix in the complex plane, one panel per matrix, every
    record drawn with its epoch as the colour (a labelled colourbar; epoch 0: before training),
    the unit circle ``|lambda| = 1`` (a dashed line) and the last record's spectral radius as a
    red circle. ``matrices``: names to draw (default all; e.g.
    ``["layers.0.weight_hh.g"]`` for an LSTM's candidate block)."""
    panels = _panels(history, matrices)
    n = len(panels)
    ncols = ncols or min(n, 4)
    nrows = math.ceil(n / ncols)
    fig = Figure(figsize=(3.5 * ncols + 1.0, 3.4 * nrows + (0.4 if title else 0)), layout="constrained")
    axes = np.atleast_1d(fig.subplots(nrows, ncols, squeeze=False)).ravel()
    top = max(int(h.epoch.max()) for _, h, _ in panels if len(h.epoch))
    norm = Normalize(0, max(top, 1))
    cm = colormaps[cmap]
    th = np.linspace(0, 2 * np.pi, 361)
    for ax, (name, h, j) in zip(axes, panels):
        lam = h.eigenvalues[:, j]                                          # (R, n)
        reach = max(1.0, float(np.abs(lam).max()) if lam.size else 1.0) * 1.12
        ax.plot(np.cos(th), np.sin(th), color="0.35", ls="--", lw=1, label=r"unit circle $|\lambda| = 1$")
        for r in range(len(h.epoch)):                                      # later epochs on top
            ax.scatter(lam[r].real, lam[r].imag, s=9, color=cm(norm(h.epoch[r])), lw=0, alpha=0.85)
        if len(h.epoch):
            rho = h.spectral_radius[-1, j]
            ax.plot(rho * np.cos(th), rho * np.sin(th), color="C3", lw=0.9,
                    label=rf"last record's radius $\rho$ = {rho:.3f}")
        ax.set_aspect("equal")
        ax.set_xlim(-reach, reach)
        ax.set_ylim(-reach, reach)
        ax.axhline(0, color="0.85", lw=0.6, zorder=0)
        ax.axvline(0, color="0.85", lw=0.6, zorder=0)
        ax.set_xlabel(r"Re $\lambda$")
        ax.set_ylabel(r"Im $\lambda$")
        ax.set_title(name, fontsize="medium")
        ax.legend(loc="lower left", fontsize="x-small")
    for ax in axes[n:]:
        ax.set_axis_off()
    sm = ScalarMappable(norm=norm, cmap=cm)
    fig.colorbar(sm, ax=list(axes[:n]), shrink=0.85, label="monitor epoch (0: before training)")
    if title:
        fig.suptitle(title, fontsize="medium")
    return fig


def plot_spectrum_trace(history, matrices=None, *, title: str | None = None):
    """Three panels against the epoch: each matrix's spectral radius ``max |lambda|`` and largest
    singular value ``sigma_max`` (a dotted line at 1: the stability edge of a linear recurrence,
    ``sigma_max < 1`` a contraction), and each layer's largest Lyapunov exponent ``lambda_max``
    (mean over the probe examples, their range as a band; a dotted line at 0: above it nearby
    trajectories part, exploding gradients; below, they merge, vanishing gradients)."""
    fig = Figure(figsize=(13.0, 3.9 + (0.3 if title else 0)), layout="constrained")
    ax_rho, ax_sig, ax_lam = fig.subplots(1, 3)
    first = {}                                  # a run's Lyapunov line takes its first matrix's colour
    for i, (name, h, j) in enumerate(_panels(history, matrices)):
        color = f"C{i % 10}"
        first.setdefault(id(h), color)
        ax_rho.plot(h.epoch, h.spectral_radius[:, j], marker="o", ms=3, color=color, label=name)
        ax_sig.plot(h.epoch, h.sigma_max[:, j], marker="o", ms=3, color=color, label=name)
    for i, (label, h) in enumerate(_runs(history)):
        if h.lyapunov.shape[-1] == 0:
            continue
        for layer in range(h.lyapunov.shape[1]):
            name = f"{label + ': ' if label else ''}layer {layer}"
            band(ax_lam, h.epoch, h.lyapunov[:, layer, :, 0].T, label=name, color=first.get(id(h), f"C{i % 10}"),
                 marker="o", ms=3,
                 ls="-" if layer == 0 else "--")
    probes = sorted({h.lyapunov.shape[2] for _, h in _runs(history) if h.lyapunov.shape[-1]})
    for ax, ylabel, ref in ((ax_rho, r"spectral radius $\max|\lambda|$", 1.0),
                            (ax_sig, r"largest singular value $\sigma_{\max}$", 1.0),
                            (ax_lam, r"largest Lyapunov exponent $\lambda_{\max}$ (per step)", 0.0)):
        ax.axhline(ref, color="0.3", ls=":", lw=1)
        ax.set_xlabel("monitor epoch (0: before training)")
        ax.set_ylabel(ylabel)
        handles, labels = ax.get_legend_handles_labels()
        if ax is ax_lam and probes:             # say what the band is
            handles.append(Patch(color="0.8"))
            labels.append(f"shaded: min-max over the {'/'.join(map(str, probes))} probe sequences (line: their mean)")
        if handles:
            ax.legend(handles, labels, loc="best", fontsize="x-small")
    ax_rho.set_title("spectral radius", fontsize="medium")
    ax_sig.set_title(r"$\sigma_{\max}$", fontsize="medium")
    ax_lam.set_title("Lyapunov exponent on the probe batch", fontsize="medium")
    if title:
        fig.suptitle(title, fontsize="medium")
    return fig

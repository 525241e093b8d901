"""The transition to chaos: lambda_max against g with mean-field theory, the two estimates of
lambda_max, spectra against i/N (size collapse), Kaplan-Yorke dimension and entropy rate, and
the convergence of the running estimates. Inputs are the ``chaos`` study's runs: dicts with
``exponents`` ``(N,)``, ``stderr``, ``running`` ``(n, N)``, ``trace_steps`` ``(n,)``, ``direct``
(a :class:`~rnnflow.analysis.results.DirectExponent` or None), ``kaplan_yorke``, ``entropy_rate``."""
from __future__ import annotations

import numpy as np
from matplotlib import colormaps
from matplotlib.figure import Figure


def plot_transition(gains, runs, theory_g, theory, *, width: int, crossing: float | None = None,
                    title: str | None = None):
    """Top: measured ``lambda_max`` (QR, with standard errors) and the two-trajectory estimate
    against ``g``, the mean-field ``(1/2) ln chi`` curve, ``lambda = 0`` and the interpolated first
    sign change ``crossing`` (if given). Bottom: direct minus
    QR with the combined standard error as error bar."""
    g = np.asarray(gains, float)
    lam = np.array([r["exponents"][0] for r in runs])
    se = np.array([r["stderr"] for r in runs])
    fig = Figure(figsize=(7.5, 6.6), layout="constrained")
    ax, ax2 = fig.subplots(2, 1, sharex=True, height_ratios=[2.2, 1])
    ax.plot(theory_g, theory, color="0.2", lw=1.5, label=r"mean field $\frac{1}{2}\ln\chi$ ($\ln g$ for $g<1$)")
    ax.axhline(0, color="0.6", lw=0.8)
    ax.axvline(1, color="0.6", lw=0.8, ls=":")
    ax.errorbar(g, lam, yerr=se, fmt="o", color="C0", ms=5, capsize=3, label=f"QR method, N = {width}")
    if crossing is not None:
        ax.plot([crossing], [0.0], "x", color="k", ms=9, mew=2, zorder=4,
                label=f"measured sign change, g = {crossing:.3f}")
    d = [r.get("direct") for r in runs]
    if all(x is not None for x in d):
        dl = np.array([x.exponent[0] for x in d])
        ds = np.array([x.stderr[0] for x in d])
        off = 0.012 * (g.max() - g.min())
        ax.errorbar(g + off, dl, yerr=ds, fmt="s", mfc="none", color="C3", ms=5, capsize=3,
                    label=r"two trajectories, $\varepsilon = 10^{-8}$")
        comb = np.hypot(ds, se)
        ax2.errorbar(g, dl - lam, yerr=comb, fmt="o", color="C3", capsize=3, label="direct - QR, ±1 combined s.e.")
        ax2.fill_between(g, -3 * comb, 3 * comb, color="C3", alpha=0.12, lw=0, label="±3 combined s.e.")
        ax2.axhline(0, color="0.4", lw=0.8)
        ax2.legend(loc="best", fontsize="x-small")
    ax2.set_ylabel(r"$\Delta\lambda_{\max}$ (nats/step)")
    ax2.set_xlabel(r"gain $g$ ($W_{ij} \sim N(0, g^2/N)$)")
    ax.set_ylabel(r"largest Lyapunov exponent $\lambda_{\max}$ (nats/step)")
    ax.set_ylim(max(ax.get_ylim()[0], 1.3 * min(lam.min(), np.min(theory))), None)
    ax.legend(loc="lower right", fontsize="small")
    ax.text(1.0, ax.get_ylim()[1], " g = 1", va="top", ha="left", fontsize="x-small", color="0.4")
    if title:
        fig.suptitle(title, fontsize="medium")
    return fig


def plot_size_collapse(by_gain: dict, sweep: dict, *, width: int, title: str | None = None):
    """Left: the spectra of the g-sweep at ``N = width`` against ``i/N`` (``sweep[g] = (N,)``).
    Then one panel per ``g`` in ``by_gain`` (``{g: {N: (N,)}}``): spectra of several ``N``
    against ``i/N``; a size-invariant spectrum makes them one curve."""
    fig = Figure(figsize=(4.4 * (1 + len(by_gain)), 4.0), layout="constrained")
    axes = fig.subplots(1, 1 + len(by_gain), squeeze=False)[0]
    cmap = colormaps["viridis"]
    for i, (g, e) in enumerate(sorted(sweep.items())):
        x = (np.arange(len(e)) + 0.5) / len(e)
        axes[0].plot(x, e, color=cmap(i / max(1, len(sweep) - 1)), lw=1.2, label=f"g = {g:g}")
    axes[0].set_title(f"g sweep, N = {width}", fontsize="medium")
    axes[0].legend(fontsize="xx-small", ncol=2, loc="lower left")
    for ax, (g, spectra) in zip(axes[1:], sorted(by_gain.items())):
        for j, (N, e) in enumerate(sorted(spectra.items())):
            x = (np.arange(len(e)) + 0.5) / len(e)
            ax.plot(x, e, color=f"C{j}", lw=[2.8, 1.8, 1.0, 0.8][min(j, 3)], alpha=0.85, label=f"N = {N}")
        ax.set_title(f"g = {g:g}: size collapse", fontsize="medium")
        ax.legend(fontsize="small", loc="lower left")
    for ax in axes:
        ax.axhline(0, color="0.6", lw=0.8)
        ax.set_xlabel(r"$i/N$ (exponent index over network size)")
        ax.set_ylabel(r"$\lambda_i$ (nats/step)")
    if title:
        fig.suptitle(title, fontsize="medium")
    return fig


def plot_dimension_entropy(gains, runs, sized: dict, *, width: int, title: str | None = None):
    """``D_KY / N`` and the entropy rate per unit, ``H / N``, against ``g`` for the sweep at
    ``N = width`` (line), with the runs ``sized[(N, g)]`` of other sizes as markers (size invariance:
    they land on the line)."""
    g = np.asarray(gains, float)
    fig = Figure(figsize=(10.0, 4.0), layout="constrained")
    axes = fig.subplots(1, 2)
    for ax, key, label in ((axes[0], "kaplan_yorke", r"Kaplan-Yorke dimension per unit $D_{KY}/N$"),
                           (axes[1], "entropy_rate", r"entropy rate per unit $H/N$ (nats/step/unit)")):
        ax.plot(g, [r[key] / width for r in runs], "o-", color="C0", label=f"N = {width} (g sweep)")
        sizes = sorted({N for N, _ in sized})
        for j, N in enumerate(n for n in sizes if n != width):
            pts = sorted((gg, r[key] / N) for (NN, gg), r in sized.items() if NN == N)
            ax.plot(*zip(*pts), ["v", "^", "D", "P"][j % 4], color=f"C{j + 1}", mfc="none", ms=8, label=f"N = {N}")
        ax.axvline(1, color="0.6", lw=0.8, ls=":")
        ax.set_xlabel(r"gain $g$")
        ax.set_ylabel(label)
        ax.legend(fontsize="small", loc="upper left")
    axes[1].set_title(r"$H = \Sigma_{\lambda_i > 0}\, \lambda_i$ (Pesin)", fontsize="medium")
    axes[0].set_title(r"$D_{KY} = j + \Sigma_{i \leq j} \lambda_i / |\lambda_{j+1}|$", fontsize="medium")
    if title:
        fig.suptitle(title, fontsize="medium")
    return fig


def plot_convergence(run: dict, *, g: float, mean_field: float | None = None, title: str | None = None):
    """Left: the running estimate of ``lambda_1`` (QR) and the two-trajectory running mean against
    steps averaged (log scale), with the mean-field ``lambda_max``. Right: the distance of the running
    ``lambda_1``, ``lambda_{N/2}`` and ``lambda_N`` from their final values, with a ``t^{-1/2}`` guide
    (the rate of a time average of weakly correlated local exponents)."""
    r, t = np.asarray(run["running"]), np.asarray(run["trace_steps"])
    N = r.shape[1]
    fig = Figure(figsize=(11.0, 4.2), layout="constrained")
    ax, ax2 = fig.subplots(1, 2)
    ax.plot(t, r[:, 0], color="C0", lw=1.4, label=r"$\lambda_1$, QR method")
    d = run.get("direct")
    if d is not None:
        s = np.arange(1, d.local.shape[0] + 1)
        ax.plot(s, np.cumsum(d.local[:, 0]) / s, color="C3", ls="--", lw=1.2, label=r"$\lambda_1$, two trajectories")
    if mean_field is not None:
        ax.axhline(mean_field, color="0.2", ls=":", lw=1.2, label=rf"mean field $\lambda_{{\max}}$ = {mean_field:.4f}")
    ax.set_xscale("log")
    ax.set_xlabel("steps averaged after warmup")
    ax.set_ylabel(r"running estimate of $\lambda_1$ (nats/step)")
    ax.set_title(f"g = {g:g}, N = {N}", fontsize="medium")
    ax.legend(fontsize="small", loc="best")
    keep = t < t[-1] // 2
    for j, i in enumerate(sorted({0, N // 2, N - 1})):
        err = np.abs(r[:, i] - r[-1, i])
        ok = keep & (err > 0)
        ax2.loglog(t[ok], err[ok], color=f"C{j}", lw=1, label=rf"$\lambda_{{{i + 1}}}$")
    err = np.abs(r[:, 0] - r[-1, 0])
    ok = keep & (err > 0)
    if ok.any():
        c = float(np.median(err[ok] * np.sqrt(t[ok])))
        ax2.loglog(t[ok], c / np.sqrt(t[ok]), color="0.3", ls="--", lw=1, label=r"$\propto t^{-1/2}$")
    ax2.set_xlabel("steps averaged after warmup")
    ax2.set_ylabel(r"$|\hat\lambda_i(t) - \hat\lambda_i(T)|$ (nats/step)")
    ax2.set_title("distance from the final estimate (QR)", fontsize="medium")
    ax2.legend(fontsize="small")
    if title:
        fig.suptitle(title, fontsize="medium")
    return fig

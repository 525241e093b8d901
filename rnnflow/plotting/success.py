"""Solved rate against sequence length, one line per architecture (the long-range study)."""
from __future__ import annotations


from ._common import log_axis, new_axes


def plot_success_vs_length(rates: dict, *, threshold: float | None = None, chance: float | None = None,
                           chance_label: str = "constant prediction", ax=None):
    """``rates``: ``{architecture: {T: solved rate}}`` (rates in [0, 1]; NaN: not run).

    threshold: the rate that counts as "solved" (a dashed line);
    chance:    the rate a model ignoring its input already reaches (a dotted line).
    """
    fig, ax = new_axes(ax, figsize=(6.8, 4.4))
    if not rates:
        raise ValueError("rates is empty: expected {architecture: {T: rate}}")
    lengths = sorted({int(T) for r in rates.values() for T in r})
    markers = "osD^vP*X"
    n = len(rates)
    for i, (arch, r) in enumerate(rates.items()):
        Ts = sorted(r)
        # equal rates overlap: earlier lines get bigger markers, so they show around later ones
        ax.plot(Ts, [r[T] for T in Ts], marker=markers[i % len(markers)], markersize=5 + 1.5 * (n - 1 - i),
                linewidth=1.4, label=arch)
    if threshold is not None:
        ax.axhline(threshold, color="black", linestyle="--", linewidth=1.0, label=f"solved: rate >= {threshold:g}")
    if chance is not None:
        ax.axhline(chance, color="grey", linestyle=":", linewidth=1.2, label=f"{chance_label} ({chance:.2f})")
    if len(lengths) > 1 and lengths[-1] / lengths[0] >= 4:
        log_axis(ax, "x")
    ax.set_xticks(lengths, [str(T) for T in lengths])
    ax.minorticks_off()
    ax.set_ylim(-0.03, 1.03)
    ax.set_xlabel("sequence length $T$ (steps)")
    ax.set_ylabel("solved rate (fraction of held-out sequences)")
    ax.set_title("Adding problem: solved rate against length")
    ax.legend(fontsize="small", loc="lower left")
    ax.grid(alpha=0.3)
    return fig


__all__ = ["plot_success_vs_length"]

"""The selective SSM's per-token decay: a token x channel heat map of ``-log|lambda_t|``."""
from __future__ import annotations

import numpy as np
from matplotlib.colors import LogNorm

from ._common import new_axes

MAX_TICKS = 64   # more tokens than this: label every k-th


def decay_rates(log_decay, *, state_size: int | None = None, batch: int = 0) -> np.ndarray:
    """``-log|lambda_t|`` per token and channel, (T, C), from a model's ``log_decay``.

    Args:
      log_decay: (T, B, S) or (T, S), e.g. ``model.log_decay(x, layer)`` as NumPy.
      state_size: N. Given, the S = E * N coordinates (index ``e * N + n``) are averaged
        over n, so C = E: ``mean_n Delta_t |A_en| = Delta_t mean_n |A_en|``, the channel's
        mean decay rate (the log of the geometric mean of its N decays). None: C = S, one
        row per state coordinate.
      batch: which sequence of a (T, B, S) input.
    """
    ld = np.asarray(log_decay, dtype=np.float64)
    if ld.ndim == 3:
        if not 0 <= batch < ld.shape[1]:
            raise ValueError(f"batch={batch!r} is invalid for log_decay of shape {ld.shape}: expected an "
                             f"int in [0, {ld.shape[1] - 1}]")
        ld = ld[:, batch]
    if ld.ndim != 2 or 0 in ld.shape:
        raise ValueError(f"log_decay has shape {np.shape(log_decay)}: expected (T, B, S) or (T, S)")
    if np.iscomplexobj(ld) or not np.isfinite(ld).all() or (ld > 0).any():
        raise ValueError("log_decay must be finite and <= 0 (log|lambda| of a stable diagonal recurrence)")
    if state_size is not None:
        if isinstance(state_size, bool) or not isinstance(state_size, (int, np.integer)) or state_size < 1 \
                or ld.shape[1] % state_size:
            raise ValueError(f"state_size={state_size!r} is invalid: expected a positive divisor of "
                             f"S={ld.shape[1]} (log_decay's last axis, E * N)")
        ld = ld.reshape(ld.shape[0], -1, int(state_size)).mean(-1)
    return -ld


def plot_decay_heatmap(log_decay, tokens=None, *, state_size: int | None = None, channels=None,
                       sort: bool = True, batch: int = 0, title: str | None = None, ax=None):
    """Heat map of the per-token decay rate ``-log|lambda_t| = Delta_t |A|`` (nats per token,
    log colour scale), token on the x axis, channel on the y axis. Dark cells decay slowly
    (a long memory: ``1 / rate`` tokens); bright ones forget fast. Returns the figure.

    Args:
      log_decay: (T, B, S) or (T, S) NumPy, a selective SSM's ``model.log_decay(x, layer)``.
      tokens: T labels for the x axis (e.g. the characters of the input), or None (positions).
      state_size: N: average over each channel's N states (see :func:`decay_rates`); None:
        one row per state coordinate.
      channels: indices of the rows to show (after averaging), or None for all.
      sort: order the rows by their mean rate over the tokens (slowest at the bottom).
      batch: which sequence of a (T, B, S) input.
      title: the axes' title (default: "Selective SSM: per-token decay rate").
      ax: an axes to draw into (default: a new figure).
    """
    rates = decay_rates(log_decay, state_size=state_size, batch=batch)    # (T, C)
    T, C = rates.shape
    rows = np.arange(C) if channels is None else np.asarray(channels)
    if rows.ndim != 1 or rows.size == 0 or rows.dtype.kind not in "iu" or rows.min() < -C or rows.max() >= C:
        raise ValueError(f"channels={channels!r} is invalid: expected a non-empty list of row indices in "
                         f"[0, {C - 1}]")
    if tokens is not None and len(tokens) != T:
        raise ValueError(f"tokens has {len(tokens)} labels: expected one per token, T={T}")
    rates = rates[:, rows]
    if sort:
        order = np.argsort(rates.mean(axis=0))
        rows, rates = rows[order], rates[:, order]
    fig, ax = new_axes(ax, figsize=(min(4.0 + 0.16 * T, 14.0), min(2.5 + 0.12 * len(rows), 8.0)))
    pos = rates[rates > 0]
    lo, hi = (pos.min(), pos.max()) if pos.size else (1e-12, 1.0)
    im = ax.imshow(np.maximum(rates.T, lo), aspect="auto", origin="lower", cmap="magma", interpolation="nearest",
                   norm=LogNorm(vmin=lo, vmax=max(hi, lo * 1.0001)))
    step = max(1, -(-T // MAX_TICKS))
    ticks = np.arange(0, T, step)
    ax.set_xticks(ticks)
    if tokens is not None:
        ax.set_xticklabels([repr(str(tokens[i]))[1:-1] or " " for i in ticks], fontsize="small",
                           fontfamily="monospace")
    ax.set_xlabel("input token t" if tokens is not None else "position t (tokens)")
    what = "channel e" if state_size is not None else "state coordinate"
    ax.set_ylabel(what + (" (sorted by mean rate, slowest at the bottom)" if sort else ""))
    if len(rows) <= 32:
        ax.set_yticks(np.arange(len(rows)))
        ax.set_yticklabels([str(r) for r in rows], fontsize="x-small")
    bar = fig.colorbar(im, ax=ax)
    bar.set_label(r"$-\log|\lambda_t| = \Delta_t|A|$ (nats per token)"
                  + ("\nmean over the N states" if state_size is not None else ""))
    ax.set_title(title or "Selective SSM: per-token decay rate")
    return fig

"""Gradient reach: how strongly the last output depends on each input, ``log ||dy_T/dx_t||``.

Result type :class:`rnnflow.analysis.results.ReachProfile`; plots in :mod:`rnnflow.plotting.reach`.
"""
from __future__ import annotations

import numpy as np

from .backends import prepare
from .results import ReachProfile


def _log_sqrt(sq):
    with np.errstate(divide="ignore"):
        return 0.5 * np.log(sq)


def gradient_reach(model, xs, *, params=None, backend: str | None = None, directions=None,
                   label: str = "") -> ReachProfile:
    """``log ||dy_T/dx_t||_F`` for every input position ``t``, per example.

    ``y_T`` is the output at the last position; one backward pass per output
    direction (``directions`` ``(K, O)``; default the unit basis, giving the Frobenius
    norm over output and input features). Works for any model ``model(x)`` returning
    ``(T, B, O)`` or an object with ``.y`` (RNN, LSTM, GRU, Transformer). Gradients are
    computed in the model's dtype: use float64 models for long sequences.

    A user's torch ``nn.RNN``/``nn.LSTM``/``nn.GRU`` (or cell) or flax recurrent cell / ``RNN``
    wrapper (linen with ``params=``) is copied exactly into an rnnflow model whose ``y`` is the
    top layer's ``h`` (what the module returns); ``xs`` is then in the module's own layout,
    ``(B, T, I)`` where it is batch-major, else ``(T, B, I)``. Any other torch module is
    called as it is, ``model(x)`` with ``x`` ``(T, B, I)``.
    """
    model, bk, xs, _ = prepare(model, xs, params=params, backend=backend, role="sequence")
    sq = bk.autodiff.output_input_grads(model, xs, directions)   # (K, T, B)
    T = sq.shape[1]
    t = np.arange(T)
    per_dir = None if directions is None else _log_sqrt(sq).transpose(0, 2, 1)
    return ReachProfile(t=t, gap=T - 1 - t, log_norm=_log_sqrt(sq.sum(0)).T,
                        log_norm_per_direction=per_dir, label=label)

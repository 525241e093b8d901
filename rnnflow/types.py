"""Result containers shared by both backends (framework-free NamedTuples).

NamedTuples are JAX pytrees, so the JAX functions can return them from ``jit``.
"""
from __future__ import annotations

from typing import Any, NamedTuple

import numpy as np


class SequenceOutput(NamedTuple):
    """What a recurrent net or Transformer returns for input ``x`` of shape ``(T, B, I)``.

    y:      ``(T, B, O)`` readout, or the top layer's states when there is no head.
    hidden: recurrent: ``(L, T, B, H)``, ``hidden[l, t]`` is layer l's ``h_{t+1}``;
            Transformer: ``(L+1, T, B, D)``, the residual stream entering layer 0
            (after embedding and positions) and leaving each layer.
    cell:   LSTM cell states ``(L, T, B, H)``; ``None`` for other models.
    """

    y: Any
    hidden: Any
    cell: Any = None


class MLPOutput(NamedTuple):
    """What the deep MLP returns for input ``x`` of shape ``(B, I)``.

    y:        ``(B, O)`` logits / predictions.
    hidden:   ``(L, B, W)`` output of every hidden layer.
    bn_stats: per layer ``{"running_mean", "running_var"}`` after this call
              (updated in train mode), or ``None`` without BatchNorm.
    """

    y: Any
    hidden: Any
    bn_stats: Any = None


class Trace(NamedTuple):
    """A recurrence's trajectory, in the model's dtype.

    states:     tuple of ``(T+1, B, H_i)``, one per state part (LSTM: ``(h, c)``);
                ``states[i][t]`` is part ``i`` of ``h_t`` (``t = 0`` is ``h0``).
    inputs:     ``(T, B, I)`` the inputs ``x_1..x_T`` of this layer.
    cell:       ``"rnn" | "lstm" | "gru" | "step"`` (a user step function).
    activation: Elman activation name, else ``None``.
    weight_hh:  ``(H, H)`` Elman recurrent matrix, else ``None``.
    preact:     ``(T, B, H)`` Elman pre-activations ``a_t`` (``h_t = phi(a_t)``), else ``None``.
    """

    states: tuple
    inputs: np.ndarray
    cell: str
    activation: str | None = None
    weight_hh: np.ndarray | None = None
    preact: np.ndarray | None = None

    @property
    def sizes(self) -> tuple:
        return tuple(int(s.shape[-1]) for s in self.states)

    @property
    def T(self) -> int:
        return int(self.inputs.shape[0])

    @property
    def B(self) -> int:
        return int(self.inputs.shape[1])

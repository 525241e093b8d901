"""Result containers shared by both backends (framework-free NamedTuples).

NamedTuples are JAX pytrees, so the JAX functions can return them from ``jit``.
"""
from __future__ import annotations

from typing import Any, NamedTuple


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

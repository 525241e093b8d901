"""Result containers shared by both backends (framework-free NamedTuples).

NamedTuples are JAX pytrees, so the JAX functions can return them from ``jit``.
"""
from __future__ import annotations

from typing import Any, Callable, NamedTuple, Protocol

import numpy as np


class SequenceOutput(NamedTuple):
    """What a recurrent net or Transformer returns for input ``x`` of shape ``(T, B, I)``.

    Fields:
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

    Fields:
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

    Fields:
        states:     tuple of ``(T+1, B, H_i)``, one per state part (LSTM: ``(h, c)``);
                    ``states[i][t]`` is part ``i`` of ``h_t`` (``t = 0`` is ``h0``).
        inputs:     ``(T, B, I)`` the inputs ``x_1..x_T`` of this layer.
        cell:       ``"rnn" | "lstm" | "gru" | "step"`` (a user step function).
        activation: Elman activation name, else ``None``.
        weight_hh:  rnnflow model: layer's ``W_hh`` ``(G, H)`` (``G = H`` Elman, ``4H`` LSTM,
                    ``3H`` GRU), else ``None``.
        preact:     rnnflow model: Elman ``(T, B, H)`` pre-activations ``a_t`` (``h_t = phi(a_t)``);
                    LSTM ``(T, B, 4H)`` gate pre-activations ``x_t W_ih^T + b_ih + h_{t-1} W_hh^T + b_hh``
                    (``i, f, g, o``); GRU ``(T, B, 4H)`` ``[a_r, a_z, x_t W_in^T + b_in,
                    h_{t-1} W_hn^T + b_hn]``; else ``None``.
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


class RecurrentModel(Protocol):
    """The contract every rnnflow recurrent model keeps, in both backends, with the same
    signatures; the analyzers and trainers use nothing else of it.

    ``model(x, state0=None) -> SequenceOutput`` with x ``(T, B, I)``; states ``(L, B, H)``
    (LSTM: a pair ``(h, c)`` of them).
    """

    config: Any

    @property
    def dtype(self) -> Any: ...

    def __call__(self, x, state0=None) -> SequenceOutput: ...

    def initial_state(self, batch: int) -> Any:
        """Zeros ``(L, B, H)`` (LSTM: a pair)."""

    def step(self, layer: int, state, x_t) -> Any:
        """One step of layer ``layer``: state ``(B, H)`` (LSTM: ``(h, c)``), x_t ``(B, I_l)``."""

    def step_function(self) -> Callable:
        """``f(p, state, x_t)``: one step given a layer's parameters (one object per cell kind)."""

    def layer_params(self, layer: int) -> dict:
        """Layer ``layer``'s parameters in schema names (``weight_ih``, ``weight_hh``, ...)."""

    def readout(self, h) -> Any:
        """The head on top-layer states ``(T, B, H) -> (T, B, O)``."""


class StackModel(Protocol):
    """The contract of a stack ``x_{l+1} = f_l(x_l)`` (Transformer, MLP), in both backends:
    ``y = readout(f_{L-1}(... f_0(stack_input(x))))``."""

    config: Any
    batch_axis: int   # where the batch sits in every x_l: 1 for (T, B, D), 0 for (B, W)

    @property
    def dtype(self) -> Any: ...

    def stack_input(self, x) -> Any:
        """``x_0`` from the model's input (Transformer: embedding + positions)."""

    def blocks(self) -> list:
        """``[f_0, ..., f_{L-1}]``, one callable per block / hidden layer."""

    def readout(self, h) -> Any:
        """What turns ``x_L`` into the output ``y`` (final norm, head)."""

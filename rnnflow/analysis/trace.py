"""What a backend hands the analyzers after running a recurrence: NumPy arrays only.

A backend's ``trace(model_or_step, xs, h0, layer=...)`` runs ``h_t = f(h_{t-1}, x_t)``
and returns a :class:`Trace`; the analyzers then ask it for step Jacobians chunk by
chunk. The checks here name the first bad time step so a user can find it.
"""
from __future__ import annotations

from typing import NamedTuple

import numpy as np


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


def check_sequence(shape, what: str = "xs") -> None:
    """Raise ``ValueError`` unless ``shape`` is a non-empty time-major ``(T, B, I)``."""
    shape = tuple(shape)
    if len(shape) != 3:
        raise ValueError(f"{what} has shape {shape} (rank {len(shape)}): expected rank 3, "
                         f"layout (T, B, I) (time-major)")
    if 0 in shape:
        raise ValueError(f"{what} has an empty dimension (shape {shape})")


def check_state_shapes(parts_shapes, batch: int, what: str = "h0") -> None:
    """Each state part must be ``(B, H_i)`` with the batch of ``xs``."""
    for i, s in enumerate(parts_shapes):
        s = tuple(s)
        if len(s) != 2 or s[0] != batch or s[1] == 0:
            name = what if len(parts_shapes) == 1 else f"{what}[{i}]"
            raise ValueError(f"{name} has shape {s}: expected (B, H) with B={batch} (the batch of xs)")


def check_step_output(in_shapes, out_shapes) -> None:
    """A step function must return a state of the structure and shapes it was given."""
    in_shapes, out_shapes = [tuple(s) for s in in_shapes], [tuple(s) for s in out_shapes]
    if in_shapes != out_shapes:
        raise ValueError(f"the step function returned a state with shapes {out_shapes}, "
                         f"expected the input state's {in_shapes}")


def check_trace(tr: Trace) -> None:
    """Raise ``ValueError`` naming the first step ``t`` whose hidden state is NaN/Inf."""
    T1 = tr.T + 1
    bad = np.zeros(T1, dtype=bool)
    for s in tr.states:
        if s.shape[0] != T1 or s.shape[1] != tr.B:
            raise ValueError(f"state part has shape {s.shape}, expected ({T1}, {tr.B}, H)")
        bad |= ~np.isfinite(s.reshape(T1, -1)).all(axis=1)
    if bad.any():
        t = int(np.argmax(bad))
        parts = [i for i, s in enumerate(tr.states) if not np.isfinite(s[t]).all()]
        rows = sorted({int(b) for s in tr.states for b in np.flatnonzero(~np.isfinite(s[t]).all(axis=-1))})
        where = "in h0 (t=0)" if t == 0 else f"first at step t={t} (h_t after input xs[{t - 1}])"
        raise ValueError(f"the hidden state is non-finite (NaN/Inf) {where}; state part(s) {parts}, "
                         f"batch element(s) {rows[:8]}")
    if not np.isfinite(tr.inputs).all():
        t = int(np.argmax(~np.isfinite(tr.inputs.reshape(tr.T, -1)).all(axis=1)))
        raise ValueError(f"the inputs are non-finite (NaN/Inf) first at xs[{t}] (step t={t + 1})")

"""A stacked recurrent model as a stack of sequence maps, for the gradient through its layers.

Layer ``l`` maps its input sequence ``x^(l)`` ``(T, B, I_l)`` to its states ``h^(l)`` ``(T, B, H)``
by ``model.step(l, state, x_t)`` from ``model.initial_state(B)`` (the contract only); the
states are stacked over time with arithmetic alone (``sum_t e_t (x) h_t``, ``e_t`` a row of
the identity) so the same code differentiates in either backend. That costs ``T`` times the
memory of one sequence: fine at the sizes a diagnosis runs at.
"""
from __future__ import annotations

import numpy as np

from ..analysis.trace import parts


def sequence_layers(model, ops, T: int) -> list:
    """``[f_0, ..., f_{L-1}]`` with ``f_l(x^(l)) = h^(l)``; the last is followed by ``model.readout``."""
    eye = ops.asarray(np.eye(T), model.dtype, ops.device_of(model))

    def layer(l):
        def f(x):
            s0 = model.initial_state(x.shape[1])
            state = tuple(p[l] for p in s0) if isinstance(s0, (tuple, list)) else s0[l]
            out = 0
            for t in range(T):
                state = model.step(l, state, x[t])
                out = out + eye[t][:, None, None] * parts(state)[0][None]   # (T, B, H)
            return out
        return f
    return [layer(l) for l in range(model.config.num_layers)]

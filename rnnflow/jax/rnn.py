"""Elman RNN, LSTM and GRU in JAX: one-step functions and a stacked sequence model.

Layout: inputs ``(T, B, I)`` (time-major), states ``(L, B, H)``. The step
functions take one layer's parameter dict (schema names); the sequence function
drives them with ``lax.scan``.
"""
from __future__ import annotations

import dataclasses
import functools
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from .. import validation
from ..activations import ACTIVATIONS
from ..config import LSTMConfig, RNNConfig
from ..types import SequenceOutput
from . import arrays
from .activations import get_activation


# ---------------------------------------------------------------- step functions
def rnn_step(p, h, x, activation: str = "tanh"):
    """``h' = phi(x W_ih^T + b_ih + h W_hh^T + b_hh)``; h (B, H), x (B, I) -> (B, H)."""
    return _rnn_cell(p, h, x @ p["weight_ih"].T + p["bias_ih"], get_activation(activation))


def lstm_step(p, state, x):
    """One LSTM step; state ``(h, c)`` each (B, H), x (B, I) -> new ``(h, c)``."""
    return _lstm_cell(p, state, x @ p["weight_ih"].T + p["bias_ih"])


def gru_step(p, h, x):
    """One GRU step; h (B, H), x (B, I) -> (B, H)."""
    return _gru_cell(p, h, x @ p["weight_ih"].T + p["bias_ih"])


# (cell, activation) -> f(p, state, x), one function object per cell kind
CELL_STEPS = {("lstm", None): lstm_step, ("gru", None): gru_step,
              **{("rnn", a): functools.partial(rnn_step, activation=a) for a in ACTIVATIONS}}


def _rnn_cell(p, h, xw, phi):
    return phi(xw + p["bias_hh"] + h @ p["weight_hh"].T)


def _lstm_cell(p, state, xw):
    return _lstm_update(state[1], xw + p["bias_hh"] + state[0] @ p["weight_hh"].T)


def _lstm_update(c, gates):
    """``(h', c')`` from the cell state c (B, H) and the pre-activations (B, 4H): i, f, g, o."""
    i, f, g, o = jnp.split(gates, 4, axis=-1)
    c = jax.nn.sigmoid(f) * c + jax.nn.sigmoid(i) * jnp.tanh(g)
    return jax.nn.sigmoid(o) * jnp.tanh(c), c


def _gru_cell(p, h, xw):
    return _gru_update(h, xw, p["bias_hh"] + h @ p["weight_hh"].T)


def _gru_update(h, xw, hw):
    """``h'`` from h (B, H), ``xw = x W_ih^T + b_ih`` and ``hw = h W_hh^T + b_hh`` (B, 3H): r, z, n."""
    xr, xz, xn = jnp.split(xw, 3, axis=-1)
    hr, hz, hn = jnp.split(hw, 3, axis=-1)
    r, z = jax.nn.sigmoid(xr + hr), jax.nn.sigmoid(xz + hz)
    n = jnp.tanh(xn + r * hn)
    return n + z * (h - n)  # == (1 - z) * n + z * h


def _scan_body(kind: str, p, phi):
    """The scan body of one layer, ``(state, x_t) -> (state', state')``. The transposed
    weights and the summed biases are computed once, outside the loop: XLA on CPU does not
    hoist them out of the scan itself (the LSTM's backward pass measured 1.4x slower)."""
    wi, wh = p["weight_ih"].T, p["weight_hh"].T      # (I, G H), (H, G H)
    if kind == "gru":  # b_hn sits inside r * (W_hn h + b_hn): the biases stay apart
        def body(h, x_t):
            h = _gru_update(h, x_t @ wi + p["bias_ih"], h @ wh + p["bias_hh"])
            return h, h
        return body
    b = p["bias_ih"] + p["bias_hh"]
    if kind == "lstm":
        def body(state, x_t):
            state = _lstm_update(state[1], x_t @ wi + state[0] @ wh + b)
            return state, state
        return body

    def body(h, x_t):
        h = phi(x_t @ wi + h @ wh + b)
        return h, h
    return body


# ---------------------------------------------------------------- sequence function
@functools.partial(jax.jit, static_argnames="config")
def recurrent_forward(params, x, state0, config) -> SequenceOutput:
    """Run the stacked cell over ``x`` (T, B, I) from ``state0`` ((L, B, H); LSTM: a pair)."""
    lstm = isinstance(config, LSTMConfig)
    phi = get_activation(config.activation) if isinstance(config, RNNConfig) else None
    kind = "lstm" if lstm else ("rnn" if phi is not None else "gru")
    # Unlike torch, the input projection stays inside the scan body: hoisting it out
    # (one big matmul, then slicing xs) measured 2x slower under XLA on CPU.
    hs, cs = [], []
    inp = x
    for l, p in enumerate(params["layers"]):
        init = (state0[0][l], state0[1][l]) if lstm else state0[l]
        _, seq = jax.lax.scan(_scan_body(kind, p, phi), init, inp)
        if lstm:
            seq, c_seq = seq
            cs.append(c_seq)
        hs.append(seq)
        inp = seq
    y = inp @ params["head"]["weight"].T + params["head"]["bias"] if "head" in params else inp
    return SequenceOutput(y, jnp.stack(hs), jnp.stack(cs) if lstm else None)


def initial_state(config, batch: int, dtype):
    z = jnp.zeros((config.num_layers, batch, config.hidden_size), dtype)
    return (z, z) if isinstance(config, LSTMConfig) else z


@dataclasses.dataclass(eq=False)
class RecurrentNet:
    """Stacked Elman RNN, LSTM or GRU (by config type) with an optional linear head.

    ``model(x, state0=None) -> SequenceOutput`` with x ``(T, B, I)``; ``state0``
    is ``(L, B, H)`` (LSTM: a pair ``(h0, c0)``), zeros by default. ``model.params``
    is the pytree to differentiate: ``recurrent_forward(params, x, state0, config)``.
    Build with :func:`rnnflow.jax.build`.
    """

    config: Any        # the model's rnnflow config
    params: dict       # the parameter pytree (schema dict of jax arrays)

    @property
    def dtype(self):
        return self.params["layers"][0]["weight_hh"].dtype

    def initial_state(self, batch: int):
        return initial_state(self.config, batch, self.dtype)

    def step(self, layer: int, state, x_t):
        """One time step of layer ``layer``: state (B, H) (LSTM: (h, c)), x_t (B, I_l)."""
        return self.step_function()(self.layer_params(layer), state, x_t)

    def step_function(self):
        """``f(p, state, x_t)``, one step of any layer given its :meth:`layer_params` (the
        same object for every model of a cell kind: JAX compiles on it)."""
        return CELL_STEPS[self.config.cell, getattr(self.config, "activation", None)]

    def layer_params(self, layer: int) -> dict:
        """Layer ``layer``'s parameters in schema names (``weight_ih``, ``weight_hh``, ...)."""
        return self.params["layers"][layer]

    def readout(self, h):
        """The head on top-layer states h (T, B, H) -> y (T, B, O) (identity without a head)."""
        return h @ self.params["head"]["weight"].T + self.params["head"]["bias"] if "head" in self.params else h

    def __call__(self, x, state0=None, *, validate: bool = True) -> SequenceOutput:
        lstm = isinstance(self.config, LSTMConfig)
        if validate:
            _check(x, state0, self.config, self.dtype, lstm)
        if state0 is None:
            state0 = self.initial_state(x.shape[1])
        return recurrent_forward(self.params, x, state0, self.config)


def _check(x, state0, cfg, dtype, lstm):
    validation.check_model_input(arrays, x, cfg, dtype, rank=3)
    if state0 is not None:
        validation.check_model_state(arrays, state0, cfg, x.shape[1], dtype, lstm=lstm)

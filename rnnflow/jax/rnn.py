"""Elman RNN, LSTM and GRU in JAX: one-step functions and a stacked sequence model.

Layout: inputs ``(T, B, I)`` (time-major), states ``(L, B, H)``. The step
functions take one layer's parameter dict (schema names); the sequence function
drives them with ``lax.scan``.
"""
from __future__ import annotations

from functools import partial

import jax
import jax.numpy as jnp
import numpy as np

from .. import validation
from ..config import LSTMConfig, RNNConfig
from ..types import SequenceOutput
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


def _rnn_cell(p, h, xw, phi):
    return phi(xw + p["bias_hh"] + h @ p["weight_hh"].T)


def _lstm_cell(p, state, xw):
    h, c = state
    gates = xw + p["bias_hh"] + h @ p["weight_hh"].T  # (B, 4H): i, f, g, o
    i, f, g, o = jnp.split(gates, 4, axis=-1)
    c = jax.nn.sigmoid(f) * c + jax.nn.sigmoid(i) * jnp.tanh(g)
    return jax.nn.sigmoid(o) * jnp.tanh(c), c


def _gru_cell(p, h, xw):
    hw = p["bias_hh"] + h @ p["weight_hh"].T  # (B, 3H): r, z, n
    xr, xz, xn = jnp.split(xw, 3, axis=-1)
    hr, hz, hn = jnp.split(hw, 3, axis=-1)
    r, z = jax.nn.sigmoid(xr + hr), jax.nn.sigmoid(xz + hz)
    n = jnp.tanh(xn + r * hn)
    return n + z * (h - n)  # == (1 - z) * n + z * h


# ---------------------------------------------------------------- sequence function
@partial(jax.jit, static_argnames="config")
def recurrent_forward(params, x, state0, config) -> SequenceOutput:
    """Run the stacked cell over ``x`` (T, B, I) from ``state0`` ((L, B, H); LSTM: a pair)."""
    lstm = isinstance(config, LSTMConfig)
    phi = get_activation(config.activation) if isinstance(config, RNNConfig) else None
    # Unlike torch, the input projection stays inside the scan body: hoisting it out
    # (one big matmul, then slicing xs) measured 2x slower under XLA on CPU.
    if lstm:
        cell = _lstm_cell
    elif phi is not None:
        cell = lambda p, h, xw: _rnn_cell(p, h, xw, phi)  # noqa: E731
    else:
        cell = _gru_cell
    hs, cs = [], []
    inp = x
    for l, p in enumerate(params["layers"]):
        def body(state, x_t, p=p):
            state = cell(p, state, x_t @ p["weight_ih"].T + p["bias_ih"])
            return state, state
        init = (state0[0][l], state0[1][l]) if lstm else state0[l]
        _, seq = jax.lax.scan(body, init, inp)
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


class RecurrentNet:
    """Stacked Elman RNN, LSTM or GRU (by config type) with an optional linear head.

    ``model(x, state0=None) -> SequenceOutput`` with x ``(T, B, I)``; ``state0``
    is ``(L, B, H)`` (LSTM: a pair ``(h0, c0)``), zeros by default. ``model.params``
    is the pytree to differentiate: ``recurrent_forward(params, x, state0, config)``.
    Build with :func:`rnnflow.jax.build`.
    """

    def __init__(self, config, params):
        self.config = config
        self.params = params

    @property
    def dtype(self):
        return self.params["layers"][0]["weight_hh"].dtype

    def initial_state(self, batch: int):
        return initial_state(self.config, batch, self.dtype)

    def step(self, layer: int, state, x_t):
        """One time step of layer ``layer``: state (B, H) (LSTM: (h, c)), x_t (B, I_l)."""
        p = self.params["layers"][layer]
        if isinstance(self.config, RNNConfig):
            return rnn_step(p, state, x_t, self.config.activation)
        return (lstm_step if isinstance(self.config, LSTMConfig) else gru_step)(p, state, x_t)

    def __call__(self, x, state0=None, *, validate: bool = True) -> SequenceOutput:
        lstm = isinstance(self.config, LSTMConfig)
        if validate:
            _validate(x, state0, self.config, self.dtype, lstm)
        if state0 is None:
            state0 = self.initial_state(x.shape[1])
        return recurrent_forward(self.params, x, state0, self.config)


def _validate(x, state0, cfg, dtype, lstm):
    if not hasattr(x, "shape") or not hasattr(x, "dtype"):
        raise TypeError(f"x must be a jax or numpy array, got {type(x).__name__}")
    validation.check_input(tuple(x.shape), str(x.dtype), rank=3, features=cfg.input_size,
                           model_dtype=str(dtype))
    if not isinstance(x, jax.core.Tracer):
        validation.check_finite(bool(np.isfinite(np.asarray(x)).all()))
    if state0 is not None:
        want = (cfg.num_layers, x.shape[1], cfg.hidden_size)
        if lstm and (not isinstance(state0, (tuple, list)) or len(state0) != 2):
            raise ValueError("state0 for an LSTM must be a pair (h0, c0), each (L, B, H)")
        for name, s in zip(("h0", "c0") if lstm else ("state0",), state0 if lstm else (state0,)):
            validation.check_state(tuple(s.shape), want, name)
            if not isinstance(s, jax.core.Tracer):
                validation.check_finite(bool(np.isfinite(np.asarray(s)).all()), name)

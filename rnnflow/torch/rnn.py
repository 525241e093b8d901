"""Elman RNN, LSTM and GRU in torch: one-step functions and a stacked sequence model.

Layout: inputs ``(T, B, I)`` (time-major), states ``(L, B, H)``. The step
functions take one layer's parameter dict (schema names) and are what the
analyzers differentiate. The sequence model runs PyTorch's fused kernels where
they implement the cell (tanh/relu RNN, LSTM, GRU; our schema *is* their layout)
and otherwise a Python loop with the input projection hoisted out of it.
"""
from __future__ import annotations

import functools

import torch
from torch import nn

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
    # xw = x W_ih^T + b_ih, precomputed: (B, H)
    return phi(torch.addmm(xw + p["bias_hh"], h, p["weight_hh"].T))


def _lstm_cell(p, state, xw):
    h, c = state
    gates = torch.addmm(xw + p["bias_hh"], h, p["weight_hh"].T)  # (B, 4H): i, f, g, o
    i, f, g, o = gates.chunk(4, dim=-1)
    c = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(g)
    return torch.sigmoid(o) * torch.tanh(c), c


def _gru_cell(p, h, xw):
    hw = torch.addmm(p["bias_hh"], h, p["weight_hh"].T)  # (B, 3H): r, z, n
    xr, xz, xn = xw.chunk(3, dim=-1)
    hr, hz, hn = hw.chunk(3, dim=-1)
    r, z = torch.sigmoid(xr + hr), torch.sigmoid(xz + hz)
    n = torch.tanh(xn + r * hn)
    return n + z * (h - n)  # == (1 - z) * n + z * h


# ---------------------------------------------------------------- module
class _Layer(nn.Module):
    def __init__(self, gh: int, in_f: int, h: int, dtype):
        super().__init__()
        kw = {"dtype": dtype}
        self.weight_ih = nn.Parameter(torch.zeros(gh, in_f, **kw))
        self.weight_hh = nn.Parameter(torch.zeros(gh, h, **kw))
        self.bias_ih = nn.Parameter(torch.zeros(gh, **kw))
        self.bias_hh = nn.Parameter(torch.zeros(gh, **kw))

    def as_dict(self):
        return {"weight_ih": self.weight_ih, "weight_hh": self.weight_hh,
                "bias_ih": self.bias_ih, "bias_hh": self.bias_hh}


class RecurrentNet(nn.Module):
    """Stacked Elman RNN, LSTM or GRU (by config type) with an optional linear head.

    ``forward(x, state0=None) -> SequenceOutput`` with x ``(T, B, I)``; ``state0``
    is ``(L, B, H)`` (LSTM: a pair ``(h0, c0)``), zeros by default.
    Parameters are zeros until loaded: use :func:`rnnflow.torch.build`.
    """

    def __init__(self, config, dtype=torch.float32):
        super().__init__()
        self.config = config
        h, gh = config.hidden_size, config.gates * config.hidden_size
        self.layers = nn.ModuleList(
            _Layer(gh, config.input_size if l == 0 else h, h, dtype) for l in range(config.num_layers))
        self.head = (nn.Linear(h, config.output_size, dtype=dtype)
                     if config.output_size is not None else None)
        self._phi = get_activation(config.activation) if isinstance(config, RNNConfig) else None

    @property
    def dtype(self):
        return self.layers[0].weight_hh.dtype

    def initial_state(self, batch: int):
        z = torch.zeros(self.config.num_layers, batch, self.config.hidden_size, dtype=self.dtype,
                        device=self.layers[0].weight_hh.device)
        return (z, z.clone()) if isinstance(self.config, LSTMConfig) else z

    def step(self, layer: int, state, x_t):
        """One time step of layer ``layer``: state (B, H) (LSTM: (h, c)), x_t (B, I_l)."""
        return self.step_function()(self.layer_params(layer), state, x_t)

    def step_function(self):
        """``f(p, state, x_t)``, one step of any layer given its :meth:`layer_params` (the
        same object for every model of a cell kind: JAX compiles on it)."""
        return CELL_STEPS[self.config.cell, getattr(self.config, "activation", None)]

    def layer_params(self, layer: int) -> dict:
        """Layer ``layer``'s parameters in schema names (``weight_ih``, ``weight_hh``, ...)."""
        return self.layers[layer].as_dict()

    def readout(self, h):
        """The head on top-layer states h (T, B, H) -> y (T, B, O) (identity without a head)."""
        return self.head(h) if self.head is not None else h

    def forward(self, x, state0=None, *, validate: bool = True, fused: bool = True,
                return_cell: bool = True) -> SequenceOutput:
        """Run the stack over x (T, B, I). ``fused=True`` uses PyTorch's own sequence kernels
        (``torch.rnn_tanh`` / ``rnn_relu`` / ``lstm`` / ``gru``, the ones behind ``torch.nn.RNN``)
        layer by layer where they implement this cell; ``fused=False`` (or another
        activation) runs the Python loop over :func:`rnn_step`-style cells. Both compute the
        same function (the tests compare them). ``return_cell=False`` skips rebuilding an
        LSTM's cell states on the fused path (``cell`` is then None): training needs only ``y``."""
        cfg = self.config
        lstm = isinstance(cfg, LSTMConfig)
        if validate:
            _check(x, state0, cfg, self.dtype, lstm)
        if state0 is None:
            state0 = self.initial_state(x.shape[1])
        use_fused = fused and (self._phi is None or cfg.activation in _FUSED_RNN)
        run = _layer_fused if use_fused else _layer_loop
        hs, cs = [], []
        inp = x
        for l, layer in enumerate(self.layers):
            init = (state0[0][l], state0[1][l]) if lstm else state0[l]
            inp, c_seq = run(cfg, layer.as_dict(), inp, init, self._phi, return_cell)
            hs.append(inp)
            if c_seq is not None:
                cs.append(c_seq)
        y = self.readout(inp)
        return SequenceOutput(y, torch.stack(hs), torch.stack(cs) if cs else None)


_FUSED_RNN = {"tanh": torch.rnn_tanh, "relu": torch.rnn_relu}


def _layer_loop(cfg, p, inp, init, phi, return_cell=True):
    """One layer over the sequence with a Python time loop; returns (h_seq, c_seq or None)."""
    T, B = inp.shape[:2]
    xw = torch.addmm(p["bias_ih"], inp.reshape(T * B, -1), p["weight_ih"].T).reshape(T, B, -1)
    outs, cells = [], []
    state = init
    for t in range(T):
        if isinstance(cfg, LSTMConfig):
            state = _lstm_cell(p, state, xw[t])
            outs.append(state[0])
            cells.append(state[1])
        else:
            state = _rnn_cell(p, state, xw[t], phi) if phi else _gru_cell(p, state, xw[t])
            outs.append(state)
    return torch.stack(outs), (torch.stack(cells) if cells else None)


def _layer_fused(cfg, p, inp, init, phi, return_cell=True):
    """One layer through PyTorch's fused kernel; LSTM cell states are rebuilt exactly
    (and differentiably) from the hidden states by a parallel scan, see _lstm_cells."""
    w = [p["weight_ih"], p["weight_hh"], p["bias_ih"], p["bias_hh"]]
    args = (w, True, 1, 0.0, True, False, False)  # biases, 1 layer, no dropout, train, uni, time-major
    if isinstance(cfg, LSTMConfig):
        h0, c0 = init
        h_seq, _, _ = torch.lstm(inp, (h0[None], c0[None]), *args)
        return h_seq, (_lstm_cells(p, inp, h0, c0, h_seq) if return_cell else None)
    fn = torch.gru if phi is None else _FUSED_RNN[cfg.activation]
    h_seq, _ = fn(inp, init[None], *args)
    return h_seq, None


def _lstm_cells(p, x, h0, c0, h_seq):
    """c_t = f_t * c_{t-1} + i_t * g_t for all t from the known h_{t-1}: the gates come from
    one (T*B)-row matmul, the linear recurrence from a Hillis-Steele scan over
    (f, u) pairs, (f2, u2) o (f1, u1) = (f2 f1, f2 u1 + u2): log2(T) vectorised steps."""
    T, B = x.shape[:2]
    h_prev = torch.cat([h0[None], h_seq[:-1]])  # (T, B, H)
    gates = (torch.addmm(p["bias_ih"], x.reshape(T * B, -1), p["weight_ih"].T)
             + torch.addmm(p["bias_hh"], h_prev.reshape(T * B, -1), p["weight_hh"].T)).reshape(T, B, -1)
    i, f, g, _ = gates.chunk(4, dim=-1)
    f = torch.sigmoid(f)
    u = torch.sigmoid(i) * torch.tanh(g)
    u = torch.cat([u[:1] + f[:1] * c0, u[1:]])  # fold c0 into the first step
    d = 1
    while d < T:
        u = torch.cat([u[:d], u[d:] + f[d:] * u[:-d]])
        f = torch.cat([f[:d], f[d:] * f[:-d]])
        d *= 2
    return u


def _check(x, state0, cfg, dtype, lstm):
    validation.check_model_input(arrays, x, cfg, dtype, rank=3)
    if state0 is not None:
        validation.check_model_state(arrays, state0, cfg, x.shape[1], dtype, lstm=lstm)

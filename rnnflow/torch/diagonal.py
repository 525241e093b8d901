"""The diagonal ("modern") recurrences' stack in torch: norms, the linear scan, the model.

Layout: inputs ``(T, B, I)`` (time-major), residual stream ``(T, B, D)``, states
``(L, T, B, S)`` with S = N real units, or 2N for a complex state stored ``[re, im]``. The
stack (see :class:`rnnflow.config.LRUConfig` and friends)::

    x^0 = embed(x);  u = norm_l(x^l);  h^l = scan(a(u), b(u));  x^{l+1} = x^l + out_l(h^l, u)
    y = head(norm_f(x^L))

Each cell (:mod:`rnnflow.torch.lru`, :mod:`rnnflow.torch.mingru`) gives the coefficients of
its recurrence ``h_t = a_t * h_{t-1} + b_t`` (elementwise; complex for the LRU) from the
normed input only, so the whole sequence is one linear scan.
"""
from __future__ import annotations

import torch
from torch import nn

from .. import validation
from ..config import DIAGONAL_NORM_EPS
from ..params import param_shapes
from ..types import SequenceOutput
from . import arrays, lru, mingru

CELLS = {"lru": lru.LRU_CELL, "mingru": mingru.MINGRU_CELL, "minlstm": mingru.MINLSTM_CELL}


# ---------------------------------------------------------------- building blocks
def linear(p, x):
    """``x W^T + b``; x (..., in) -> (..., out)."""
    return x @ p["weight"].T + p["bias"]


def norm(p, x):
    """Pre-norm over the last dim: LayerNorm ``(x - mean) / sqrt(var + eps) * w + b`` when ``p``
    has a bias, RMSNorm ``x / sqrt(mean(x^2) + eps) * w`` when it has only a weight, the
    identity when ``p`` is None (``norm="none"``). eps = ``DIAGONAL_NORM_EPS``."""
    if p is None:
        return x
    if "bias" in p:
        mean = x.mean(-1, keepdim=True)
        var = ((x - mean) ** 2).mean(-1, keepdim=True)
        return (x - mean) / torch.sqrt(var + DIAGONAL_NORM_EPS) * p["weight"] + p["bias"]
    return x / torch.sqrt((x * x).mean(-1, keepdim=True) + DIAGONAL_NORM_EPS) * p["weight"]


def use_parallel(parallel: bool | None, like=None) -> bool:
    """The scan form: ``parallel`` if given, else the doubling scan on an accelerator (``like``,
    a tensor of the scan, is not on the CPU) and the sequential loop on a CPU, where it ran 2-25x
    faster with or without autograd (LRU, minGRU, selective SSM; T = 1000 and 10000, batch 8,
    one thread; ``docs/benchmarks.md``): the doubling scan's log2(T) passes each touch the whole
    ``(T, B, N)`` array."""
    if parallel is not None:
        return bool(parallel)
    return like is not None and like.device.type != "cpu"


def linear_scan(a, b, h0, parallel: bool | None = None):
    """``h_t = a_t * h_{t-1} + b_t`` for t = 1..T from ``h0``; a, b (T, B, N) (real or complex,
    any signs), h0 (B, N) -> (T, B, N).

    ``parallel=True``: the Hillis-Steele doubling scan over pairs,
    ``(a2, b2) o (a1, b1) = (a2 a1, a2 b1 + b2)``, log2(T) vectorised steps, exact for
    sign-indefinite and complex values (no logarithms; products of ``|a_t| < 1`` only underflow
    towards 0). ``parallel=False``: the sequential loop; ``None``: :func:`use_parallel`."""
    b = torch.cat([b[:1] + a[:1] * h0, b[1:]])
    if not use_parallel(parallel, a):
        # unbind, not a[t]: each index's backward writes a zero-filled (T, B, N) gradient (O(T^2))
        out, h = [], h0
        for t, (a_t, b_t) in enumerate(zip(a.unbind(0), b.unbind(0))):
            h = a_t * h + b_t if t else b_t
            out.append(h)
        return torch.stack(out)
    d, T = 1, a.shape[0]
    while d < T:
        b = torch.cat([b[:d], b[d:] + a[d:] * b[:-d]])
        a = torch.cat([a[:d], a[d:] * a[:-d]])
        d *= 2
    return b


def as_tree(module: nn.Module) -> dict:
    """A module's parameters as a nested dict keyed by the schema names (lists for layers)."""
    out: dict = {}
    for key, t in module.named_parameters():
        *path, leaf = key.split(".")
        d = out
        for k in path:
            d = d.setdefault(k, {})
        d[leaf] = t
    if "layers" in out:
        out["layers"] = [out["layers"][str(i)] for i in range(len(out["layers"]))]
    return out


def _holder(shapes, dtype) -> nn.Module:
    """Parameter holders (zeros) laid out as the schema ``shapes``."""
    if isinstance(shapes, list):
        return nn.ModuleList(_holder(s, dtype) for s in shapes)
    m = nn.Module()
    for k, v in shapes.items():
        if isinstance(v, tuple):
            m.register_parameter(k, nn.Parameter(torch.zeros(v, dtype=dtype)))
        else:
            m.add_module(k, _holder(v, dtype))
    return m


# ---------------------------------------------------------------- module
class DiagonalNet(nn.Module):
    """Stacked LRU, minGRU or minLSTM (by config type) with residuals, pre-norm and a head.

    ``forward(x, state0=None, parallel=None) -> SequenceOutput(y, hidden, None)``: x
    ``(T, B, I)``, y ``(T, B, O)`` (``(T, B, D)`` without a head), hidden ``(L, T, B, S)``,
    state0 ``(L, B, S)`` (zeros by default). Parameters are zeros until loaded: use
    :func:`rnnflow.torch.build`.
    """

    def __init__(self, config, dtype=torch.float32):
        super().__init__()
        self.config = config
        self._cell = CELLS[config.cell]
        for k, v in param_shapes(config).items():
            self.add_module(k, _holder(v, dtype))

    @property
    def dtype(self):
        return self.embed.weight.dtype

    def initial_state(self, batch: int):
        """The zero state ``(L, B, S)``: every layer's, for ``batch`` sequences."""
        return torch.zeros(self.config.num_layers, batch, self.config.state_width, dtype=self.dtype,
                           device=self.embed.weight.device)

    def step_function(self):
        """``f(p, h (B, S), u_t (B, D)) -> h' (B, S)``: one step of any layer's recurrence given
        its :meth:`layer_params` and its *normed* input u_t (the same object for every model
        of a cell kind)."""
        return self._cell.step

    def step(self, layer: int, h, u_t):
        """One time step of layer ``layer``'s recurrence: h (B, S), u_t (B, D) normed input."""
        return self._cell.step(self.layer_params(layer), h, u_t)

    def layer_params(self, layer: int) -> dict:
        """Layer ``layer``'s parameters in schema names (``nu_log``, ``B_re``, ``gate``, ...)."""
        return as_tree(self.layers[layer])

    def readout(self, z):
        """``head(norm_f(z))`` on the stream leaving the last layer, z (T, B, D)."""
        p = as_tree(self)
        z = norm(p.get("norm_f"), z)
        return linear(p["head"], z) if "head" in p else z

    def layer_inputs(self, x, layer: int, state0=None, *, parallel: bool | None = None):
        """The normed inputs u (T, B, D) of layer ``layer`` for input x (T, B, I)."""
        return self._run(x, state0, parallel, upto=layer)[2][layer]

    def log_decay(self, x, layer: int, state0=None, *, parallel: bool | None = None):
        """``log|a_t|`` (T, B, S) of layer ``layer``: the magnitude of the diagonal of its step
        Jacobian dh_t/dh_{t-1} per real state coordinate (a complex unit's re and im both carry
        ``log|lambda|``)."""
        u = self.layer_inputs(x, layer, state0, parallel=parallel)
        return self._cell.log_decay(self.layer_params(layer), u)

    def _run(self, x, state0, parallel, upto=None):
        cfg = self.config
        p = as_tree(self)
        if state0 is None:
            state0 = self.initial_state(x.shape[1])
        z = linear(p["embed"], x)
        hs, us = [], []
        for l, lp in enumerate(p["layers"]):
            u = norm(lp.get("norm"), z)
            us.append(u)
            if upto is not None and l == upto:
                return z, hs, us
            a, b = self._cell.coefficients(lp, u)
            h = self._cell.to_state(linear_scan(a, b, self._cell.from_state(state0[l]), parallel))
            hs.append(h)
            o = self._cell.output(lp, h, u)
            z = z + o if cfg.residual else o
        return z, hs, us

    def forward(self, x, state0=None, *, validate: bool = True, parallel: bool | None = None) -> SequenceOutput:
        """Run the stack over x (T, B, I); ``parallel=False`` runs the recurrences as a loop."""
        if validate:
            validation.check_model_input(arrays, x, self.config, self.dtype, rank=3)
            if state0 is not None:
                validation.check_diagonal_state(arrays, state0, self.config, x.shape[1], self.dtype)
        z, hs, _ = self._run(x, state0, parallel)
        return SequenceOutput(self.readout(z), torch.stack(hs), None)

"""Selective state space model (Mamba's layer, Gu & Dao 2023) in torch.

Mirrors :mod:`rnnflow.jax.ssm` function for function. Layout: inputs ``(T, B, I)``
(time-major), residual stream ``(T, B, D)``, scan channels ``(T, B, E)`` with
``E = expand * D``, states ``(T, B, E, N)`` inside a layer and flattened to
``(T, B, S)``, ``S = E * N`` (index ``e * N + n``), at the model's boundary.

The recurrence of one layer (see :class:`rnnflow.SelectiveSSMConfig`)::

    h_t = exp(Delta_t A) * h_{t-1} + Delta_t B_t x_t      (per channel e and state n)

depends on the input only through ``x_t``, the x-branch after the causal conv and SiLU,
so :func:`ssm_step` takes ``x_t`` (B, E), not the normed stream ``u_t`` (B, D): with the
conv on, one step of ``u`` would also need the conv's window of past inputs. Given ``x_t``
the step Jacobian is exactly diagonal, ``dh_t/dh_{t-1} = diag(exp(Delta_t A))``, and
:meth:`SelectiveSSM.log_decay` returns its log, ``Delta_t A``.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from .. import validation
from ..analysis.trace import check_layer
from ..params import param_shapes
from ..types import SequenceOutput
from . import arrays
from .diagonal import use_parallel
from .transformer import as_tree

CHUNK = 64   # parallel scan: Hillis-Steele within chunks of this length, a carry between them


# ---------------------------------------------------------------- building blocks
def norm(p, x, kind: str, eps: float):
    """LayerNorm ``(x - mean) / sqrt(var + eps) * w + b``, RMSNorm ``x / sqrt(mean(x^2) + eps) * w``
    or the identity (``kind="none"``), over the last dim."""
    if kind == "none":
        return x
    if kind == "rmsnorm":
        return x * torch.rsqrt((x * x).mean(-1, keepdim=True) + eps) * p["weight"]
    mean = x.mean(-1, keepdim=True)
    var = ((x - mean) ** 2).mean(-1, keepdim=True)
    return (x - mean) / torch.sqrt(var + eps) * p["weight"] + p["bias"]


def softplus(x):
    """``log(1 + e^x)`` exactly (torch's ``F.softplus`` switches to ``x`` above 20; JAX does not)."""
    return torch.logaddexp(x, torch.zeros_like(x))


def causal_conv(p, x):
    """Depthwise causal conv over time: ``out_t = sum_k w[:, k] x_{t-K+1+k} + b``, zeros
    before t=0 (Mamba's ``Conv1d(padding=K-1)`` cut to T); x (T, B, E) -> (T, B, E)."""
    w = p["weight"]                                   # (E, K)
    K, T = w.shape[1], x.shape[0]
    xp = torch.cat([x.new_zeros((K - 1,) + x.shape[1:]), x])   # (T+K-1, B, E)
    return sum(xp[k:k + T] * w[:, k] for k in range(K)) + p["bias"]


def scan_inputs(p, u):
    """The x-branch ``x_t = SiLU(conv(W_x-part u)_t)`` (T, B, E) and the gate branch z (T, B, E)
    (None without a gate) of one layer from its normed input u (T, B, D)."""
    xz = u @ p["in_proj"]["weight"].T                 # (T, B, 2E) or (T, B, E)
    e = p["D"].shape[0]
    xi, z = (xz[..., :e], xz[..., e:]) if xz.shape[-1] == 2 * e else (xz, None)
    if "conv" in p:
        xi = causal_conv(p["conv"], xi)
    return F.silu(xi), z


def selection(p, x):
    """Delta A (..., E, N), Delta B x (..., E, N) and C (..., N) from the scan input x (..., E).
    With ``A = -exp(A_log)``::

        Delta = softplus(W_dt (W_x x)[:R] + b_dt)    B, C = (W_x x)[R:R+N], (W_x x)[R+N:]
        log_a = Delta A                              bx = Delta B x
    """
    n = p["A_log"].shape[1]
    r = p["dt_proj"]["weight"].shape[1]
    dbc = x @ p["x_proj"]["weight"].T                 # (..., R + 2N)
    dt_in, b, c = dbc[..., :r], dbc[..., r:r + n], dbc[..., r + n:]
    delta = softplus(dt_in @ p["dt_proj"]["weight"].T + p["dt_proj"]["bias"])   # (..., E)
    log_a = delta[..., None] * -torch.exp(p["A_log"])                        # (..., E, N)
    bx = (delta * x)[..., None] * b[..., None, :]                            # (..., E, N)
    return log_a, bx, c


def ssm_step(p, h, x_t):
    """One step of a layer's recurrence, ``h' = exp(Delta A) * h + Delta B x_t``, given its
    :meth:`SelectiveSSM.layer_params`; h (B, S), x_t (B, E) the scan input (after the conv
    and SiLU, see :meth:`SelectiveSSM.layer_inputs`) -> h' (B, S)."""
    log_a, bx, _ = selection(p, x_t)                  # (B, E, N)
    return (torch.exp(log_a) * h.reshape(log_a.shape) + bx).reshape(h.shape)


# ---------------------------------------------------------------- the scan
def scan_sequential(log_a, bx, h0):
    """``h_t = exp(log_a_t) h_{t-1} + bx_t`` by a time loop; log_a, bx (T, ...), h0 (...)."""
    hs, h = [], h0
    for a_t, b_t in zip(torch.exp(log_a).unbind(0), bx.unbind(0)):   # unbind: an O(T) backward
        h = a_t * h + b_t
        hs.append(h)
    return torch.stack(hs)


def scan_parallel(log_a, bx, h0, chunk: int = CHUNK):
    """The same ``h_t`` as :func:`scan_sequential`, as a chunked parallel scan.

    Within each chunk a Hillis-Steele scan over pairs ``(log a, b)`` composed as
    ``(la2, b2) o (la1, b1) = (la1 + la2, exp(la2) b1 + b2)`` (log2(chunk) vectorised steps;
    the decay stays in log space: ``la`` becomes the cumulative ``sum_j Delta_j A`` from the
    chunk's start); then a loop over the chunks carries the state, ``h = u + exp(la) h_start``.
    Nothing of size chunk x chunk is built: the extra memory is O(chunk . B . E . N) per
    level (autograd keeps log2(chunk) levels). Stable for any decay: every factor is
    ``exp`` of a sum of non-positive numbers.
    """
    T = log_a.shape[0]
    c = min(chunk, T)
    m = -(-T // c)
    pad = m * c - T
    if pad:  # trailing padding (decay 1, input 0) changes no state before it
        log_a = torch.cat([log_a, log_a.new_zeros((pad,) + log_a.shape[1:])])
        bx = torch.cat([bx, bx.new_zeros((pad,) + bx.shape[1:])])
    la = log_a.reshape((m, c) + log_a.shape[1:])      # (m, c, ...)
    u = bx.reshape((m, c) + bx.shape[1:])
    d = 1
    while d < c:
        u = torch.cat([u[:, :d], u[:, d:] + torch.exp(la[:, d:]) * u[:, :-d]], dim=1)
        la = torch.cat([la[:, :d], la[:, d:] + la[:, :-d]], dim=1)
        d *= 2
    starts, h = [], h0
    for i in range(m):
        starts.append(h)
        h = u[i, -1] + torch.exp(la[i, -1]) * h
    hs = u + torch.exp(la) * torch.stack(starts)[:, None]
    return hs.reshape((m * c,) + hs.shape[2:])[:T]


def ssm_layer(p, u, h0, *, parallel: bool | None = None):
    """One layer on its normed input u (T, B, D) from state h0 (B, S): returns the layer
    output o (T, B, D) and the states h (T, B, S) (``h[t]`` is ``h_{t+1}``)."""
    T, B = u.shape[:2]
    x, z = scan_inputs(p, u)                          # (T, B, E)
    log_a, bx, c = selection(p, x)                    # (T, B, E, N), (T, B, E, N), (T, B, N)
    run = scan_parallel if use_parallel(parallel, log_a) else scan_sequential
    h = run(log_a, bx, h0.reshape(log_a.shape[1:]))   # (T, B, E, N)
    y = torch.einsum("tben,tbn->tbe", h, c) + p["D"] * x
    if z is not None:
        y = y * F.silu(z)
    return y @ p["out_proj"]["weight"].T, h.reshape(T, B, -1)


# ---------------------------------------------------------------- module
class _Holder(nn.Module):
    """Parameters in a schema dict's names (the math is the functions above)."""

    def __init__(self, shapes: dict, dtype):
        super().__init__()
        for k, v in shapes.items():
            if isinstance(v, dict):
                self.add_module(k, _Holder(v, dtype))
            else:
                self.register_parameter(k, nn.Parameter(torch.zeros(v, dtype=dtype)))


class SelectiveSSM(nn.Module):
    """Stacked selective SSM (Mamba) blocks, pre-norm and residual, with an optional head::

        x^0 = W_in x + b_in;  x^{l+1} = x^l + o^l(norm_l(x^l));  y = head(norm_f(x^L))

    ``forward(x, state0=None) -> SequenceOutput(y, hidden, None)``: x (T, B, I), state0
    (L, B, S) (zeros by default; the conv window always starts at zeros, as Mamba's),
    y (T, B, O) (the normed stream (T, B, D) without a head), hidden (L, T, B, S) with
    ``hidden[l, t]`` layer l's ``h_{t+1}``. Parameters are zeros until loaded: use
    :func:`rnnflow.torch.build`.
    """

    def __init__(self, config, dtype=torch.float32):
        super().__init__()
        self.config = config
        shapes = param_shapes(config)
        self.embed = _Holder(shapes["embed"], dtype)
        self.layers = nn.ModuleList(_Holder(s, dtype) for s in shapes["layers"])
        self.norm_f = _Holder(shapes["norm_f"], dtype) if "norm_f" in shapes else None
        self.head = _Holder(shapes["head"], dtype) if "head" in shapes else None

    @property
    def dtype(self):
        return self.embed.weight.dtype

    def initial_state(self, batch: int):
        """Zeros (L, B, S)."""
        c = self.config
        return torch.zeros(c.num_layers, batch, c.state_width, dtype=self.dtype, device=self.embed.weight.device)

    def step(self, layer: int, state, x_t):
        """One step of layer ``layer``: state (B, S), x_t (B, E) its scan input."""
        return ssm_step(self.layer_params(layer), state, x_t)

    def step_function(self):
        """``f(p, h (B, S), x_t (B, E)) -> h'``, :func:`ssm_step`: x_t is the layer's scan input
        (after the conv and SiLU, :meth:`layer_inputs`), not its normed stream."""
        return ssm_step

    def layer_params(self, layer: int) -> dict:
        """Layer ``layer``'s parameters in schema names (``in_proj``, ``A_log``, ...)."""
        return as_tree(self.layers[layer])

    def _stream(self, x, state0, upto: int, parallel: bool):
        """The residual stream entering layer ``upto`` (T, B, D), and the states below it."""
        cfg = self.config
        s = x @ self.embed.weight.T + self.embed.bias
        hs = []
        for l in range(upto):
            p = self.layer_params(l)
            o, h = ssm_layer(p, norm(p.get("norm"), s, cfg.norm, cfg.norm_eps), state0[l], parallel=parallel)
            s = s + o if cfg.residual else o
            hs.append(h)
        return s, hs

    def layer_inputs(self, x, layer: int, state0=None):
        """The scan inputs x_t of layer ``layer`` (T, B, E): its normed stream through in_proj's
        x-branch, the conv and SiLU; ``step_function`` steps on them."""
        cfg = self.config
        layer = check_layer(layer, cfg.num_layers)
        state0 = self.initial_state(x.shape[1]) if state0 is None else state0
        s, _ = self._stream(x, state0, layer, True)
        p = self.layer_params(layer)
        return scan_inputs(p, norm(p.get("norm"), s, cfg.norm, cfg.norm_eps))[0]

    def log_decay(self, x, layer: int, state0=None):
        """``log|lambda_t| = Delta_t A`` (T, B, S) of layer ``layer`` over x (T, B, I): the log of
        the diagonal step Jacobian ``dh_t/dh_{t-1} = diag(exp(Delta_t A))``, exactly."""
        layer = check_layer(layer, self.config.num_layers)
        log_a, _, _ = selection(self.layer_params(layer), self.layer_inputs(x, layer, state0))
        return log_a.reshape(log_a.shape[:2] + (-1,))

    def readout(self, s):
        """``head(norm_f(s))`` on the stream s (T, B, D) leaving the last layer."""
        cfg = self.config
        s = norm(None if self.norm_f is None else as_tree(self.norm_f), s, cfg.norm, cfg.norm_eps)
        return s @ self.head.weight.T + self.head.bias if self.head is not None else s

    def forward(self, x, state0=None, *, validate: bool = True, parallel: bool | None = None) -> SequenceOutput:
        """Run the stack over x (T, B, I); ``parallel=False`` runs each scan as a time loop
        (the same function: the tests compare them)."""
        cfg = self.config
        if validate:
            validation.check_diagonal_call(arrays, x, state0, cfg, self.dtype)
        if state0 is None:
            state0 = self.initial_state(x.shape[1])
        s, hs = self._stream(x, state0, cfg.num_layers, parallel)
        return SequenceOutput(self.readout(s), torch.stack(hs), None)


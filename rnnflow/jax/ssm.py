"""Selective state space model (Mamba's layer, Gu & Dao 2023) in JAX.

Mirrors :mod:`rnnflow.torch.ssm` function for function. Layout: inputs ``(T, B, I)``
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

import dataclasses
from functools import partial
from typing import Any

import jax
import jax.numpy as jnp

from .. import validation
from ..analysis.trace import check_layer
from ..types import SequenceOutput
from . import arrays
from .diagonal import use_parallel


# ---------------------------------------------------------------- building blocks
def norm(p, x, kind: str, eps: float):
    """LayerNorm ``(x - mean) / sqrt(var + eps) * w + b``, RMSNorm ``x / sqrt(mean(x^2) + eps) * w``
    or the identity (``kind="none"``), over the last dim."""
    if kind == "none":
        return x
    if kind == "rmsnorm":
        return x * jax.lax.rsqrt((x * x).mean(-1, keepdims=True) + eps) * p["weight"]
    mean = x.mean(-1, keepdims=True)
    var = ((x - mean) ** 2).mean(-1, keepdims=True)
    return (x - mean) / jnp.sqrt(var + eps) * p["weight"] + p["bias"]


def softplus(x):
    """``log(1 + e^x)`` exactly (as :func:`rnnflow.torch.ssm.softplus`)."""
    return jnp.logaddexp(x, jnp.zeros_like(x))


def causal_conv(p, x):
    """Depthwise causal conv over time: ``out_t = sum_k w[:, k] x_{t-K+1+k} + b``, zeros
    before t=0 (Mamba's ``Conv1d(padding=K-1)`` cut to T); x (T, B, E) -> (T, B, E)."""
    w = p["weight"]                                   # (E, K)
    K, T = w.shape[1], x.shape[0]
    xp = jnp.concatenate([jnp.zeros((K - 1,) + x.shape[1:], x.dtype), x])   # (T+K-1, B, E)
    return sum(xp[k:k + T] * w[:, k] for k in range(K)) + p["bias"]


def scan_inputs(p, u):
    """The x-branch ``x_t = SiLU(conv(W_x-part u)_t)`` (T, B, E) and the gate branch z (T, B, E)
    (None without a gate) of one layer from its normed input u (T, B, D)."""
    xz = u @ p["in_proj"]["weight"].T                 # (T, B, 2E) or (T, B, E)
    e = p["D"].shape[0]
    xi, z = (xz[..., :e], xz[..., e:]) if xz.shape[-1] == 2 * e else (xz, None)
    if "conv" in p:
        xi = causal_conv(p["conv"], xi)
    return jax.nn.silu(xi), z


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
    log_a = delta[..., None] * -jnp.exp(p["A_log"])                          # (..., E, N)
    bx = (delta * x)[..., None] * b[..., None, :]                            # (..., E, N)
    return log_a, bx, c


def ssm_step(p, h, x_t):
    """One step of a layer's recurrence, ``h' = exp(Delta A) * h + Delta B x_t``, given its
    :meth:`SelectiveSSM.layer_params`; h (B, S), x_t (B, E) the scan input (after the conv
    and SiLU, see :meth:`SelectiveSSM.layer_inputs`) -> h' (B, S)."""
    log_a, bx, _ = selection(p, x_t)                  # (B, E, N)
    return (jnp.exp(log_a) * h.reshape(log_a.shape) + bx).reshape(h.shape)


# ---------------------------------------------------------------- the scan
def scan_sequential(log_a, bx, h0):
    """``h_t = exp(log_a_t) h_{t-1} + bx_t`` by ``lax.scan``; log_a, bx (T, ...), h0 (...)."""
    def body(h, ab):
        h = jnp.exp(ab[0]) * h + ab[1]
        return h, h
    return jax.lax.scan(body, h0, (log_a, bx))[1]


def _combine(first, second):
    """``(la2, b2) o (la1, b1) = (la1 + la2, exp(la2) b1 + b2)``: two steps as one."""
    return first[0] + second[0], jnp.exp(second[0]) * first[1] + second[1]


def scan_parallel(log_a, bx, h0):
    """The same ``h_t`` as :func:`scan_sequential` by ``lax.associative_scan`` over pairs
    ``(log a, b)`` (the decay in log space: ``la_t = sum_{j<=t} Delta_j A``), then
    ``h_t = u_t + exp(la_t) h0``. Stable for any decay (every factor is ``exp`` of a sum of
    non-positive numbers)."""
    la, u = jax.lax.associative_scan(_combine, (log_a, bx), axis=0)
    return u + jnp.exp(la) * h0


def ssm_layer(p, u, h0, *, parallel: bool | None = None):
    """One layer on its normed input u (T, B, D) from state h0 (B, S): returns the layer
    output o (T, B, D) and the states h (T, B, S) (``h[t]`` is ``h_{t+1}``)."""
    T, B = u.shape[:2]
    x, z = scan_inputs(p, u)                          # (T, B, E)
    log_a, bx, c = selection(p, x)                    # (T, B, E, N), (T, B, E, N), (T, B, N)
    run = scan_parallel if use_parallel(parallel, log_a) else scan_sequential
    h = run(log_a, bx, h0.reshape(log_a.shape[1:]))   # (T, B, E, N)
    y = jnp.einsum("tben,tbn->tbe", h, c) + p["D"] * x
    if z is not None:
        y = y * jax.nn.silu(z)
    return y @ p["out_proj"]["weight"].T, h.reshape(T, B, -1)


# ---------------------------------------------------------------- sequence function
def _stream(params, x, state0, config, upto: int, parallel: bool):
    """The residual stream entering layer ``upto`` (T, B, D), and the states below it."""
    s = x @ params["embed"]["weight"].T + params["embed"]["bias"]
    hs = []
    for l in range(upto):
        p = params["layers"][l]
        o, h = ssm_layer(p, norm(p.get("norm"), s, config.norm, config.norm_eps), state0[l], parallel=parallel)
        s = s + o if config.residual else o
        hs.append(h)
    return s, hs


def readout(params, s, config):
    """``head(norm_f(s))`` on the stream s (T, B, D) leaving the last layer."""
    s = norm(params.get("norm_f"), s, config.norm, config.norm_eps)
    return s @ params["head"]["weight"].T + params["head"]["bias"] if "head" in params else s


@partial(jax.jit, static_argnames=("config", "parallel"))
def ssm_forward(params, x, state0, config, parallel: bool | None = None) -> SequenceOutput:
    """Run the stack over x (T, B, I) from state0 (L, B, S): ``SequenceOutput(y, hidden, None)``."""
    s, hs = _stream(params, x, state0, config, config.num_layers, parallel)
    return SequenceOutput(readout(params, s, config), jnp.stack(hs), None)


@partial(jax.jit, static_argnames=("config", "layer"))
def _layer_inputs(params, x, state0, config, layer: int):
    s, _ = _stream(params, x, state0, config, layer, True)
    p = params["layers"][layer]
    return scan_inputs(p, norm(p.get("norm"), s, config.norm, config.norm_eps))[0]


@dataclasses.dataclass(eq=False)
class SelectiveSSM:
    """Stacked selective SSM (Mamba) blocks, pre-norm and residual, with an optional head::

        x^0 = W_in x + b_in;  x^{l+1} = x^l + o^l(norm_l(x^l));  y = head(norm_f(x^L))

    ``model(x, state0=None) -> SequenceOutput(y, hidden, None)``: x (T, B, I), state0
    (L, B, S) (zeros by default; the conv window always starts at zeros, as Mamba's),
    y (T, B, O) (the normed stream (T, B, D) without a head), hidden (L, T, B, S) with
    ``hidden[l, t]`` layer l's ``h_{t+1}``. ``model.params`` is the pytree to
    differentiate: ``ssm_forward(params, x, state0, config)``. Build with
    :func:`rnnflow.jax.build`.
    """

    config: Any        # the model's rnnflow config
    params: dict       # the parameter pytree (schema dict of jax arrays)

    @property
    def dtype(self):
        return self.params["embed"]["weight"].dtype

    def initial_state(self, batch: int):
        """Zeros (L, B, S)."""
        c = self.config
        return jnp.zeros((c.num_layers, batch, c.state_width), self.dtype)

    def step(self, layer: int, state, x_t):
        """One step of layer ``layer``: state (B, S), x_t (B, E) its scan input."""
        return ssm_step(self.layer_params(layer), state, x_t)

    def step_function(self):
        """``f(p, h (B, S), x_t (B, E)) -> h'``, :func:`ssm_step`: x_t is the layer's scan input
        (after the conv and SiLU, :meth:`layer_inputs`), not its normed stream."""
        return ssm_step

    def layer_params(self, layer: int) -> dict:
        """Layer ``layer``'s parameters in schema names (``in_proj``, ``A_log``, ...)."""
        return self.params["layers"][layer]

    def layer_inputs(self, x, layer: int, state0=None):
        """The scan inputs x_t of layer ``layer`` (T, B, E): its normed stream through in_proj's
        x-branch, the conv and SiLU; ``step_function`` steps on them."""
        layer = check_layer(layer, self.config.num_layers)
        state0 = self.initial_state(x.shape[1]) if state0 is None else state0
        return _layer_inputs(self.params, x, state0, self.config, layer)

    def log_decay(self, x, layer: int, state0=None):
        """``log|lambda_t| = Delta_t A`` (T, B, S) of layer ``layer`` over x (T, B, I): the log of
        the diagonal step Jacobian ``dh_t/dh_{t-1} = diag(exp(Delta_t A))``, exactly."""
        layer = check_layer(layer, self.config.num_layers)
        log_a, _, _ = selection(self.layer_params(layer), self.layer_inputs(x, layer, state0))
        return log_a.reshape(log_a.shape[:2] + (-1,))

    def readout(self, s):
        """``head(norm_f(s))`` on the stream s (T, B, D) leaving the last layer."""
        return readout(self.params, s, self.config)

    def __call__(self, x, state0=None, *, validate: bool = True, parallel: bool | None = None) -> SequenceOutput:
        """Run the stack over x (T, B, I); ``parallel=False`` runs each scan as ``lax.scan``
        (the same function: the tests compare them); None: sequential on a CPU, parallel on an
        accelerator (:func:`rnnflow.jax.diagonal.use_parallel`)."""
        if validate:
            validation.check_diagonal_call(arrays, x, state0, self.config, self.dtype)
        if state0 is None:
            state0 = self.initial_state(x.shape[1])
        return ssm_forward(self.params, x, state0, self.config, parallel)


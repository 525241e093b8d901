"""Step Jacobians and gradient drivers in JAX (mirrors :mod:`rnnflow.torch.jacobians`).

Everything returns NumPy arrays; the log-space math lives in :mod:`rnnflow.analysis`.
A recurrence is an rnnflow ``RecurrentNet`` (one ``layer`` of it) or any pure step
function ``step(h, x) -> h'`` on batched arrays, where ``h`` is an array ``(B, H)`` or a
tuple of them (LSTM ``(h, c)``). Step Jacobians are ``jax.jacrev`` of ONE step, vmapped
over every ``(t, b)`` of a chunk and jitted, never a derivative of the unrolled sequence.
"""
from __future__ import annotations

from functools import partial

import jax
import jax.numpy as jnp
import numpy as np

from ..analysis.trace import Trace, check_sequence, check_state_shapes, check_step_output
from ..config import LSTMConfig, RNNConfig
from .mlp import MLP
from .rnn import RecurrentNet, gru_step, lstm_step, rnn_step
from .transformer import Transformer, layer_norm, linear

__all__ = ["trace", "step_jacobians", "output_input_grads", "depth_stack", "depth_gradients",
           "layer_jacobians"]


def _is_model(obj) -> bool:
    return isinstance(obj, RecurrentNet)


def _numpy(a) -> np.ndarray:
    return np.asarray(a)


def _array(a, dtype=None):
    if isinstance(a, jax.Array):
        return a
    a = np.asarray(a)
    return jnp.asarray(a, dtype=dtype if dtype is not None else a.dtype)


def _parts(state) -> tuple:
    return tuple(state) if isinstance(state, (tuple, list)) else (state,)


def _pack(parts: tuple):
    return parts[0] if len(parts) == 1 else tuple(parts)


def _model_dtype(model):
    params = getattr(model, "params", None)
    leaves = jax.tree_util.tree_leaves(params) if params is not None else []
    return leaves[0].dtype if leaves else None


# ---------------------------------------------------------------- recurrences
@partial(jax.jit, static_argnames="step")
def _scan(step, xs, h0):
    def body(h, x):
        h = step(h, x)
        return h, h
    return jax.lax.scan(body, h0, xs)[1]


def trace(model, xs, h0=None, *, layer: int = 0) -> Trace:
    """Run the recurrence over ``xs`` ``(T, B, I)`` and return its :class:`Trace`.

    model: an rnnflow ``RecurrentNet`` (``h0``: its ``state0``, ``(L, B, H)`` or an
           LSTM pair; default zeros) or a step function ``step(h, x) -> h'`` (``h0``
           required: ``(B, H)`` or a tuple of ``(B, H_i)``).
    layer: which layer of a stacked model (its inputs are the layer below's states).
    """
    check_sequence(tuple(xs.shape))
    if _is_model(model):
        return _trace_model(model, xs, h0, layer)
    if not callable(model):
        raise TypeError(f"model must be an rnnflow RecurrentNet or a step function, got {type(model).__name__}")
    if h0 is None:
        raise ValueError("h0 is required for a step function: a (B, H) array or a tuple of them")
    parts = tuple(_array(p) for p in _parts(h0))
    x = _array(xs, parts[0].dtype)
    check_state_shapes([p.shape for p in parts], x.shape[1])
    h0 = _pack(parts)
    new = _parts(jax.eval_shape(model, h0, x[0]))
    check_step_output([p.shape for p in parts], [getattr(p, "shape", ()) for p in new])
    seqs = _parts(_scan(model, x, h0))
    states = tuple(np.concatenate([_numpy(p)[None], _numpy(s)]) for p, s in zip(parts, seqs))
    return Trace(states, _numpy(x), "step")


def _trace_model(model, xs, h0, layer):
    cfg = model.config
    if not -cfg.num_layers <= layer < cfg.num_layers:
        raise ValueError(f"layer={layer} is invalid for a {cfg.num_layers}-layer model")
    layer %= cfg.num_layers
    x = _array(xs, model.dtype)
    lstm = isinstance(cfg, LSTMConfig)
    if h0 is not None:  # NumPy states are welcome: cast them like xs
        h0 = tuple(_array(p, model.dtype) for p in h0) if lstm else _array(h0, model.dtype)
    out = model(x, h0)
    inputs = x if layer == 0 else out.hidden[layer - 1]
    s0 = model.initial_state(x.shape[1]) if h0 is None else h0
    first = (s0[0][layer], s0[1][layer]) if lstm else (s0[layer],)
    seqs = (out.hidden[layer], out.cell[layer]) if lstm else (out.hidden[layer],)
    states = tuple(np.concatenate([_numpy(f)[None], _numpy(s)]) for f, s in zip(first, seqs))
    if isinstance(cfg, RNNConfig):
        p = model.params["layers"][layer]
        h_prev = jnp.asarray(states[0][:-1])
        pre = inputs @ p["weight_ih"].T + p["bias_ih"] + h_prev @ p["weight_hh"].T + p["bias_hh"]
        return Trace(states, _numpy(inputs), "rnn", cfg.activation, _numpy(p["weight_hh"]), _numpy(pre))
    return Trace(states, _numpy(inputs), cfg.cell)


def _cell_step(cell: str, activation, user, p, state, x):
    if user is not None:
        return user(state, x)
    if cell == "rnn":
        return rnn_step(p, state, x, activation)
    return lstm_step(p, state, x) if cell == "lstm" else gru_step(p, state, x)


@partial(jax.jit, static_argnames=("cell", "activation", "user", "sizes"))
def _jacobians(p, z, x, *, cell, activation, user, sizes):
    splits = tuple(np.cumsum(sizes)[:-1].tolist())

    def one(z1, x1):  # (N,), (I,) -> (N,)
        state = _pack(tuple(jnp.split(z1[None], splits, axis=-1)))
        return jnp.concatenate(_parts(_cell_step(cell, activation, user, p, state, x1[None])), axis=-1)[0]

    return jax.vmap(jax.jacrev(one))(z, x)


def step_jacobians(model, tr: Trace, lo: int, hi: int, *, layer: int = 0) -> np.ndarray:
    """``A_t = dh_t/dh_{t-1}`` for steps ``t = lo+1..hi`` as float64 ``(hi-lo, B, N, N)``.

    The state is the concatenation of its parts (``N = sum H_i``); ``A_t`` is
    ``jacrev`` of one step at ``(h_{t-1}, x_t)``, vmapped over ``(t, b)`` and jitted
    (rows padded to a power of two so few shapes compile).
    """
    n, B = hi - lo, tr.B
    z = np.concatenate([s[lo:hi] for s in tr.states], axis=-1).reshape(n * B, -1)
    x = tr.inputs[lo:hi].reshape(n * B, -1)
    rows = 1 << (n * B - 1).bit_length()
    z = np.concatenate([z, np.zeros((rows - n * B, z.shape[1]), z.dtype)])
    x = np.concatenate([x, np.zeros((rows - n * B, x.shape[1]), x.dtype)])
    if _is_model(model):
        layer %= model.config.num_layers
        kw = dict(cell=tr.cell, activation=tr.activation, user=None)
        p = model.params["layers"][layer]
    else:
        kw = dict(cell="step", activation=None, user=model)
        p = None
    jac = _jacobians(p, jnp.asarray(z), jnp.asarray(x), sizes=tr.sizes, **kw)
    N = z.shape[1]
    return _numpy(jac)[:n * B].astype(np.float64).reshape(n, B, N, N)


# ---------------------------------------------------------------- reach and depth
def _outputs(out):
    return out.y if hasattr(out, "y") else out


def output_input_grads(model, xs, directions=None) -> np.ndarray:
    """Squared norms ``||d(u_k . y_T)/dx_t||^2`` ``(K, T, B)``, one VJP per ``u_k`` (vmapped).

    model: any callable ``model(x)`` returning ``(T, B, O)`` outputs or an object with ``.y``.
    directions: ``(K, O)`` output directions ``u_k`` (default: the unit basis, ``K = O``).
    Batch elements must not interact (true for every rnnflow sequence model).
    """
    x = _array(xs, _model_dtype(model))
    y = _outputs(model(x))
    if y.ndim != 3 or tuple(y.shape[:2]) != tuple(x.shape[:2]):
        raise ValueError(f"the model output has shape {tuple(y.shape)}: expected (T, B, O) = "
                         f"({x.shape[0]}, {x.shape[1]}, O)")
    y_last, vjp = jax.vjp(lambda x_: _outputs(model(x_))[-1], x)   # (B, O)
    dirs = (jnp.eye(y.shape[-1], dtype=y.dtype) if directions is None
            else jnp.asarray(np.asarray(directions), dtype=y.dtype))
    cot = jnp.broadcast_to(dirs[:, None, :], (dirs.shape[0],) + y_last.shape)
    (g,) = jax.vmap(vjp)(cot)                                      # (K, T, B, I)
    return _numpy((g * g).sum(-1)).astype(np.float64)


def depth_stack(model, x):
    """An rnnflow ``Transformer`` or ``MLP`` as a stack ``x_{l+1} = layers[l](x_l)``.

    Returns ``(x0, layers, readout, batch_axis)``: Transformer: ``x0`` is the residual
    stream entering block 0 ``(T, B, D)`` and ``readout`` the final LN and head; MLP:
    ``x0`` is the input ``(B, I)`` and ``readout`` the head. ``readout(x_L)`` is ``y``.
    """
    params, cfg = model.params, model.config
    if isinstance(model, Transformer):
        x0 = model(_array(x, model.dtype)).hidden[0]

        def readout(h):
            if cfg.final_norm:
                h = layer_norm(params["final_norm"], h, cfg.layer_norm_eps)
            return linear(params["head"], h) if "head" in params else h
        batch_axis, n = 1, cfg.num_layers
    elif isinstance(model, MLP):
        x0 = _array(x, model.dtype)
        readout, batch_axis, n = (lambda h: linear(params["head"], h)), 0, cfg.depth
    else:
        raise TypeError(f"depth_stack needs an rnnflow Transformer or MLP, got {type(model).__name__}")
    return x0, [lambda h, l=l: model.step(l, h) for l in range(n)], readout, batch_axis


def depth_gradients(layers, x, loss_fn) -> tuple[list, list]:
    """``dL/dx_l`` for ``x_{l+1} = layers[l](x_l)`` and scalar ``L = loss_fn(x_L)``, one backward pass.

    Returns ``(grads, activations)``: two lists of ``L+1`` NumPy arrays shaped like ``x_l``.
    Runs eagerly (no ``jit``): the layers are fresh closures on every call, so a jit
    would recompile each time, while eager primitives stay cached across calls.
    """
    acts, vjps = [_array(x)], []
    for f in layers:
        y, vjp = jax.vjp(f, acts[-1])
        acts.append(y)
        vjps.append(vjp)
    loss = loss_fn(acts[-1])
    if jnp.size(loss) != 1:
        raise ValueError(f"loss_fn must return a scalar, got shape {jnp.shape(loss)}")
    g = jax.grad(lambda a: jnp.reshape(loss_fn(a), ()))(acts[-1])
    grads = [g]
    for vjp in reversed(vjps):
        (g,) = vjp(g)
        grads.append(g)
    return [_numpy(g).astype(np.float64) for g in reversed(grads)], [_numpy(a) for a in acts]


def layer_jacobians(layers, x, *, batch_axis: int = 0) -> list:
    """Per-example ``dx_{l+1}/dx_l`` as ``(B, out_size, in_size)`` float64 arrays, one per layer.

    ``batch_axis`` is where the batch sits in every ``x_l`` (0 for ``(B, W)``, 1 for
    ``(T, B, D)``). Each example goes through the layer alone, so layers must not mix
    examples (BatchNorm in train mode does).
    """
    out, h = [], _array(x)
    for f in layers:
        def one(hb, f=f):
            return jnp.squeeze(f(jnp.expand_dims(hb, batch_axis)), batch_axis)
        jac = jax.vmap(jax.jacrev(one), in_axes=batch_axis)(h)
        B = h.shape[batch_axis]
        h = f(h)
        out.append(_numpy(jac).astype(np.float64).reshape(B, h.size // B, -1))
    return out

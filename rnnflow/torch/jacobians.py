"""Step Jacobians and gradient drivers in torch (mirrors :mod:`rnnflow.jax.jacobians`).

Everything returns NumPy arrays; the log-space math lives in :mod:`rnnflow.analysis`.
A recurrence is an rnnflow ``RecurrentNet`` (one ``layer`` of it) or any step function
``step(h, x) -> h'`` on batched tensors, where ``h`` is a tensor ``(B, H)`` or a tuple of
them (LSTM ``(h, c)``). Step Jacobians are ``torch.func.jacrev`` of ONE step, vmapped
over every ``(t, b)`` of a chunk, never a derivative of the unrolled sequence.
"""
from __future__ import annotations

import numpy as np
import torch
from torch.func import jacrev, vmap

from ..analysis.trace import Trace, check_sequence, check_state_shapes, check_step_output
from ..config import LSTMConfig, RNNConfig
from .mlp import MLP
from .rnn import RecurrentNet
from .transformer import Transformer, as_tree, layer_norm, linear

__all__ = ["trace", "step_jacobians", "output_input_grads", "depth_stack", "depth_gradients",
           "layer_jacobians"]


def _is_model(obj) -> bool:
    return isinstance(obj, RecurrentNet)


def _numpy(t) -> np.ndarray:
    return t.detach().cpu().numpy()


def _tensor(a, dtype=None) -> torch.Tensor:
    if isinstance(a, torch.Tensor):
        return a
    a = np.asarray(a)
    return torch.as_tensor(a, dtype=dtype if dtype is not None else getattr(torch, a.dtype.name))


def _parts(state) -> tuple:
    return tuple(state) if isinstance(state, (tuple, list)) else (state,)


def _pack(parts: tuple):
    return parts[0] if len(parts) == 1 else tuple(parts)


def _model_dtype(model):
    try:
        return next(iter(model.parameters())).dtype
    except (AttributeError, StopIteration):
        return None


# ---------------------------------------------------------------- recurrences
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
        raise ValueError("h0 is required for a step function: a (B, H) tensor or a tuple of them")
    parts = tuple(_tensor(p) for p in _parts(h0))
    x = _tensor(xs, parts[0].dtype)
    check_state_shapes([p.shape for p in parts], x.shape[1])
    out = [[p] for p in parts]
    state = _pack(parts)
    with torch.no_grad():
        for t in range(x.shape[0]):
            state = model(state, x[t])
            new = _parts(state)
            if t == 0:
                check_step_output([p.shape for p in parts], [getattr(p, "shape", ()) for p in new])
            for i, p in enumerate(new):
                out[i].append(p)
    states = tuple(_numpy(torch.stack(o)) for o in out)
    return Trace(states, _numpy(x), "step")


def _trace_model(model, xs, h0, layer):
    cfg = model.config
    if not -cfg.num_layers <= layer < cfg.num_layers:
        raise ValueError(f"layer={layer} is invalid for a {cfg.num_layers}-layer model")
    layer %= cfg.num_layers
    x = _tensor(xs, model.dtype)
    lstm = isinstance(cfg, LSTMConfig)
    if h0 is not None:  # NumPy states are welcome: cast them like xs
        h0 = tuple(_tensor(p, model.dtype) for p in h0) if lstm else _tensor(h0, model.dtype)
    with torch.no_grad():
        out = model(x, h0)
        inputs = x if layer == 0 else out.hidden[layer - 1]
        s0 = model.initial_state(x.shape[1]) if h0 is None else h0
        first = (s0[0][layer], s0[1][layer]) if lstm else (s0[layer],)
        seqs = (out.hidden[layer], out.cell[layer]) if lstm else (out.hidden[layer],)
        states = tuple(_numpy(torch.cat([f[None], s])) for f, s in zip(first, seqs))
        if isinstance(cfg, RNNConfig):
            p = model.layers[layer].as_dict()
            h_prev = torch.as_tensor(states[0][:-1])
            pre = inputs @ p["weight_ih"].T + p["bias_ih"] + h_prev @ p["weight_hh"].T + p["bias_hh"]
            return Trace(states, _numpy(inputs), "rnn", cfg.activation, _numpy(p["weight_hh"]), _numpy(pre))
    return Trace(states, _numpy(inputs), cfg.cell)


def _step_fn(model, layer):
    if _is_model(model):
        layer %= model.config.num_layers
        return lambda h, x: model.step(layer, h, x)
    return model


def step_jacobians(model, tr: Trace, lo: int, hi: int, *, layer: int = 0) -> np.ndarray:
    """``A_t = dh_t/dh_{t-1}`` for steps ``t = lo+1..hi`` as float64 ``(hi-lo, B, N, N)``.

    The state is the concatenation of its parts (``N = sum H_i``); ``A_t`` is
    ``jacrev`` of one step at ``(h_{t-1}, x_t)``, vmapped over ``(t, b)``.
    """
    step, sizes = _step_fn(model, layer), list(tr.sizes)
    n, B = hi - lo, tr.B
    z = torch.as_tensor(np.concatenate([s[lo:hi] for s in tr.states], axis=-1).reshape(n * B, -1))
    x = torch.as_tensor(tr.inputs[lo:hi].reshape(n * B, -1))

    def one(z1, x1):  # (N,), (I,) -> (N,)
        state = _pack(tuple(torch.split(z1[None], sizes, dim=-1)))
        return torch.cat(_parts(step(state, x1[None])), dim=-1)[0]

    jac = vmap(jacrev(one))(z, x)  # (n*B, N, N)
    return _numpy(jac).astype(np.float64).reshape(n, B, z.shape[-1], z.shape[-1])


# ---------------------------------------------------------------- reach and depth
def _outputs(out):
    return out.y if hasattr(out, "y") else out


def output_input_grads(model, xs, directions=None) -> np.ndarray:
    """Squared norms ``||d(u_k . y_T)/dx_t||^2`` ``(K, T, B)``, one backward pass per ``u_k``.

    model: any callable ``model(x)`` returning ``(T, B, O)`` outputs or an object with ``.y``.
    directions: ``(K, O)`` output directions ``u_k`` (default: the unit basis, ``K = O``).
    Batch elements must not interact (true for every rnnflow sequence model).
    """
    x = _tensor(xs, _model_dtype(model)).detach().clone().requires_grad_(True)
    y = _outputs(model(x))
    if y.ndim != 3 or tuple(y.shape[:2]) != tuple(x.shape[:2]):
        raise ValueError(f"the model output has shape {tuple(y.shape)}: expected (T, B, O) = "
                         f"({x.shape[0]}, {x.shape[1]}, O)")
    y_last = y[-1]                                               # (B, O)
    dirs = (torch.eye(y.shape[-1], dtype=y.dtype) if directions is None
            else torch.as_tensor(np.asarray(directions), dtype=y.dtype))
    sq = []
    for k in range(dirs.shape[0]):
        (g,) = torch.autograd.grad(y_last, x, grad_outputs=dirs[k].expand_as(y_last),
                                   retain_graph=k < dirs.shape[0] - 1, allow_unused=True)
        sq.append(np.zeros(x.shape[:2]) if g is None else _numpy((g * g).sum(-1)))
    return np.stack(sq).astype(np.float64)


def depth_stack(model, x):
    """An rnnflow ``Transformer`` or ``MLP`` as a stack ``x_{l+1} = layers[l](x_l)``.

    Returns ``(x0, layers, readout, batch_axis)``: Transformer: ``x0`` is the residual
    stream entering block 0 ``(T, B, D)`` and ``readout`` the final LN and head; MLP:
    ``x0`` is the input ``(B, I)`` and ``readout`` the head. ``readout(x_L)`` is ``y``.
    """
    if isinstance(model, Transformer):
        with torch.no_grad():
            x0 = model(_tensor(x, model.dtype)).hidden[0]
        cfg = model.config

        def readout(h):
            if model.final_norm is not None:
                h = layer_norm(as_tree(model.final_norm), h, cfg.layer_norm_eps)
            return linear(as_tree(model.head), h) if model.head is not None else h
        batch_axis = 1
    elif isinstance(model, MLP):
        x0 = _tensor(x, model.dtype)
        readout, batch_axis = (lambda h: linear(as_tree(model.head), h)), 0
    else:
        raise TypeError(f"depth_stack needs an rnnflow Transformer or MLP, got {type(model).__name__}")
    layers = [lambda h, l=l: model.step(l, h) for l in range(model.config.num_layers
                                                             if isinstance(model, Transformer) else model.config.depth)]
    return x0, layers, readout, batch_axis


def depth_gradients(layers, x, loss_fn) -> tuple[list, list]:
    """``dL/dx_l`` for ``x_{l+1} = layers[l](x_l)`` and scalar ``L = loss_fn(x_L)``, one backward pass.

    Returns ``(grads, activations)``: two lists of ``L+1`` NumPy arrays shaped like ``x_l``.
    """
    acts = [_tensor(x).detach().clone().requires_grad_(True)]
    for f in layers:
        acts.append(f(acts[-1]))
    loss = loss_fn(acts[-1])
    if loss.numel() != 1:
        raise ValueError(f"loss_fn must return a scalar, got shape {tuple(loss.shape)}")
    grads = torch.autograd.grad(loss.reshape(()), acts, allow_unused=True)
    return ([np.zeros(a.shape) if g is None else _numpy(g).astype(np.float64) for g, a in zip(grads, acts)],
            [_numpy(a) for a in acts])


def layer_jacobians(layers, x, *, batch_axis: int = 0) -> list:
    """Per-example ``dx_{l+1}/dx_l`` as ``(B, out_size, in_size)`` float64 arrays, one per layer.

    ``batch_axis`` is where the batch sits in every ``x_l`` (0 for ``(B, W)``, 1 for
    ``(T, B, D)``). Each example goes through the layer alone, so layers must not mix
    examples (BatchNorm in train mode does).
    """
    out, h = [], _tensor(x).detach()
    for f in layers:
        def one(hb, f=f):
            return f(hb.unsqueeze(batch_axis)).squeeze(batch_axis)
        jac = vmap(jacrev(one), in_dims=batch_axis)(h)
        B = h.shape[batch_axis]
        with torch.no_grad():
            h = f(h)
        out.append(_numpy(jac).astype(np.float64).reshape(B, h[(slice(None),) * batch_axis + (0,)].numel(), -1))
    return out

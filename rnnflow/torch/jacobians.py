"""The autodiff the analyzers need, in torch (mirrors :mod:`rnnflow.jax.jacobians`).

Only what must differ between frameworks lives here; tracing a recurrence, taking a
model apart into a stack and the log-space math are written once in :mod:`rnnflow.analysis`.
Everything returns NumPy arrays. Step Jacobians are ``torch.func.jacrev`` of ONE step,
vmapped over every ``(t, b)`` of a chunk, never a derivative of the unrolled sequence.
"""
from __future__ import annotations

import numpy as np
import torch
from torch.func import jacrev, vmap

from ..analysis.trace import check_sequence_output, outputs, pack, parts
from .arrays import asarray, numpy

__all__ = ["step_jacobians", "output_input_grads", "depth_gradients", "layer_jacobians"]


def _model_dtype(model):
    try:
        return next(iter(model.parameters())).dtype
    except (AttributeError, StopIteration):
        return None


# ---------------------------------------------------------------- recurrences
def step_jacobians(step, params, z, x, sizes) -> np.ndarray:
    """``d step(params, h, x) / dh`` at each row of ``z`` ``(R, N)`` (the state parts, of
    sizes ``sizes``, concatenated) and ``x`` ``(R, I)``: float64 ``(R, N, N)``, ``jacrev`` of
    ONE step vmapped over the rows. ``step`` acts on batched tensors."""
    z, x = torch.as_tensor(z), torch.as_tensor(x)
    sizes = list(sizes)

    def one(z1, x1):  # (N,), (I,) -> (N,)
        state = pack(tuple(torch.split(z1[None], sizes, dim=-1)))
        return torch.cat(parts(step(params, state, x1[None])), dim=-1)[0]

    return numpy(vmap(jacrev(one))(z, x)).astype(np.float64)


# ---------------------------------------------------------------- reach and depth
def output_input_grads(model, xs, directions=None) -> np.ndarray:
    """Squared norms ``||d(u_k . y_T)/dx_t||^2`` ``(K, T, B)``, one backward pass per ``u_k``.

    model: any callable ``model(x)`` returning ``(T, B, O)`` outputs or an object with ``.y``.
    directions: ``(K, O)`` output directions ``u_k`` (default: the unit basis, ``K = O``).
    Batch elements must not interact (true for every rnnflow sequence model).
    """
    x = asarray(xs, _model_dtype(model)).detach().clone().requires_grad_(True)
    y = outputs(model(x))
    check_sequence_output(tuple(y.shape), tuple(x.shape))
    y_last = y[-1]                                               # (B, O)
    dirs = (torch.eye(y.shape[-1], dtype=y.dtype) if directions is None
            else torch.as_tensor(np.asarray(directions), dtype=y.dtype))
    sq = []
    for k in range(dirs.shape[0]):
        (g,) = torch.autograd.grad(y_last, x, grad_outputs=dirs[k].expand_as(y_last),
                                   retain_graph=k < dirs.shape[0] - 1, allow_unused=True)
        sq.append(np.zeros(x.shape[:2]) if g is None else numpy((g * g).sum(-1)))
    return np.stack(sq).astype(np.float64)


def depth_gradients(layers, x, loss_fn) -> tuple[list, list]:
    """``dL/dx_l`` for ``x_{l+1} = layers[l](x_l)`` and scalar ``L = loss_fn(x_L)``, one backward pass.

    Returns ``(grads, activations)``: two lists of ``L+1`` NumPy arrays shaped like ``x_l``.
    """
    acts = [asarray(x).detach().clone().requires_grad_(True)]
    for f in layers:
        acts.append(f(acts[-1]))
    loss = loss_fn(acts[-1])
    if loss.numel() != 1:
        raise ValueError(f"loss_fn must return a scalar, got shape {tuple(loss.shape)}")
    grads = torch.autograd.grad(loss.reshape(()), acts, allow_unused=True)
    return ([np.zeros(a.shape) if g is None else numpy(g).astype(np.float64) for g, a in zip(grads, acts)],
            [numpy(a) for a in acts])


def layer_jacobians(layers, x, *, batch_axis: int = 0) -> list:
    """Per-example ``dx_{l+1}/dx_l`` as ``(B, out_size, in_size)`` float64 arrays, one per layer.

    ``batch_axis`` is where the batch sits in every ``x_l`` (0 for ``(B, W)``, 1 for
    ``(T, B, D)``). Each example goes through the layer alone, so layers must not mix
    examples (BatchNorm in train mode does).
    """
    out, h = [], asarray(x).detach()
    for f in layers:
        def one(hb, f=f):
            return f(hb.unsqueeze(batch_axis)).squeeze(batch_axis)
        jac = vmap(jacrev(one), in_dims=batch_axis)(h)
        B = h.shape[batch_axis]
        with torch.no_grad():
            h = f(h)
        out.append(numpy(jac).astype(np.float64).reshape(B, h[(slice(None),) * batch_axis + (0,)].numel(), -1))
    return out

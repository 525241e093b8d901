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

from ..analysis.trace import check_directions, check_sequence_output, outputs, pack, parts
from ..params import flatten, is_buffer
from .arrays import asarray, device_of, numpy

__all__ = ["step_jacobians", "step_vjp", "output_input_grads", "pullbacks", "layer_jacobians"]


def _model_dtype(model):
    try:
        return next(iter(model.parameters())).dtype
    except (AttributeError, StopIteration):
        return None


def _device(tree):
    """The device of the first tensor in a parameter tree (nested dicts, lists, tuples, a
    module); None when it holds none (the CPU then)."""
    if isinstance(tree, torch.Tensor):
        return tree.device
    if isinstance(tree, torch.nn.Module):
        return next((t.device for t in tree.parameters()), None)
    items = tree.values() if isinstance(tree, dict) else tree if isinstance(tree, (list, tuple)) else ()
    return next((d for d in map(_device, items) if d is not None), None)


# ---------------------------------------------------------------- recurrences
def step_jacobians(step, params, z, x, sizes) -> np.ndarray:
    """``d step(params, h, x) / dh`` at each row of ``z`` ``(R, N)`` (the state parts, of
    sizes ``sizes``, concatenated) and ``x`` ``(R, I)``: float64 ``(R, N, N)``, ``jacrev`` of
    ONE step vmapped over the rows. ``step`` acts on batched tensors."""
    dev = _device(params)
    z, x = torch.as_tensor(z, device=dev), torch.as_tensor(x, device=dev)
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
    x = asarray(xs, _model_dtype(model), device_of(model)).detach().clone().requires_grad_(True)
    y = outputs(model(x))
    check_sequence_output(tuple(y.shape), tuple(x.shape))
    y_last = y[-1]                                               # (B, O)
    dirs = torch.as_tensor(check_directions(directions, y.shape[-1]), dtype=y.dtype, device=y.device)
    sq = []
    for k in range(dirs.shape[0]):
        (g,) = torch.autograd.grad(y_last, x, grad_outputs=dirs[k].expand_as(y_last),
                                   retain_graph=k < dirs.shape[0] - 1, allow_unused=True)
        sq.append(np.zeros(x.shape[:2]) if g is None else numpy((g * g).sum(-1)))
    return np.stack(sq).astype(np.float64)


def pullbacks(fns, x, params=None) -> tuple[list, list]:
    """The chain ``x_{l+1} = fns[l](x_l)`` run forward, each link with its own backward graph.

    Returns ``(values, pulls)``: ``values`` the ``len(fns)+1`` NumPy arrays ``x_0..x_n``
    (model dtype) and ``pulls[l](g)``, the VJP ``g -> g . dx_{l+1}/dx_l`` of link ``l``
    (``g`` a NumPy array shaped like ``x_{l+1}``, cast to its dtype; float64 out). The
    analyzers call each pull once, top down, rescaling ``g`` in between.

    With ``params`` (one parameter tree or None per link) link ``l`` is called
    ``fns[l](params[l], x_l)`` and ``pulls[l](g)`` returns ``(g . dx_{l+1}/dx_l,
    {name: g . dx_{l+1}/dp})`` over the tree's flat names (:func:`rnnflow.params.flatten`)
    that require grad, buffers left out; a link whose entry is None is called ``fns[l](x_l)``
    and gives ``{}``.
    """
    dev = _device(params) or next((d for f in fns if (d := _device(getattr(f, "__self__", f))) is not None), None)
    h = asarray(x, None, dev).detach()
    values, pulls = [h], []
    for l, f in enumerate(fns):
        h_in = h.detach().requires_grad_(True)
        p = None if params is None else params[l]
        leaves = None if params is None else {} if p is None else {
            k: t for k, t in flatten(p).items() if not is_buffer(k) and t.requires_grad}
        h = f(h_in) if p is None else f(p, h_in)
        values.append(h.detach())
        pulls.append(lambda g, h_in=h_in, h_out=h, leaves=leaves: _pull(h_out, h_in, g, leaves))
    return [numpy(v) for v in values], pulls


def _pull(h_out, h_in, g, leaves=None):
    names = [] if leaves is None else list(leaves)
    grads = torch.autograd.grad(h_out, [h_in] + [leaves[k] for k in names],
                                grad_outputs=torch.as_tensor(np.asarray(g), dtype=h_out.dtype,
                                                             device=h_out.device).reshape(h_out.shape),
                                allow_unused=True)
    gi = np.zeros(h_in.shape) if grads[0] is None else numpy(grads[0]).astype(np.float64)
    if leaves is None:
        return gi
    return gi, {k: np.zeros(tuple(leaves[k].shape)) if gr is None else numpy(gr).astype(np.float64)
                for k, gr in zip(names, grads[1:])}


def step_vjp(step, params, state, x, cot) -> tuple[tuple, np.ndarray]:
    """The VJP of ONE step ``state' = step(params, state, x)`` at ``state`` (a tuple of NumPy
    ``(R, H_i)``, model dtype) and ``x`` ``(R, I)`` for the cotangent ``cot`` (a tuple like
    ``state``): float64 ``(cot . dstate'/dstate, cot . dstate'/dx)``."""
    params = {k: v.detach() for k, v in params.items()}
    dt, dev = next(iter(params.values())).dtype, _device(params)
    s_in = tuple(torch.as_tensor(p, dtype=dt, device=dev).requires_grad_(True) for p in state)
    x_in = torch.as_tensor(x, dtype=dt, device=dev).requires_grad_(True)
    out = parts(step(params, pack(s_in), x_in))
    grads = torch.autograd.grad(out, s_in + (x_in,),
                                grad_outputs=tuple(torch.as_tensor(c, dtype=dt, device=dev) for c in cot),
                                allow_unused=True)
    grads = [np.zeros(a.shape) if g is None else numpy(g).astype(np.float64) for g, a in zip(grads, s_in + (x_in,))]
    return tuple(grads[:-1]), grads[-1]


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

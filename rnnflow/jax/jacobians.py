"""The autodiff the analyzers need, in JAX (mirrors :mod:`rnnflow.torch.jacobians`).

Only what must differ between frameworks lives here; tracing a recurrence, taking a
model apart into a stack and the log-space math are written once in :mod:`rnnflow.analysis`.
Everything returns NumPy arrays. Step Jacobians are ``jax.jacrev`` of ONE step, vmapped
over every ``(t, b)`` of a chunk and jitted, never a derivative of the unrolled sequence.
"""
from __future__ import annotations

from functools import partial

import jax
import jax.numpy as jnp
import numpy as np

from ..analysis.trace import check_sequence_output, outputs, pack, parts
from .arrays import asarray, numpy

__all__ = ["step_jacobians", "output_input_grads", "depth_gradients", "layer_jacobians"]


def _model_dtype(model):
    params = getattr(model, "params", None)
    leaves = jax.tree_util.tree_leaves(params) if params is not None else []
    return leaves[0].dtype if leaves else None


# ---------------------------------------------------------------- recurrences
@partial(jax.jit, static_argnames=("step", "sizes"))
def _jacobians(step, p, z, x, *, sizes):
    splits = tuple(np.cumsum(sizes)[:-1].tolist())

    def one(z1, x1):  # (N,), (I,) -> (N,)
        state = pack(tuple(jnp.split(z1[None], splits, axis=-1)))
        return jnp.concatenate(parts(step(p, state, x1[None])), axis=-1)[0]

    return jax.vmap(jax.jacrev(one))(z, x)


def step_jacobians(step, params, z, x, sizes) -> np.ndarray:
    """``d step(params, h, x) / dh`` at each row of ``z`` ``(R, N)`` (the state parts, of
    sizes ``sizes``, concatenated) and ``x`` ``(R, I)``: float64 ``(R, N, N)``, ``jacrev`` of
    ONE step vmapped over the rows and jitted. ``params`` is traced, so one compiled
    function serves every layer of a config; ``step`` is static (keep it the same object:
    :class:`rnnflow.analysis.trace.UserStep` wraps a user's ``step(h, x)``). Rows are padded
    to a power of two so that few shapes compile."""
    R = z.shape[0]
    rows = 1 << (R - 1).bit_length()
    z = np.concatenate([z, np.zeros((rows - R, z.shape[1]), z.dtype)])
    x = np.concatenate([x, np.zeros((rows - R, x.shape[1]), x.dtype)])
    jac = _jacobians(step, params, jnp.asarray(z), jnp.asarray(x), sizes=tuple(sizes))
    return numpy(jac)[:R].astype(np.float64)


# ---------------------------------------------------------------- reach and depth
def output_input_grads(model, xs, directions=None) -> np.ndarray:
    """Squared norms ``||d(u_k . y_T)/dx_t||^2`` ``(K, T, B)``, one VJP per ``u_k`` (vmapped).

    model: any callable ``model(x)`` returning ``(T, B, O)`` outputs or an object with ``.y``.
    directions: ``(K, O)`` output directions ``u_k`` (default: the unit basis, ``K = O``).
    Batch elements must not interact (true for every rnnflow sequence model).
    """
    x = asarray(xs, _model_dtype(model))
    y = outputs(model(x))
    check_sequence_output(tuple(y.shape), tuple(x.shape))
    y_last, vjp = jax.vjp(lambda x_: outputs(model(x_))[-1], x)   # (B, O)
    dirs = (jnp.eye(y.shape[-1], dtype=y.dtype) if directions is None
            else jnp.asarray(np.asarray(directions), dtype=y.dtype))
    cot = jnp.broadcast_to(dirs[:, None, :], (dirs.shape[0],) + y_last.shape)
    (g,) = jax.vmap(vjp)(cot)                                      # (K, T, B, I)
    return numpy((g * g).sum(-1)).astype(np.float64)


def depth_gradients(layers, x, loss_fn) -> tuple[list, list]:
    """``dL/dx_l`` for ``x_{l+1} = layers[l](x_l)`` and scalar ``L = loss_fn(x_L)``, one backward pass.

    Returns ``(grads, activations)``: two lists of ``L+1`` NumPy arrays shaped like ``x_l``.
    Runs eagerly (no ``jit``): the layers are fresh closures on every call, so a jit
    would recompile each time, while eager primitives stay cached across calls.
    """
    acts, vjps = [asarray(x)], []
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
    return [numpy(g).astype(np.float64) for g in reversed(grads)], [numpy(a) for a in acts]


def layer_jacobians(layers, x, *, batch_axis: int = 0) -> list:
    """Per-example ``dx_{l+1}/dx_l`` as ``(B, out_size, in_size)`` float64 arrays, one per layer.

    ``batch_axis`` is where the batch sits in every ``x_l`` (0 for ``(B, W)``, 1 for
    ``(T, B, D)``). Each example goes through the layer alone, so layers must not mix
    examples (BatchNorm in train mode does).
    """
    out, h = [], asarray(x)
    for f in layers:
        def one(hb, f=f):
            return jnp.squeeze(f(jnp.expand_dims(hb, batch_axis)), batch_axis)
        jac = jax.vmap(jax.jacrev(one), in_axes=batch_axis)(h)
        B = h.shape[batch_axis]
        h = f(h)
        out.append(numpy(jac).astype(np.float64).reshape(B, h.size // B, -1))
    return out

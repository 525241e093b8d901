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

from ..analysis.trace import check_directions, check_sequence_output, outputs, pack, parts
from ..params import flatten, is_buffer
from .arrays import asarray, numpy

__all__ = ["step_jacobians", "step_vjp", "output_input_grads", "pullbacks", "layer_jacobians"]


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
    dirs = jnp.asarray(check_directions(directions, y.shape[-1]), dtype=y.dtype)
    cot = jnp.broadcast_to(dirs[:, None, :], (dirs.shape[0],) + y_last.shape)
    (g,) = jax.vmap(vjp)(cot)                                      # (K, T, B, I)
    return numpy((g * g).sum(-1)).astype(np.float64)


def pullbacks(fns, x, params=None) -> tuple[list, list]:
    """The chain ``x_{l+1} = fns[l](x_l)`` run forward, each link with its own ``jax.vjp``.

    Returns ``(values, pulls)``: ``values`` the ``len(fns)+1`` NumPy arrays ``x_0..x_n``
    (model dtype) and ``pulls[l](g)``, the VJP ``g -> g . dx_{l+1}/dx_l`` of link ``l``
    (``g`` a NumPy array shaped like ``x_{l+1}``, cast to its dtype; float64 out). Runs
    eagerly (no ``jit``): the links are fresh closures on every call, so a jit would
    recompile each time, while eager primitives stay cached across calls.

    With ``params`` (one parameter tree or None per link) link ``l`` is called
    ``fns[l](params[l], x_l)`` and ``pulls[l](g)`` returns ``(g . dx_{l+1}/dx_l,
    {name: g . dx_{l+1}/dp})`` over the tree's flat names (:func:`rnnflow.params.flatten`),
    buffers (BatchNorm running statistics) left out; a link whose entry is None is called
    ``fns[l](x_l)`` and gives ``{}``.
    """
    values, pulls = [asarray(x)], []
    for l, f in enumerate(fns):
        p = None if params is None else params[l]
        if p is None:
            y, vjp = jax.vjp(f, values[-1])
        else:
            y, vjp = jax.vjp(f, p, values[-1])
        values.append(y)
        pulls.append(partial(_pull, y, vjp, params is not None, p is not None))
    return [numpy(v) for v in values], pulls


def _pull(y, vjp, with_params: bool, has_params: bool, g):
    out = vjp(jnp.asarray(g, y.dtype).reshape(y.shape))
    gx = numpy(out[-1]).astype(np.float64)
    if not with_params:
        return gx
    grads = flatten(out[0]) if has_params else {}
    return gx, {k: numpy(v).astype(np.float64) for k, v in grads.items() if not is_buffer(k)}


@partial(jax.jit, static_argnames=("step",))
def _step_vjp(step, p, state, x, cot):
    _, vjp = jax.vjp(lambda s, x_: parts(step(p, pack(s), x_)), state, x)
    return vjp(cot)


def step_vjp(step, params, state, x, cot) -> tuple[tuple, np.ndarray]:
    """The VJP of ONE step ``state' = step(params, state, x)`` at ``state`` (a tuple of NumPy
    ``(R, H_i)``, model dtype) and ``x`` ``(R, I)`` for the cotangent ``cot`` (a tuple like
    ``state``): float64 ``(cot . dstate'/dstate, cot . dstate'/dx)``; jitted, ``params``
    traced and ``step`` static, as :func:`step_jacobians`."""
    dt = jax.tree_util.tree_leaves(params)[0].dtype
    g_state, g_x = _step_vjp(step, params, tuple(jnp.asarray(s, dt) for s in state), jnp.asarray(x, dt),
                             tuple(jnp.asarray(c, dt) for c in cot))
    return tuple(numpy(g).astype(np.float64) for g in g_state), numpy(g_x).astype(np.float64)


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

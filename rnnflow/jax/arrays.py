"""The JAX side of the array adapter the core drives (mirrors :mod:`rnnflow.torch.arrays`).

The framework-free code (input checks, tracing a recurrence for the analyzers, the studies'
thread count, float64 scope and inference) talks to the backend only through these functions,
so it is written once.
"""
from __future__ import annotations

import contextlib
import copy
from functools import partial

import jax
import jax.numpy as jnp
import numpy as np

from .. import devices
from ..models import model_kind

ARRAY_KIND = "a jax or numpy array"   # what the error messages ask for


def is_array(a) -> bool:
    """True for a jax array (a tracer too) or a NumPy array; not for a torch tensor."""
    return isinstance(a, (jax.Array, np.ndarray))


def dtype_name(a) -> str:
    """The dtype's NumPy name (``"float32"``) of an array or a dtype."""
    return np.dtype(getattr(a, "dtype", a)).name


def all_finite(a) -> bool | None:
    """Whether every entry is finite; ``None`` under a JAX transformation (a tracer has no values)."""
    if isinstance(a, jax.core.Tracer):
        return None
    return bool(np.isfinite(np.asarray(a)).all())


def asarray(a, dtype=None, device=None) -> jax.Array:
    """A jax array as is (moved to ``device`` if given), or a NumPy array (or nested lists) as
    a jax array of ``dtype`` (default: the array's own) on ``device`` (a ``jax.Device``, e.g.
    :func:`device_of` a model; default: JAX's default device)."""
    if isinstance(a, jax.Array):
        return a if device is None or isinstance(a, jax.core.Tracer) else jax.device_put(a, device)
    a = np.asarray(a)
    out = jnp.asarray(a, dtype=dtype if dtype is not None else a.dtype)
    return out if device is None else jax.device_put(out, device)


def device(spec: str | None):
    """JAX's device for a checked ``device=`` spelling (:func:`rnnflow.devices.check_device`):
    None stays None; ``"auto"`` is JAX's first GPU when it has one, else its first CPU; a GPU
    JAX cannot see raises ``ValueError`` naming the platforms it does see."""
    if spec is None:
        return None
    kind, index = devices.split(spec)
    if kind == "cpu":
        return jax.devices("cpu")[0]
    try:
        gpus = jax.devices("gpu")
    except RuntimeError:   # no GPU backend in this jaxlib
        gpus = []
    if kind == "auto":
        return gpus[0] if gpus else jax.devices("cpu")[0]
    if (index or 0) >= len(gpus):
        seen = ", ".join(sorted({d.platform for d in jax.devices()}))
        raise devices.unavailable(spec, "jax", f"{len(gpus)} GPU(s) (its devices: {seen})")
    return gpus[index or 0]


def device_of(obj):
    """The device of a committed jax array, or of an rnnflow model's first parameter; None for
    anything else (an uncommitted array follows the others, a step function, a NumPy array)."""
    leaf = obj
    if hasattr(obj, "params") and hasattr(obj, "config"):
        leaves = jax.tree_util.tree_leaves(obj.params)
        leaf = leaves[0] if leaves else None
    if isinstance(leaf, jax.Array) and not isinstance(leaf, jax.core.Tracer) and leaf.committed:
        return next(iter(leaf.devices()))
    return None


def place(model, dev):
    """``model`` on ``dev``: the model itself when ``dev`` is None, else a copy whose parameters
    are committed to ``dev`` (the caller's model keeps its arrays)."""
    if dev is None or not (hasattr(model, "params") and hasattr(model, "config")):
        return model
    out = copy.copy(model)
    out.params = jax.device_put(model.params, dev)
    return out


def numpy(a) -> np.ndarray:
    """A host copy as a NumPy array."""
    return np.asarray(a)


def no_grad():
    """A context in which nothing is recorded for autodiff: JAX records nothing outside a transform."""
    return contextlib.nullcontext()


def threads(n: int):
    """A context in which the backend runs its CPU kernels on ``n`` threads: XLA fixes its
    thread pool when it starts, so nothing changes."""
    return contextlib.nullcontext()


def allow_float64():
    """A context in which float64 arrays can be built and computed with: JAX's 64-bit mode,
    on for the calling thread only (``jax.enable_x64(True)``) and back as it was on exit."""
    return jax.enable_x64(True)


def predict(model, x) -> np.ndarray:
    """``model``'s output ``y`` for the NumPy input ``x`` (in the model's dtype) in inference
    mode, as float64 NumPy: ``train=False`` for an MLP (BatchNorm on its running stats, no
    dropout) and a Transformer (no dropout); a recurrent net has no train mode."""
    kw = {"train": False} if model_kind(model.config) in ("transformer", "mlp") else {}
    return np.asarray(numpy(model(asarray(x), **kw).y), dtype=np.float64)


@partial(jax.jit, static_argnames="step")
def _scan(step, state, xs):
    def body(h, x):
        h = step(h, x)
        return h, h
    return jax.lax.scan(body, state, xs)[1]


def scan(step, state, xs):
    """``state_t = step(state_{t-1}, xs[t-1])`` for ``t = 1..T`` (one jitted ``lax.scan``);
    returns the tuple of state parts stacked over time ``(T, B, H_i)``."""
    out = _scan(step, state, xs)
    return tuple(out) if isinstance(out, (tuple, list)) else (out,)

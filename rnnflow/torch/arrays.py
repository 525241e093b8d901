"""The torch side of the array adapter the core drives (mirrors :mod:`rnnflow.jax.arrays`).

The framework-free code (input checks, tracing a recurrence for the analyzers, the studies'
thread count, float64 scope and inference) talks to the backend only through these functions,
so it is written once.
"""
from __future__ import annotations

import contextlib
import copy
import itertools

import numpy as np
import torch

from .. import devices

ARRAY_KIND = "a torch.Tensor"   # what the error messages ask for


def is_array(a) -> bool:
    """True for a torch tensor."""
    return isinstance(a, torch.Tensor)


def dtype_name(a) -> str:
    """The dtype as NumPy names it (``"float32"``) of a tensor or a ``torch.dtype``."""
    return str(a if isinstance(a, torch.dtype) else a.dtype).removeprefix("torch.")


def all_finite(a) -> bool | None:
    """Whether every entry is finite (``None`` where that cannot be known: never in torch)."""
    return bool(torch.isfinite(a).all())


def asarray(a, dtype=None, device=None) -> torch.Tensor:
    """A tensor as is (moved to ``device`` if given and elsewhere), or a NumPy array (or nested
    lists) as a tensor of ``dtype`` (a ``torch.dtype``; default: the array's own) on ``device``
    (a ``torch.device``, e.g. :func:`device_of` a model; default: the CPU)."""
    if isinstance(a, torch.Tensor):
        return a if device is None or a.device == device else a.to(device)
    a = np.asarray(a)
    return torch.as_tensor(a, dtype=dtype if dtype is not None else getattr(torch, a.dtype.name), device=device)


def device(spec: str | None) -> torch.device | None:
    """torch's device for a checked ``device=`` spelling (:func:`rnnflow.devices.check_device`):
    None stays None; ``"auto"`` is ``cuda`` when torch sees a GPU, else ``cpu``; a GPU torch
    cannot see raises ``ValueError`` naming the GPUs it does see."""
    if spec is None:
        return None
    kind, index = devices.split(spec)
    if kind == "cpu" or (kind == "auto" and not torch.cuda.is_available()):
        return torch.device("cpu")
    n = torch.cuda.device_count() if torch.cuda.is_available() else 0
    if kind == "auto":
        return torch.device("cuda", 0)
    if n == 0 or (index or 0) >= n:
        raise devices.unavailable(spec, "torch", f"{n} CUDA device(s)" + (
            "" if n else " (torch.cuda.is_available() is False)"))
    return torch.device("cuda", index or 0)


def device_of(obj) -> torch.device | None:
    """The device of a tensor, or of a module's first parameter or buffer; None for anything
    else (a step function, a NumPy array)."""
    if isinstance(obj, torch.Tensor):
        return obj.device
    if isinstance(obj, torch.nn.Module):
        for t in itertools.chain(obj.parameters(), obj.buffers()):
            return t.device
        return torch.device("cpu")
    return None


def place(model, dev):
    """``model`` on ``dev``: the module itself when it is there already (or ``dev`` is None),
    else a copy moved there (the caller's module is never moved)."""
    if dev is None or not isinstance(model, torch.nn.Module) or device_of(model) == dev:
        return model
    return copy.deepcopy(model).to(dev)


def numpy(a) -> np.ndarray:
    """A detached host copy (view where possible) as a NumPy array."""
    return a.detach().cpu().numpy()


def no_grad():
    """A context in which nothing is recorded for autodiff."""
    return torch.no_grad()


@contextlib.contextmanager
def threads(n: int):
    """A context in which torch runs its CPU kernels on ``n`` threads (``torch.set_num_threads``);
    the caller's thread count is restored on exit."""
    old = torch.get_num_threads()
    torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(old)


def allow_float64():
    """A context in which float64 arrays can be built and computed with: torch always allows
    them, so nothing changes."""
    return contextlib.nullcontext()


def predict(model, x) -> np.ndarray:
    """``model``'s output ``y`` for the NumPy input ``x`` (in the model's dtype) in inference
    mode, as float64 NumPy: ``model.eval()`` (BatchNorm on its running stats, no dropout)
    under ``torch.no_grad()``; the model's train/eval mode is restored after."""
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            y = model(asarray(x)).y
    finally:
        model.train(was_training)
    return np.asarray(numpy(y), dtype=np.float64)


def scan(step, state, xs):
    """``state_t = step(state_{t-1}, xs[t-1])`` for ``t = 1..T``; returns the tuple of state
    parts stacked over time ``(T, B, H_i)`` (a single-array state is a 1-tuple)."""
    out = []
    with torch.no_grad():
        for t in range(xs.shape[0]):
            state = step(state, xs[t])
            out.append(state if isinstance(state, (tuple, list)) else (state,))
    return tuple(torch.stack(p) for p in zip(*out))


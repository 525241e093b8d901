"""Where a model, a trainer or an analyzer runs: the ``device=`` argument (framework-free).

One spelling for both backends, checked here at the boundary; each backend's ``arrays``
module turns it into its own device (``torch.device`` / ``jax.Device``):

- ``None``: where the arrays already are (an analyzer: the model's device; a new model, a
  trainer: the CPU), the behaviour without the argument;
- ``"cpu"``: the host;
- ``"cuda"``: the first GPU (``"gpu"`` is the same; JAX's platform is named "gpu");
- ``"cuda:N"``: GPU number N (``"gpu:N"``);
- ``"auto"``: the first GPU when the backend sees one, else the CPU.

A GPU that the backend cannot see is an error naming what it does see, never a silent
fallback to the CPU (``"auto"`` is the one that falls back, by request). Only the per-step
work runs on the device: the analyzers' log-space products, the records and the checkpoints
are float64 NumPy on the host, fed by one transfer of the small per-step results.
"""
from __future__ import annotations

import re

#: the accepted spellings (``N``: a GPU's index)
DEVICE_CHOICES = ("cpu", "cuda", "cuda:N", "gpu", "gpu:N", "auto")
_PATTERN = re.compile(r"(cpu|cuda|gpu|auto)(?::(\d+))?")


def check_device(owner: str, value, field: str = "device") -> str | None:
    """``value`` in its normal form: None, ``"cpu"``, ``"auto"``, ``"cuda"`` or ``"cuda:N"``
    (``"gpu[:N]"`` becomes ``"cuda[:N]"``). Anything else raises ``ValueError`` naming
    ``owner.field``, the value and the choices."""
    if value is None:
        return None
    m = _PATTERN.fullmatch(value.strip().lower()) if isinstance(value, str) else None
    if m is None or (m.group(2) is not None and m.group(1) in ("cpu", "auto")):
        raise ValueError(f"{owner}: {field}={value!r} is invalid: expected one of "
                         f"{', '.join(DEVICE_CHOICES)} (N a GPU index), or None")
    kind = "cuda" if m.group(1) == "gpu" else m.group(1)
    return kind if m.group(2) is None else f"{kind}:{int(m.group(2))}"


def check_visible(owner: str, value, backend: str) -> str | None:
    """:func:`check_device`, then ask ``backend`` whether it sees that device: a GPU it cannot
    see raises there, before the caller writes anything. Returns the normal form."""
    device = check_device(owner, value)
    if device is not None:
        from ._backend import load
        load(backend).arrays.device(device)
    return device


def split(device: str) -> tuple[str, int | None]:
    """``"cuda:1"`` -> ``("cuda", 1)``; ``"cuda"`` -> ``("cuda", None)``; ``"cpu"`` -> ``("cpu", None)``."""
    kind, _, index = device.partition(":")
    return kind, (int(index) if index else None)


def unavailable(device: str, backend: str, seen: str) -> ValueError:
    """The error for a GPU the backend cannot see."""
    return ValueError(f"device={device!r} is unavailable: {backend} sees {seen}; use device='cpu', "
                      f"or device='auto' for a GPU when there is one and the CPU otherwise")


__all__ = ["DEVICE_CHOICES", "check_device", "check_visible", "split", "unavailable"]

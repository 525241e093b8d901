"""Atomic files: bytes, text, JSON and ``.npz`` (a leaf module: the standard library and NumPy).

Every write goes to a temporary name in the target's folder and is moved into place
with ``os.replace``, so a killed process leaves either the old file or the new one,
never half of one; on an error the temporary file is removed.
"""
from __future__ import annotations

import json
import math
import os
import tempfile

import numpy as np


def _atomic(path, write) -> None:
    """Call ``write(f)`` on a binary temporary file next to ``path``, then move it to ``path``."""
    path = os.fspath(path)
    folder = os.path.dirname(os.path.abspath(path))
    os.makedirs(folder, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix="." + os.path.basename(path) + ".", suffix=".tmp", dir=folder)
    try:
        with os.fdopen(fd, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.remove(tmp)
        raise


def atomic_write_bytes(path, data: bytes) -> None:
    """Write ``data`` to ``path`` via a temporary file and ``os.replace``."""
    _atomic(path, lambda f: f.write(data))


def atomic_write_text(path, text: str) -> None:
    """Write ``text`` to ``path`` as UTF-8, atomically."""
    atomic_write_bytes(path, text.encode("utf-8"))


def json_safe(obj):
    """``obj`` with NumPy scalars as Python numbers, tuples as lists, keys as strings and
    NaN / Inf as ``None`` (strict JSON has no such numbers); other values unchanged."""
    if isinstance(obj, dict):
        return {str(k): json_safe(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [json_safe(v) for v in obj]
    if isinstance(obj, (np.floating, float)):
        return float(obj) if math.isfinite(obj) else None
    if isinstance(obj, np.integer):
        return int(obj)
    if isinstance(obj, np.bool_):
        return bool(obj)
    return obj


def write_json(path, obj) -> None:
    """Atomic, indented JSON of :func:`json_safe` ``(obj)``."""
    atomic_write_text(path, json.dumps(json_safe(obj), indent=2, allow_nan=False) + "\n")


def read_json(path):
    """The JSON data in ``path`` (UTF-8)."""
    with open(path, encoding="utf-8") as f:
        return json.load(f)


def save_npz(path, arrays: dict) -> None:
    """Atomic uncompressed ``.npz`` of ``{name: array}`` (no pickles)."""
    arrays = {k: np.asarray(v) for k, v in arrays.items()}
    _atomic(path, lambda f: np.savez(f, **arrays))


def load_npz(path) -> dict[str, np.ndarray]:
    """``{name: array}`` from an ``.npz`` file, read fully (pickles refused)."""
    with np.load(path, allow_pickle=False) as z:
        return {k: z[k] for k in z.files}

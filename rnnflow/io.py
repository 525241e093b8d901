"""Atomic files: bytes, text, JSON and ``.npz`` (a leaf module: the standard library and NumPy).

Every write goes to a temporary name in the target's folder and is moved into place
with ``os.replace``, so a killed process leaves either the old file or the new one,
never half of one; on an error the temporary file is removed. A process killed in the
middle of a write leaves its temporary file (``.<name>.<random>.tmp``) behind:
:func:`remove_stale_temps` clears them, called by a writer that holds the folder's lock.

Files get the mode a plain ``open`` would give, ``0o666 & ~umask`` (``mkstemp`` alone
gives ``0o600``, unreadable to anyone else sharing a results folder).
"""
from __future__ import annotations

import hashlib
import json
import math
import os
import re
import tempfile

import numpy as np


_TEMP = re.compile(r"^\..+\.[^.]+\.tmp$")   # the names _atomic's mkstemp gives: .<name>.<random>.tmp


def current_umask() -> int:
    """The process's umask, read without changing it where the OS allows (Linux:
    ``/proc/self/status``); elsewhere set and restored at once."""
    try:
        with open("/proc/self/status", encoding="ascii") as f:
            for line in f:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError):
        pass
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def _atomic(path, write) -> None:
    """Call ``write(f)`` on a binary temporary file next to ``path``, then move it to ``path``."""
    path = os.fspath(path)
    folder = os.path.dirname(os.path.abspath(path))
    os.makedirs(folder, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix="." + os.path.basename(path) + ".", suffix=".tmp", dir=folder)
    try:
        os.chmod(tmp, 0o666 & ~current_umask())
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
    with open(path, "rb") as f:   # ours to close, also when np.load fails on a broken file
        with np.load(f, allow_pickle=False) as z:
            return {k: z[k] for k in z.files}


def file_sha256(path) -> str:
    """SHA-256 hex digest of the bytes of ``path``."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def remove_stale_temps(folder) -> list[str]:
    """Remove the temporary files of killed writes (``.<name>.<random>.tmp``) from ``folder``
    (not its subfolders); returns their names. Only safe while no other process writes
    into ``folder``: call it holding the folder's lock (:class:`rnnflow.lock.FolderLock`)."""
    folder = os.fspath(folder)
    if not os.path.isdir(folder):
        return []
    removed = []
    for name in sorted(os.listdir(folder)):
        if _TEMP.match(name) and os.path.isfile(os.path.join(folder, name)):
            try:
                os.remove(os.path.join(folder, name))
                removed.append(name)
            except FileNotFoundError:
                pass
    return removed

"""Shared test helpers: compare backends; damage files the way the fault tests do."""
from __future__ import annotations

import pathlib

import numpy as np

TOL = {np.float32: dict(rtol=1e-5, atol=1e-6), np.float64: dict(rtol=1e-10, atol=1e-12)}


def assert_close(a, b, dtype, what=""):
    tol = TOL[np.dtype(dtype).type]
    np.testing.assert_allclose(np.asarray(a), np.asarray(b), err_msg=what, **tol)


def assert_trees_close(a: dict, b: dict, dtype, what=""):
    assert set(a) == set(b), f"{what}: keys differ: {sorted(set(a) ^ set(b))}"
    for k in a:
        assert_close(a[k], b[k], dtype, f"{what}[{k}]")


def truncate(path) -> None:
    """Keep the first half of a file (a write cut short)."""
    data = pathlib.Path(path).read_bytes()
    pathlib.Path(path).write_bytes(data[:len(data) // 2])


def garble(path, n: int = 32) -> None:
    """Invert ``n`` bytes in the middle of a file (the size stays the same)."""
    data = bytearray(pathlib.Path(path).read_bytes())
    mid = len(data) // 2
    data[mid:mid + n] = bytes(255 - b for b in data[mid:mid + n])
    pathlib.Path(path).write_bytes(bytes(data))


def flat_numbers(d, prefix=""):
    """``{"a/b": float}`` of every number in a nested summary dict (bools left out)."""
    out = {}
    for k, v in d.items():
        if isinstance(v, dict):
            out.update(flat_numbers(v, f"{prefix}{k}/"))
        elif isinstance(v, (int, float)) and not isinstance(v, bool):
            out[prefix + k] = float(v)
    return out

"""Shared test helpers: run one parameter set through both backends and compare."""
from __future__ import annotations

import numpy as np

TOL = {np.float32: dict(rtol=1e-5, atol=1e-6), np.float64: dict(rtol=1e-10, atol=1e-12)}


def assert_close(a, b, dtype, what=""):
    tol = TOL[np.dtype(dtype).type]
    np.testing.assert_allclose(np.asarray(a), np.asarray(b), err_msg=what, **tol)


def assert_trees_close(a: dict, b: dict, dtype, what=""):
    assert set(a) == set(b), f"{what}: keys differ: {sorted(set(a) ^ set(b))}"
    for k in a:
        assert_close(a[k], b[k], dtype, f"{what}[{k}]")

"""Test setup: JAX 64-bit mode (float64 parity), TF32 off, fixed seeds, headless plots.

Warnings are errors (see pyproject's [tool.pytest.ini_options]).
"""
import os

os.environ.setdefault("MPLBACKEND", "Agg")
# compiled JAX programs shared by this run's processes (the CLI's subprocesses too) and the next run
os.environ.setdefault("RNNFLOW_JAX_CACHE", os.path.join(os.path.dirname(os.path.dirname(__file__)),
                                                        ".pytest_cache", "jax-compile"))
from rnnflow import compile_cache  # noqa: E402 (before jax is imported: it reads the environment)

compile_cache.configure()

import numpy as np
import pytest

try:
    import jax
    jax.config.update("jax_enable_x64", True)
    jax.config.update("jax_numpy_dtype_promotion", "strict")  # as equinox: no silent upcasts
except ImportError:  # pragma: no cover
    jax = None

try:
    import torch
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False
    # one thread per pytest-xdist worker (make test runs one per core), two when run alone
    torch.set_num_threads(1 if os.environ.get("PYTEST_XDIST_WORKER") else 2)
except ImportError:  # pragma: no cover
    torch = None


@pytest.fixture(autouse=True)
def _seed():
    np.random.seed(0)
    if torch is not None:
        torch.manual_seed(0)


@pytest.fixture
def rng():
    return np.random.default_rng(1234)

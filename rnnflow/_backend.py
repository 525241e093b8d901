"""Lazy backend imports with an error that names the pip extra to install."""
from __future__ import annotations

import importlib

BACKENDS = ("torch", "jax")


def load(backend: str):
    """Import and return ``rnnflow.torch`` or ``rnnflow.jax``."""
    if backend not in BACKENDS:
        raise ValueError(f"backend={backend!r} is invalid: expected one of {BACKENDS}")
    return importlib.import_module(f"rnnflow.{backend}")


def missing(backend: str, exc: ImportError) -> ImportError:
    extra = {"torch": "torch", "jax": "jax"}[backend]
    return ImportError(f"the {backend} backend of rnnflow needs packages that are not installed "
                       f"({exc}); install them with: python -m pip install 'rnnflow[{extra}]'")


def detect(model) -> str:
    """Name the backend a model object belongs to."""
    mod = type(model).__module__
    for b in BACKENDS:
        if mod.startswith(f"rnnflow.{b}"):
            return b
    if mod.startswith("torch"):
        return "torch"
    if mod.startswith(("jax", "flax")):
        return "jax"
    raise ValueError(f"cannot tell the backend of a {type(model).__name__}: pass backend='torch' or 'jax'")

"""Where a result came from: package versions, the git commit, the command line, the time.

:func:`provenance` imports nothing to find a version (``importlib.metadata`` reads the
installed package's metadata), so a JAX run does not import torch to record its version;
a package that is not installed is recorded as None.
"""
from __future__ import annotations

import importlib.metadata
import os
import platform
import subprocess
import sys
import time

PACKAGES = ("rnnflow", "numpy", "torch", "jax", "jaxlib", "flax", "optax")
_PACKAGE_DIR = os.path.dirname(os.path.abspath(__file__))


def package_version(name: str) -> str | None:
    """The installed version of distribution ``name``, or None (not installed); for rnnflow
    the version of the package imported (a checkout may differ from what is installed)."""
    if name == "rnnflow" and getattr(sys.modules.get("rnnflow"), "__version__", None):
        return sys.modules["rnnflow"].__version__
    try:
        return importlib.metadata.version(name)
    except importlib.metadata.PackageNotFoundError:
        return None


def _git(*args: str) -> str | None:
    try:
        out = subprocess.run(["git", *args], cwd=_PACKAGE_DIR, capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() if out.returncode == 0 else None


def git_commit() -> dict | None:
    """``{"commit": sha, "dirty": bool}`` of the checkout this rnnflow is imported from, or None
    (installed from a wheel, no git, or the package sits in some other repository)."""
    top = _git("rev-parse", "--show-toplevel")
    if top is None or os.path.realpath(os.path.join(top, "rnnflow")) != os.path.realpath(_PACKAGE_DIR):
        return None
    commit = _git("rev-parse", "HEAD")
    if commit is None:
        return None
    status = _git("status", "--porcelain", "--untracked-files=no", "--", ".")
    return {"commit": commit, "dirty": None if status is None else bool(status)}


def utc_time(seconds: float | None = None) -> str:
    """``seconds`` since the epoch (default: now) as UTC ISO 8601, ``2026-12-02T22:30:00Z``."""
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(seconds))


def provenance() -> dict:
    """JSON-ready facts about this process: ``versions`` (of :data:`PACKAGES`), ``git``,
    ``argv``, ``python``, ``platform``, ``host`` and ``time`` (UTC, ISO 8601)."""
    return {
        "versions": {name: package_version(name) for name in PACKAGES},
        "git": git_commit(),
        "argv": list(sys.argv),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "host": platform.node(),
        "time": utc_time(),
    }


def run_provenance(about: dict, overrides: dict, start: float, end: float, device: str = "default") -> dict:
    """``about`` (:func:`provenance`) with what one run adds: ``overrides`` (the settings fields
    that differ from the scale's, ``{}`` if none), ``start``/``end`` (UTC, ISO 8601, from
    ``time.time()`` values), ``wall_seconds`` (``end - start``) and ``device`` (the ``device=``
    it ran with: ``"default"`` when none was given)."""
    return {**about, "overrides": overrides, "start": utc_time(start), "end": utc_time(end),
            "wall_seconds": float(end - start), "device": device}

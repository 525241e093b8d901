"""JAX's persistent compilation cache for rnnflow's entry points (the CLI, the docs build).

XLA's CPU compiler dominates small JAX runs: at smoke scale a study compiles dozens of
programs of 1-10 s each (a selective SSM's training step takes ~4 s to compile and ~1 ms to
run), which torch never pays. JAX can keep compiled programs on disk and load them on the next
run (``jax_compilation_cache_dir``); the second and later runs of a study then skip compiling.

This changes JAX's process-wide configuration, so a library call never does it: the
``rnnflow`` command and the docs build call :func:`configure` once at start, and research code
that wants it calls :func:`configure` itself. It is set through JAX's environment variables
(read when jax is imported, and inherited by sweep workers); if jax is already imported its
config is updated too. Nothing here imports jax.

``RNNFLOW_JAX_CACHE``: unset -> :func:`default_dir`; ``off`` (or ``0``, ``none``, ``false``)
-> no cache; anything else -> that directory. A ``JAX_COMPILATION_CACHE_DIR`` (or a
``jax_compilation_cache_dir`` set in jax.config) that the user chose wins over all of these.
"""
from __future__ import annotations

import hashlib
import os
import platform
import sys
from importlib import metadata
from pathlib import Path

ENV = "RNNFLOW_JAX_CACHE"
OFF = ("off", "0", "none", "false", "no")
MIN_COMPILE_SECS = 0.2          # programs compiling faster than this are not written to disk
MAX_BYTES = 2 * 1024 ** 3       # the cache evicts least recently used programs beyond 2 GiB


def _version(name: str) -> str:
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return "none"


def machine_tag() -> str:
    """8 hex digits naming this CPU (architecture and instruction-set flags): compiled CPU code
    must not be loaded on a machine whose CPU lacks the instructions it was compiled for."""
    flags = ""
    try:
        with open("/proc/cpuinfo") as f:
            flags = next((line for line in f if line.startswith(("flags", "Features"))), "")
    except OSError:
        pass
    return hashlib.sha256(f"{platform.machine()}|{platform.processor()}|{flags}".encode()).hexdigest()[:8]


def default_dir(environ=None) -> Path:
    """``$XDG_CACHE_HOME/rnnflow/jax-<jax>-<jaxlib>-<machine tag>`` (``~/.cache`` by default)."""
    env = os.environ if environ is None else environ
    root = Path(env.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return root / "rnnflow" / f"jax-{_version('jax')}-{_version('jaxlib')}-{machine_tag()}"


def configure(environ=None) -> str | None:
    """Turn on JAX's persistent compilation cache for this process; returns its directory
    (None: turned off by ``RNNFLOW_JAX_CACHE=off``, or the directory cannot be created).

    A directory the user chose (``JAX_COMPILATION_CACHE_DIR`` or jax.config) is kept as it is.
    ``environ``: a mapping to read and fill instead of ``os.environ`` (then jax.config is
    neither read nor changed).
    """
    env = os.environ if environ is None else environ
    choice = env.get(ENV, "").strip()
    if choice.lower() in OFF:
        return None
    jax_mod = sys.modules.get("jax") if environ is None else None
    chosen = env.get("JAX_COMPILATION_CACHE_DIR") or (
        jax_mod.config.jax_compilation_cache_dir if jax_mod is not None else None)
    if chosen:
        return str(chosen)
    path = Path(choice).expanduser() if choice else default_dir(env)
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        print(f"rnnflow: JAX compilation cache off ({ENV}={str(path)!r} cannot be created: {exc})",
              file=sys.stderr)
        return None
    settings = {"JAX_COMPILATION_CACHE_DIR": str(path),
                "JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS": str(MIN_COMPILE_SECS),
                "JAX_COMPILATION_CACHE_MAX_SIZE": str(MAX_BYTES)}
    for name, value in settings.items():
        env.setdefault(name, value)
    if jax_mod is not None:  # already imported: its config has read the environment already
        jax_mod.config.update("jax_compilation_cache_dir", env["JAX_COMPILATION_CACHE_DIR"])
        jax_mod.config.update("jax_persistent_cache_min_compile_time_secs",
                              float(env["JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS"]))
        jax_mod.config.update("jax_compilation_cache_max_size", int(env["JAX_COMPILATION_CACHE_MAX_SIZE"]))
    return str(path)

"""The studies behind ``rnnflow run <name>``: each a module with NAME, QUESTION, Settings, SCALES
and run(ctx).

Use :func:`run` from code; the CLI is a thin wrapper, and ``experiments/<name>.py`` shows each
study called from a script::

    import dataclasses
    from rnnflow import studies
    from rnnflow.studies import clipping
    settings = dataclasses.replace(clipping.SCALES["docs"], seeds=3)   # a clipping.Settings
    result = studies.run("clipping", backend="jax", scale="docs", settings=settings)
    print(studies.format_summary(result))
    print(result.figures)           # the PNG paths, an SVG next to each
"""
from __future__ import annotations

import importlib

from ._common import (
    BACKENDS as BACKENDS, SCALES as SCALES, StudyResult as StudyResult, argument_parser as argument_parser, run_study,
)
from .compare import compare_summaries as compare_summaries, format_summary as format_summary

#: the studies' names, as ``rnnflow run <name>`` takes them
STUDIES = ("jacobian_decay", "tanh_vs_weights", "transformer_depth", "clipping", "activations", "init_stall", "long_range",
           "mean_field", "curse_of_memory", "unit_circle", "isometry", "chaos", "copy_spectra")


def get(name: str):
    """The study module called ``name``."""
    if name not in STUDIES:
        raise ValueError(f"study={name!r} is unknown: expected one of {', '.join(STUDIES)}")
    return importlib.import_module(f"rnnflow.studies.{name}")


def run(name: str, *, backend: str = "torch", seed: int = 0, scale: str = "smoke", out: str = "results",
        progress=True, force: bool = False, settings=None, device=None) -> StudyResult:
    """Run study ``name`` in ``backend`` and write its folder under ``out`` (resumable:
    a complete folder with the same settings is loaded, not recomputed, unless ``force``).
    ``progress``: False, True (bars on stderr) or a text stream for the bars.

    ``settings``: the study's ``Settings`` to run with instead of ``SCALES[scale]``'s, e.g.
    ``dataclasses.replace(get(name).SCALES[scale], field=value)``. Settings that differ from the
    scale's go to ``<backend>-seed<S>-<scale>-<digest>``, the digest (8 hex digits) hashing the
    changed fields, so a folder is never reused for other settings.

    A study runs inside its backend's ``arrays.allow_float64()`` (JAX: ``jax.enable_x64(True)``),
    so its float64 analyses work whatever the caller chose; the process's x64 setting is the same
    afterwards.

    ``device``: where the study's models train and are analysed (:mod:`rnnflow.devices`:
    ``"cpu"``, ``"cuda[:N]"``, ``"auto"``); not a setting (see :func:`run_study`)."""
    return run_study(get(name), dict.fromkeys(STUDIES), backend=backend, seed=seed, scale=scale,
                     out=out, progress=progress, force=force, settings=settings, device=device)

"""The studies behind ``rnnflow run <name>``: each a module with NAME, QUESTION, SCALES, run(ctx).

Use :func:`run` from code; the CLI and ``experiments/<name>.py`` are thin wrappers.
"""
from __future__ import annotations

import importlib

from ._common import (
    BACKENDS as BACKENDS, SCALES as SCALES, StudyResult as StudyResult, drain_new_figures as drain_new_figures,
    run_study,
)
from .compare import compare_summaries as compare_summaries, format_summary as format_summary

STUDIES = ("jacobian_decay", "tanh_vs_weights", "transformer_depth", "clipping", "activations", "init_stall", "long_range")


def get(name: str):
    """The study module called ``name``."""
    if name not in STUDIES:
        raise ValueError(f"study={name!r} is unknown: expected one of {', '.join(STUDIES)}")
    return importlib.import_module(f"rnnflow.studies.{name}")


def run(name: str, *, backend: str = "torch", seed: int = 0, scale: str = "smoke", out: str = "results",
        progress=True, force: bool = False) -> StudyResult:
    """Run study ``name`` in ``backend`` and write its folder under ``out`` (resumable:
    a complete folder is loaded, not recomputed, unless ``force``). ``progress``: False,
    True (bars on stderr) or a text stream for the bars.

    A jax study runs inside ``jax.enable_x64(True)``, so its float64 analyses work whatever
    the caller chose; the process's x64 setting is the same afterwards."""
    return run_study(get(name), dict.fromkeys(STUDIES), backend=backend, seed=seed, scale=scale,
                     out=out, progress=progress, force=force)


def run_for_docs(name: str, backend: str, *, show_figures: bool = True,
                 compare_to: StudyResult | None = None) -> StudyResult:
    """What a docs gallery page calls: run ``name`` at ``$RNNFLOW_SCALE`` (default ``docs``)
    into ``$RNNFLOW_DOCS_OUT`` (default ``results/docs``), print the headline numbers, and
    hand the figures to the page (``show_figures``) or drop them (the other backend).

    compare_to: a result of the same study in the other backend; the page then prints both
        side by side with their differences instead of this run's numbers alone.

    The progress bars go to the terminal running the build (``sys.__stderr__``), not into the
    page. ``$RNNFLOW_DOCS_REUSE=1`` reuses complete folders instead of recomputing.
    """
    import os
    import sys
    result = run(name, backend=backend, seed=0, scale=os.environ.get("RNNFLOW_SCALE", "docs"),
                 out=os.environ.get("RNNFLOW_DOCS_OUT", os.path.join("results", "docs")),
                 progress=sys.__stderr__ if sys.__stderr__ is not None else False,
                 force=os.environ.get("RNNFLOW_DOCS_REUSE", "0") != "1")
    if not show_figures:
        drain_new_figures()
    print(format_summary(result) if compare_to is None else compare_summaries(compare_to, result))
    folder = os.path.abspath(result.folder)
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))  # the checkout
    shown = os.path.relpath(folder, root) if folder.startswith(root + os.sep) else folder
    print(f"({'reused' if result.reused else f'computed in {result.seconds:.1f} s'}; files in {shown})")
    return result

"""The docs build's side of rnnflow, kept out of the package: :func:`run_for_docs` (what a
gallery page calls) and :func:`study_figure_scraper` (the sphinx-gallery image scraper that
puts the figures of that run on the page). docs/conf.py puts this folder on ``sys.path``.

sphinx-gallery calls the scraper after every code block; it shows the figures that the
block's :func:`run_for_docs` calls queued in ``_TO_SHOW`` (the figures of their results).
Only a file inside the study's own results folder is published (:func:`published_path`): a
reused ``summary.json`` could list any path, and the built site is public.
"""
from __future__ import annotations

import os
import shutil
import sys

from rnnflow import studies

CHECKOUT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
_TO_SHOW: list[tuple[str, str]] = []  # (results folder, PNG path) queued by the code block running now


def published_path(folder: str, path: str) -> str:
    """``path`` resolved (links followed) if it is a PNG file inside the results ``folder``;
    otherwise ``ValueError``: the docs publish nothing else."""
    root, real = os.path.realpath(folder), os.path.realpath(path)
    if not real.startswith(root + os.sep):
        raise ValueError(f"figure {path!r} lies outside its study's results folder {folder!r} "
                         f"(resolves to {real!r}): refusing to publish it")
    if not real.endswith(".png") or not os.path.isfile(real):
        raise ValueError(f"figure {path!r} is not a PNG file in {folder!r}: refusing to publish it")
    return real


def results_root() -> str:
    """``$RNNFLOW_DOCS_OUT``, default ``results/docs``, as an absolute path; a relative one is
    taken from the checkout (sphinx runs conf.py in docs/ and the pages in docs/gallery/)."""
    return os.path.join(CHECKOUT, os.environ.get("RNNFLOW_DOCS_OUT", os.path.join("results", "docs")))


def run_for_docs(name: str, backend: str, *, show_figures: bool = True,
                 compare_to: studies.StudyResult | None = None) -> studies.StudyResult:
    """Run study ``name`` at ``$RNNFLOW_SCALE`` (default ``docs``) into :func:`results_root`,
    print the headline numbers, and queue the result's figures for the page (``show_figures``;
    False for the other backend, whose figures the page does not show).

    compare_to: a result of the same study in the other backend; the page then prints both
        side by side with their differences instead of this run's numbers alone.

    The progress bars go to the terminal running the build (``sys.__stderr__``), not into the
    page. ``$RNNFLOW_DOCS_REUSE=1`` reuses complete folders instead of recomputing.
    """
    result = studies.run(name, backend=backend, seed=0, scale=os.environ.get("RNNFLOW_SCALE", "docs"),
                         out=results_root(), progress=sys.__stderr__ if sys.__stderr__ is not None else False,
                         force=os.environ.get("RNNFLOW_DOCS_REUSE", "0") != "1")
    if show_figures:
        _TO_SHOW.extend((result.folder, published_path(result.folder, f)) for f in result.figures)
    print(studies.format_summary(result) if compare_to is None else studies.compare_summaries(compare_to, result))
    folder = os.path.abspath(result.folder)
    shown = os.path.relpath(folder, CHECKOUT) if folder.startswith(CHECKOUT + os.sep) else folder
    print(f"({'reused' if result.reused else f'computed in {result.seconds:.1f} s'}; files in {shown})")
    return result


def sweep_for_docs(sweep, *, x: str, y: str, facet: str | None, metric: str):
    """Run :class:`rnnflow.sweep.Sweep` ``sweep`` (in this process) into :func:`results_root`,
    draw ``metric`` over ``x`` and ``y`` per ``facet`` value as ``rnnflow sweep --plot`` does
    (``sweep.png`` in the sweep's folder), queue that figure for the page and print the counts
    and the first rows of the table. Completed cells are loaded, as on the command line."""
    import io

    from rnnflow.io import atomic_write_bytes
    from rnnflow.plotting.sweep import plot_sweep_grid
    from rnnflow.sweep import run_sweep
    folder, rows = run_sweep(sweep, out=results_root(), workers=1, progress=False)
    fig = plot_sweep_grid(rows, x=x, y=y, facet=facet, metric=metric)
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=150, bbox_inches="tight")
    png = os.path.join(folder, "sweep.png")
    atomic_write_bytes(png, buf.getvalue())
    _TO_SHOW.append((folder, published_path(folder, png)))
    statuses = sorted({r["status"] for r in rows})
    print(f"sweep {sweep.study}: {len(rows)} cells, " + ", ".join(
        f"{sum(r['status'] == s for r in rows)} {s}" for s in statuses)
        + f" ({sum(bool(r.get('reused')) for r in rows)} loaded from complete folders)")
    cols = [n for n, _ in sweep.grid] + ["seed", "status", metric]
    print("  ".join(cols))
    for r in rows[:6]:
        print("  ".join(f"{r[c]:.4g}" if isinstance(r[c], float) else str(r[c]) for c in cols))
    table = os.path.abspath(os.path.join(folder, "sweep.csv"))
    print(f"... {len(rows)} rows in " + (os.path.relpath(table, CHECKOUT) if table.startswith(CHECKOUT + os.sep) else table))
    return folder, rows


def _alt(src: str) -> str:
    """Alt text from a study figure's path ``.../<study>/<backend>-seed.../<figure>.png`` (or a
    sweep's, ``.../sweeps/<study>-<scale>-<digest>/sweep.png``)."""
    folder, name = os.path.split(os.path.abspath(src))
    study, run = os.path.basename(os.path.dirname(folder)), os.path.basename(folder)
    if study == "sweeps":
        return f"sweep {run}: heat maps of one headline number over the grid"
    return f"{study} study, {run.split('-')[0]}: {os.path.splitext(name)[0].replace('_', ' ')}"


def figure_rst(sources: list[str], copies: list[str], src_dir: str) -> str:
    """One full-width image per figure, each with its own alt text (sphinx-gallery's own
    layout puts several figures of one block in a row of ~90 px thumbnails)."""
    out = []
    for src, dst in zip(sources, copies):
        rel = os.path.relpath(dst, src_dir).replace(os.sep, "/")
        out.append(f"\n.. image:: /{rel}\n   :alt: {_alt(src)}\n   :class: sphx-glr-single-img\n")
    return "".join(out) + "\n"


def study_figure_scraper(block, block_vars, gallery_conf, **kwargs) -> str:
    """Copy the PNGs queued by the code block just run into the gallery and return their rST.

    Named in docs/conf.py as ``"image_scrapers": ("rnnflow_docs.study_figure_scraper",)``.
    """
    sources, copies = [], []
    try:
        for (folder, src), dst in zip(_TO_SHOW, block_vars["image_path_iterator"]):
            src = published_path(folder, src)
            shutil.copyfile(src, dst)
            sources.append(src)
            copies.append(dst)
    finally:
        _TO_SHOW.clear()
    return figure_rst(sources, copies, gallery_conf["src_dir"]) if copies else ""


class GalleryNumberSortKey:
    """Order gallery pages by the number in ``plot_<n>_<name>.py`` (plot_10 after plot_9), for
    sphinx-gallery's ``within_subsection_order`` (a class it instantiates with the source folder)."""

    def __init__(self, src_dir):
        self.src_dir = src_dir

    def __call__(self, filename) -> tuple:
        stem = os.path.basename(str(filename))
        head = stem.split("_")[1] if stem.count("_") >= 1 else ""
        return (int(head), stem) if head.isdigit() else (10**9, stem)

    def __repr__(self):   # sphinx-gallery caches its config by repr
        return f"{type(self).__name__}()"

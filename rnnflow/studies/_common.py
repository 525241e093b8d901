"""What every study shares: scales and their settings, the results folder, figure saving, resume.

A study is a module with ``NAME``, ``QUESTION``, ``Settings`` (a frozen dataclass, validated
on construction), ``SCALES`` (``smoke`` | ``docs`` | ``full`` -> a ``Settings``) and
``run(ctx) -> dict`` (headline numbers). ``run_study`` gives it a :class:`StudyContext`;
the folder layout is::

    <out>/<name>/<backend>-seed<S>-<scale>[-<digest>]/
        summary.json        headline numbers, settings, status ("complete" when done), and
                            "training_runs": each training run's outcome (finished / diverged /
                            non-finite / stopped) and one-line detail, in the order they ran
        data.npz            the arrays behind every figure
        <figure>.png/.svg   one file pair per figure
        provenance.json     versions, git commit, command line, host, overrides, start/end/wall time
        manifest.json       size and SHA-256 of each file above, written last (rnnflow.integrity)

``<digest>`` appears when the settings are not the scale's own (:func:`folder_name`).
Every write is atomic. A folder is reused, not recomputed, only if its manifest verifies and
its summary says complete with the same settings; a folder that fails the check (a file
missing, truncated or changed) is recomputed with a one-line notice saying why. One process
writes a folder at a time (``<folder>/.lock``, :mod:`rnnflow.lock`): a second one fails.
"""
from __future__ import annotations

import argparse
import dataclasses
import hashlib
import io
import json
import os
import time
from dataclasses import dataclass, field

import numpy as np

from .._backend import load
from ..devices import check_visible
from ..integrity import check_manifest, manifest_files, notice, remove_manifest, write_manifest
from ..io import atomic_write_bytes, json_safe, read_json, save_npz, write_json
from ..lock import LOCK, FolderLock
from ..provenance import provenance, run_provenance
from ..validation import check_folder, count_arg, fail

#: every study's scales: seconds (tests), the docs' figures, the full run
SCALES = ("smoke", "docs", "full")
#: the backends a study runs in
BACKENDS = ("torch", "jax")
DEFAULT_OUT = "results"


@dataclass
class StudyContext:
    """Handed to a study's ``run``: where to write, which backend, seed and scale."""

    name: str
    backend: str
    seed: int
    scale: str
    folder: str
    settings: object                  # the study's Settings for this run (a frozen dataclass)
    progress: object = True           # False, True (bars on stderr) or a text stream for the bars
    figures: list = field(default_factory=list)
    arrays: dict = field(default_factory=dict)
    files: list = field(default_factory=list)   # names written into folder (for the manifest)
    training: list = field(default_factory=list)   # {"outcome", "detail"} of each training run
    device: str | None = None         # where models, training and analyses run (rnnflow.devices)

    def record_training(self, result) -> None:
        """Note a :class:`~rnnflow.training.TrainResult`'s outcome for ``summary.json``'s
        ``training_runs`` (what a sweep's row status is derived from)."""
        self.training.append({"outcome": result.status, "detail": result.describe()})

    def save_figure(self, fig, stem: str) -> str:
        """Write ``fig`` as ``<stem>.png`` (150 dpi) and ``<stem>.svg``; return the PNG path."""
        for ext, kw in (("png", {"dpi": 150}), ("svg", {})):
            buf = io.BytesIO()
            fig.savefig(buf, format=ext, bbox_inches="tight", **kw)
            atomic_write_bytes(os.path.join(self.folder, f"{stem}.{ext}"), buf.getvalue())
            self.files.append(f"{stem}.{ext}")
        import matplotlib.pyplot as plt
        plt.close(fig)
        path = os.path.join(self.folder, f"{stem}.png")
        self.figures.append(path)
        return path

    def save_arrays(self, **arrays) -> None:
        """Queue arrays for ``data.npz`` (written once, with the summary)."""
        self.arrays.update({k: np.asarray(v) for k, v in arrays.items()})

    def tqdm(self, iterable, desc: str = "", **kw):
        """A progress bar over ``iterable`` labelled ``<desc> [<backend>]``; it stays on screen
        when done, so a long build leaves one line (with its time) per study."""
        from tqdm.auto import tqdm
        stream = None if isinstance(self.progress, bool) else self.progress
        return tqdm(iterable, desc=f"{desc} [{self.backend}]", disable=self.progress is False,
                    file=stream, dynamic_ncols=True, **kw)


@dataclass(frozen=True)
class StudyResult:
    """What :func:`run_study` returns: the headline numbers and where the files are."""

    name: str
    backend: str
    seed: int
    scale: str
    folder: str
    summary: dict
    figures: tuple
    seconds: float
    reused: bool                      # True: a finished folder was loaded, nothing recomputed
    training: tuple = ()              # {"outcome", "detail"} of each training run the study made


def _check(name, backend, seed, scale, registry):
    if name not in registry:
        raise ValueError(f"study={name!r} is unknown: expected one of {', '.join(sorted(registry))}")
    if backend not in BACKENDS:
        raise ValueError(f"backend={backend!r} is invalid: expected one of {BACKENDS}")
    if scale not in SCALES:
        raise ValueError(f"scale={scale!r} is invalid: expected one of {SCALES}")
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ValueError(f"seed={seed!r} is invalid: expected a non-negative integer")


def run_study(module, registry, *, backend: str, seed: int = 0, scale: str = "smoke",
              out: str = DEFAULT_OUT, progress=True, force: bool = False, settings=None,
              device=None) -> StudyResult:
    """Run one study (or load it if its folder is complete, holds the same settings and
    ``force`` is False).

    progress: False, True (bars on stderr) or a text stream to draw the bars on.
    settings: the study's ``Settings`` (default: ``module.SCALES[scale]``); other settings than
    the scale's own go to a folder of their own (:func:`folder_name`).
    device: where the study's models train and are analysed (:mod:`rnnflow.devices`; default
    the CPU / JAX's default device). Not a setting: a complete folder is reused whatever device
    computed it (its ``provenance.json`` says which); ``force`` recomputes it.
    """
    _check(module.NAME, backend, seed, scale, registry)
    device = check_visible("run", device, backend)   # before the folder
    out = check_folder("out", out)
    if not isinstance(progress, bool) and not callable(getattr(progress, "write", None)):
        raise TypeError(f"progress={progress!r} is invalid: expected True, False or a text stream")
    default = module.SCALES[scale]
    settings = default if settings is None else settings
    if type(settings) is not type(default):
        raise TypeError(f"settings={settings!r} is invalid: expected a {module.NAME}.Settings")
    folder = os.path.join(out, module.NAME, folder_name(backend, seed, scale, default, settings))
    stored = json_safe(dataclasses.asdict(settings))    # as summary.json holds it: tuples as lists
    with FolderLock(folder):   # also removes the temporary files of a killed run
        if not force:
            reused = _reuse(module, folder, stored, backend, int(seed), scale)
            if reused is not None:
                return reused
        remove_manifest(folder)   # from here until the new manifest, the folder is incomplete
        ctx = StudyContext(module.NAME, backend, int(seed), scale, folder, settings, progress, device=device)
        about, start = provenance(), time.time()
        t0 = time.perf_counter()
        with load(backend).arrays.allow_float64():   # float64 analyses whatever the caller chose
            results = module.run(ctx)
        seconds = time.perf_counter() - t0
        files = ["summary.json", "provenance.json", *ctx.files]
        overrides = json_safe(changed_settings(default, settings))
        write_json(os.path.join(folder, "provenance.json"), run_provenance(about, overrides, start, time.time(),
                                                                                device=device or "default"))
        if ctx.arrays:
            save_npz(os.path.join(folder, "data.npz"), ctx.arrays)
            files.append("data.npz")
        write_json(os.path.join(folder, "summary.json"), {
            "study": module.NAME, "question": module.QUESTION, "backend": backend, "seed": int(seed),
            "scale": scale, "settings": stored, "results": results, "figures": ctx.figures,
            "seconds": seconds, "status": "complete", "overrides": overrides,
            "training_runs": ctx.training,
        })
        write_manifest(folder, files)
    return StudyResult(module.NAME, backend, int(seed), scale, folder, results, tuple(ctx.figures),
                       seconds, reused=False, training=tuple(ctx.training))


def _reuse(module, folder: str, stored: dict, backend: str, seed: int, scale: str) -> StudyResult | None:
    """The complete folder's result if it verifies (:func:`_check_folder`); else None, with a
    notice saying why when the folder held an earlier run's files."""
    if not [n for n in os.listdir(folder) if n != LOCK]:
        return None   # a new folder
    expected = {"study": module.NAME, "backend": backend, "seed": seed, "scale": scale}
    problem, saved = _check_folder(folder, stored, expected)
    if problem is not None:
        notice(f"{folder}: {problem}: recomputing")
        return None
    return StudyResult(module.NAME, backend, int(seed), scale, folder, saved["results"],
                       tuple(saved["figures"]), saved["seconds"], reused=True, training=tuple(saved["training"]))


def _check_folder(folder: str, stored: dict, expected: dict) -> tuple[str | None, dict | None]:
    """``(None, summary)`` if the manifest verifies and lists the summary, which says complete,
    holds ``stored`` settings and the ``expected`` study, backend, seed and scale, and lists
    only PNGs of the manifest; else ``(problem, None)``.
    The summary's figure paths are rebuilt from the folder (it may have moved since)."""
    problem = check_manifest(folder)
    if problem is not None:
        return problem, None
    files = manifest_files(folder)
    for name in ("summary.json", "provenance.json"):
        if name not in files:
            return f"manifest.json does not list {name}", None
    try:
        saved = read_json(os.path.join(folder, "summary.json"))
        results, seconds, figures = saved["results"], float(saved["seconds"]), list(saved["figures"])
    except Exception as e:   # the manifest was rewritten over a broken summary
        return f"summary.json unreadable ({type(e).__name__}: {e})", None
    if saved.get("status") != "complete":
        return f"summary.json says status {saved.get('status')!r}, not 'complete'", None
    if saved.get("settings") != stored:
        return "summary.json holds other settings than this run's", None
    for key, want in expected.items():
        if saved.get(key) != want:
            return f"summary.json is of another run ({key} {saved.get(key)!r}, this run's {want!r})", None
    paths = []
    for path in figures:
        name = os.path.basename(str(path))
        if name not in files or not name.endswith(".png"):
            return f"summary.json lists figure {path!r}, not a PNG in this folder's manifest", None
        paths.append(os.path.join(folder, name))
    return None, {"results": results, "seconds": seconds, "figures": paths,
                  "training": saved.get("training_runs", [])}


def changed_settings(default, settings) -> dict:
    """``{field: value}`` of the fields where ``settings`` differ from ``default`` (the overrides)."""
    return {f.name: getattr(settings, f.name) for f in dataclasses.fields(settings)
            if getattr(settings, f.name) != getattr(default, f.name)}


def folder_name(backend: str, seed: int, scale: str, default, settings) -> str:
    """``<backend>-seed<S>-<scale>``, plus ``-<digest>`` when ``settings`` differ from the scale's
    ``default``: the first 8 hex digits of the SHA-256 of the changed fields as sorted JSON
    (``{"seeds": 4}``), so settings of their own never share a folder with other settings."""
    base = f"{backend}-seed{seed}-{scale}"
    changed = changed_settings(default, settings)
    if not changed:
        return base
    text = json.dumps(json_safe(changed), sort_keys=True)
    return f"{base}-{hashlib.sha256(text.encode()).hexdigest()[:8]}"


def check_tuple(owner: str, name: str, value, check_item, *, min_len: int = 1, increasing: bool = False) -> tuple:
    """A settings field of several values: a list or tuple of ``min_len`` or more items, each
    passing ``check_item(owner, "<name>[i]", item)`` (a :mod:`rnnflow.validation` check),
    strictly increasing if ``increasing``; returned as a tuple (JSON writes it as a list)."""
    what = f"a tuple of {min_len} or more{' increasing' if increasing else ''} values"
    if not isinstance(value, (list, tuple)) or len(value) < min_len:
        fail(owner, name, value, what)
    for i, item in enumerate(value):
        check_item(owner, f"{name}[{i}]", item)
    if increasing and any(b <= a for a, b in zip(value, value[1:])):
        fail(owner, name, value, what)
    return tuple(value)


def argument_parser(description: str) -> argparse.ArgumentParser:
    """The flags every ``experiments/<name>.py`` takes, as ``rnnflow run`` names them:
    ``--backend``, ``--seed``, ``--scale``, ``--out``, ``--force``; a script adds its own."""
    parser = argparse.ArgumentParser(description=description, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--backend", choices=BACKENDS, default="torch")
    parser.add_argument("--seed", type=count_arg(0), default=0)
    parser.add_argument("--scale", choices=SCALES, default="smoke",
                        help="smoke: seconds; docs: what the docs show; full: the real thing")
    parser.add_argument("--out", default=DEFAULT_OUT, help="results root folder (default: ./results)")
    parser.add_argument("--force", action="store_true", help="recompute even if a complete folder exists")
    return parser

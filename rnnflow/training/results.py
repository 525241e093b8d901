"""The results folder of a training run: atomic files, checkpoints, resume (framework-free).

Layout of ``out_dir``::

    config.json          backend, TrainConfig, model config, digest of the initial params
    summary.json         status ("running" | "finished" | "stopped" | "raised"), steps done,
                         final loss, non-finite events
    metrics.npz          per-step arrays (exact; see rnnflow.training.records.Metrics)
    metrics.csv          the same, one row per step
    params_final.npz     final parameters, flat schema keys ("layers.0.weight_hh")
    gradients.npz, gradient_iterations.csv, gradient_histograms.csv   (with a monitor)
    gradient_spectrum.csv                                              (with its spectrum record)
    provenance.json      one entry per session (start or resume): versions, git commit, argv, time
    manifest.json        size and SHA-256 of each file above, written last (rnnflow.integrity)
    checkpoints/step_00000100.npz   one file per checkpoint: params/*, opt/*, metrics/*,
                                    monitor/* and a JSON "meta" (step, status, events, digests)

Every file is written atomically (:mod:`rnnflow.io`: a temporary name in the same
folder, then ``os.replace``), so a killed run leaves either the old file or the new
one, never half of one. One process writes a folder at a time (``.lock``, see
:mod:`rnnflow.lock`); the temporary files of a killed one are removed at the next start.

Integrity: a finished folder is read back only if its manifest verifies. A checkpoint's
meta holds ``config_sha256`` (:func:`config_digest` of the run it belongs to) and
``arrays_sha256`` (of its own arrays); resuming takes the newest checkpoint that verifies,
and refuses, by name, one of another run (see :mod:`rnnflow.training.resume`).

Optimizer state is stored backend-neutrally (the same arrays for torch and JAX),
under ``opt/``: ``count`` (updates applied) and per parameter key ``k``:

    momentum  trace/k    the momentum buffer b
    adam      mu/k, nu/k the first and second moments m, v
    rmsprop   nu/k       the square average v
    sgd       (nothing but count)

so a checkpoint is readable without either framework. A run resumes only in the
backend that started it (``config.json`` records it): the two backends agree to
rounding, not bit for bit, and a resumed run promises the same numbers.
"""
from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import re
from dataclasses import dataclass

import numpy as np

from ..config import GRUConfig, Init, LSTMConfig, MLPConfig, RNNConfig, TransformerConfig
from ..integrity import check_manifest, write_manifest
from ..io import atomic_write_text, json_safe, load_npz, read_json, save_npz, write_json
from ..lock import FolderLock
from ..params import flatten, unflatten
from .config import RESUMABLE_CHANGES, TrainConfig
from .monitor import SPECTRUM_CSV, GradientHistory
from .records import Metrics, NonFiniteEvent, TrainResult, run_status

OPTIMIZER_SLOTS = {"sgd": (), "momentum": ("trace",), "adam": ("mu", "nu"), "rmsprop": ("nu",)}
TERMINAL = ("finished", "stopped")
_CONFIGS = {c.__name__: c for c in (RNNConfig, LSTMConfig, GRUConfig, TransformerConfig, MLPConfig)}
_CKPT = re.compile(r"^step_(\d{8})\.npz$")


# ---------------------------------------------------------------- configs as JSON
def config_to_dict(model_config) -> dict:
    """A model config as JSON-ready data: ``{"type": "LSTMConfig", **fields}``."""
    return {"type": type(model_config).__name__, **dataclasses.asdict(model_config)}


def config_from_dict(d: dict):
    """Inverse of :func:`config_to_dict`."""
    d = dict(d)
    kind = d.pop("type", None)
    if kind not in _CONFIGS:
        raise ValueError(f"model config type={kind!r} is invalid: expected one of {sorted(_CONFIGS)}")
    fields = {f.name: f for f in dataclasses.fields(_CONFIGS[kind])}
    for k, v in list(d.items()):
        if k in fields and k.startswith("init") and isinstance(v, dict):
            d[k] = Init(**v)
    return _CONFIGS[kind](**d)


def params_digest(flat: dict) -> str:
    """SHA-256 over the flat params' keys, dtypes, shapes and bytes."""
    h = hashlib.sha256()
    for k in sorted(flat):
        a = np.ascontiguousarray(flat[k])
        h.update(f"{k}|{a.dtype.str}|{a.shape}|".encode())
        h.update(a.tobytes())
    return h.hexdigest()


def run_meta(backend: str, train_config: TrainConfig, model_config, params_flat: dict, monitor=None) -> dict:
    """What ``config.json`` holds; two runs with equal meta compute the same numbers."""
    return json_safe({
        "backend": backend, "train": train_config.to_dict(), "model": config_to_dict(model_config),
        "params_sha256": params_digest(params_flat),
        "monitor": None if monitor is None else json_safe(monitor.settings()),
    })


def config_digest(meta: dict) -> str:
    """SHA-256 of what fixes a run's numbers: ``meta`` (:func:`run_meta`) without the monitor
    settings and the :data:`RESUMABLE_CHANGES`, as sorted JSON. Checkpoints carry it."""
    d = json.loads(json.dumps(meta))
    d.pop("monitor", None)
    for k in RESUMABLE_CHANGES:
        d.get("train", {}).pop(k, None)
    return hashlib.sha256(json.dumps(d, sort_keys=True).encode()).hexdigest()


def meta_differences(saved: dict, meta: dict) -> list[str]:
    """Dotted names of the entries that differ, ignoring :data:`RESUMABLE_CHANGES`."""
    saved, meta = json.loads(json.dumps(saved)), json.loads(json.dumps(meta))
    for d in (saved, meta):
        for k in RESUMABLE_CHANGES:
            d.get("train", {}).pop(k, None)
    out: list[str] = []

    def walk(a, b, prefix):
        if isinstance(a, dict) and isinstance(b, dict):
            for k in sorted(set(a) | set(b)):
                walk(a.get(k), b.get(k), f"{prefix}.{k}" if prefix else k)
        elif a != b:
            out.append(f"{prefix} (saved {a!r}, now {b!r})")
    walk(saved, meta, "")
    return out


# ---------------------------------------------------------------- the folder
@dataclass(frozen=True)
class Checkpoint:
    """The state after ``step`` completed steps."""

    step: int
    params: dict            # flat schema keys -> arrays (including BatchNorm buffers)
    optimizer: dict         # backend-neutral, see the module docstring
    metrics: Metrics
    events: tuple
    monitor: dict | None    # GradientRecorder.state_dict() or None
    status: str = "running"  # the run's status when saved: "running" for one taken mid-run


class CheckpointError(ValueError):
    """A checkpoint that cannot be used: unreadable, or changed since it was written."""


class ForeignCheckpointError(CheckpointError):
    """A checkpoint of another run (its config digest is not this run's): refused, not skipped."""


RESULT_FILES = ("config.json", "summary.json", "metrics.npz", "metrics.csv", "params_final.npz",
                "provenance.json")
GRADIENT_FILES = ("gradients.npz", "gradient_iterations.csv", "gradient_histograms.csv")


class ResultsDir:
    """One run's folder (see the module docstring for its files). ``config_sha256``: the
    :func:`config_digest` of the run writing it; checkpoints are saved with it and loaded
    only if they carry it."""

    def __init__(self, path, config_sha256: str | None = None):
        self.path = os.fspath(path)
        self.ckpt_dir = os.path.join(self.path, "checkpoints")
        self.config_sha256 = config_sha256

    def lock(self) -> FolderLock:
        """The folder's :class:`~rnnflow.lock.FolderLock`; acquiring it also removes the
        temporary files killed writers left (here and in ``checkpoints/``)."""
        return FolderLock(self.path, clean=(self.path, self.ckpt_dir))

    def file(self, name: str) -> str:
        return os.path.join(self.path, name)

    def read_meta(self) -> dict | None:
        p = self.file("config.json")
        return read_json(p) if os.path.exists(p) else None

    def write_meta(self, meta: dict) -> None:
        write_json(self.file("config.json"), meta)

    def read_summary(self) -> dict | None:
        p = self.file("summary.json")
        return read_json(p) if os.path.exists(p) else None

    def write_summary(self, status: str, steps: int, metrics: Metrics, events, **extra) -> None:
        finite = metrics.loss[np.isfinite(metrics.loss)]
        write_json(self.file("summary.json"), {
            "status": status, "steps_done": len(metrics), "steps": steps,
            "final_loss": float(finite[-1]) if len(finite) else None,
            "events": [e.to_dict() for e in events], **extra})

    # checkpoints
    def checkpoints(self) -> list[int]:
        if not os.path.isdir(self.ckpt_dir):
            return []
        return sorted(int(m.group(1)) for n in os.listdir(self.ckpt_dir) if (m := _CKPT.match(n)))

    def _ckpt_path(self, step: int) -> str:
        return os.path.join(self.ckpt_dir, f"step_{step:08d}.npz")

    def save_checkpoint(self, ckpt: Checkpoint, keep: int) -> None:
        if self.config_sha256 is None:
            raise ValueError("ResultsDir.save_checkpoint needs the run's config_sha256 (ResultsDir(path, digest))")
        arrays = {f"params/{k}": v for k, v in ckpt.params.items()}
        arrays.update({f"opt/{k}": v for k, v in ckpt.optimizer.items()})
        arrays.update({f"metrics/{k}": v for k, v in ckpt.metrics.to_arrays().items()})
        if ckpt.monitor is not None:
            arrays.update({f"monitor/{k}": v for k, v in ckpt.monitor.items()})
        arrays["meta"] = np.array(json.dumps({
            "step": ckpt.step, "status": ckpt.status, "events": [e.to_dict() for e in ckpt.events],
            "config_sha256": self.config_sha256, "arrays_sha256": params_digest(arrays)}))
        save_npz(self._ckpt_path(ckpt.step), arrays)
        for old in self.checkpoints()[:-keep]:
            try:
                os.remove(self._ckpt_path(old))
            except FileNotFoundError:   # already gone (removed by hand)
                pass

    def load_checkpoint(self, step: int | None = None, groups=None) -> Checkpoint | None:
        """The checkpoint after ``step`` steps (default: the newest), or None if there is none.

        Raises :class:`CheckpointError` naming the file if it is unreadable, its arrays do not
        match their digest, and :class:`ForeignCheckpointError` if it belongs to another run
        (``config_sha256`` differs)."""
        steps = self.checkpoints()
        if not steps:
            return None
        step = steps[-1] if step is None else step
        path = self._ckpt_path(step)
        try:
            z = load_npz(path)
            meta = json.loads(str(z.pop("meta")))
            digests = meta["arrays_sha256"], meta["config_sha256"]
        except Exception as e:   # truncated, garbled (BadZipFile, EOFError, ...), or not ours
            raise CheckpointError(f"{path} is unreadable ({type(e).__name__}: {e})") from e
        if params_digest(z) != digests[0]:
            raise CheckpointError(f"{path} changed since it was written (its arrays do not match their digest)")
        if self.config_sha256 is not None and digests[1] != self.config_sha256:
            raise ForeignCheckpointError(
                f"{path} is a checkpoint of another run (config digest {digests[1][:12]}..., this run's is "
                f"{self.config_sha256[:12]}...): refusing to resume from it; delete it, or pass another out_dir")
        if int(meta["step"]) != step:
            raise CheckpointError(f"{path} holds the state after {meta['step']} steps, not {step} (renamed?)")

        def part(prefix):
            return {k[len(prefix):]: v for k, v in z.items() if k.startswith(prefix)}
        mon = part("monitor/")
        try:
            return Checkpoint(step=int(meta["step"]), params=part("params/"), optimizer=part("opt/"),
                              metrics=Metrics.from_arrays(part("metrics/"), groups),
                              events=tuple(NonFiniteEvent.from_dict(e) for e in meta["events"]),
                              monitor=mon or None, status=str(meta.get("status", "running")))
        except Exception as e:
            raise CheckpointError(f"{path} is unreadable ({type(e).__name__}: {e})") from e

    # final results
    def write_results(self, result: TrainResult, **extra) -> None:
        m = result.metrics
        save_npz(self.file("metrics.npz"), m.to_arrays())
        atomic_write_text(self.file("metrics.csv"), m.csv_text())
        save_npz(self.file("params_final.npz"), flatten(result.params))
        if result.gradients is not None:
            result.gradients.save(self.path)
        # "status" is the lifecycle word resume reads ("finished" / "stopped"); the honest
        # one ("non-finite", "diverged") is "outcome", next to the first bad steps
        lifecycle = "stopped" if result.status == "stopped" else "finished"
        self.write_summary(lifecycle, result.train_config.steps, m, result.events,
                           backend=result.backend, **result.status_summary(), **extra)
        names = [n for n in RESULT_FILES if os.path.exists(self.file(n))]
        grads = [] if result.gradients is None else list(GRADIENT_FILES) + (
            [SPECTRUM_CSV] if result.gradients.spectrum is not None else [])
        write_manifest(self.path, names + grads)


def load_result(out_dir) -> TrainResult:
    """A finished (or stopped) run's :class:`TrainResult`, read from its folder.

    Raises ``FileNotFoundError`` if it holds no finished run, ``ValueError`` if a file changed
    since the run wrote it (a rerun of ``train`` with this ``out_dir`` rebuilds it)."""
    folder = ResultsDir(out_dir)
    problem = check_manifest(folder.path)
    if problem is not None:
        raise (FileNotFoundError if problem.startswith("manifest.json missing") else ValueError)(
            f"{folder.path} cannot be read back: {problem}; rerun train(...) with out_dir={folder.path!r} "
            "to rebuild it from its checkpoints")
    meta, summary = folder.read_meta(), folder.read_summary()
    if meta is None or summary is None or summary["status"] not in TERMINAL:
        status = None if summary is None else summary["status"]
        raise FileNotFoundError(f"{folder.path} holds no finished run (status {status!r})")
    model_config = config_from_dict(meta["model"])
    grads = folder.file("gradients.npz")
    metrics = Metrics.from_arrays(load_npz(folder.file("metrics.npz")))
    events = tuple(NonFiniteEvent.from_dict(e) for e in summary["events"])
    return TrainResult(   # the honest status ("non-finite", "diverged"), from the records themselves
        status=run_status(summary["status"], metrics, events), steps_done=int(summary["steps_done"]),
        metrics=metrics,
        params=unflatten(load_npz(folder.file("params_final.npz")), model_config),
        events=events,
        train_config=TrainConfig.from_dict(meta["train"]), model_config=model_config,
        backend=meta["backend"],
        gradients=GradientHistory.load(grads) if os.path.exists(grads) else None,
        out_dir=folder.path, resumed_from=int(summary["steps_done"]))

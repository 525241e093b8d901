"""Resuming a training run from its folder, with nothing lost and nothing silently reused.

:func:`open_run` decides, for a run about to start in ``out_dir`` (its lock held):

* the folder holds another run (``config.json`` differs): refused, as before;
* a finished run whose manifest verifies: read back, nothing recomputed;
* otherwise the newest checkpoint that verifies is resumed from (a notice names each one
  skipped, and why); a terminal one (e.g. "stopped") rebuilds the results without a step;
  none left: the run starts over. A broken ``config.json`` / ``summary.json`` / result file
  is a notice, not a crash: the checkpoints, bound to the run by their config digest, decide.
* a checkpoint of another run (other config digest) is refused by name (``CheckpointError``):
  it is not ours to skip or delete.
"""
from __future__ import annotations

import os

from ..integrity import check_manifest, notice, remove_manifest
from ..io import read_json, write_json
from ..params import unflatten
from ..provenance import provenance
from .records import TrainResult, run_status
from .results import CheckpointError, ForeignCheckpointError, ResultsDir, config_digest, load_result, meta_differences


def _read(folder: ResultsDir, name: str) -> tuple[dict | None, str | None]:
    """``(data, None)``, ``(None, None)`` if absent, or ``(None, problem)`` if unreadable."""
    path = folder.file(name)
    if not os.path.exists(path):
        return None, None
    try:
        data = read_json(path)
    except Exception as e:
        return None, f"{name} is unreadable ({type(e).__name__}: {e})"
    return (data, None) if isinstance(data, dict) else (None, f"{name} is not a JSON object")


def newest_checkpoint(folder: ResultsDir, groups):
    """The newest checkpoint that verifies (a notice for each newer one that does not), or None.
    A checkpoint of another run raises :class:`ForeignCheckpointError`."""
    steps = folder.checkpoints()[::-1]
    for i, step in enumerate(steps):
        try:
            return folder.load_checkpoint(step, groups)
        except ForeignCheckpointError:
            raise
        except CheckpointError as e:
            then = (f"resuming from step_{steps[i + 1]:08d}.npz instead" if i + 1 < len(steps)
                    else "no checkpoint left: starting over from step 0")
            notice(f"{e}: {then}")
    return None


def open_run(folder: ResultsDir, meta: dict, cfg, model_config, keys, recorder, backend: str):
    """``(result, None)`` for a run that needs no step (read back, or rebuilt from a terminal
    checkpoint), else ``(None, checkpoint_or_None)`` to start from; see the module docstring.
    Sets ``folder.config_sha256``; writes ``provenance.json`` when the run goes on."""
    folder.config_sha256 = config_digest(meta)
    saved, problem = _read(folder, "config.json")
    summary, summary_problem = _read(folder, "summary.json")
    if saved is not None:
        diffs = meta_differences(saved, meta)
        try:
            done, status = int((summary or {}).get("steps_done", 0)), (summary or {}).get("status")
        except (TypeError, ValueError):
            done, status, summary_problem = 0, None, "summary.json holds no step count"
        # reading a finished run back needs the same numbers, not the same monitor
        numeric = [d for d in diffs if not d.startswith("monitor")]
        terminal = status == "stopped" or (status == "finished" and done == cfg.steps)
        if numeric or (diffs and not terminal):
            raise ValueError(f"out_dir={folder.path!r} holds a different run ({'; '.join(diffs[:3])}): "
                             "pass another out_dir, or delete this one to start over")
        if terminal:
            problem = check_manifest(folder.path)
            if problem is None:
                finished = _read_back(folder, recorder, keys)
                if finished is not None:
                    return finished, None
                problem = "its final checkpoint does not verify (needed to refill the monitor)"
        problem = problem or summary_problem
    elif problem is None and (summary is not None or summary_problem or folder.checkpoints()):
        problem = "config.json missing"
    if problem is not None:
        notice(f"{folder.path}: {problem}: rebuilding from its checkpoints")
    ckpt = newest_checkpoint(folder, keys)
    if ckpt is not None and ckpt.step > cfg.steps:
        raise ValueError(f"out_dir={folder.path!r} has a checkpoint after {ckpt.step} steps, more than "
                         f"TrainConfig.steps={cfg.steps}")
    remove_manifest(folder.path)   # from here until write_results, the folder is incomplete
    _write_provenance(folder, 0 if ckpt is None else ckpt.step)
    if ckpt is not None and ckpt.status not in ("running", "finished"):
        return _rebuild(folder, meta, ckpt, cfg, model_config, recorder, backend), None
    return None, ckpt


def _read_back(folder: ResultsDir, recorder, keys) -> TrainResult | None:
    """A terminal run read back; the caller's monitor refilled from the final checkpoint
    (None if that checkpoint does not verify)."""
    result = load_result(folder.path)
    if recorder is not None:
        try:
            ckpt = folder.load_checkpoint(groups=keys)
        except CheckpointError:
            return None
        if ckpt is None or ckpt.step != result.steps_done:
            return None
        if ckpt.monitor is not None:
            recorder.load_state_dict(ckpt.monitor)
    return result


def _rebuild(folder: ResultsDir, meta: dict, ckpt, cfg, model_config, recorder, backend: str) -> TrainResult:
    """The result files of a run that ended (status ``ckpt.status``) at ``ckpt``, rewritten."""
    if recorder is not None and ckpt.monitor is not None:
        recorder.load_state_dict(ckpt.monitor)
    result = TrainResult(
        status=run_status(ckpt.status, ckpt.metrics, ckpt.events), steps_done=len(ckpt.metrics), metrics=ckpt.metrics,
        params=unflatten(ckpt.params, model_config), events=tuple(ckpt.events), train_config=cfg,
        model_config=model_config, backend=backend,
        gradients=None if recorder is None else recorder.history(), out_dir=folder.path,
        resumed_from=ckpt.step)
    folder.write_meta(meta)
    folder.write_results(result)
    return result


def _write_provenance(folder: ResultsDir, start: int) -> None:
    """Append this session to ``provenance.json`` (``{"sessions": [...]}``; an unreadable
    earlier list is replaced, with a note)."""
    old, problem = _read(folder, "provenance.json")
    sessions = list(old.get("sessions", [])) if old is not None and isinstance(old.get("sessions"), list) else []
    entry = {**provenance(), "start_step": start}
    if problem is not None:
        entry["note"] = f"earlier sessions lost: {problem}"
    write_json(folder.file("provenance.json"), {"sessions": sessions + [entry]})

"""Training folders under faults: SIGKILL mid-run, and each kind of damage to a folder's files.

Every case ends in one of two ways, never in a silent reuse of a damaged or foreign file:
  resumed:  from the newest checkpoint that verifies (or rebuilt from the final one, or started
            over), with a notice naming what was skipped; the result is bit for bit that of an
            uninterrupted run, and the folder verifies afterwards;
  refused:  a clear error naming the foreign file.

The reference is an uninterrupted run of the same config in this process, without a folder.
"""
from __future__ import annotations

import functools
import json
import logging
import os
import pathlib
import re
import shutil
import signal
import subprocess
import sys

import numpy as np
import pytest

import rnnflow
from rnnflow.integrity import check_manifest
from rnnflow.io import load_npz, save_npz
from rnnflow.training import load_result
from rnnflow.training.results import ForeignCheckpointError

from . import _fault_child as child
from ._helpers import garble, truncate

ROOT = pathlib.Path(__file__).resolve().parents[1]
CKPT = "checkpoints/step_{:08d}.npz"


def _params():
    return rnnflow.init_params(child.model(), 0, np.float64)


def _train(backend, cfg, data_fn=None, **kw):
    return rnnflow.train(child.model(), _params(), data_fn or child.data(), cfg, backend=backend,
                         progress=False, monitor=child.monitor(backend), **kw)


@functools.lru_cache(maxsize=None)
def reference(backend: str, optimizer: str, **changes):
    return _train(backend, child.config(optimizer, **changes))


def assert_same_run(got, want):
    """Bit for bit: every metric, every parameter, every gradient record, the events."""
    for name, v in want.metrics.to_arrays().items():
        np.testing.assert_array_equal(got.metrics.to_arrays()[name], v, err_msg=name)
    got_p, want_p = rnnflow.flatten(got.params), rnnflow.flatten(want.params)
    assert set(got_p) == set(want_p)
    for k, v in want_p.items():
        np.testing.assert_array_equal(got_p[k], v, err_msg=k)
    for name, v in want.gradients.to_arrays().items():
        np.testing.assert_array_equal(got.gradients.to_arrays()[name], v, err_msg=name)
    assert got.events == want.events and got.status == want.status


def assert_clean(folder):
    """Verifies, holds no lock and no temporary file."""
    assert check_manifest(folder) is None
    left = [p.name for p in pathlib.Path(folder).rglob("*") if p.name.endswith(".tmp") or p.name == ".lock"]
    assert left == []


# ---------------------------------------------------------------- SIGKILL mid-run
FAST_KILLS = {("torch", "momentum", "step"), ("jax", "adam", "write")}
KILLS = [pytest.param(b, o, m, id=f"{b}-{o}-{m}",
                      marks=() if (b, o, m) in FAST_KILLS else pytest.mark.slow)
         for m in ("step", "write") for b in ("torch", "jax") for o in child.OPTIMIZERS]


@pytest.mark.parametrize("backend,optimizer,mode", KILLS)
def test_sigkill_mid_run_then_resume_matches_an_uninterrupted_run(backend, optimizer, mode, tmp_path):
    out = tmp_path / "run"
    proc = subprocess.run([sys.executable, "-m", "tests._fault_child", backend, optimizer, str(out), mode],
                          cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert proc.returncode == -signal.SIGKILL, proc.stdout + proc.stderr
    lock = json.loads((out / ".lock").read_text())
    assert lock["pid"] != os.getpid()                    # the dead child's lock, left behind
    names = sorted(os.listdir(out / "checkpoints"))
    if mode == "step":
        assert names == ["step_00000004.npz", "step_00000008.npz"]
    else:                                                # killed between the temp file and os.replace
        assert [n for n in names if not n.endswith(".tmp")] == ["step_00000004.npz"]
        assert len([n for n in names if n.startswith(".step_00000008.npz.") and n.endswith(".tmp")]) == 1
    calls = []
    fn = child.data()
    resumed = _train(backend, child.config(optimizer), lambda s, g: calls.append(s) or fn(s, g), out_dir=out)
    start = 8 if mode == "step" else 4
    assert resumed.resumed_from == start and calls == list(range(start, child.STEPS))
    assert_same_run(resumed, reference(backend, optimizer))
    assert_clean(out)
    assert_same_run(load_result(out), reference(backend, optimizer))


# ---------------------------------------------------------------- damaged folders


def _tamper_npz(path, key):
    """Other numbers in a valid file: ``key`` shifted by 1e-3, everything else (meta too) kept."""
    arrays = load_npz(path)
    arrays[key] = arrays[key] + 1e-3
    save_npz(path, arrays)


def _dead_pid():
    p = subprocess.Popen([sys.executable, "-c", "pass"])
    p.wait()
    return p.pid


def _stale_lock(d):
    (d / ".lock").write_text(json.dumps({"pid": _dead_pid(), "host": os.uname().nodename, "since": "then"}))


def _stale_temps(d):
    (d / ".summary.json.k3j2_x.tmp").write_text("{")
    (d / "checkpoints" / ".step_00000012.npz.a1b2c3.tmp").write_bytes(b"PK")


# scenario: (base folder, damage(folder, other_run_folder), outcome, notice regex or None)
#   outcome ("resumed", first step computed) or ("refused", exception, message regex)
UNFINISHED = {
    "checkpoint-truncated": (lambda d, o: truncate(d / CKPT.format(8)), ("resumed", 4),
                             r"step_00000008\.npz is unreadable \(.*\): resuming from step_00000004\.npz instead"),
    "checkpoint-garbled": (lambda d, o: garble(d / CKPT.format(8)), ("resumed", 4),
                           r"step_00000008\.npz (is unreadable|changed since it was written).*: resuming from "
                           r"step_00000004\.npz"),
    "checkpoint-deleted": (lambda d, o: os.remove(d / CKPT.format(8)), ("resumed", 4), None),
    "checkpoint-tampered": (lambda d, o: _tamper_npz(d / CKPT.format(8), "params/head.weight"), ("resumed", 4),
                            r"step_00000008\.npz changed since it was written \(its arrays do not match"),
    "checkpoint-renamed": (lambda d, o: shutil.copyfile(d / CKPT.format(4), d / CKPT.format(8)), ("resumed", 4),
                           r"step_00000008\.npz holds the state after 4 steps, not 8"),
    "every-checkpoint-truncated": (lambda d, o: [truncate(d / CKPT.format(s)) for s in (4, 8)], ("resumed", 0),
                                   r"step_00000004\.npz is unreadable .*: no checkpoint left: starting over"),
    "checkpoint-from-another-run": (lambda d, o: shutil.copyfile(o / CKPT.format(8), d / CKPT.format(8)),
                                    ("refused", ForeignCheckpointError,
                                     r"step_00000008\.npz is a checkpoint of another run \(config digest"), None),
    "summary-truncated": (lambda d, o: truncate(d / "summary.json"), ("resumed", 8),
                          r"summary\.json is unreadable \(JSONDecodeError.*\): rebuilding from its checkpoints"),
    "config-truncated": (lambda d, o: truncate(d / "config.json"), ("resumed", 8),
                         r"config\.json is unreadable .*: rebuilding from its checkpoints"),
    "config-deleted": (lambda d, o: os.remove(d / "config.json"), ("resumed", 8), r"config\.json missing"),
    "config-from-another-run": (lambda d, o: shutil.copyfile(o / "config.json", d / "config.json"),
                                ("refused", ValueError, r"holds a different run \(train\.lr"), None),
    "stale-temp-files": (lambda d, o: _stale_temps(d), ("resumed", 8), None),
    "stale-lock-of-a-dead-process": (lambda d, o: _stale_lock(d), ("resumed", 8), None),
}
FINISHED = {
    "params-final-tampered": (lambda d, o: _tamper_npz(d / "params_final.npz", "head.weight"), ("resumed", 12),
                              r"params_final\.npz changed since it was written \(digest mismatch\): rebuilding"),
    "params-final-deleted": (lambda d, o: os.remove(d / "params_final.npz"), ("resumed", 12),
                             r"params_final\.npz missing"),
    "params-final-from-another-run": (lambda d, o: shutil.copyfile(o / "params_final.npz", d / "params_final.npz"),
                                      ("resumed", 12), r"params_final\.npz changed since it was written"),
    "summary-truncated": (lambda d, o: truncate(d / "summary.json"), ("resumed", 12),
                          r"summary\.json is unreadable"),
    "metrics-garbled": (lambda d, o: garble(d / "metrics.npz"), ("resumed", 12), r"metrics\.npz changed"),
    "gradients-deleted": (lambda d, o: os.remove(d / "gradients.npz"), ("resumed", 12), r"gradients\.npz missing"),
    "manifest-deleted": (lambda d, o: os.remove(d / "manifest.json"), ("resumed", 12), r"manifest\.json missing"),
    "manifest-truncated": (lambda d, o: truncate(d / "manifest.json"), ("resumed", 12),
                           r"manifest\.json unreadable"),
    "final-checkpoint-truncated-and-params-deleted": (
        lambda d, o: (truncate(d / CKPT.format(12)), os.remove(d / "params_final.npz")), ("resumed", 8),
        r"step_00000012\.npz is unreadable .*: resuming from step_00000008\.npz instead"),
    "folder-from-another-run": (lambda d, o: (shutil.rmtree(d), shutil.copytree(o, d)),
                                ("refused", ValueError, r"holds a different run \(train\.lr"), None),
}


class Crash(RuntimeError):
    pass


@functools.lru_cache(maxsize=None)
def _bases(backend, root):
    """The undamaged folders, made once per backend: an unfinished run (killed by an exception
    at step 9; checkpoints 4, 8), a finished one (checkpoints 8, 12), another run's (lr 0.1)."""
    root = pathlib.Path(root)
    fn = child.data()

    def crashing(step, rng):
        if step == child.KILL_STEP:
            raise Crash(step)
        return fn(step, rng)
    with pytest.raises(Crash):
        _train(backend, child.config("adam"), crashing, out_dir=root / "unfinished")
    _train(backend, child.config("adam"), out_dir=root / "finished")
    _train(backend, child.config("adam", lr=0.1), out_dir=root / "other")
    return root


def _cases():
    for base, table in (("unfinished", UNFINISHED), ("finished", FINISHED)):
        for name in table:
            for backend in ("torch", "jax"):
                yield pytest.param(backend, base, name, id=f"{backend}-{base}-{name}")


@pytest.mark.parametrize("backend,base,name", list(_cases()))
def test_a_damaged_training_folder_is_resumed_or_refused_never_reused(backend, base, name, tmp_path,
                                                                      tmp_path_factory, caplog):
    damage, outcome, message = (UNFINISHED if base == "unfinished" else FINISHED)[name]
    bases = _bases(backend, str(tmp_path_factory.getbasetemp() / f"bases-{backend}"))
    d = tmp_path / "run"
    shutil.copytree(bases / base, d)
    damage(d, bases / "other")
    if base == "finished" and outcome[0] == "resumed":   # damaged results are never read back as they are
        with pytest.raises((ValueError, FileNotFoundError), match="cannot be read back"):
            load_result(d)
    calls = []
    fn = child.data()
    counting = lambda s, g: calls.append(s) or fn(s, g)  # noqa: E731
    caplog.set_level(logging.WARNING, logger="rnnflow")
    if outcome[0] == "refused":
        with pytest.raises(outcome[1], match=outcome[2]):
            _train(backend, child.config("adam"), counting, out_dir=d)
        assert calls == [] and not (d / ".lock").exists()
        return
    got = _train(backend, child.config("adam"), counting, out_dir=d)
    assert calls == list(range(outcome[1], child.STEPS)) and got.resumed_from == outcome[1]
    notices = " | ".join(r.getMessage() for r in caplog.records if r.name == "rnnflow")
    if message is None:
        assert notices == ""
    else:
        assert notices and re.search(message, notices), notices
    assert_same_run(got, reference(backend, "adam"))
    assert_clean(d)
    assert_same_run(load_result(d), reference(backend, "adam"))


@pytest.mark.parametrize("backend", ["torch", "jax"])
def test_a_stopped_run_with_a_damaged_summary_is_rebuilt_not_continued(backend, tmp_path, caplog):
    fn = child.data()
    poisoned = lambda s, g: (lambda x, y: (x, y * 1e200 if s == 5 else y))(*fn(s, g))  # noqa: E731
    cfg = child.config("adam", nonfinite="stop")
    first = _train(backend, cfg, poisoned, out_dir=tmp_path)
    assert first.status == "stopped" and first.steps_done == 6
    truncate(tmp_path / "summary.json")
    calls = []
    caplog.set_level(logging.WARNING, logger="rnnflow")
    again = _train(backend, cfg, lambda s, g: calls.append(s), out_dir=tmp_path)
    assert calls == [] and "summary.json is unreadable" in caplog.text
    assert_same_run(again, first)
    assert_clean(tmp_path)


def test_checkpoints_carry_the_digest_of_their_run_and_of_their_arrays(tmp_path):
    _train("torch", child.config("sgd", steps=4), out_dir=tmp_path)
    z = load_npz(tmp_path / CKPT.format(4))
    meta = json.loads(str(z.pop("meta")))
    assert meta["status"] == "finished" and meta["step"] == 4
    # recomputed here from the arrays and from config.json, not with the writer's helpers
    import hashlib
    h = hashlib.sha256()
    for k in sorted(z):
        a = np.ascontiguousarray(z[k])
        h.update(f"{k}|{a.dtype.str}|{a.shape}|".encode())
        h.update(a.tobytes())
    assert meta["arrays_sha256"] == h.hexdigest()
    saved = json.loads((tmp_path / "config.json").read_text())
    saved.pop("monitor")
    for k in ("steps", "log_every", "checkpoint_every", "keep_checkpoints"):
        saved["train"].pop(k)
    assert meta["config_sha256"] == hashlib.sha256(json.dumps(saved, sort_keys=True).encode()).hexdigest()


def test_asking_a_finished_folder_for_fewer_steps_is_refused_and_leaves_it_intact(tmp_path):
    _train("torch", child.config("sgd"), out_dir=tmp_path)
    with pytest.raises(ValueError, match=r"checkpoint after 12 steps, more than TrainConfig\.steps=8"):
        _train("torch", child.config("sgd", steps=8), out_dir=tmp_path)
    assert_clean(tmp_path)
    assert_same_run(load_result(tmp_path), reference("torch", "sgd"))

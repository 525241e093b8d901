"""Study folders are reused only when their manifest verifies; one writer per folder; stale
temporary files cleaned; files honour the umask; provenance; the docs publish only the study's
own figures. (Training folders under faults: tests/test_resume_faults.py.)"""
from __future__ import annotations

import calendar
import dataclasses
import importlib.metadata
import importlib.util
import json
import logging
import os
import pathlib
import re
import shutil
import stat
import subprocess
import sys
import time
import types

import matplotlib.pyplot as plt
import numpy as np
import pytest

import rnnflow
from rnnflow import cli, studies
from rnnflow.integrity import check_manifest, write_manifest
from rnnflow.io import atomic_write_text, current_umask, load_npz, save_npz, write_json
from rnnflow.lock import FolderLock, FolderLockedError, pid_alive
from rnnflow.provenance import git_commit, provenance
from rnnflow.studies._common import run_study

from . import _fault_child as child
from ._helpers import garble, truncate

ROOT = pathlib.Path(__file__).resolve().parents[1]
FOLDER = "fake/torch-seed0-smoke"


# ---------------------------------------------------------------- a tiny study
@dataclasses.dataclass(frozen=True)
class Settings:
    n: int = 5


def fake_study(calls: list, fail_after_figure: bool = False):
    """A study module as rnnflow.studies expects one: arrays, a figure, headline numbers."""
    mod = types.ModuleType("fake")
    mod.NAME, mod.QUESTION, mod.Settings = "fake", "does the runner keep its promises?", Settings
    mod.SCALES = {"smoke": Settings(5), "docs": Settings(6), "full": Settings(7)}

    def run(ctx):
        calls.append(ctx.seed)
        x = np.random.default_rng(ctx.seed).normal(size=ctx.settings.n)
        ctx.save_arrays(x=x)
        fig, ax = plt.subplots(figsize=(2, 2))
        ax.plot(x)
        ctx.save_figure(fig, "line")
        if fail_after_figure:
            raise KeyboardInterrupt("killed mid-study")
        return {"mean": float(x.mean())}
    mod.run = run
    return mod


def _run(out, calls, seed=0, **kw):
    return run_study(fake_study(calls, kw.pop("fail", False)), {"fake": None}, backend="torch", seed=seed,
                     scale="smoke", out=str(out), progress=False, **kw)




def _summary_lists(d, path):
    """A hand-made folder: the summary lists ``path`` as a figure, the manifest rewritten to match."""
    summary = json.loads((d / "summary.json").read_text())
    summary["figures"] = [path]
    write_json(d / "summary.json", summary)
    write_manifest(d, json.loads((d / "manifest.json").read_text())["files"])


def _copy_other_run(d, other):
    shutil.rmtree(d)
    shutil.copytree(other, d)


# name: (damage(folder, other run's folder), notice regex)
STUDY_DAMAGE = {
    "summary-truncated": (lambda d, o: truncate(d / "summary.json"),
                          r"summary\.json changed since it was written \(size \d+ bytes, \d+ when written\)"),
    "data-garbled": (lambda d, o: garble(d / "data.npz"), r"data\.npz changed since it was written \(digest mismatch\)"),
    "data-deleted": (lambda d, o: os.remove(d / "data.npz"), r"data\.npz missing"),
    "data-tampered": (lambda d, o: save_npz(d / "data.npz", {"x": load_npz(d / "data.npz")["x"] + 1}),
                      r"data\.npz changed since it was written"),
    "data-from-another-run": (lambda d, o: shutil.copyfile(o / "data.npz", d / "data.npz"), r"data\.npz changed"),
    "figure-deleted": (lambda d, o: os.remove(d / "line.png"), r"line\.png missing"),
    "svg-deleted": (lambda d, o: os.remove(d / "line.svg"), r"line\.svg missing"),
    "manifest-truncated": (lambda d, o: truncate(d / "manifest.json"), r"manifest\.json unreadable"),
    "manifest-deleted": (lambda d, o: os.remove(d / "manifest.json"), r"manifest\.json missing"),
    "folder-from-another-run": (_copy_other_run, r"summary\.json is of another run \(seed 1, this run's 0\)"),
    "summary-lists-a-file-outside": (lambda d, o: _summary_lists(d, "/etc/hostname"),
                                     r"summary\.json lists figure '/etc/hostname', not a PNG in this folder"),
    "summary-lists-an-unlisted-file": (lambda d, o: (shutil.copyfile(d / "line.png", d / "x.png"),
                                                     _summary_lists(d, str(d / "x.png"))),
                                       r"lists figure .*x\.png', not a PNG in this folder's manifest"),
}


@pytest.fixture(scope="module")
def study_bases(tmp_path_factory):
    out = tmp_path_factory.mktemp("study-bases")
    first = _run(out, [])
    other = _run(out, [], seed=1)
    return out, first, other


@pytest.mark.parametrize("name", list(STUDY_DAMAGE))
def test_a_damaged_study_folder_is_recomputed_with_a_notice(name, study_bases, tmp_path, caplog):
    bases, first, other = study_bases
    shutil.copytree(bases / "fake", tmp_path / "fake")
    d = tmp_path / FOLDER
    damage, message = STUDY_DAMAGE[name]
    damage(d, pathlib.Path(other.folder))
    caplog.set_level(logging.WARNING, logger="rnnflow")
    calls = []
    again = _run(tmp_path, calls)
    assert not again.reused and calls == [0]
    notices = [r.getMessage() for r in caplog.records if r.name == "rnnflow"]
    assert len(notices) == 1 and notices[0].startswith(f"{d}: ") and notices[0].endswith(": recomputing")
    assert re.search(message, notices[0]), notices[0]
    # nothing lost: the same numbers, a verified folder, and the next call reuses it
    assert again.summary == first.summary
    np.testing.assert_array_equal(load_npz(d / "data.npz")["x"], load_npz(pathlib.Path(first.folder) / "data.npz")["x"])
    assert check_manifest(d) is None and again.figures == (str(d / "line.png"),)
    caplog.clear()
    third = _run(tmp_path, calls)
    assert third.reused and calls == [0] and not caplog.records
    assert third.figures == (str(d / "line.png"),) and third.summary == first.summary


def test_a_complete_folder_is_reused_and_its_figures_found_where_it_now_is(study_bases, tmp_path, caplog):
    bases, first, _ = study_bases
    shutil.copytree(bases / "fake", tmp_path / "moved" / "fake")
    caplog.set_level(logging.WARNING, logger="rnnflow")
    calls = []
    r = _run(tmp_path / "moved", calls)
    assert r.reused and calls == [] and not caplog.records
    assert r.figures == (str(tmp_path / "moved" / FOLDER / "line.png"),) and r.summary == first.summary


def test_an_interrupted_study_leaves_no_complete_folder_and_is_recomputed(tmp_path, caplog):
    with pytest.raises(KeyboardInterrupt):
        _run(tmp_path, [], fail=True)
    d = tmp_path / FOLDER
    assert (d / "line.png").exists() and not (d / "manifest.json").exists() and not (d / ".lock").exists()
    caplog.set_level(logging.WARNING, logger="rnnflow")
    calls = []
    assert not _run(tmp_path, calls).reused and calls == [0]
    assert "manifest.json missing (the folder was not completed): recomputing" in caplog.text


def test_force_recomputes_without_a_notice(study_bases, tmp_path, caplog):
    shutil.copytree(study_bases[0] / "fake", tmp_path / "fake")
    caplog.set_level(logging.WARNING, logger="rnnflow")
    calls = []
    assert not _run(tmp_path, calls, force=True).reused and calls == [0] and not caplog.records


def test_the_cli_repro_of_a_deleted_data_file_and_figure_recomputes(tmp_path, capsys, caplog):
    """The hostile pass's repro: delete data.npz and the figure of a complete folder, run again."""
    args = ["run", "tanh_vs_weights", "--out", str(tmp_path), "--no-progress"]
    assert cli.main(args) == 0
    d = next((tmp_path / "tanh_vs_weights").iterdir())
    os.remove(d / "data.npz")
    os.remove(d / "decomposition.png")
    capsys.readouterr()
    caplog.set_level(logging.WARNING, logger="rnnflow")
    assert cli.main(args) == 0
    out = capsys.readouterr().out
    assert "loaded (already complete)" not in out and "ran in" in out
    assert f"{d}: data.npz missing: recomputing" in caplog.text
    assert (d / "decomposition.png").exists() and check_manifest(d) is None


# ---------------------------------------------------------------- one writer at a time
def _holder(folder):
    """A live process holding ``folder``'s lock until its stdin closes."""
    code = ("import sys; from rnnflow.lock import FolderLock\n"
            f"with FolderLock({str(folder)!r}):\n    print('held', flush=True); sys.stdin.read()")
    p = subprocess.Popen([sys.executable, "-c", code], cwd=ROOT, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                         text=True)
    assert p.stdout.readline().strip() == "held"
    return p


def test_a_second_writer_into_a_study_folder_fails_naming_the_first(tmp_path):
    holder = _holder(tmp_path / FOLDER)
    try:
        with pytest.raises(FolderLockedError, match=rf"{FOLDER} is being written by another process \(pid "
                                                    rf"{holder.pid} on"):
            _run(tmp_path, [])
    finally:
        holder.communicate(timeout=30)   # closes its stdin: it releases the lock and exits
    assert not (tmp_path / FOLDER / ".lock").exists()
    calls = []
    assert not _run(tmp_path, calls).reused and calls == [0]


def test_two_identical_training_runs_into_one_folder_the_second_fails_clearly(tmp_path):
    """The hostile pass's race (one crashed in checkpoint pruning): now the second is refused at
    once, the first finishes untouched, and a rerun afterwards reads its result back."""
    out = tmp_path / "run"
    first = subprocess.Popen([sys.executable, "-m", "tests._fault_child", "torch", "adam", str(out), "block"],
                             cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.time() + 120
        while not os.path.exists(f"{out}.ready"):
            assert first.poll() is None and time.time() < deadline, first.communicate()
            time.sleep(0.05)
        child.same_setup("torch")
        params = rnnflow.init_params(child.model(), 0, np.float64)
        with pytest.raises(FolderLockedError, match=rf"pid {first.pid} on"):
            rnnflow.train(child.model(), params, child.data(), child.config("adam"), backend="torch",
                          out_dir=out, progress=False, monitor=child.monitor("torch"))
    finally:
        open(f"{out}.go", "w").close()
        stdout, stderr = first.communicate(timeout=120)
    assert first.returncode == 0, stdout + stderr
    calls = []
    fn = child.data()
    again = rnnflow.train(child.model(), params, lambda s, g: calls.append(s) or fn(s, g), child.config("adam"),
                          backend="torch", out_dir=out, progress=False, monitor=child.monitor("torch"))
    assert calls == [] and again.steps_done == child.STEPS and check_manifest(out) is None
    ref = rnnflow.train(child.model(), params, child.data(), child.config("adam"), backend="torch", progress=False)
    np.testing.assert_array_equal(again.metrics.loss, ref.metrics.loss)


def test_a_stale_lock_is_taken_over_and_a_live_one_is_not(tmp_path):
    p = subprocess.Popen([sys.executable, "-c", "pass"])
    p.wait()
    host = os.uname().nodename
    assert not pid_alive(p.pid) and pid_alive(os.getpid())
    lock = tmp_path / ".lock"
    lock.write_text(json.dumps({"pid": p.pid, "host": host, "since": "then"}))
    with FolderLock(tmp_path):
        assert json.loads(lock.read_text())["pid"] == os.getpid()
    assert not lock.exists()
    # our own live pid: refused, even from this process (a nested writer)
    lock.write_text(json.dumps({"pid": os.getpid(), "host": host, "since": "now"}))
    with pytest.raises(FolderLockedError, match=f"pid {os.getpid()}"):
        FolderLock(tmp_path).acquire()
    # another host's lock cannot be checked: refused
    lock.write_text(json.dumps({"pid": p.pid, "host": "elsewhere", "since": "now"}))
    with pytest.raises(FolderLockedError, match="'elsewhere'"):
        FolderLock(tmp_path).acquire()
    # a garbled lock (a writer killed while creating it): stale once it is 10 s old
    lock.write_text("{")
    with pytest.raises(FolderLockedError):
        FolderLock(tmp_path).acquire()
    os.utime(lock, (time.time() - 60, time.time() - 60))
    with FolderLock(tmp_path):
        pass
    assert not lock.exists()


def test_stale_temp_files_are_removed_when_a_writer_starts(study_bases, tmp_path):
    shutil.copytree(study_bases[0] / "fake", tmp_path / "fake")
    d = tmp_path / FOLDER
    stale = [".data.npz.k2j3h4.tmp", ".line.png.abc_12.tmp"]
    kept = ["notes.tmp", ".hidden", "data.npz"]
    for n in stale:
        (d / n).write_bytes(b"half a file")
    for n in kept[:2]:
        (d / n).write_text("mine")
    assert _run(tmp_path, []).reused            # the manifest still verifies: reused, and cleaned
    assert sorted(n for n in os.listdir(d) if n in stale + kept) == sorted(kept)


# ---------------------------------------------------------------- file modes
@pytest.mark.parametrize("umask,mode", [(0o022, 0o644), (0o027, 0o640), (0o002, 0o664), (0o077, 0o600)])
def test_written_files_honour_the_umask(umask, mode, tmp_path):
    old = os.umask(umask)
    try:
        assert current_umask() == umask
        atomic_write_text(tmp_path / "a.txt", "x")
        save_npz(tmp_path / "b.npz", {"x": np.zeros(2)})
        r = _run(tmp_path / "out", [])
    finally:
        os.umask(old)
    files = [tmp_path / "a.txt", tmp_path / "b.npz"] + [p for p in pathlib.Path(r.folder).iterdir()]
    assert {p.name: stat.S_IMODE(p.stat().st_mode) for p in files} == {p.name: mode for p in files}


# ---------------------------------------------------------------- provenance
def test_study_and_training_folders_record_their_provenance(study_bases, tmp_path):
    about = json.loads((pathlib.Path(study_bases[1].folder) / "provenance.json").read_text())
    assert about["versions"]["numpy"] == np.__version__ and about["versions"]["rnnflow"] == rnnflow.__version__
    for name in ("torch", "jax", "flax", "optax"):
        assert about["versions"][name] == importlib.metadata.version(name)
    assert about["argv"] == sys.argv
    assert abs(time.time() - calendar.timegm(time.strptime(about["time"], "%Y-%m-%dT%H:%M:%SZ"))) < 3600
    head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=ROOT, capture_output=True, text=True)
    if head.returncode == 0:
        assert about["git"]["commit"] == head.stdout.strip()
    # training: one entry per session, with the step it started from
    fn = child.data()

    class Crash(RuntimeError):
        pass

    def crashing(step, rng):
        if step == child.KILL_STEP:
            raise Crash
        return fn(step, rng)
    params = rnnflow.init_params(child.model(), 0, np.float64)
    with pytest.raises(Crash):
        rnnflow.train(child.model(), params, crashing, child.config("sgd"), backend="torch", out_dir=tmp_path,
                      progress=False)
    rnnflow.train(child.model(), params, fn, child.config("sgd"), backend="torch", out_dir=tmp_path, progress=False)
    sessions = json.loads((tmp_path / "provenance.json").read_text())["sessions"]
    assert [s["start_step"] for s in sessions] == [0, 8]
    assert "provenance.json" in json.loads((tmp_path / "manifest.json").read_text())["files"]


def test_provenance_imports_no_framework_and_git_fails_silently(tmp_path, monkeypatch):
    code = ("import sys, rnnflow.provenance as p; d = p.provenance(); "
            "print(sorted(m for m in ('torch', 'jax', 'flax', 'optax') if m in sys.modules), d['versions']['torch'])")
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True).stdout
    assert out.split()[0] == "[]" and out.split()[1] == importlib.metadata.version("torch")
    monkeypatch.setattr("rnnflow.provenance._PACKAGE_DIR", str(tmp_path))   # not a checkout
    assert git_commit() is None and provenance()["git"] is None
    monkeypatch.undo()
    monkeypatch.setenv("PATH", str(tmp_path))                                # no git at all
    assert git_commit() is None


# ---------------------------------------------------------------- the docs publish only the study's files
def _docs_module():
    spec = importlib.util.spec_from_file_location("rnnflow_docs_under_test", ROOT / "docs" / "_ext" / "rnnflow_docs.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_the_figure_scraper_refuses_a_path_outside_the_results_folder(study_bases, tmp_path):
    docs = _docs_module()
    folder = study_bases[1].folder
    good = study_bases[1].figures[0]
    assert docs.published_path(folder, good) == os.path.realpath(good)
    outside = tmp_path / "secret.png"
    outside.write_bytes(b"not yours")
    link = tmp_path / "link"
    shutil.copytree(folder, link)
    os.symlink(outside, link / "evil.png")
    for bad in ("/etc/hostname", str(outside), os.path.join(folder, "..", "..", "..", "secret.png"),
                str(link / "evil.png")):
        with pytest.raises(ValueError, match="refusing to publish"):
            docs.published_path(folder if "link" not in bad else str(link), bad)
    with pytest.raises(ValueError, match="not a PNG"):
        docs.published_path(folder, os.path.join(folder, "data.npz"))
    # the scraper re-checks what was queued, and copies nothing it refuses
    dst = tmp_path / "gallery"
    dst.mkdir()
    docs._TO_SHOW.append((folder, "/etc/hostname"))
    with pytest.raises(ValueError, match="outside its study's results folder"):
        docs.study_figure_scraper(None, {"image_path_iterator": iter([str(dst / "img.png")])}, {"src_dir": "x"})
    assert docs._TO_SHOW == [] and list(dst.iterdir()) == []
    docs._TO_SHOW.append((folder, good))
    rst = docs.study_figure_scraper(None, {"image_path_iterator": iter([str(dst / "img.png")])},
                                    {"src_dir": str(tmp_path)})
    assert "img.png" in rst and (dst / "img.png").read_bytes() == pathlib.Path(good).read_bytes()

"""``rnnflow sweep`` on the local engine: a 2x2x2 grid gives 8 rows whose numbers are those of
the same study runs made directly; a row's status (finished / diverged / non-finite / failed)
agrees with the loss curves its cell saved; a sweep SIGKILLed mid-way resumes without recomputing its
completed cells and ends with the table of an uninterrupted sweep; bad specs are one line."""
from __future__ import annotations

import dataclasses
import os
import pathlib
import signal
import subprocess
import sys
import time

import pytest

from rnnflow import cli, studies
from rnnflow.sweep.cell import flatten
from rnnflow.sweep.grid import parse_seeds
from rnnflow.sweep.table import read_table

ROOT = pathlib.Path(__file__).resolve().parents[1]
GRID = ["--grid", "hidden=4,8", "--grid", "batch=1,2", "--seeds", "0-1"]
VOLATILE = ("folder", "wall_seconds", "reused", "start", "end")   # differ between two identical runs


def _sweep(out, *extra):
    return ["sweep", "tanh_vs_weights", *GRID, "--out", str(out), "--no-progress", *extra]


def _table(out) -> list[dict]:
    (path,) = pathlib.Path(out).glob("sweeps/*/sweep.csv")
    return read_table(str(path))


def _stable(rows):
    return [{k: v for k, v in r.items() if k not in VOLATILE} for r in rows]


def test_grid_of_8_cells_gives_8_rows_equal_to_direct_runs(tmp_path, capsys):
    assert cli.main(_sweep(tmp_path / "pool", "--workers", "2")) == 0
    rows = _table(tmp_path / "pool")
    want = [(h, b, s) for h in (4, 8) for b in (1, 2) for s in (0, 1)]
    assert [(int(r["hidden"]), int(r["batch"]), int(r["seed"])) for r in rows] == want
    assert {r["status"] for r in rows} == {"finished"} and {r["backend"] for r in rows} == {"torch"}
    for r, (h, b, s) in zip(rows, want):
        base = studies.get("tanh_vs_weights").SCALES["smoke"]
        direct = studies.run("tanh_vs_weights", seed=s, out=str(tmp_path / "direct"), progress=False,
                             settings=dataclasses.replace(base, hidden=h, batch=b))
        for k, v in flatten(direct.summary).items():
            assert float(r[f"m:{k}"]) == pytest.approx(v, rel=1e-12, abs=1e-300), (r["cell"], k)
        assert r["host"] and r["version:torch"] and float(r["wall_seconds"]) > 0
    # the serial engine (in this process) gives the same table
    assert cli.main(_sweep(tmp_path / "serial", "--workers", "1")) == 0
    assert _stable(_table(tmp_path / "serial")) == _stable(rows)
    assert "8 cells, 8 finished" in capsys.readouterr().out


def test_sigkill_mid_sweep_then_rerun_recomputes_only_the_rest(tmp_path, capsys):
    out = tmp_path / "killed"
    proc = subprocess.Popen([sys.executable, "-m", "rnnflow", *_sweep(out, "--workers", "1")], cwd=ROOT,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 120
    try:
        while len(list(out.glob("tanh_vs_weights/*/manifest.json"))) < 3:
            assert proc.poll() is None and time.time() < deadline, "the sweep ended before it could be killed"
            time.sleep(0.05)
        os.kill(proc.pid, signal.SIGKILL)
    finally:
        proc.wait()
    done = {p.parent.name: p.stat().st_mtime_ns for p in out.glob("tanh_vs_weights/*/summary.json")
            if (p.parent / "manifest.json").exists()}
    assert 3 <= len(done) < 8 and not list(out.glob("sweeps/*/sweep.csv"))
    assert cli.main(_sweep(out, "--workers", "1")) == 0
    rows = _table(out)
    assert len(rows) == 8 and {r["status"] for r in rows} == {"finished"}
    reused = {pathlib.Path(r["folder"]).name for r in rows if r["reused"] == "True"}
    assert reused == set(done)     # exactly the completed cells were loaded ...
    for name, mtime in done.items():   # ... and not rewritten
        assert (out / "tanh_vs_weights" / name / "summary.json").stat().st_mtime_ns == mtime
    assert cli.main(_sweep(tmp_path / "whole", "--workers", "1")) == 0
    assert _stable(rows) == _stable(_table(tmp_path / "whole"))
    capsys.readouterr()


def test_sweep_file_gives_the_same_cells(tmp_path, capsys):
    spec = tmp_path / "sweep.toml"
    spec.write_text('study = "tanh_vs_weights"\nseeds = "0"\n[grid]\nhidden = [4, 8]\n')
    assert cli.main(["sweep", "--file", str(spec), "--out", str(tmp_path), "--no-progress", "--workers", "1"]) == 0
    assert [r["cell"] for r in _table(tmp_path)] == ["torch-seed0-hidden=4", "torch-seed0-hidden=8"]
    capsys.readouterr()


@pytest.mark.parametrize("argv,needle", [
    (["sweep", "tanh_vs_weights", "--grid", "hiden=4,8"], "no field 'hiden': expected one of hidden, steps, batch"),
    (["sweep", "tanh_vs_weights", "--grid", "hidden=4,x"], "hidden='x' is invalid: expected int"),
    (["sweep", "tanh_vs_weights", "--grid", "hidden=0"], "hidden=0 is invalid"),
    (["sweep", "tanh_vs_weights", "--seeds", "2-x"], "--seeds '2-x' is invalid"),
    (["sweep"], "name a STUDY"),
])
def test_bad_sweeps_are_one_line_exit_2(capsys, tmp_path, argv, needle):
    assert cli.main([*argv, "--out", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert needle in err and err.count("\n") == 1, err
    assert not list(tmp_path.iterdir())


def test_parse_seeds():
    assert parse_seeds("0-2") == (0, 1, 2) and parse_seeds("0,3,5") == (0, 3, 5) and parse_seeds("4") == (4,)
    with pytest.raises(ValueError):
        parse_seeds("1,1")


def test_ci95_closed_form_and_the_faceted_grid(tmp_path):
    import math

    from rnnflow.plotting.sweep import ci95, plot_sweep_grid
    mean, half = ci95([1.0, 2.0, 3.0])        # sd 1, n 3, t_{0.975,2} = 4.303
    assert mean == 2.0 and half == pytest.approx(4.303 / math.sqrt(3), rel=1e-4)
    assert math.isnan(ci95([5.0])[1])
    rows = [{"a": a, "b": b, "c": c, "seed": s, "status": "finished", "m:v": a * b + s}
            for a in (1, 2) for b in (1, 3) for c in ("x", "y") for s in (0, 1)]
    rows.append({**rows[0], "status": "failed", "m:v": 1e9})   # left out
    fig = plot_sweep_grid(rows, x="a", y="b", metric="m:v", facet="c")
    axes = [ax for ax in fig.axes if ax.images]
    assert len(axes) == 2
    grid = axes[0].images[0].get_array()
    assert grid.tolist() == [[1.5, 2.5], [3.5, 6.5]]   # mean over seeds 0, 1 of a*b + s; rows b, columns a
    fig.savefig(tmp_path / "grid.png")
    with pytest.raises(ValueError, match="column 'nope'"):
        plot_sweep_grid(rows, x="nope", y="b", metric="m:v")


def test_compare_prints_two_runs_side_by_side(tmp_path, capsys):
    a = studies.run("tanh_vs_weights", out=str(tmp_path), progress=False)
    base = studies.get("tanh_vs_weights").SCALES["smoke"]
    b = studies.run("tanh_vs_weights", out=str(tmp_path), progress=False,
                    settings=dataclasses.replace(base, hidden=8))
    assert cli.main(["compare", a.folder, b.folder]) == 0
    out = capsys.readouterr().out
    key = "vanishing / log10_measured"
    line = next(ln for ln in out.splitlines() if ln.strip().startswith(key))
    va, vb = a.summary["vanishing"]["log10_measured"], b.summary["vanishing"]["log10_measured"]
    assert f"{abs(va - vb):.2g}" in line.split()[-1] and os.path.basename(b.folder) in out
    assert cli.main(["compare", a.folder, str(tmp_path)]) == 2
    assert "not a finished study folder" in capsys.readouterr().err


def _outcome_from_npz(folder, skip="cliff/") -> list[str]:
    """Each training run's outcome recomputed from the loss curves in its data.npz, by the
    trainer's documented rule: any non-finite value: non-finite; else a loss above 1e6 x the
    first: diverged; else finished."""
    import numpy as np
    with np.load(os.path.join(folder, "data.npz")) as z:
        curves = [z[k] for k in z.files if k.endswith("/loss") and not k.startswith(skip)]
    return ["non-finite" if not np.isfinite(c).all() else "diverged" if c.max() > 1e6 * c[0] else "finished"
            for c in curves]


def test_row_status_is_diverged_for_a_cell_that_really_diverges(tmp_path, capsys):
    # init_stall (Adam) at lr 1e5: the ReLU runs' losses blow up but stay finite in float32
    small = ["--grid", "size=8", "--grid", "hidden=16", "--grid", "epochs=2"]
    argv = ["sweep", "init_stall", "--grid", "lr=0.001,100000", *small, "--out", str(tmp_path), "--no-progress",
            "--workers", "1"]
    assert cli.main(argv) == 0
    out = capsys.readouterr().out
    assert "2 cells, 1 finished, 1 diverged, 0 non-finite, 0 failed" in out
    calm, wild = _table(tmp_path)
    assert (calm["lr"], calm["status"], wild["lr"], wild["status"]) == ("0.001", "finished", "100000", "diverged")
    for row in (calm, wild):
        outcomes = _outcome_from_npz(row["folder"])
        assert len(outcomes) == int(row["training_runs"]) == 5
        assert int(row["runs_diverged"]) == outcomes.count("diverged")
        assert int(row["runs_non_finite"]) == outcomes.count("non-finite") == 0
    assert outcomes.count("diverged") >= 1 and "diverged: loss grew past 1e+06" in wild["detail"]
    assert f"diverged: {wild['cell']}: {wild['detail']}" in out
    assert cli.main(argv) == 0   # a re-run loads both folders; the status comes from their summary.json
    assert "(2 loaded from complete folders)" in capsys.readouterr().out
    assert [(r["status"], r["detail"]) for r in _table(tmp_path)] == [("finished", ""), ("diverged", wild["detail"])]


def test_row_status_is_non_finite_when_a_run_goes_inf(tmp_path):
    # clipping at lr 1e3: the unclipped SGD run overflows (the clipped ones only diverge)
    from rnnflow.sweep import Sweep, run_sweep
    grid = (("lr", ("1000",)), ("hidden", ("4",)), ("steps", ("12",)), ("seeds", ("1",)), ("n_eval", ("20",)))
    _, (row,) = run_sweep(Sweep("clipping", grid), out=str(tmp_path), workers=1, progress=False)
    outcomes = _outcome_from_npz(row["folder"])
    assert len(outcomes) == row["training_runs"] == 3 and "non-finite" in outcomes
    assert row["status"] == "non-finite" and row["runs_non_finite"] >= 1 and "non-finite" in row["detail"]


def test_row_status_rule():
    from rnnflow.sweep.cell import row_status
    fin, div, nan = ({"outcome": o, "detail": o} for o in ("finished", "diverged", "non-finite"))
    assert row_status([], {"m:a": 1.0}) == ("finished", "")
    assert row_status([fin, div], {"m:a": 1.0})[0] == "diverged"
    assert row_status([div, nan], {"m:a": 1.0}) == ("non-finite", "1 of 2 training runs: non-finite")
    assert row_status([{"outcome": "stopped", "detail": "s"}], {})[0] == "non-finite"
    assert row_status([div], {"m:a": float("nan")}) == ("non-finite", "headline numbers not finite: a")


def test_compare_draws_the_shared_arrays_overlaid(tmp_path, capsys):
    import numpy as np

    from rnnflow.studies.compare import overlay_figure
    base = studies.get("tanh_vs_weights").SCALES["smoke"]
    a = studies.run("tanh_vs_weights", out=str(tmp_path), progress=False)
    b = studies.run("tanh_vs_weights", out=str(tmp_path), progress=False, settings=dataclasses.replace(base, steps=9))
    labels = [os.path.basename(a.folder), os.path.basename(b.folder)]
    assert cli.main(["compare", a.folder, b.folder]) == 0
    out = capsys.readouterr().out
    want = tmp_path / "compare" / "tanh_vs_weights" / f"{labels[0]}_vs_{labels[1]}.png"
    assert f"figure: {want} (8 arrays overlaid)" in out
    assert want.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    fig, left = overlay_figure([a.folder, b.folder], labels)
    assert left == 0
    npz = [np.load(os.path.join(f, "data.npz")) for f in (a.folder, b.folder)]
    drawn = [ax for ax in fig.axes if ax.get_visible()]
    keys = [k for k in npz[0].files if not k.endswith("/gap")]   # every array but the x axes
    assert [ax.get_title().split(" (mean of")[0] for ax in drawn] == keys
    for ax, key in zip(drawn, keys):
        lines = ax.get_lines()
        assert [ln.get_label() for ln in lines] == labels
        for ln, z in zip(lines, npz):
            y = z[key] if z[key].ndim == 1 else z[key].mean(axis=0)   # (B, N) profiles: the batch mean
            np.testing.assert_allclose(ln.get_ydata(), y, rtol=1e-15, atol=0)
            np.testing.assert_array_equal(ln.get_xdata(), z[key.rsplit("/", 1)[0] + "/gap"])
        assert ax.get_xlabel() == "gap t - s (steps)" and ax.get_ylabel()
    assert len(drawn[0].get_lines()[1].get_ydata()) < len(drawn[0].get_lines()[0].get_ydata())   # steps 9 < 15
    other = tmp_path / "mine.png"
    assert cli.main(["compare", a.folder, b.folder, "--out", str(other)]) == 0 and other.exists()
    assert f"figure: {other}" in capsys.readouterr().out

"""``rnnflow sweep --sample FIELD=SPEC --random N``: the draws follow their documented law
(uniform, log-uniform, integers, choices) and rule (draw i from default_rng([seed, i])); a
sampled sweep crosses the N drawn settings with the grid and the seeds, records them in its
folder, and a re-run resumes those very cells; bad specs are one line naming the flag."""
from __future__ import annotations

import json
import math
import pathlib

import numpy as np
import pytest

from rnnflow import cli, studies
from rnnflow.sweep import Sweep
from rnnflow.sweep import sample as sample_mod
from rnnflow.sweep.sample import draw, parse_spec
from rnnflow.sweep.table import read_table

CLIP = studies.get("clipping").SCALES["smoke"]   # fields of type int (hidden) and float (lr)


def _values(item, n=4000, seed=3):
    spec = parse_spec(item, CLIP)
    return [p[0][1] for p in draw([spec], n, seed)]


def test_uniform_float_is_the_documented_rule_and_uniform():
    v = np.array([float(t) for t in _values("lr=0.5:2.5")])
    # the rule, recomputed: draw i's first number from default_rng([3, i]), rounded to 4 digits
    want = [float(f"{0.5 + 2.0 * np.random.default_rng([3, i]).random():.4g}") for i in range(len(v))]
    assert v.tolist() == want
    assert v.min() >= 0.5 and v.max() <= 2.5
    assert abs(v.mean() - 1.5) < 4 * (2.0 / math.sqrt(12)) / math.sqrt(v.size)   # 4 standard errors


def test_log_uniform_float_halves_at_the_geometric_mean():
    v = np.array([float(t) for t in _values("lr=1e-4:1:log")])
    assert v.min() >= 1e-4 and v.max() <= 1.0
    for q in (0.25, 0.5, 0.75):   # P(v < 10^(-4 + 4q)) = q for log-uniform
        assert abs(np.mean(v < 10 ** (-4 + 4 * q)) - q) < 4 * math.sqrt(q * (1 - q) / v.size)


def test_integer_ranges_and_choices_hit_every_value_as_often():
    v = np.array([int(t) for t in _values("hidden=3:6")])
    counts = np.array([np.sum(v == k) for k in (3, 4, 5, 6)])
    assert counts.sum() == v.size and np.all(np.abs(counts / v.size - 0.25) < 4 * math.sqrt(0.25 * 0.75 / v.size))
    logs = np.array([int(t) for t in _values("hidden=1:100:log")])
    assert logs.min() >= 1 and logs.max() <= 100
    p10 = math.log(21) / math.log(201)   # log-uniform on [0.5, 100.5), rounded: P(v <= 10) = P(x < 10.5)
    assert abs(np.mean(logs <= 10) - p10) < 4 * math.sqrt(p10 * (1 - p10) / logs.size)
    c = _values("hidden=8|16|32")
    assert {t: c.count(t) for t in set(c)}.keys() == {"8", "16", "32"}
    assert all(abs(c.count(t) / len(c) - 1 / 3) < 0.03 for t in ("8", "16", "32"))


def test_draws_are_reproducible_and_seeded():
    assert _values("lr=0.1:1", n=5, seed=1) == _values("lr=0.1:1", n=5, seed=1)
    assert _values("lr=0.1:1", n=5, seed=1) != _values("lr=0.1:1", n=5, seed=2)
    s = Sweep("clipping", (("T", ("5", "8")),), (0, 1), sample=("lr=0.01:0.1:log", "hidden=4:8"), draws=3)
    cells = s.cells()
    assert len(cells) == 2 * 3 * 2        # grid x draws x seeds
    assert [c.overrides[1:] for c in cells[:6:2]] == [c.overrides[1:] for c in cells[6::2]] == list(s.drawn)


def _run(out, *extra):
    argv = ["sweep", "tanh_vs_weights", "--sample", "hidden=4:12", "--sample", "steps=5:40:log", "--random", "3",
            "--grid", "batch=1,2", "--seeds", "0-1", "--out", str(out), "--no-progress", "--workers", "1", *extra]
    return cli.main(argv)


def test_sampled_sweep_records_its_draws_and_resumes_the_same_cells(tmp_path, capsys, monkeypatch):
    assert _run(tmp_path) == 0
    (folder,) = pathlib.Path(tmp_path).glob("sweeps/*")
    rows = read_table(str(folder / "sweep.csv"))
    assert len(rows) == 2 * 3 * 2 and {r["status"] for r in rows} == {"finished"}
    drawn = [(r["hidden"], r["steps"]) for r in rows if r["batch"] == "1" and r["seed"] == "0"]
    assert [(r["hidden"], r["steps"]) for r in rows] == [p for _ in "12" for p in drawn for _ in "01"]
    assert all(4 <= int(h) <= 12 and 5 <= int(t) <= 40 for h, t in drawn) and len(set(drawn)) == 3
    saved = json.loads((folder / "samples.json").read_text())
    assert [tuple(v for _, v in p) for p in saved["drawn"]] == drawn
    for r in rows:   # each cell ran with its drawn settings
        summary = json.loads((pathlib.Path(r["folder"]) / "summary.json").read_text())
        assert (summary["settings"]["hidden"], summary["settings"]["steps"]) == (int(r["hidden"]), int(r["steps"]))
    capsys.readouterr()
    # a re-run takes the recorded draws, whatever the sampler now says, and loads every cell
    def other_draws(specs, n, seed):   # every draw 7: other cells, if the recorded draws were ignored
        return tuple(tuple((spec.name, "7") for spec in specs) for _ in range(n))
    monkeypatch.setattr(sample_mod, "draw", other_draws)
    assert _run(tmp_path) == 0
    assert "(12 loaded from complete folders)" in capsys.readouterr().out
    again = read_table(str(folder / "sweep.csv"))
    assert [r["cell"] for r in again] == [r["cell"] for r in rows]
    monkeypatch.undo()
    # another --sample-seed: another folder, other draws
    assert _run(tmp_path, "--sample-seed", "5") == 0
    other = [f for f in pathlib.Path(tmp_path).glob("sweeps/*") if f != folder]
    assert len(other) == 1 and (other[0] / "samples.json").read_text() != (folder / "samples.json").read_text()
    capsys.readouterr()


def test_sweep_file_sample_keys(tmp_path, capsys):
    spec = tmp_path / "s.toml"
    spec.write_text('study = "tanh_vs_weights"\nrandom = 2\nsample_seed = 4\n[sample]\nhidden = "4:6"\n')
    assert cli.main(["sweep", "--file", str(spec), "--out", str(tmp_path), "--no-progress", "--workers", "1"]) == 0
    s = Sweep("tanh_vs_weights", (), sample=("hidden=4:6",), draws=2, sample_seed=4)
    (table,) = tmp_path.glob("sweeps/*/sweep.csv")
    assert [r["cell"] for r in read_table(str(table))] == [c.id for c in s.cells()]
    capsys.readouterr()


@pytest.mark.parametrize("extra,needle", [
    (["--sample", "hidden=4", "--random", "2"], "--sample hidden='4' is invalid: expected LO:HI, LO:HI:log or A|B|C"),
    (["--sample", "hidden=a:b", "--random", "2"], "--sample hidden='a:b' is invalid"),
    (["--sample", "hidden=9:4", "--random", "2"], "--sample hidden='9:4' is invalid: expected finite LO < HI"),
    (["--sample", "hidden=0:4:log", "--random", "2"], "with LO > 0 for :log"),
    (["--sample", "hidden=4:8:lin", "--random", "2"], "--sample hidden='4:8:lin' is invalid"),
    (["--sample", "hidden=4|x", "--random", "2"], "choice 'x' does not parse as int"),
    (["--sample", "hiden=4:8", "--random", "2"], "--sample hiden: tanh_vs_weights.Settings has no field 'hiden'"),
    (["--sample", "hidden=4:8"], "--sample and --random go together"),
    (["--random", "3"], "--sample and --random go together"),
    (["--random", "0", "--sample", "hidden=4:8"], "argument --random: 0 is invalid: expected an integer >= 1"),
    (["--sample", "hidden=4:8", "--grid", "hidden=3", "--random", "2"], "--sample hidden is also in --grid"),
    (["--sample", "hidden=0:1", "--random", "6"], "hidden=0 is invalid"),
])
def test_bad_samples_are_one_line_exit_2(tmp_path, capsys, extra, needle):
    code = None
    try:
        code = cli.main(["sweep", "tanh_vs_weights", *extra, "--out", str(tmp_path), "--no-progress"])
    except SystemExit as e:   # argparse's own errors (--random 0)
        code = e.code
    err = capsys.readouterr().err
    assert code == 2 and needle in err and err.count("\n") == 1, err
    assert not list(tmp_path.iterdir())

"""The analysis studies run at smoke scale in both backends, write their files, agree across
backends, resume instead of recomputing, and reject bad arguments; every study's settings are a
validated frozen dataclass that a run can override; the CLI and experiments/*.py wrap them."""
import dataclasses
import json
import os
import pathlib
import re
import runpy
import subprocess
import sys
import textwrap

import numpy as np
import pytest

from ._helpers import flat_numbers

from rnnflow import studies
from rnnflow.cli import main

ANALYSIS_STUDIES = ("jacobian_decay", "tanh_vs_weights", "transformer_depth")


EXPERIMENTS = pathlib.Path(__file__).resolve().parents[1] / "experiments"


def _as_json(obj):
    return json.loads(json.dumps(obj))


_numbers = flat_numbers


@pytest.mark.parametrize("name", ANALYSIS_STUDIES)
def test_study_smoke_both_backends_agree(name, tmp_path):
    results = {}
    for backend in ("torch", "jax"):
        r = studies.run(name, backend=backend, scale="smoke", out=str(tmp_path), progress=False)
        assert not r.reused and r.figures
        for png in r.figures:
            assert os.path.getsize(png) > 5000
            assert os.path.getsize(png[:-3] + "svg") > 5000
        with open(os.path.join(r.folder, "summary.json")) as f:
            saved = json.load(f)
        assert saved["status"] == "complete" and saved["backend"] == backend
        assert saved["settings"] == _as_json(dataclasses.asdict(studies.get(name).SCALES["smoke"]))
        assert os.path.exists(os.path.join(r.folder, "data.npz"))
        results[backend] = _numbers(r.summary)
    assert results["torch"].keys() == results["jax"].keys() and results["torch"]
    for k, v in results["torch"].items():
        assert v == pytest.approx(results["jax"][k], rel=1e-6, abs=1e-8), k
    again = studies.run(name, backend="torch", scale="smoke", out=str(tmp_path), progress=False)
    assert again.reused and _numbers(again.summary) == results["torch"]


def test_a_jax_study_computes_in_float64_and_leaves_the_x64_flag_as_it_was(tmp_path):
    """In a fresh interpreter (x64 off; conftest turns it on here): tanh_vs_weights builds
    float64 models, which jax refuses without x64, so it runs only inside the study's scope;
    afterwards the flag is off again, and the numbers equal those of a run with x64 on globally."""
    code = textwrap.dedent(f"""
        import warnings
        warnings.simplefilter("error")
        warnings.filterwarnings("ignore", category=DeprecationWarning, module=r"(jax|flax|optax)\\.")
        import jax
        from rnnflow import studies
        assert not jax.config.jax_enable_x64
        studies.run("tanh_vs_weights", backend="jax", out={str(tmp_path / "fresh")!r}, progress=False)
        assert not jax.config.jax_enable_x64, "the study left JAX's x64 mode on"
    """)
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          env=dict(os.environ, MPLBACKEND="Agg"))
    assert proc.returncode == 0, proc.stderr[-3000:]
    with open(tmp_path / "fresh" / "tanh_vs_weights" / "jax-seed0-smoke" / "summary.json") as f:
        scoped = _numbers(json.load(f)["results"])
    here = studies.run("tanh_vs_weights", backend="jax", out=str(tmp_path / "here"), progress=False)
    assert scoped == pytest.approx(_numbers(here.summary), rel=1e-12, abs=0)


def test_jacobian_decay_orders_by_spectral_radius(tmp_path):
    r = studies.run("jacobian_decay", backend="torch", scale="smoke", out=str(tmp_path), progress=False)
    slopes = [r.summary[f"tanh RNN, rho={rho:g}"]["slope_log10_per_step"] for rho in (0.5, 1.0, 1.5)]
    assert slopes[0] < slopes[1] < slopes[2] and slopes[0] < -0.1
    assert r.summary["tanh RNN, rho=0.5"]["pascanu_verdict"] == "vanishing"


def test_tanh_vs_weights_attributes_each_regime(tmp_path):
    s = studies.run("tanh_vs_weights", backend="jax", scale="smoke", out=str(tmp_path), progress=False).summary
    van, exp = s["vanishing"], s["exploding"]
    # vanishing: tanh' pulls far below what the weights alone would give
    assert van["log10_activation_factor_mean"] < van["log10_weight_power"] - 1.0
    assert van["log10_measured"] < van["log10_weight_power"]
    # exploding: tanh' ~ 1, the measured norm follows ||W^k|| and grows
    assert exp["log10_measured"] > 1.0
    assert exp["log10_measured"] == pytest.approx(exp["log10_weight_power"], abs=0.05)


def test_bad_arguments(tmp_path):
    with pytest.raises(ValueError, match="study='nope' is unknown"):
        studies.run("nope")
    with pytest.raises(ValueError, match="backend='tf'"):
        studies.run("jacobian_decay", backend="tf", out=str(tmp_path))
    with pytest.raises(ValueError, match="scale='huge'"):
        studies.run("jacobian_decay", scale="huge", out=str(tmp_path))
    with pytest.raises(ValueError, match="seed=-1"):
        studies.run("jacobian_decay", seed=-1, out=str(tmp_path))
    with pytest.raises(TypeError, match="progress='yes' is invalid"):
        studies.run("jacobian_decay", progress="yes", out=str(tmp_path))


def _result(name, backend, summary):
    return studies.StudyResult(name, backend, 0, "smoke", f"out/{name}", summary, (), 1.0, False)


def test_compare_summaries_lines_up_both_runs_and_their_differences():
    a = _result("s", "torch", {"x": {"slope": -0.25, "verdict": "vanishing"}, "only_a": 1.0, "bad": float("nan"),
                               "big": 100.0, "seeds": [0.5, 0.123456]})
    b = _result("s", "jax", {"x": {"slope": -0.5, "verdict": "vanishing"}, "only_b": 2, "bad": 3.0,
                             "big": 110.0, "seeds": [0.5, 0.25]})
    lines = studies.compare_summaries(a, b).splitlines()
    assert lines[0] == "s [seed 0, smoke]: torch vs jax"
    rows = {cols[0]: cols[1:] for cols in (re.split(r"\s{2,}", ln.strip()) for ln in lines[2:-1])}
    assert rows == {"x / slope": ["-0.25", "-0.5", "0.25"], "x / verdict": ["vanishing", "vanishing"],
                    "only_a": ["1", "-"], "bad": ["nan", "3"], "big": ["100", "110", "10"],
                    "seeds": ["[0.5, 0.1235]", "[0.5, 0.25]"], "only_b": ["-", "2"]}
    # 10 of 110 (0.091) is smaller than 0.25 of max(0.5, 1): the slope row is named
    assert lines[-1].strip() == "largest difference relative to max(|torch|, |jax|, 1): 0.25 (x / slope)"
    with pytest.raises(ValueError, match="cannot compare study 's' with study 't'"):
        studies.compare_summaries(a, _result("t", "jax", {}))


def test_format_summary_flattens_nested_numbers():
    text = studies.format_summary(_result("s", "jax", {"a": {"b": 1.23456, "c": [0.5, 0.123456]}, "d": "x"}))
    assert text.splitlines() == ["s [jax, seed 0, smoke]", "  a / b  1.235", "  a / c  [0.5, 0.1235]",
                                 "  d      x"]


def test_progress_bars_go_to_the_given_stream(tmp_path):
    import io
    stream = io.StringIO()
    studies.run("jacobian_decay", backend="torch", out=str(tmp_path), progress=stream)
    assert "jacobian_decay [torch]" in stream.getvalue()


def test_cli_run_prints_where_figures_went(tmp_path, capsys):
    assert main(["run", "tanh_vs_weights", "--backend", "torch", "--out", str(tmp_path), "--no-progress"]) == 0
    out = capsys.readouterr().out
    assert "figure:" in out and str(tmp_path) in out and "decomposition.png" in out
    assert main(["run", "tanh_vs_weights", "--backend", "torch", "--out", str(tmp_path)]) == 0
    assert "already complete" in capsys.readouterr().out


@pytest.mark.parametrize("name", studies.STUDIES)
def test_every_study_has_frozen_settings_per_scale(name):
    module = studies.get(name)
    assert tuple(module.SCALES) == studies.SCALES
    for settings in module.SCALES.values():
        assert type(settings) is module.Settings
        with pytest.raises(dataclasses.FrozenInstanceError):
            setattr(settings, dataclasses.fields(settings)[0].name, None)
        for f in dataclasses.fields(settings):   # flat: every field can be replaced on its own
            assert dataclasses.replace(settings, **{f.name: getattr(settings, f.name)}) == settings
        hash(settings)


@pytest.mark.parametrize("name, field, value, message", [
    ("jacobian_decay", "hidden", 0, r"jacobian_decay\.Settings\.hidden=0 is invalid: expected an integer >= 1"),
    ("jacobian_decay", "steps", 1, r"jacobian_decay\.Settings\.steps=1 is invalid: expected an integer >= 2"),
    ("jacobian_decay", "rhos", (0.5, -1.0), r"jacobian_decay\.Settings\.rhos\[1\]=-1\.0 is invalid: expected a finite"),
    ("jacobian_decay", "rhos", (), r"rhos=\(\) is invalid: expected a tuple of 1 or more values"),
    ("tanh_vs_weights", "batch", True, r"tanh_vs_weights\.Settings\.batch=True is invalid: expected an integer"),
    ("transformer_depth", "depths", (6, 2), r"depths=\(6, 2\) is invalid: expected a tuple of 2 or more increasing"),
    ("transformer_depth", "heads", 3, r"transformer_depth\.Settings\.heads=3 is invalid: expected a divisor of d_model=16"),
    ("clipping", "lr", float("nan"), r"clipping\.Settings\.lr=nan is invalid: expected a finite number in \(0\.0, inf\]"),
    ("clipping", "T", 1, r"clipping\.Settings\.T=1 is invalid: expected an integer >= 2"),
    ("activations", "size", 1, r"activations\.Settings\.size=1 is invalid: expected an integer >= 2"),
    ("init_stall", "epochs", 2.0, r"init_stall\.Settings\.epochs=2\.0 is invalid: expected an integer >= 2"),
    ("long_range", "lengths", [5, "10"], r"long_range\.Settings\.lengths\[1\]='10' is invalid"),
    ("long_range", "d_model", 7, r"long_range\.Settings\.d_model=7 is invalid: expected an even integer"),
])
def test_settings_name_the_bad_field_its_value_and_what_is_accepted(name, field, value, message):
    smoke = studies.get(name).SCALES["smoke"]
    with pytest.raises(ValueError, match=message):
        dataclasses.replace(smoke, **{field: value})


def test_sequence_settings_are_stored_as_tuples():
    depths = dataclasses.replace(studies.get("transformer_depth").SCALES["smoke"], depths=[2, 4]).depths
    assert depths == (2, 4) and isinstance(depths, tuple)


def test_other_settings_run_in_a_folder_of_their_own(tmp_path):
    module = studies.get("tanh_vs_weights")
    kw = dict(backend="torch", out=str(tmp_path), progress=False)
    default = studies.run("tanh_vs_weights", **kw)
    assert os.path.basename(default.folder) == "torch-seed0-smoke"
    short = dataclasses.replace(module.SCALES["smoke"], steps=12)
    mine = studies.run("tanh_vs_weights", settings=short, **kw)
    assert not mine.reused and re.fullmatch(r"torch-seed0-smoke-[0-9a-f]{8}", os.path.basename(mine.folder))
    assert mine.summary["vanishing"]["max_gap"] == 12 != default.summary["vanishing"]["max_gap"]
    with open(os.path.join(mine.folder, "summary.json")) as f:
        assert json.load(f)["settings"] == {"hidden": 16, "steps": 12, "batch": 2}
    assert studies.run("tanh_vs_weights", settings=dataclasses.replace(short), **kw).folder == mine.folder
    assert studies.run("tanh_vs_weights", settings=dataclasses.replace(short), **kw).reused
    other = studies.run("tanh_vs_weights", settings=dataclasses.replace(short, steps=13), **kw)
    assert other.folder not in (mine.folder, default.folder)
    same = studies.run("tanh_vs_weights", settings=dataclasses.replace(short, steps=30), **kw)  # the scale's own
    assert same.reused and same.folder == default.folder
    with pytest.raises(TypeError, match=r"settings=.* is invalid: expected a tanh_vs_weights\.Settings"):
        studies.run("tanh_vs_weights", settings=studies.get("jacobian_decay").SCALES["smoke"], **kw)


def test_a_complete_folder_written_with_other_settings_is_recomputed(tmp_path):
    kw = dict(backend="torch", out=str(tmp_path), progress=False)
    first = studies.run("tanh_vs_weights", **kw)
    path = os.path.join(first.folder, "summary.json")
    with open(path) as f:
        saved = json.load(f)
    saved["settings"]["steps"] = 99                 # as if an older version had other smoke settings
    with open(path, "w") as f:
        json.dump(saved, f)
    again = studies.run("tanh_vs_weights", **kw)
    assert not again.reused and again.summary == first.summary


def test_every_experiment_script_shows_its_flags():
    scripts = sorted(EXPERIMENTS.glob("*.py"))
    assert [p.stem for p in scripts] == sorted(studies.STUDIES)
    for path in scripts:
        main = runpy.run_path(str(path))["main"]   # run_name is not "__main__": nothing runs yet
        with pytest.raises(SystemExit) as stop:
            main(["--help"])
        assert stop.value.code == 0, path.name
        assert len(path.read_text().splitlines()) <= 40, f"{path.name} is no longer short"


def test_an_experiment_script_runs_at_smoke_scale(tmp_path):
    """experiments/tanh_vs_weights.py, the fastest study, as a user starts it."""
    path = os.pathsep.join([str(EXPERIMENTS.parent), os.environ.get("PYTHONPATH", "")])  # this checkout's rnnflow
    proc = subprocess.run([sys.executable, str(EXPERIMENTS / "tanh_vs_weights.py"), "--out", str(tmp_path)],
                          capture_output=True, text=True, env=dict(os.environ, MPLBACKEND="Agg", PYTHONPATH=path))
    assert proc.returncode == 0, proc.stderr[-3000:]
    png = tmp_path / "tanh_vs_weights" / "torch-seed0-smoke" / "decomposition.png"
    assert png.stat().st_size > 5000 and str(png) in proc.stdout
    assert "tanh_vs_weights [torch, seed 0, smoke]" in proc.stdout and "vanishing / log10_measured" in proc.stdout


def test_an_experiment_script_changes_one_setting(tmp_path, capsys):
    main = runpy.run_path(str(EXPERIMENTS / "tanh_vs_weights.py"))["main"]
    main(["--out", str(tmp_path), "--steps", "12"])
    out = capsys.readouterr().out
    assert "Settings(hidden=16, steps=12, batch=2)" in out
    (folder,) = (tmp_path / "tanh_vs_weights").iterdir()
    assert folder.name.startswith("torch-seed0-smoke-") and (folder / "decomposition.png").exists()
    assert str(folder / "decomposition.png") in out

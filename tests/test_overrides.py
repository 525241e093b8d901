"""``rnnflow run --set FIELD=VALUE``: every settings field type parses back to its value, a bad
override is one clear line (exit 2), and an overridden run gets its own folder and records the
overrides in summary.json and provenance.json."""
from __future__ import annotations

import dataclasses
import json
import pathlib
from dataclasses import dataclass

import pytest

from rnnflow import cli, studies
from rnnflow.overrides import apply_overrides, describe_settings, format_value, parse_value


@dataclass(frozen=True)
class _Inner:
    width: int = 4
    act: str = "tanh"


@dataclass(frozen=True)
class _Every:
    """One field of each type the parser accepts (test-only)."""

    n: int = 1
    x: float = 0.5
    flag: bool = False
    name: str = "a"
    maybe: int | None = None
    ints: tuple[int, ...] = (1, 2)
    pair: tuple[float, str] = (1.0, "b")
    model: _Inner = _Inner()


def _cases():
    """(study, field, value): every field of every study, with the value of each scale."""
    for name in studies.STUDIES:
        module = studies.get(name)
        for f in dataclasses.fields(module.Settings):
            for scale in ("smoke", "docs", "full"):
                yield name, f.name, getattr(module.SCALES[scale], f.name)


@pytest.mark.parametrize("study,field,value", list(_cases()))
def test_every_study_field_round_trips_through_set(study, field, value):
    smoke = studies.get(study).SCALES["smoke"]
    got = apply_overrides(smoke, [f"{field}={format_value(value)}"])
    assert got == dataclasses.replace(smoke, **{field: value})
    assert type(getattr(got, field)) is type(value)


@pytest.mark.parametrize("text,field,want", [
    ("n=-3", "n", -3), ("n=1_000", "n", 1000), ("x=1e-3", "x", 1e-3), ("x=inf", "x", float("inf")),
    ("flag=true", "flag", True), ("flag=0", "flag", False), ("flag=ON", "flag", True),
    ("name=lstm cell", "name", "lstm cell"), ("maybe=None", "maybe", None), ("maybe=7", "maybe", 7),
    ("ints=()", "ints", ()), ("ints=3, 4,5", "ints", (3, 4, 5)), ("pair=2.5,c", "pair", (2.5, "c")),
    ("model.width=9", "model", _Inner(9, "tanh")), ("model.act=relu", "model", _Inner(4, "relu")),
])
def test_each_type_parses(text, field, want):
    got = apply_overrides(_Every(), [text])
    assert getattr(got, field) == want
    assert type(getattr(got, field)) is type(want)
    # and back: the printed value parses to the same settings
    printed = {ln.split(":")[0]: ln.split(" = ", 1)[1] for ln in describe_settings(got)}
    assert apply_overrides(_Every(), [f"{k}={v}" for k, v in printed.items()]) == got


@pytest.mark.parametrize("text,needles", [
    ("nope=1", ["nope", "n, x, flag, name, maybe, ints, pair, model"]),
    ("n=1.5", ["n='1.5'", "int"]),
    ("x=abc", ["x='abc'", "float"]),
    ("x=nan", ["x='nan'", "float"]),
    ("flag=maybe", ["flag='maybe'", "bool", "true"]),
    ("maybe=x", ["maybe='x'", "int | None"]),
    ("ints=1,b", ["ints='1,b'", "tuple[int, ...]"]),
    ("pair=1", ["pair='1'", "2 comma-separated"]),
    ("model=3", ["model", "model.width, model.act"]),
    ("model.depth=3", ["depth", "width, act"]),
    ("n.x=3", ["n", "not a config"]),
    ("n", ["FIELD=VALUE"]),
])
def test_bad_overrides_name_field_value_and_type(text, needles):
    with pytest.raises(ValueError) as e:
        apply_overrides(_Every(), [text])
    for needle in needles:
        assert needle in str(e.value), (needle, str(e.value))
    with pytest.raises(ValueError, match="twice"):
        apply_overrides(_Every(), ["n=1", "n=2"])


@pytest.mark.parametrize("argv,needles", [
    (["--set", "hiden=8"], ["hiden", "hidden, steps, batch"]),
    (["--set", "hidden=eight"], ["hidden='eight'", "int"]),
    (["--set", "hidden=0"], ["hidden=0", ">= 1"]),   # the Settings' own range check
])
def test_cli_bad_override_is_one_line_exit_2(capsys, tmp_path, argv, needles):
    rc = cli.main(["run", "tanh_vs_weights", "--out", str(tmp_path), "--no-progress", *argv])
    err = capsys.readouterr().err
    assert rc == 2 and err.startswith("rnnflow: error: ") and err.count("\n") == 1, err
    for needle in needles:
        assert needle in err, err
    assert not list(tmp_path.iterdir())   # nothing ran
    assert cli.main(["run", "all", "--set", "hidden=8"]) == 2


def test_show_settings_prints_types_and_the_overridden_value(capsys):
    assert cli.main(["run", "jacobian_decay", "--show-settings", "--set", "rhos=0.8,1.2"]) == 0
    out = capsys.readouterr().out
    assert "hidden: int = 16" in out and "rhos: tuple[float, ...] = 0.8,1.2" in out


def test_overridden_run_gets_its_own_folder_and_records_the_overrides(capsys, tmp_path):
    argv = ["run", "tanh_vs_weights", "--out", str(tmp_path), "--no-progress"]
    assert cli.main(argv) == 0
    assert cli.main(argv + ["--set", "hidden=8", "--set", "batch=3"]) == 0
    folders = sorted(p.name for p in (tmp_path / "tanh_vs_weights").iterdir())
    assert len(folders) == 2 and folders[0] == "torch-seed0-smoke" and folders[1].startswith("torch-seed0-smoke-")
    mine = pathlib.Path(tmp_path / "tanh_vs_weights" / folders[1])
    summary = json.loads((mine / "summary.json").read_text())
    about = json.loads((mine / "provenance.json").read_text())
    assert summary["settings"] == {"hidden": 8, "steps": 30, "batch": 3}
    assert summary["overrides"] == about["overrides"] == {"hidden": 8, "batch": 3}
    assert about["wall_seconds"] >= summary["seconds"] > 0 and about["start"] <= about["end"]
    assert about["host"]
    plain = json.loads((tmp_path / "tanh_vs_weights" / folders[0] / "provenance.json").read_text())
    assert plain["overrides"] == {}
    # the model really is 8 wide: the decomposition's arrays are per sequence (batch 3)
    import numpy as np
    with np.load(mine / "data.npz") as data:
        assert data["vanishing/log_jacobian"].shape[0] == 3
    capsys.readouterr()

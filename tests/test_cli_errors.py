"""User errors reach a user as one clear line: the CLI (``rnnflow: error: ...``, exit code 2,
``--debug`` for the traceback), train(out_dir=...), and the input messages of issue 12 item 8."""
from __future__ import annotations

import os

import numpy as np
import pytest

import rnnflow
from rnnflow import validation
from rnnflow.cli import main


def _err(capsys, argv):
    with pytest.raises(SystemExit) as stop:
        main(argv)
    err = capsys.readouterr().err
    assert stop.value.code == 2
    assert err.count("\n") == 1 and err.startswith("rnnflow: error: "), err
    return err


@pytest.mark.parametrize("argv, msg", [
    (["demo", "--seed", "-1"], "argument --seed: -1 is invalid: expected an integer >= 0"),
    (["run", "tanh_vs_weights", "--seed", "-1"], "argument --seed: -1 is invalid: expected an integer >= 0"),
    (["demo", "--seed", "x"], "argument --seed: 'x' is invalid: expected an integer >= 0"),
    (["demo", "--batch", "-2"], "argument --batch: -2 is invalid: expected an integer >= 1"),
    (["demo", "--steps", "0"], "argument --steps: 0 is invalid: expected an integer >= 1"),
    (["demo", "--hidden", "0"], "argument --hidden: 0 is invalid: expected an integer >= 1"),
    (["demo", "--out", ""], "argument --out: '' is invalid: expected a folder path (use '.' for the current folder)"),
    (["run", "tanh_vs_weights", "--out", " "], "argument --out: ' ' is invalid: expected a folder path"),
], ids=["seed", "run-seed", "seed-text", "batch", "steps", "hidden", "out-empty", "run-out-blank"])
def test_cli_argument_checks(capsys, argv, msg):
    err = _err(capsys, argv)
    assert msg in err and "--help" in err


def test_cli_out_is_a_file_or_under_one(capsys, tmp_path):
    f = tmp_path / "notes.txt"
    f.write_text("x")
    err = _err(capsys, ["demo", "--out", str(f)])
    assert f"argument --out: {str(f)!r} is an existing file: expected a folder" in err
    err = _err(capsys, ["run", "tanh_vs_weights", "--out", str(f / "sub")])
    assert f"{str(f)!r} is a file, so no folder can be made under it" in err
    assert f.read_text() == "x" and not (tmp_path / "tanh_vs_weights").exists()


def test_cli_out_not_writable(capsys, tmp_path, monkeypatch):
    real = os.access
    monkeypatch.setattr(os, "access", lambda p, mode: False if os.path.samefile(p, tmp_path) else real(p, mode))
    err = _err(capsys, ["demo", "--out", str(tmp_path / "results")])
    assert f"is not writable: {str(tmp_path)!r} does not let this user write in it" in err


def _raise(exc):
    def run(*args, **kwargs):
        raise exc
    return run


@pytest.mark.parametrize("exc, line", [
    (ValueError("seed=3 is invalid:\n expected something"), "rnnflow: error: seed=3 is invalid: expected something\n"),
    (PermissionError(13, "Permission denied", "/root/results/x"), "rnnflow: error: Permission denied: '/root/results/x'\n"),
    (FileExistsError("out='a' is an existing file"), "rnnflow: error: out='a' is an existing file\n"),
], ids=["value", "permission", "file-exists"])
def test_cli_user_errors_are_one_line_and_debug_shows_the_traceback(capsys, tmp_path, monkeypatch, exc, line):
    from rnnflow import studies
    monkeypatch.setattr(studies, "run", _raise(exc))
    argv = ["run", "tanh_vs_weights", "--out", str(tmp_path), "--no-progress"]
    assert main(argv) == 2
    assert capsys.readouterr().err == line
    with pytest.raises(type(exc)):
        main(["--debug"] + argv)


def test_train_out_dir_is_a_file(tmp_path):
    f = tmp_path / "run.txt"
    f.write_text("")
    cfg = rnnflow.RNNConfig(2, 3, output_size=1)
    with pytest.raises(FileExistsError, match=rf"out_dir={str(f)!r} is an existing file: expected a folder"):
        rnnflow.train(cfg, None, lambda step, rng: None, rnnflow.TrainConfig(steps=1), backend="torch", out_dir=f)


def test_check_folder_accepts_new_and_existing_folders(tmp_path):
    assert validation.check_folder("out", tmp_path) == str(tmp_path)
    assert validation.check_folder("out", str(tmp_path / "a" / "b")) == str(tmp_path / "a" / "b")
    assert not (tmp_path / "a").exists()                      # checking creates nothing
    with pytest.raises(TypeError, match=r"out=3 is invalid: expected a folder path"):
        validation.check_folder("out", 3)


# ---------------------------------------------------------------- input messages
@pytest.mark.parametrize("backend", ["torch", "jax"])
def test_an_integer_input_is_told_to_cast_not_to_rebuild(backend):
    model = rnnflow.build(rnnflow.RNNConfig(2, 3), backend=backend)
    x = np.zeros((4, 1, 2), np.int64)
    if backend == "torch":
        import torch
        x = torch.as_tensor(x)
    with pytest.raises(ValueError, match=r"x has dtype int64: expected a float array in the model's dtype, "
                                         r"float32 \(cast the input") as e:
        model(x)
    assert "build the model" not in str(e.value)


def test_a_torch_tensor_given_to_a_jax_model():
    import torch
    model = rnnflow.build(rnnflow.RNNConfig(2, 3), backend="jax")
    with pytest.raises(TypeError, match=r"x must be a jax or numpy array, got torch\.Tensor"):
        model(torch.zeros(4, 1, 2))


@pytest.mark.parametrize("backend", ["torch", "jax"])
def test_analyzers_take_nested_lists(backend):
    model = rnnflow.build(rnnflow.RNNConfig(2, 3, output_size=1), rnnflow.init_params(
        rnnflow.RNNConfig(2, 3, output_size=1), 0, np.float64), backend=backend)
    xs = np.random.default_rng(0).standard_normal((5, 1, 2))
    a = rnnflow.analysis.jacobians_over_time(model, xs.tolist())
    b = rnnflow.analysis.jacobians_over_time(model, xs)
    np.testing.assert_array_equal(a.log_frobenius, b.log_frobenius)
    np.testing.assert_array_equal(rnnflow.analysis.gradient_reach(model, xs.tolist()).log_norm,
                                  rnnflow.analysis.gradient_reach(model, xs).log_norm)


def test_experiment_scripts_refuse_a_negative_seed(capsys):
    from rnnflow import studies
    with pytest.raises(SystemExit) as e:
        studies.argument_parser("x").parse_args(["--seed", "-1"])
    assert e.value.code == 2
    assert "--seed: -1 is invalid: expected an integer >= 0" in capsys.readouterr().err


def test_train_config_takes_numpy_numbers():
    import numpy as np
    from rnnflow import TrainConfig
    cfg = TrainConfig(steps=np.int64(5), batch_size=np.int32(4), lr=np.float32(0.5))
    assert (cfg.steps, cfg.batch_size) == (5, 4) and type(cfg.steps) is int and type(cfg.lr) is float
    with pytest.raises(ValueError, match="steps"):
        TrainConfig(steps=np.int64(0))

"""The CLI's text: --version, list, plain --help, run's table and --json, and the demo's answers."""
import json
import re

import numpy as np
import pytest

from rnnflow import cli, studies
from rnnflow._version import __version__


def _out(capsys, argv, code=0):
    try:
        rc = cli.main(argv)
    except SystemExit as e:   # --version and --help exit through argparse
        rc = e.code
    assert rc == code
    return capsys.readouterr().out


def test_version(capsys):
    import tomllib
    with open("pyproject.toml", "rb") as f:
        assert __version__ == tomllib.load(f)["project"]["version"]
    assert _out(capsys, ["--version"]).strip() == f"rnnflow {__version__}"


def test_list_names_every_study_with_a_description(capsys):
    lines = _out(capsys, ["list"]).strip().splitlines()
    assert [ln.split()[0] for ln in lines] == list(studies.STUDIES)
    for ln in lines:
        assert len(ln.split(None, 1)[1]) > 20 and "``" not in ln and ":func:" not in ln


@pytest.mark.parametrize("argv", [["--help"], ["run", "--help"], ["demo", "--help"], ["list", "--help"],
                                  ["diagnose", "--help"]])
def test_help_is_plain_text_and_every_flag_has_help(capsys, argv):
    text = _out(capsys, argv)
    assert "``" not in text and ":func:" not in text and ":mod:" not in text
    # every option line "  --flag ..." is followed by help on the same or the next line
    lines = text.splitlines()
    for i, ln in enumerate(lines):
        m = re.match(r"^  (-{1,2}[\w-]+)(.*)$", ln)
        if m:
            rest = m.group(2).strip()
            same = re.sub(r"^([A-Z_]+|\{[^}]*\})?(, -{1,2}[\w-]+( [A-Z_]+)?)*", "", rest).strip()
            nxt = lines[i + 1] if i + 1 < len(lines) else ""
            assert same or nxt.startswith(" " * 10), f"{argv}: no help for {ln!r}"
    if argv == ["run", "--help"]:
        for name in studies.STUDIES:
            assert re.search(rf"^  {name}\s+\S", text, re.M), name
    if argv == ["--help"]:
        assert "examples:" in text and "rnnflow demo" in text


def test_run_prints_an_aligned_table_and_json(capsys, tmp_path):
    out = _out(capsys, ["run", "tanh_vs_weights", "--out", str(tmp_path), "--no-progress"])
    with open(next(tmp_path.glob("tanh_vs_weights/*/summary.json"))) as f:
        on_disk = json.load(f)
    rows = [ln for ln in out.splitlines() if ln.startswith("  ") and not ln.startswith("   ")]
    assert rows, out
    assert len({ln.index(ln.strip().split("  ")[-1].strip(), 3) for ln in rows}) == 1, out
    for ln in rows:   # numbers at most 4 significant digits
        for num in re.findall(r"-?\d+\.\d+(?:e[-+]?\d+)?", ln.split("  ")[-1]):
            digits = re.sub(r"e.*", "", num).replace("-", "").replace(".", "").lstrip("0")
            assert len(digits) <= 4, ln
    assert "figure:" in out and "summary.json" in out and "{" not in out

    text = _out(capsys, ["run", "tanh_vs_weights", "--out", str(tmp_path), "--no-progress", "--json"])
    got = json.loads(text)
    assert got["study"] == "tanh_vs_weights" and got["backend"] == "torch"
    summary = on_disk["results"]   # what summary.json holds as the headline numbers
    assert json.dumps(got["summary"], sort_keys=True, default=str) == json.dumps(summary, sort_keys=True, default=str)
    assert json.loads(_out(capsys, ["run", "tanh_vs_weights", "--out", str(tmp_path), "--no-progress", "-v"])) == got


def _brute_log10_ratio(params, xs, gap):
    """log10 ||ds_T/ds_{T-gap}||_2 / ||ds_T/ds_{T-1}||_2 of h' = tanh(W_ih x + b_ih + W_hh h + b_hh),
    s_0 = 0, by torch autograd on the unrolled recurrence (float64), averaged over the batch."""
    import torch
    p = {k: torch.tensor(np.asarray(v), dtype=torch.float64) for k, v in params["layers"][0].items()}
    x = torch.tensor(xs, dtype=torch.float64)
    T, B = x.shape[:2]

    def step(h, xt):
        return torch.tanh(xt @ p["weight_ih"].T + p["bias_ih"] + h @ p["weight_hh"].T + p["bias_hh"])

    out = []
    for b in range(B):
        s = [torch.zeros(p["weight_hh"].shape[0], dtype=torch.float64)]
        for k in range(T):
            s.append(step(s[-1], x[k, b]))

        def forward_from(k):
            def f(h):
                for j in range(k, T):
                    h = step(h, x[j, b])
                return h
            return f
        far = torch.autograd.functional.jacobian(forward_from(T - gap), s[T - gap])
        near = torch.autograd.functional.jacobian(forward_from(T - 1), s[T - 1])
        out.append(float(torch.linalg.matrix_norm(far, 2) / torch.linalg.matrix_norm(near, 2)))
    return float(np.mean(np.log10(out)))


@pytest.mark.parametrize("backend", ["torch", "jax"])
def test_demo_jacobian_ratio_matches_autograd(backend):
    from rnnflow.config import Init, RNNConfig
    from rnnflow.demo import jacobian_ratio
    from rnnflow.params import init_params
    cfg = RNNConfig(4, 6, activation="tanh", init_hh=Init("normal", std=1 / np.sqrt(6), spectral_radius=0.5))
    gap, batch = 7, 3
    got = jacobian_ratio(cfg, backend, gap=gap, batch=batch, seed=1)
    xs = np.random.default_rng(1).standard_normal((gap + 1, batch, 4)).astype(np.float32)
    assert got == pytest.approx(_brute_log10_ratio(init_params(cfg, seed=1), xs, gap), abs=1e-3)
    assert got < -1   # rho 0.5: the gradient shrinks ~0.5x a step


@pytest.mark.parametrize("backend", ["torch", "jax"])
def test_demo_clipping_unclipped_diverges_clipped_does_not(backend):
    from rnnflow.demo import DemoSettings, clipping
    c = clipping(backend, DemoSettings(clip_seeds=1), seed=0)
    assert c["none"] == {**c["none"], "diverged": 1, "runs": 1}
    assert c["norm"]["diverged"] == 0 and np.isfinite(c["norm"]["median_final_loss"])
    assert c["norm"]["median_final_loss"] < 0.64   # below predicting 0.5 (the adding problem's baseline MSE)


@pytest.mark.slow
def test_demo_prints_the_answers_in_both_backends(capsys, tmp_path):
    out = _out(capsys, ["demo", "--out", str(tmp_path)])
    assert re.search(r"torch and jax agree to \de-\d\d", out)
    for b in ("torch", "jax"):
        m = re.search(rf"\[{b}\s*\] tanh RNN, rho 0\.5: 10\^(-?\d+\.\d)\s+LSTM, forget bias 1: 10\^(-?\d+\.\d)", out)
        assert m and float(m.group(1)) < -10 < float(m.group(2)), out
        m = re.search(rf"\[{b}\s*\] without clipping (\d) of 5 seeds diverged; with norm clipping \(c = 1\) (\d) of 5",
                      out)
        assert m and int(m.group(1)) >= 2 and int(m.group(2)) == 0, out
    assert "docs/_build/html/index.html" in out and re.search(r"demo took \d+\.\d s", out)


def test_run_backend_both_prints_the_comparison(capsys, tmp_path):
    out = _out(capsys, ["run", "tanh_vs_weights", "--backend", "both", "--out", str(tmp_path), "--no-progress"])
    assert "tanh_vs_weights [torch," in out and "tanh_vs_weights [jax," in out
    assert "torch vs jax" in out and "largest difference relative to max(|torch|, |jax|, 1)" in out
    with open(next(tmp_path.glob("tanh_vs_weights/torch-*/summary.json"))) as f:
        t = json.load(f)["results"]
    with open(next(tmp_path.glob("tanh_vs_weights/jax-*/summary.json"))) as f:
        j = json.load(f)["results"]
    a, b = t["exploding"]["log10_measured"], j["exploding"]["log10_measured"]
    assert re.search(rf"exploding / log10_measured\s+{a:.4g}\s+{b:.4g}\s+{abs(a - b):.2g}", out), out

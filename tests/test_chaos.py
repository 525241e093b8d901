"""The Lyapunov toolkit and the chaos study: the two-trajectory estimate against the QR method,
re-orthonormalisation intervals, local exponents and the running estimate against closed forms,
Kaplan-Yorke dimension and entropy rate of hand-computed spectra, the mean-field lambda_max, the
study in both backends, and bad input."""
from __future__ import annotations

import dataclasses
import json
import math
import os

import numpy as np
import pytest

from ._helpers import flat_numbers
from scipy.integrate import quad

import rnnflow
from rnnflow import studies
from rnnflow.analysis import StepJacobians, lyapunov_exponents, lyapunov_spectrum
from rnnflow.analysis.chaos import (
    block_stderr, entropy_rate, kaplan_yorke_dimension, largest_exponent_direct, mean_field_max_exponent,
    random_tanh_weight,
)


def _tanh_run(N, g, T, seed=0, h_seed=1):
    """NumPy ``h_t = tanh(W h_{t-1})``: W, the step-Jacobian factors ``1 - h_t^2`` (T, 1, N), h_0."""
    W = random_tanh_weight(N, g, seed)
    h = 0.5 * np.random.default_rng(h_seed).standard_normal((1, N))
    h0, d = h.copy(), np.empty((T, 1, N))
    for t in range(T):
        h = np.tanh(h @ W.T)
        d[t] = 1 - h ** 2
    return W, d, h0


def _known_linear(mu, seed=0):
    """``A = Q diag(exp(mu)) Q^T``: its exponents are ``mu``."""
    q, _ = np.linalg.qr(np.random.default_rng(seed).standard_normal((len(mu), len(mu))))
    return q @ np.diag(np.exp(mu)) @ q.T


def test_direct_estimate_agrees_with_qr_within_three_standard_errors():
    """g = 2, N = 100: two independent trajectories on one network, one by each method."""
    N, g, warm, S = 100, 2.0, 300, 4000
    W, d, _ = _tanh_run(N, g, warm + S, h_seed=1)
    qr = lyapunov_exponents(StepJacobians.elman(d, W), k=2, warmup=warm, trace=True)
    qr_se = block_stderr(qr.local[:, 0, 0], 20)
    h0 = 0.5 * np.random.default_rng(7).standard_normal((1, N))          # another trajectory
    direct = largest_exponent_direct(lambda h: np.tanh(h @ W.T), h0, steps=S, warmup=warm, blocks=20)
    diff, se = direct.exponent[0] - qr.exponents[0, 0], math.hypot(direct.stderr[0], qr_se)
    assert 0 < se < 0.005 and qr.exponents[0, 0] > 0.1                   # chaotic, and a usable error bar
    assert abs(diff) < 3 * se, (direct.exponent[0], qr.exponents[0, 0], se)


def test_the_qr_interval_does_not_change_the_exponents():
    """The R factors telescope (QR of a product = product of the QRs' R), so reortho = 5 equals
    reortho = 1 up to rounding on a chaotic trajectory (10 exponents: their spread stays well-conditioned)."""
    W, d, _ = _tanh_run(60, 2.0, 600)
    steps = StepJacobians.elman(d, W)
    one, five = (lyapunov_exponents(steps, k=10, warmup=100, reortho=m) for m in (1, 5))
    np.testing.assert_allclose(five.exponents, one.exponents, rtol=0, atol=1e-10)
    assert five.reortho == 5 and one.reortho == 1


@pytest.mark.parametrize("reortho", [1, 4, 7])
def test_linear_map_with_known_spectrum_and_its_local_exponents(reortho):
    mu = np.array([0.3, 0.1, -0.2, -0.5, -1.0])
    a = _known_linear(mu)
    steps = StepJacobians.lazy(lambda lo, hi: np.broadcast_to(a, (hi - lo, 1, 5, 5)), 1050, 1, 5)
    spec = lyapunov_exponents(steps, warmup=50, reortho=reortho, trace=True)
    np.testing.assert_allclose(spec.exponents[0], mu, atol=1e-9)       # aligned after 50 steps: exact
    n = math.ceil(1000 / reortho)
    assert spec.local.shape == (n, 1, 5) and spec.trace_steps[-1] == 1000 and spec.trace_steps[0] == reortho
    lengths = np.diff(spec.trace_steps, prepend=0)
    np.testing.assert_allclose((spec.local[:, 0] * lengths[:, None]).sum(0) / 1000, spec.exponents[0], atol=1e-12)
    np.testing.assert_allclose(spec.local[:, 0], np.broadcast_to(mu, (n, 5)), atol=1e-9)   # every block
    np.testing.assert_allclose(spec.running[-1], spec.exponents, atol=1e-12)


def test_defaults_match_a_brute_force_qr_loop():
    W, d, _ = _tanh_run(12, 1.8, 200)
    q = np.linalg.qr(np.random.default_rng(0).standard_normal((12, 12)))[0]
    acc = np.zeros(12)
    for t in range(200):
        q, r = np.linalg.qr(d[t, 0][:, None] * W @ q)
        acc += np.log(np.abs(np.diag(r))) * (t >= 20)
    np.testing.assert_allclose(lyapunov_exponents(StepJacobians.elman(d, W), warmup=20).exponents[0],
                               np.sort(acc / 180)[::-1], rtol=0, atol=1e-13)


def test_an_ill_conditioned_interval_is_refused_naming_reortho():
    a = _known_linear(np.array([0.0, -10.0]))     # the columns separate by e^10 per step
    steps = StepJacobians.dense(np.broadcast_to(a, (40, 1, 2, 2)))
    with pytest.raises(ValueError, match=r"reortho=3 is too large.*lower reortho \(<= 2 here\)"):
        lyapunov_exponents(steps, warmup=5, reortho=3)
    assert lyapunov_exponents(steps, warmup=5, reortho=2).exponents[0] == pytest.approx([0.0, -10.0], abs=1e-9)
    assert lyapunov_exponents(steps, k=1, warmup=5, reortho=30).exponents[0, 0] == pytest.approx(0.0, abs=1e-12)


@pytest.mark.parametrize("exponents, dim, entropy", [
    ([0.5, 0.1, -0.2, -0.8, -1.0], 3 + 0.4 / 0.8, 0.6),     # sums 0.5, 0.6, 0.4, -0.4: j = 3
    ([0.906, 0.0, -14.572], 2 + 0.906 / 14.572, 0.906),     # Lorenz (1963) system: D_KY = 2.062
    ([-1.0, 0.2, -3.0], 1 + 0.2 / 1.0, 0.2),                 # unsorted input
    ([-0.1, -0.5], 0.0, 0.0),                                # a stable fixed point
    ([0.3, 0.1, -0.2], 3.0, 0.4),                            # the sum never turns negative: k
    ([0.0, -1.0], 1.0, 0.0),                                 # a marginal direction: j = 1, 0 / 1
])
def test_kaplan_yorke_dimension_and_entropy_rate_of_known_spectra(exponents, dim, entropy):
    assert kaplan_yorke_dimension(exponents) == pytest.approx(dim, abs=1e-12)
    assert entropy_rate(exponents) == pytest.approx(entropy, abs=1e-12)
    both = np.array([exponents, exponents])
    np.testing.assert_allclose(kaplan_yorke_dimension(both), [dim, dim], atol=1e-12)
    np.testing.assert_allclose(entropy_rate(both), [entropy, entropy], atol=1e-12)


def _mean_field_by_quad(g):
    """``(1/2) ln chi`` by scipy's adaptive quadrature and plain fixed-point iteration of q."""
    gauss = lambda f: quad(lambda z: f(z) * math.exp(-z * z / 2) / math.sqrt(2 * math.pi), -30, 30,  # noqa: E731
                           limit=200, epsabs=1e-14)[0]
    q = 1.0
    for _ in range(2000):
        q = g * g * gauss(lambda z: math.tanh(math.sqrt(q) * z) ** 2)
    return 0.5 * math.log(g * g * gauss(lambda z: (1 - math.tanh(math.sqrt(q) * z) ** 2) ** 2))


@pytest.mark.parametrize("g", [0.3, 0.5, 0.9, 0.999])
def test_mean_field_lambda_max_below_one_is_ln_g(g):
    assert mean_field_max_exponent(g) == pytest.approx(math.log(g), abs=1e-12)


@pytest.mark.parametrize("g", [1.5, 2.0, 4.0])
def test_mean_field_lambda_max_above_one_against_adaptive_quadrature(g):
    assert mean_field_max_exponent(g) == pytest.approx(_mean_field_by_quad(g), abs=1e-8)
    assert mean_field_max_exponent(g) > 0


@pytest.mark.parametrize("g", [2.0, 3.0])
def test_measured_lambda_max_at_n400_is_near_mean_field(g):
    """Finite N lowers lambda_max: measured 0.146-0.151 at g = 2 and 0.302-0.305 at g = 3 over
    three N = 400 networks (mean field 0.1547, 0.3102), 0.136 at N = 100, g = 2; errors ~0.001.
    Tolerance 0.015: twice the largest deviation seen, ten standard errors."""
    N = 400
    W = random_tanh_weight(N, g, 0)
    h0 = 0.5 * np.random.default_rng(1).standard_normal((1, N))
    r = largest_exponent_direct(lambda h: np.tanh(h @ W.T), h0, steps=3000, warmup=300)
    assert abs(r.exponent[0] - mean_field_max_exponent(g)) < 0.015, (r.exponent[0], r.stderr[0])


def test_direct_estimate_through_both_backends_matches_numpy():
    """An rnnflow RNN (zero input weights and biases) stepped by each backend follows the NumPy
    map to rounding over a short run; |d| = eps = 1e-8 carries rounding of 1e-16 / eps into each
    log(|d| / eps), so the estimates agree to ~1e-8."""
    N = 20
    W = random_tanh_weight(N, 2.0, 3)
    h0 = 0.5 * np.random.default_rng(2).standard_normal((1, N))
    ref = largest_exponent_direct(lambda h: np.tanh(h @ W.T), h0, steps=40, warmup=10, blocks=4)
    cfg = studies.get("chaos").config(N, 2.0)
    p = rnnflow.init_params(cfg, 0, np.float64)
    p["layers"][0]["weight_hh"] = W
    for backend in ("torch", "jax"):
        got = largest_exponent_direct(cfg, h0[None], params=p, backend=backend, steps=40, warmup=10, blocks=4)
        np.testing.assert_allclose(got.exponent, ref.exponent, rtol=0, atol=1e-7)   # |d| ~ eps: 1e-16 / eps
        np.testing.assert_allclose(got.local, ref.local, atol=1e-6)


_numbers = flat_numbers


def test_chaos_study_smoke_both_backends_agree(tmp_path):
    """Smoke runs are short (60 steps: rounding grows by at most e^(60 lambda_max) ~ 1e7), so the
    two backends' chaotic trajectories, and every headline number, agree to 1e-6 (see tol)."""
    results = {}
    for backend in ("torch", "jax"):
        r = studies.run("chaos", backend=backend, scale="smoke", out=str(tmp_path), progress=False)
        assert not r.reused and len(r.figures) == 4
        for png in r.figures:
            assert os.path.getsize(png) > 5000 and os.path.getsize(png[:-3] + "svg") > 5000
        with open(os.path.join(r.folder, "summary.json")) as f:
            saved = json.load(f)
        assert saved["status"] == "complete" and saved["settings"]["width"] == 24
        assert os.path.exists(os.path.join(r.folder, "data.npz"))
        results[backend] = _numbers(r.summary)
    assert results["torch"].keys() == results["jax"].keys() and len(results["torch"]) > 30
    for k, v in results["torch"].items():   # direct estimates carry 1e-16 / eps = 1e-8 rounding per step
        tol = 1e-5 if k.endswith("in_stderrs") else 1e-7    # ratios over a standard error of ~0.005
        assert v == pytest.approx(results["jax"][k], rel=1e-6, abs=tol), k
    again = studies.run("chaos", backend="torch", scale="smoke", out=str(tmp_path), progress=False)
    assert again.reused and _numbers(again.summary) == results["torch"]


def test_crossing_interpolates_the_first_sign_change():
    crossing = studies.get("chaos").crossing
    assert crossing([0.5, 1.0, 1.5], [-0.6, -0.1, 0.3]) == pytest.approx(1.0 + 0.5 * 0.1 / 0.4)
    assert crossing([0.5, 1.0], [-0.6, -0.1]) is None


@pytest.mark.parametrize("call, message", [
    (lambda s: lyapunov_exponents(s, k=7), r"k=7 is invalid: expected an integer in \[1, N=6\]"),
    (lambda s: lyapunov_exponents(s, reortho=0), r"reortho=0 is invalid: expected an integer in \[1, T - warmup"),
    (lambda s: lyapunov_exponents(s, warmup=10, reortho=31), r"reortho=31 is invalid"),
    (lambda s: lyapunov_exponents(s, reortho=2.0), r"reortho=2\.0 is invalid"),
    (lambda s: lyapunov_exponents(s, trace=1), r"trace=1 is invalid: expected True or False"),
    (lambda s: mean_field_max_exponent(0.0), r"mean_field_max_exponent\.g=0\.0 is invalid: expected a finite "
                                             r"number in \(0\.0, inf\]"),
    (lambda s: mean_field_max_exponent(-1), r"mean_field_max_exponent\.g=-1 is invalid"),
    (lambda s: random_tanh_weight(10, -2.0), r"random_tanh_weight\.g=-2\.0 is invalid"),
    (lambda s: kaplan_yorke_dimension([]), r"kaplan_yorke_dimension\.exponents=.* is invalid"),
    (lambda s: entropy_rate([0.1, np.nan]), r"entropy_rate\.exponents=.* is invalid: expected a finite"),
    (lambda s: largest_exponent_direct(np.tanh, np.ones((1, 3)), steps=10, eps=1e-2),
     r"largest_exponent_direct\.eps=0\.01 is invalid: expected a finite number in \[1e-12, 0\.0001\]"),
    (lambda s: largest_exponent_direct(np.tanh, np.ones((1, 3)), steps=10, blocks=20),
     r"largest_exponent_direct\.blocks=20 is invalid: expected an integer in \[2, steps=10\]"),
    (lambda s: largest_exponent_direct(np.tanh, None, steps=10, blocks=2), r"h0 is required"),
    (lambda s: block_stderr(np.ones(3), 4), r"block_stderr\.blocks=4 is invalid"),
])
def test_bad_input_names_the_field_the_value_and_what_is_accepted(call, message):
    steps = StepJacobians.dense(np.broadcast_to(np.eye(6), (40, 1, 6, 6)))
    with pytest.raises(ValueError, match=message):
        call(steps)


@pytest.mark.parametrize("field, value, message", [
    ("width", 8, r"chaos\.Settings\.width=8 is invalid: expected an integer >= 16"),
    ("sizes", (100, 8), r"chaos\.Settings\.sizes\[1\]=8 is invalid: expected an integer >= 16"),
    ("gains", (1.0, 0.0), r"chaos\.Settings\.gains\[1\]=0\.0 is invalid: expected a finite number in \(0\.0"),
    ("gains", (2.0, 1.0), r"chaos\.Settings\.gains=\(2\.0, 1\.0\) is invalid: expected a tuple of 2 or more increasing"),
    ("reortho", 0, r"chaos\.Settings\.reortho=0 is invalid: expected an integer >= 1"),
    ("reortho", 41, r"chaos\.Settings\.reortho=41 is invalid: expected an integer in \[1, steps=40\]"),
    ("steps", 3, r"chaos\.Settings\.steps=3 is invalid: expected an integer >= 4"),
    ("warmup", -1, r"chaos\.Settings\.warmup=-1 is invalid: expected an integer >= 0"),
])
def test_chaos_settings_name_the_bad_field(field, value, message):
    with pytest.raises(ValueError, match=message):
        dataclasses.replace(studies.get("chaos").SCALES["smoke"], **{field: value})


def test_trace_on_the_diagonal_route_is_refused():
    cfg = rnnflow.LRUConfig(2, 4, 3, r_min=0.5)
    model = rnnflow.build(cfg, rnnflow.init_params(cfg, 0, np.float64), backend="torch")
    with pytest.raises(ValueError, match=r"trace=True is not available on the diagonal route.*route='dense'"):
        lyapunov_spectrum(model, steps=20, warmup=5, trace=True)
    dense = lyapunov_spectrum(model, steps=20, warmup=5, trace=True, route="dense")
    assert dense.local.shape[0] == 20

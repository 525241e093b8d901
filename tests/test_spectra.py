"""Full singular spectra of end-to-end Jacobians (rnnflow.analysis.spectra) against closed forms:
orthogonal deep linear networks (every sigma = 1), Gaussian ones (Fuss-Catalan moments), a NumPy
product at extreme scales, and an Elman RNN's dh_T/dh_t built by hand from its parameters."""
import math

import jax
import numpy as np
import pytest

import rnnflow as rf
from rnnflow.analysis.spectra import (
    fuss_catalan_moment, product_log_singular, singular_spectrum_over_time, singular_spectrum_through_depth,
)

BACKENDS = ("torch", "jax")


@pytest.fixture(autouse=True)
def _x64():
    with jax.enable_x64(True):
        yield


def _linear_mlp(N, L, init, seed, backend):
    cfg = rf.MLPConfig(input_size=N, output_size=1, width=N, depth=L, activation="identity", init_weight=init)
    return rf.build(cfg, rf.init_params(cfg, seed, np.float64), backend=backend)


def test_fuss_catalan_numbers():
    assert [fuss_catalan_moment(1, k) for k in range(1, 6)] == [1, 2, 5, 14, 42]     # Catalan
    assert [fuss_catalan_moment(L, 2) for L in (1, 4, 8)] == [2, 5, 9]              # L + 1
    assert fuss_catalan_moment(2, 3) == math.comb(9, 3) / 7 == 12
    with pytest.raises(ValueError, match=r"k=0 is invalid"):
        fuss_catalan_moment(3, 0)


@pytest.mark.parametrize("backend", BACKENDS)
def test_orthogonal_deep_linear_network_is_an_exact_isometry(backend):
    sp = singular_spectrum_through_depth(_linear_mlp(48, 16, rf.Init("orthogonal"), 0, backend),
                                         np.random.default_rng(0).normal(size=(2, 48)))
    assert sp.log_singular.shape == (2, 48) and sp.factors == 16 and sp.what == "depth"
    np.testing.assert_allclose(sp.log_singular, 0.0, atol=1e-12)
    assert sp.resolved.all()


def test_gaussian_deep_linear_network_has_fuss_catalan_moments():
    """N = 400, L = 8, three networks: the sample means of the first three moments of sigma^2
    against 1, 9 and 117 (measured: 1.001, 9.09, 118.1; std over networks 0.015, 0.26, 5.5)."""
    N, L = 400, 8
    ms = np.array([[singular_spectrum_through_depth(_linear_mlp(N, L, rf.Init("normal", std=N ** -0.5), s, "torch"),
                                                    np.zeros((1, N))).squared_moments(k)[0] for k in (1, 2, 3)]
                   for s in range(3)])
    want = np.array([fuss_catalan_moment(L, k) for k in (1, 2, 3)])
    rel = np.abs(ms.mean(axis=0) / want - 1)
    assert (rel < [0.03, 0.06, 0.12]).all(), (ms.mean(axis=0), want)
    assert ms[:, 1].mean() > 1.5 * fuss_catalan_moment(L // 2, 2)   # it does grow with depth (L/2 + 1 = 5)


def test_product_at_extreme_scales_is_exact_in_log_space():
    rng = np.random.default_rng(1)
    F = rng.normal(size=(60, 2, 5, 5))
    scales = np.where(np.arange(60) % 2 == 0, 1e150, 1e-150)[:, None, None, None] * 10.0 ** 20
    sp = product_log_singular(F * scales, "depth")   # the plain product overflows to inf
    # reference: the same factors without the huge scales (normalised by hand), their logs added back
    P, log_c = np.eye(5)[None].repeat(2, 0), np.zeros(2)
    for f in F:
        P = f @ P
        c = np.abs(P).max(axis=(1, 2))
        P /= c[:, None, None]
        log_c += np.log(c)
    want = np.log(np.linalg.svd(P, compute_uv=False)) + log_c[:, None] + np.log(scales).sum()
    ok = sp.resolved
    assert ok[:, :2].all() and not ok.all()            # the smallest are below the resolution
    np.testing.assert_allclose(sp.log_singular[ok], want[ok], rtol=0, atol=1e-3)
    np.testing.assert_allclose(sp.log_singular[:, 0], want[:, 0], rtol=1e-12)
    assert np.isfinite(sp.log_singular).all()


@pytest.mark.parametrize("backend", BACKENDS)
def test_elman_spectrum_over_time_equals_the_hand_built_product(backend):
    cfg = rf.RNNConfig(3, 12, activation="tanh")
    p = rf.init_params(cfg, 2, np.float64)
    xs = np.random.default_rng(3).normal(size=(25, 2, 3))
    m = rf.build(cfg, p, backend=backend)
    lp = p["layers"][0]
    h, hs = np.zeros((2, 12)), []
    for x in xs:
        h = np.tanh(x @ lp["weight_ih"].T + lp["bias_ih"] + h @ lp["weight_hh"].T + lp["bias_hh"])
        hs.append(h)
    for t in (0, 7, 24):
        sp = singular_spectrum_over_time(m, xs, t=t)
        for b in range(2):
            J = np.eye(12)
            for k in range(t, 25):    # h_{k+1} = tanh(...): A = diag(1 - h_{k+1}^2) W_hh
                J = (1 - hs[k][b] ** 2)[:, None] * lp["weight_hh"] @ J
            want = np.log(np.linalg.svd(J, compute_uv=False))
            # log sigma_i is good to (T - t) N eps sigma_1 / sigma_i (rnnflow.analysis.spectra)
            tol = 1e-11 + 10 * (25 - t) * 12 * np.finfo(float).eps * np.exp(want[0] - want)
            assert (np.abs(sp.log_singular[b] - want) <= tol).all(), (t, b, sp.log_singular[b] - want)
            assert sp.resolved[b].all()
        assert sp.factors == 25 - t and sp.what == "time"


def test_errors():
    m = rf.build(rf.RNNConfig(3, 4), rf.init_params(rf.RNNConfig(3, 4), 0, np.float64), backend="torch")
    with pytest.raises(ValueError, match=r"t=5 is invalid: expected an integer in \[0, T-1=4\]"):
        singular_spectrum_over_time(m, np.zeros((5, 1, 3)), t=5)
    with pytest.raises(ValueError, match="inputs must match the previous output size 3"):
        product_log_singular([np.ones((1, 3, 2)), np.ones((1, 2, 4))], "depth")
    with pytest.raises(ValueError, match="no factors"):
        product_log_singular([], "depth")


@pytest.mark.parametrize("L", [1, 2, 8, 32])
def test_fuss_catalan_density_has_the_fuss_catalan_moments(L):
    from rnnflow.analysis.spectra import fuss_catalan_density
    x, rho = fuss_catalan_density(L, points=200_001)
    assert x.max() == pytest.approx((L + 1) ** (L + 1) / L ** L, rel=1e-6)
    for k in (1, 2, 3):
        m = np.trapezoid(x ** k * rho, x)
        assert m == pytest.approx(fuss_catalan_moment(L, k), rel=2e-3), k
    if L == 1:   # Marchenko-Pastur
        np.testing.assert_allclose(rho, np.sqrt(x * (4 - x)) / (2 * np.pi * x), rtol=1e-6)   # cancellation at x -> 4


def test_isometry_study_configs_and_theory():
    from rnnflow.studies import isometry
    N = 64
    for act in isometry.ACTIVATIONS:
        g2 = isometry.GAIN[act] ** 2
        W = rf.init_params(isometry.config(act, "orthogonal", N, 3), 0, np.float64)["layers"][1]["linear"]["weight"]
        np.testing.assert_allclose(W @ W.T, g2 * np.eye(N), atol=1e-12)
        W = rf.init_params(isometry.config(act, "Gaussian", 512, 2), 0, np.float64)["layers"][1]["linear"]["weight"]
        assert W.var() == pytest.approx(g2 / 512, rel=0.02)
    u, dens = isometry.log_density(8)                 # a density of log10 sigma^2
    assert np.trapezoid(dens, u) == pytest.approx(1.0, abs=0.01)
    assert np.trapezoid(10 ** u * dens, u) == pytest.approx(1.0, rel=0.01)


def test_isometry_figure(tmp_path):
    from rnnflow.plotting.spectra import LOG_RANGE, plot_isometry
    v = {8: np.zeros(10), 32: np.linspace(-3, 1, 50)}
    fig = plot_isometry({("linear", "orthogonal"): v, ("tanh", "orthogonal"): v},
                        {("linear", "orthogonal"): 1.0, ("tanh", "orthogonal"): "no closed form"},
                        rows=["linear", "tanh"], cols=["orthogonal"])
    a, b = fig.axes
    assert a.get_xlim() == LOG_RANGE and "sigma" in b.get_xlabel()
    assert any(t.get_text() == "no closed form" for t in b.texts)
    assert any(line.get_xdata()[0] == 0 for line in a.get_lines())   # the sigma^2 = 1 line
    fig.savefig(tmp_path / "iso.png")

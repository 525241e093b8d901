"""spectral="topk" (rnnflow.analysis.topk: the top-k singular values of dh_T/dh_t without
forming the product) against the dense product: exact where the tracked basis spans the
whole space, and within the stated 1e-3 of ``"exact"`` at H=256 once the top directions
have separated (both backends, orthogonal and Gaussian W_hh)."""
from __future__ import annotations

import numpy as np
import pytest

import rnnflow
from rnnflow.analysis import StepJacobians, jacobians_over_time, product_norms
from rnnflow.analysis.topk import OVERSAMPLE, anchor_gaps, topk_norms

try:   # not a dependency of rnnflow: without it the test only runs slower on a busy machine
    from threadpoolctl import threadpool_limits
except ImportError:  # pragma: no cover
    import contextlib

    def threadpool_limits(_n):
        return contextlib.nullcontext()


def _brute(a: np.ndarray, k: int) -> np.ndarray:
    """``(B, T, k)`` log sigma_i of the explicit products ``A_T ... A_{t+1}`` (no log scaling)."""
    T, B, N, _ = a.shape
    out = np.empty((B, T, k))
    m = np.broadcast_to(np.eye(N), (B, N, N))
    for t in range(T - 1, -1, -1):
        m = m @ a[t]
        out[:, t] = np.log(np.linalg.svd(m, compute_uv=False)[:, :k])
    return out


@pytest.mark.parametrize("form", ["dense", "elman", "split"])
def test_full_basis_is_exact_at_every_gap(form):
    # N <= k + OVERSAMPLE: the tracked basis spans everything, so every gap is exact
    rng = np.random.default_rng(3)
    T, B, H, k = 40, 2, 5, 3
    if form == "dense":
        a = rng.standard_normal((T, B, H, H)) / np.sqrt(H)
        steps = StepJacobians.dense(a)
    elif form == "elman":
        d, w = rng.uniform(0.2, 1.0, (T, B, H)), 1.3 * rng.standard_normal((H, H)) / np.sqrt(H)
        steps, a = StepJacobians.elman(d, w), d[..., None] * w
    else:
        left = rng.standard_normal((T, B, 2 * H, H)) / 3
        dh, dc = rng.uniform(0, 1, (T, B, H)), rng.uniform(0, 1, (T, B, H))
        steps = StepJacobians.split(lambda lo, hi: (left[lo:hi], dh[lo:hi], dc[lo:hi]), T, B, 2 * H)
        a = steps.block(0, T)
    got = topk_norms(steps, k)
    want = _brute(a, k)
    np.testing.assert_allclose(got["log_singular"], want, atol=1e-9)
    np.testing.assert_array_equal(got["log_spectral"], got["log_singular"][:, :, 0])


def test_log_scales_hold_far_outside_float64():
    # ||J|| ~ e^1500: the product overflows float64; exact and topk both work in log space
    rng = np.random.default_rng(4)
    T, N = 300, 6
    a = np.exp(5.0) * rng.standard_normal((T, 1, N, N))                 # log ||J(0)|| ~ 1500
    steps = StepJacobians.dense(a)
    got = topk_norms(steps, 2)["log_singular"]
    want = product_norms(steps, topk=2)["log_singular"]
    assert np.abs(want[0, 0, 0]) > 1000
    np.testing.assert_allclose(got[..., 0], want[..., 0], rtol=0, atol=1e-8)
    ok = want[..., 1] - want[..., 0] > -20          # exact's second value is above its rounding floor
    np.testing.assert_allclose(got[..., 1][ok], want[..., 1][ok], rtol=0, atol=1e-6)


def test_anchor_bands_cover_every_gap_once():
    for T in (1, 2, 3, 5, 64, 65, 100, 1024):
        bands = anchor_gaps(T)
        served = sorted(g for _, lo, hi in bands for g in range(lo, hi + 1))
        assert served == list(range(1, T + 1)), T
        assert all(lo <= anchor <= T for anchor, lo, _ in bands)
        assert [b[2] for b in bands] == sorted((b[2] for b in bands), reverse=True)


H, K = 256, 8
SEP = 5.0    # stated: within 1e-3 where log sigma_i - log sigma_{k+9} >= SEP
LOW = 0.4    # stated: before that, low by up to ~0.4


def _elman(kind, backend, seed, T):
    rng = np.random.default_rng(seed)
    cfg = rnnflow.RNNConfig(4, H)
    params = rnnflow.init_params(cfg, seed, np.float64)
    w = rng.standard_normal((H, H))
    params["layers"][0]["weight_hh"] = np.linalg.qr(w)[0] if kind == "orthogonal" else w / np.sqrt(H)
    return rnnflow.build(cfg, params, backend=backend), rng.standard_normal((T, 1, 4))


@pytest.mark.parametrize("backend", ["torch", "jax"])
@pytest.mark.parametrize("kind", ["orthogonal", "gaussian"])
def test_topk_within_stated_error_of_exact_at_h256(kind, backend):
    model, xs = _elman(kind, backend, 11, 128)
    p = K + OVERSAMPLE
    with threadpool_limits(1):
        exact = jacobians_over_time(model, xs, topk=p + 1).log_singular        # (1, T, p + 1)
        res = jacobians_over_time(model, xs, spectral="topk", topk=K)
    err = exact[..., :K] - res.log_singular
    assert err.min() > -1e-9                                                     # lower bounds
    sep = exact[..., :K] - exact[..., p:p + 1]
    if kind == "gaussian":       # orthogonal W_hh: the top values stay clustered (log-sep < 2)
        assert (sep >= SEP).mean() >= 0.1, (sep >= SEP).mean()   # the claim is not vacuous
        assert err[sep >= SEP].max() <= 1e-3, err[sep >= SEP].max()
    assert err.max() <= LOW, (kind, err.max())                                # the stated warm-up
    np.testing.assert_array_equal(res.log_spectral, res.log_singular[..., 0])
    assert np.isnan(res.log_frobenius).all()


@pytest.mark.parametrize("backend", ["torch", "jax"])
def test_topk_lstm_and_gru_match_exact_on_full_basis(backend):
    for cfg in (rnnflow.LSTMConfig(3, 4), rnnflow.GRUConfig(3, 6)):
        params = rnnflow.init_params(cfg, 1, np.float64)
        model = rnnflow.build(cfg, params, backend=backend)
        xs = np.random.default_rng(5).standard_normal((30, 2, 3))
        exact = jacobians_over_time(model, xs, topk=3)
        res = jacobians_over_time(model, xs, spectral="topk", topk=3)
        np.testing.assert_allclose(res.log_singular, exact.log_singular, atol=1e-9)
        assert np.isnan(res.log_frobenius).all()
        if isinstance(cfg, rnnflow.LSTMConfig):
            assert np.isnan(res.log_spectral_h).all()      # the h block is not tracked


def test_topk_errors_name_the_argument():
    steps = StepJacobians.dense(np.ones((3, 1, 4, 4)))
    with pytest.raises(ValueError, match=r"k=5.*\[1, N=4\]"):
        topk_norms(steps, 5)
    with pytest.raises(ValueError, match="oversample=-1"):
        topk_norms(steps, 1, oversample=-1)
    model = rnnflow.build(rnnflow.RNNConfig(2, 4), rnnflow.init_params(rnnflow.RNNConfig(2, 4), 0, np.float64),
                          backend="torch")
    xs = np.zeros((3, 1, 2))
    with pytest.raises(ValueError, match=r"topk=9 is invalid.*N=4"):
        jacobians_over_time(model, xs, spectral="topk", topk=9)
    with pytest.raises(ValueError, match=r"spectral='top'.*'topk'"):
        jacobians_over_time(model, xs, spectral="top")


def test_float32_sweep_stays_close_to_float64():
    rng = np.random.default_rng(6)
    T, B, H = 200, 2, 64
    d, w = rng.uniform(0.3, 1.0, (T, B, H)), 1.2 * rng.standard_normal((H, H)) / np.sqrt(H)
    steps = StepJacobians.elman(d, w)
    a, b = topk_norms(steps, 4)["log_singular"], topk_norms(steps, 4, dtype="float32")["log_singular"]
    np.testing.assert_allclose(b, a, rtol=0, atol=1e-4)
    with pytest.raises(ValueError, match="dtype='float16'"):
        topk_norms(steps, 1, dtype="float16")

"""The analyzers' diagonal fast path (rnnflow.analysis.diagonal) against the dense route
(autodiff step Jacobians and the existing product), against autograd's full Jacobian of the
state sequence, and the Lyapunov spectrum of a diagonal recurrence in closed form."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest
import torch

import rnnflow as rf
from rnnflow.analysis import gradient_reach, jacobians_over_time, lyapunov_spectrum
from rnnflow.analysis.diagonal import pairwise_log_spectral

BACKENDS = ("torch", "jax")


def _configs(N):
    """Models with S = N real state coordinates: the LRU's N/2 complex units, minGRU/minLSTM's N,
    the selective SSM's E = 16 channels x N/16 (built only when asked for: N >= 16)."""
    return {"lru": lambda: rf.LRUConfig(3, 8, N // 2, num_layers=2, r_min=0.5),
            "mingru": lambda: rf.MinGRUConfig(3, 8, N, num_layers=2),
            "minlstm": lambda: rf.MinLSTMConfig(3, 8, N, num_layers=2, norm="rmsnorm"),
            "ssm": lambda: rf.SelectiveSSMConfig(3, 8, N // 16, num_layers=2)}


def _fast_vs_dense(kind, backend, T, N=64, layer=1):
    cfg = _configs(N)[kind]()
    m = rf.build(cfg, rf.init_params(cfg, 4, np.float64), backend=backend)
    x = np.random.default_rng(2).normal(size=(T, 1, 3))
    fast = jacobians_over_time(m, x, layer=layer, topk=3)
    dense = jacobians_over_time(m, x, layer=layer, topk=3, route="dense")
    assert fast.log_spectral.shape == dense.log_spectral.shape == (1, T)
    assert fast.state_sizes == dense.state_sizes == (N,)
    for f in ("log_spectral", "log_frobenius", "log_spectral_h", "log_frobenius_h", "log_singular"):
        np.testing.assert_allclose(getattr(fast, f), getattr(dense, f), rtol=0, atol=1e-9, err_msg=f)
    return fast


@pytest.mark.parametrize("kind", ["lru", "mingru", "minlstm", "ssm"])
@pytest.mark.parametrize("backend", BACKENDS)
def test_fast_path_matches_dense_route_T2000(kind, backend):
    """N = 64, T = 2000, float64, 1e-9 (the dense route takes ~3 s here, so no slow mark)."""
    fast = _fast_vs_dense(kind, backend, 2000)
    assert np.isfinite(fast.log_spectral).all()
    assert fast.log_spectral[0, 0] < -1       # the product has decayed: the sums are really tested


def _brute_force(m, backend, x, layer, t):
    """dh_T/dh_t of layer ``layer`` for example 0 by autodiff of the whole model: the model run
    on xs[t:] from the states h_t, differentiated w.r.t. layer ``layer``'s initial state (the
    layers below do not depend on it, so its inputs stay fixed)."""
    L, S = m.config.num_layers, m.config.state_width
    if backend == "torch":
        with torch.no_grad():
            hid = m(torch.tensor(x)).hidden
        s0 = torch.zeros(L, 1, S, dtype=torch.float64) if t == 0 else hid[:, t - 1, :1].clone()

        def f(h):
            s = torch.cat([s0[:layer], h[None, None], s0[layer + 1:]])
            return m(torch.tensor(x[t:, :1]), s, validate=False).hidden[layer, -1, 0]
        return torch.autograd.functional.jacobian(f, s0[layer, 0]).numpy()
    hid = m(jnp.asarray(x)).hidden
    s0 = jnp.zeros((L, 1, S)) if t == 0 else hid[:, t - 1, :1]

    def g(h):
        s = s0.at[layer, 0].set(h)
        return rf.jax.diagonal_forward(m.params, jnp.asarray(x[t:, :1]), s, m.config).hidden[layer, -1, 0]
    return np.asarray(jax.jacrev(g)(s0[layer, 0]))


@pytest.mark.parametrize("kind", ["lru", "mingru", "minlstm"])
@pytest.mark.parametrize("backend", BACKENDS)
def test_fast_path_matches_autograd_full_jacobian(kind, backend):
    cfg = _configs(6)[kind]()
    m = rf.build(cfg, rf.init_params(cfg, 1, np.float64), backend=backend)
    x = np.random.default_rng(0).normal(size=(12, 2, 3))
    for layer in (0, 1):
        fast = jacobians_over_time(m, x, layer=layer, topk=6)
        for t in (0, 5, 11):
            J = _brute_force(m, backend, x, layer, t)
            sv = np.linalg.svd(J, compute_uv=False)
            np.testing.assert_allclose(fast.log_spectral[0, t], np.log(sv[0]), rtol=0, atol=1e-10)
            np.testing.assert_allclose(fast.log_frobenius[0, t], np.log(np.linalg.norm(J)), rtol=0, atol=1e-10)
            np.testing.assert_allclose(fast.log_singular[0, t], np.log(sv), rtol=0, atol=1e-9)


@pytest.mark.parametrize("backend", BACKENDS)
def test_lyapunov_of_lru_is_log_abs_lambda_sorted(backend):
    cfg = rf.LRUConfig(3, 8, 5, num_layers=2, r_min=0.2)
    params = rf.init_params(cfg, 3, np.float64)
    m = rf.build(cfg, params, backend=backend)
    x = np.random.default_rng(0).normal(size=(40, 2, 3))
    for layer in (0, 1):
        spec = lyapunov_spectrum(m, x, warmup=10, layer=layer)
        want = -np.exp(params["layers"][layer]["nu_log"])          # log|lambda|, each unit twice
        want = np.sort(np.concatenate([want, want]))[::-1]
        np.testing.assert_allclose(spec.exponents, np.broadcast_to(want, (2, 10)), rtol=1e-13, atol=0)
        assert spec.steps == 30 and spec.warmup == 10
    assert lyapunov_spectrum(m, x, warmup=10, k=3).exponents.shape == (2, 3)


@pytest.mark.parametrize("backend", BACKENDS)
def test_lyapunov_of_mingru_is_the_time_average(backend):
    cfg = rf.MinGRUConfig(3, 8, 5, norm="none")
    params = rf.init_params(cfg, 3, np.float64)
    m = rf.build(cfg, params, backend=backend)
    x = np.random.default_rng(0).normal(size=(50, 2, 3))
    u = x @ params["embed"]["weight"].T + params["embed"]["bias"]       # norm="none": u = embed(x)
    k = u @ params["layers"][0]["gate"]["weight"].T + params["layers"][0]["gate"]["bias"]
    log_a = np.log(1 - 1 / (1 + np.exp(-k)))                            # log(1 - z_t)
    want = -np.sort(-log_a[5:].mean(axis=0), axis=-1)
    np.testing.assert_allclose(lyapunov_spectrum(m, x, warmup=5).exponents, want, rtol=1e-12)
    # the QR (Benettin) route on the same steps only approaches it: its random basis
    # aligns with the coordinates at a rate ~ 1/steps (measured 6e-3 here at 45 steps)
    dense = lyapunov_spectrum(m, x, warmup=5, route="dense")
    np.testing.assert_allclose(dense.exponents, want, rtol=0, atol=2e-2)


def test_pairwise_map_matches_the_endpoint_profile():
    cfg = rf.MinLSTMConfig(2, 4, 3)
    m = rf.build(cfg, rf.init_params(cfg, 0, np.float64), backend="torch")
    x = np.random.default_rng(0).normal(size=(20, 2, 2))
    ld = m.log_decay(torch.tensor(x), 0).detach().numpy()
    pm = pairwise_log_spectral(ld)
    prof = jacobians_over_time(m, x)
    np.testing.assert_allclose(pm[:, 20, :20], prof.log_spectral, rtol=0, atol=1e-12)
    np.testing.assert_allclose(np.diagonal(pm, axis1=1, axis2=2), 0.0)       # dh_s/dh_s = I
    sub = jacobians_over_time(m, x[:11])                                      # endpoint s = 11
    np.testing.assert_allclose(pm[:, 11, :11], sub.log_spectral, rtol=0, atol=1e-12)
    assert np.isnan(pm[:, 3, 4:]).all()


@pytest.mark.parametrize("backend", BACKENDS)
def test_gradient_reach_accepts_diagonal_models(backend):
    cfg = rf.LRUConfig(3, 6, 4, num_layers=2, output_size=2)
    m = rf.build(cfg, rf.init_params(cfg, 0, np.float64), backend=backend)
    x = np.random.default_rng(0).normal(size=(15, 2, 3))
    reach = gradient_reach(m, x)
    tm = rf.build(cfg, rf.init_params(cfg, 0, np.float64), backend="torch")
    for b in range(2):
        J = torch.autograd.functional.jacobian(lambda xx: tm(xx, validate=False).y[-1, 0],
                                               torch.tensor(x[:, b:b + 1]))     # (O, T, 1, I)
        want = np.log(np.linalg.norm(J.numpy().reshape(2, 15, 3), axis=(0, 2)))
        np.testing.assert_allclose(reach.log_norm[b], want, rtol=1e-10)


def test_route_errors():
    rnn = rf.build(rf.RNNConfig(2, 3), backend="torch")
    x = np.zeros((4, 1, 2))
    with pytest.raises(ValueError, match="route='diagonal' needs a diagonal model"):
        jacobians_over_time(rnn, x, route="diagonal")
    with pytest.raises(ValueError, match="route='fast' is invalid"):
        lyapunov_spectrum(rnn, x, warmup=0, route="fast")
    lru = rf.build(rf.LRUConfig(2, 4, 3), backend="torch")
    with pytest.raises(ValueError, match=r"topk=7 is invalid: expected an integer in \[0, S=6\]"):
        jacobians_over_time(lru, x, topk=7)
    with pytest.raises(ValueError, match="layer=1 is invalid"):
        jacobians_over_time(lru, x, layer=1)


def test_configs_analyse_through_backend():
    cfg = rf.MinGRUConfig(2, 4, 3)
    params = rf.init_params(cfg, 0, np.float64)
    x = np.random.default_rng(0).normal(size=(9, 1, 2))
    a = jacobians_over_time(cfg, x, params=params, backend="jax")
    b = jacobians_over_time(rf.build(cfg, params, backend="torch"), x)
    np.testing.assert_allclose(a.log_spectral, b.log_spectral, rtol=1e-12)
    assert a.cell == "mingru" and a.backend == "jax"

"""spectral="power" against "exact" over every gap 1..T: the accuracy the
jacobians_over_time docstring states (tanh RNN, H=128, power_iters=2), orthogonal and
Gaussian W_hh, on seeds other than the ones it was measured on."""
from __future__ import annotations

import numpy as np
import pytest

try:   # not a dependency of rnnflow: without it the test only runs slower on a busy machine
    from threadpoolctl import threadpool_limits
except ImportError:  # pragma: no cover
    import contextlib

    def threadpool_limits(_n):
        return contextlib.nullcontext()

import rnnflow
from rnnflow.analysis import jacobians_over_time

H, T = 128, 192
# (lowest gap of the band, stated max of log sigma_1(exact) - log sigma_1(power))
STATED = {"orthogonal": [(1, 0.15), (16, 0.06), (32, 7e-3), (64, 5e-4)],
          "gaussian": [(1, 0.1), (8, 0.03), (16, 1e-4)]}


@pytest.mark.parametrize("kind", sorted(STATED))
@pytest.mark.parametrize("seed", [7, 8])
def test_power_is_a_lower_bound_within_the_stated_error(kind, seed):
    rng = np.random.default_rng(seed)
    cfg = rnnflow.RNNConfig(4, H)
    params = rnnflow.init_params(cfg, seed, np.float64)
    w = rng.standard_normal((H, H))
    params["layers"][0]["weight_hh"] = np.linalg.qr(w)[0] if kind == "orthogonal" else w / np.sqrt(H)
    model = rnnflow.build(cfg, params, backend="torch")
    xs = rng.standard_normal((T, 2, 4))
    with threadpool_limits(1):       # one BLAS thread: a busy shared machine oversubscribes two
        exact = jacobians_over_time(model, xs).log_spectral
        low = exact - jacobians_over_time(model, xs, spectral="power").log_spectral
    assert low.min() > -1e-10                                  # a lower bound
    gap = T - np.arange(T)
    bands = STATED[kind]
    for (g0, bound), (g1, _) in zip(bands, bands[1:] + [(T + 1, None)]):
        sel = (gap >= g0) & (gap < g1)
        assert low[:, sel].max() <= bound, (kind, g0, low[:, sel].max())

"""The curse of memory (Zucchet & Orvieto 2024): parameter sensitivity of a linear recurrence near ``|lambda| = 1``.

For ``h_t = lambda h_{t-1} + a(lambda) x_t`` with white, unit-variance input ``x`` and the
stationary state, the state's gradient ``dh_T/dh_t = lambda^(T-t)`` never explodes, yet the
sensitivity of the state to ``lambda`` itself does. Four cases, ``r = lambda^2``

::

    case            input       parameter                  E h^2          E (dh/dtheta)^2                         rms exponent
    plain           x_t         lambda                     1 / (1 - r)    (1 + r) / (1 - r)^3                     -3/2
    normalized      a x_t       lambda                     1              1 / (1 - r)^2                           -1
    exp             x_t         nu, lambda = e^(-e^nu)     1 / (1 - r)    (lambda ln lambda)^2 (1 + r) / (1 - r)^3   -1/2
    exp_normalized  a x_t       nu, lambda = e^(-e^nu)     1              (lambda ln lambda)^2 / (1 - r)^2           0

with ``a = sqrt(1 - r)``. ``theta`` is ``lambda`` in the first two cases and ``nu`` in the last two; the exponent is that of
the root-mean-square sensitivity ``sqrt(E (dh/dtheta)^2)`` as ``1 - lambda -> 0``.

Derivation. Unrolled, ``h_t = a sum_{k>=0} lambda^k x_{t-k}``, so with ``E x_i x_j = delta_ij``::

    E h^2 = a^2 sum_k r^k = a^2 / (1 - r)

Write ``u_t = sum_k lambda^k x_{t-k}`` (the plain state) and ``s_t = du_t/dlambda =
sum_k k lambda^(k-1) x_{t-k}``, which obeys the forward sensitivity recursion
``s_t = u_{t-1} + lambda s_{t-1}``. The three sums needed are::

    S0 = E u^2  = sum_k r^k                 = 1 / (1 - r)
    S1 = E u s  = sum_k k lambda^(2k-1)     = lambda / (1 - r)^2
    S2 = E s^2  = sum_k k^2 lambda^(2k-2)   = (1 + r) / (1 - r)^3

(from ``sum_k k r^k = r / (1 - r)^2`` and ``sum_k k^2 r^k = r (1 + r) / (1 - r)^3``). Plain:
``E (dh/dlambda)^2 = S2``. Normalized, ``h = a u`` with ``a = sqrt(1 - r)``,
``a' = -lambda / a``: ``dh/dlambda = a' u + a s``, so::

    E (dh/dlambda)^2 = a'^2 S0 + 2 a a' S1 + a^2 S2
                     = [r - 2 r + (1 + r)] / (1 - r)^2 = 1 / (1 - r)^2

Exponential parametrisation ``lambda = exp(-exp(nu))``: ``dlambda/dnu = -exp(nu) lambda =
lambda ln lambda``, so each ``E (dh/dnu)^2`` is ``(lambda ln lambda)^2`` times the ``lambda``
case. As ``lambda -> 1``, with ``e = 1 - lambda``: ``1 - r ~ 2e``, ``lambda ln lambda ~ -e``, giving
``S2 ~ 1/(4 e^3)``, ``1/(1-r)^2 ~ 1/(4 e^2)``, ``e^2 S2 ~ 1/(4e)``, ``e^2/(1-r)^2 -> 1/4``: the
root-mean-square exponents ``-3/2, -1, -1/2, 0``.

The Monte-Carlo twin (:func:`curse_of_memory`) simulates ``u`` and ``s`` (the recursion above,
run by ``scipy.signal.lfilter``) on long white-noise sequences from ``h = s = 0``, discards a
burn-in of ``burn / (1 - lambda)`` steps, and averages the squares over time and sequences;
all four cases come from the same ``(u, s)``.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from ..validation import check_count, check_generator, check_real, fail

CASES = ("plain", "normalized", "exp", "exp_normalized")
PREDICTED_EXPONENT = {"plain": -1.5, "normalized": -1.0, "exp": -0.5, "exp_normalized": 0.0}
PARAMETER = {"plain": "lambda", "normalized": "lambda", "exp": "nu", "exp_normalized": "nu"}


def _lam(owner: str, one_minus_lambda) -> np.ndarray:
    e = np.asarray(one_minus_lambda, dtype=np.float64)
    if e.ndim > 1 or e.size == 0 or not np.all(np.isfinite(e)) or np.any(e <= 0) or np.any(e >= 1):
        fail(owner, "one_minus_lambda", one_minus_lambda, "a number or 1-d array of numbers in (0, 1)")
    return 1.0 - e


def state_variance(one_minus_lambda, case: str = "plain") -> np.ndarray:
    """Closed form ``E h^2``: ``1 / (1 - lambda^2)``, or 1 with the input normalisation."""
    if case not in CASES:
        fail("state_variance", "case", case, f"one of {CASES}")
    lam = _lam("state_variance", one_minus_lambda)
    return np.ones_like(lam) if case.endswith("normalized") else 1.0 / (1.0 - lam * lam)


def sensitivity_mean_square(one_minus_lambda, case: str = "plain") -> np.ndarray:
    """Closed form ``E (dh/dtheta)^2`` of ``case`` (module docstring's table)."""
    if case not in CASES:
        fail("sensitivity_mean_square", "case", case, f"one of {CASES}")
    lam = _lam("sensitivity_mean_square", one_minus_lambda)
    r = lam * lam
    ms = 1.0 / (1.0 - r) ** 2 if case.endswith("normalized") else (1.0 + r) / (1.0 - r) ** 3
    if case.startswith("exp"):
        ms = ms * (lam * np.log(lam)) ** 2
    return ms


def fit_exponent(one_minus_lambda, values) -> float:
    """Least-squares slope of ``log(values)`` against ``log(1 - lambda)``."""
    e, v = np.asarray(one_minus_lambda, float), np.asarray(values, float)
    if e.shape != v.shape or e.size < 2 or np.any(v <= 0):
        raise ValueError(f"fit_exponent needs >= 2 matching positive values, got shapes {e.shape}, {v.shape}")
    return float(np.polyfit(np.log(e), np.log(v), 1)[0])


@dataclass(frozen=True)
class CurseOfMemory:
    """Monte-Carlo and closed-form sensitivities at ``K`` values of ``1 - lambda``.

    Attributes:
      one_minus_lambda: ``(K,)``.
      state_ms: ``{case: (K,)}`` Monte-Carlo ``E h^2``; ``state_ms_se`` its standard error.
      sens_ms: ``{case: (K,)}`` Monte-Carlo ``E (dh/dtheta)^2``; ``sens_ms_se`` its standard error.
      samples: ``(K,)`` squared terms averaged per value (sequences x kept steps).
    """

    one_minus_lambda: np.ndarray
    state_ms: dict
    state_ms_se: dict
    sens_ms: dict
    sens_ms_se: dict
    samples: np.ndarray

    def predicted(self, case: str) -> np.ndarray:
        """Closed-form ``E (dh/dtheta)^2`` at :attr:`one_minus_lambda`."""
        return sensitivity_mean_square(self.one_minus_lambda, case)

    def exponent(self, case: str, *, measured: bool = True) -> float:
        """Fitted log-log exponent of the root-mean-square sensitivity (Monte-Carlo, or the closed form)."""
        ms = self.sens_ms[case] if measured else self.predicted(case)
        return fit_exponent(self.one_minus_lambda, np.sqrt(ms))


def _block_means(values: np.ndarray, blocks: int) -> np.ndarray:
    """``values`` ``(B, T)`` averaged over ``blocks`` equal time blocks per sequence: ``(B * blocks,)``."""
    B, T = values.shape
    return values[:, : T - T % blocks].reshape(B, blocks, -1).mean(axis=2).ravel()


def _mean_se(means: list) -> tuple[float, float]:
    """Mean and standard error over block means (blocks far longer than the correlation time are
    nearly independent)."""
    m = np.concatenate(means)
    return float(m.mean()), float(m.std(ddof=1) / math.sqrt(m.size))


def curse_of_memory(one_minus_lambda, *, samples: int = 2_000_000, keep: float = 40.0, burn: float = 10.0,
                    seed=0) -> CurseOfMemory:
    """Monte-Carlo ``E h^2`` and ``E (dh/dtheta)^2`` for the four cases (module docstring).

    Args:
      one_minus_lambda: values of ``1 - lambda`` in (0, 1).
      samples: squared terms averaged per value (split into sequences of ``burn + keep`` time
               constants ``1 / (1 - lambda)``; at least two sequences).
      keep, burn: time constants kept per sequence, and discarded first (the state starts at 0;
               the bias left is ``~ lambda^(2 burn / (1 - lambda)) ~ e^(-2 burn)``).
      seed: an int or a ``numpy.random.Generator``.

    The standard errors come from blocks of 10 time constants (``keep // 10`` per sequence).
    """
    from scipy.signal import lfilter
    lam = np.atleast_1d(_lam("curse_of_memory", one_minus_lambda))
    samples = check_count("curse_of_memory", "samples", samples, 1000)
    check_real("curse_of_memory", "keep", keep, lo=10.0)
    check_real("curse_of_memory", "burn", burn, lo=1.0)
    rng = check_generator("curse_of_memory", "seed", seed)
    out = [{c: np.empty(lam.size) for c in CASES} for _ in range(4)]   # state, its se, sens, its se
    n_used = np.empty(lam.size, dtype=np.int64)
    blocks = max(2, int(keep // 10))
    for i, l in enumerate(lam):
        tau = 1.0 / (1.0 - l)
        n_burn, n_keep = int(math.ceil(burn * tau)), int(math.ceil(keep * tau))
        B = max(2, samples // n_keep)
        a, da, dnu = math.sqrt(1 - l * l), -l / math.sqrt(1 - l * l), l * math.log(l)   # a, da/dl, dl/dnu
        acc = {c: ([], []) for c in CASES}
        chunk = max(1, 2_000_000 // (n_burn + n_keep))                 # sequences per lfilter call
        for b0 in range(0, B, chunk):
            x = rng.standard_normal((min(chunk, B - b0), n_burn + n_keep))   # (B, T)
            u = lfilter([1.0], [1.0, -l], x, axis=1)                   # u_t = l u_{t-1} + x_t
            s = lfilter([0.0, 1.0], [1.0, -l], u, axis=1)              # s_t = u_{t-1} + l s_{t-1}
            u, s = u[:, n_burn:], s[:, n_burn:]
            for c in CASES:
                h, g = (a * u, da * u + a * s) if c.endswith("normalized") else (u, s)
                if c.startswith("exp"):
                    g = dnu * g
                acc[c][0].append(_block_means(h * h, blocks))
                acc[c][1].append(_block_means(g * g, blocks))
        for c in CASES:
            out[0][c][i], out[1][c][i] = _mean_se(acc[c][0])
            out[2][c][i], out[3][c][i] = _mean_se(acc[c][1])
        n_used[i] = B * n_keep
    return CurseOfMemory(1.0 - lam, *out, n_used)

"""The transition to chaos of random recurrent networks, and what a Lyapunov spectrum says about it.

Autonomous random network (Sompolinsky, Crisanti & Sommers 1988; discrete time as in Molgedey,
Schuchhardt & Schuster 1992; Engelken, Wolf & Abbott 2020)::

    h_{t+1} = phi(W h_t),   W_ij ~ N(0, g^2 / N)

Mean field (the same maps as a deep MLP's, :mod:`rnnflow.analysis.mean_field`, with
``sigma_w = g`` and ``sigma_b = 0``): the pre-activations ``a = W h`` are Gaussian with variance
``q* = g^2 ∫Dz phi(sqrt(q*) z)^2`` and a tangent vector grows by ``chi = g^2 ∫Dz phi'(sqrt(q*) z)^2``
in squared norm per step, so ``lambda_max = (1/2) ln chi`` (:func:`mean_field_max_exponent`). For
tanh and ``g < 1``, ``q* = 0`` (the origin is stable) and ``chi = g^2``: ``lambda_max = ln g``;
for ``g > 1``, ``q* > 0`` and ``lambda_max > 0``: chaos sets in at ``g = 1``.

From a spectrum ``lambda_1 >= ... >= lambda_N``:

* :func:`kaplan_yorke_dimension` ``D_KY = j + (lambda_1 + ... + lambda_j) / |lambda_{j+1}|``;
* :func:`entropy_rate` ``H = sum_{lambda_i > 0} lambda_i`` (Pesin: the Kolmogorov-Sinai entropy
  rate, nats per step, for an SRB measure; an upper bound in general);
* :func:`largest_exponent_direct`: ``lambda_1`` again, by two trajectories ``eps`` apart
  renormalised every step (no Jacobians: a check of the QR method), with a block-mean error bar.
"""
from __future__ import annotations

import math

import numpy as np

from ..activations import dphi
from ..validation import check_count, check_real, fail
from .backends import prepare
from .mean_field import mean_field
from .results import DirectExponent
from .trace import is_recurrent_model, step_function

EPS_RANGE = (1e-12, 1e-4)   # eps of the direct method: above float64 rounding, below nonlinearity


def _spectra(exponents, owner: str) -> np.ndarray:
    """``(B, k)`` float64 sorted descending from a ``(k,)`` or ``(B, k)`` array of finite exponents."""
    e = np.asarray(exponents, dtype=np.float64)
    if e.ndim not in (1, 2) or e.shape[-1] == 0 or not np.isfinite(e).all():
        fail(owner, "exponents", e if e.size <= 8 else f"<array {e.shape}>",
             "a finite (k,) or (B, k) array of Lyapunov exponents, k >= 1")
    return -np.sort(-np.atleast_2d(e), axis=1)


def kaplan_yorke_dimension(exponents) -> np.ndarray | float:
    """``D_KY = j + (lambda_1 + ... + lambda_j) / |lambda_{j+1}|``, ``j`` the largest index with a
    cumulative sum ``>= 0`` (Kaplan & Yorke 1979; the exponents are sorted here).

    exponents: ``(k,)`` or ``(B, k)``. Edge cases: ``lambda_1 < 0`` (a stable fixed point or
    cycle) gives 0; a cumulative sum that never turns negative gives ``k`` (the full spectrum:
    ``N``; with only the ``k`` largest exponents, ``k`` is then a lower bound).
    Returns a float for ``(k,)``, ``(B,)`` for ``(B, k)``.
    """
    e = _spectra(exponents, "kaplan_yorke_dimension")
    c = np.cumsum(e, axis=1)
    j = (c >= 0).sum(axis=1)                           # the partial sums are concave: a prefix is >= 0
    k = e.shape[1]
    out = np.empty(e.shape[0])
    for b in range(e.shape[0]):
        jb = int(j[b])
        out[b] = 0.0 if jb == 0 else float(k) if jb == k else jb + c[b, jb - 1] / abs(e[b, jb])
    return float(out[0]) if np.ndim(exponents) == 1 else out


def entropy_rate(exponents) -> np.ndarray | float:
    """``sum_{lambda_i > 0} lambda_i`` (nats per step; 0 without a positive exponent).
    exponents: ``(k,)`` -> float, ``(B, k)`` -> ``(B,)``."""
    e = _spectra(exponents, "entropy_rate")
    out = np.where(e > 0, e, 0.0).sum(axis=1)
    return float(out[0]) if np.ndim(exponents) == 1 else out


def mean_field_max_exponent(g: float, activation: str = "tanh") -> float:
    """``(1/2) ln chi``, ``chi = g^2 ∫Dz phi'(sqrt(q*) z)^2`` at the fixed point ``q*`` of
    ``q = g^2 ∫Dz phi(sqrt(q) z)^2`` (:func:`rnnflow.analysis.mean_field.mean_field` with
    ``sigma_w = g``, ``sigma_b = 0``): the largest exponent of ``h' = phi(W h)``,
    ``W ~ N(0, g^2/N)``, as ``N -> infinity``. Where ``q* = 0`` (tanh, ``g <= 1``) the integral is
    ``phi'(0)^2`` exactly, so tanh gives ``ln g``."""
    check_real("mean_field_max_exponent", "g", g, lo=0.0, lo_open=True)
    m = mean_field(activation, float(g), 0.0)
    if m.q_star == 0.0:
        return float(math.log(g) + math.log(abs(float(dphi(m.activation, np.zeros(1))[0]))))
    return 0.5 * math.log(m.chi_1)


def random_tanh_weight(N: int, g: float, seed: int = 0) -> np.ndarray:
    """``W`` ``(N, N)`` float64 with entries ``N(0, g^2 / N)``."""
    N = check_count("random_tanh_weight", "N", N, 2)
    check_real("random_tanh_weight", "g", g, lo=0.0, lo_open=True)
    return np.random.default_rng(seed).standard_normal((N, N)) * (g / math.sqrt(N))


def block_stderr(x, blocks: int) -> np.ndarray:
    """The standard error of the mean of ``x`` ``(S, ...)`` over its first axis from ``blocks``
    consecutive block means (``std(ddof=1) / sqrt(blocks)``; the first ``S mod blocks`` samples
    are left out of the blocks): correlated samples are fine if a block outlasts their correlation."""
    x = np.asarray(x, dtype=np.float64)
    blocks = check_count("block_stderr", "blocks", blocks, 2)
    if x.shape[0] < blocks:
        fail("block_stderr", "blocks", blocks, f"an integer in [2, S={x.shape[0]}] (the samples)")
    n = x.shape[0] // blocks
    means = x[x.shape[0] - n * blocks:].reshape((blocks, n) + x.shape[1:]).mean(axis=1)
    return means.std(axis=0, ddof=1) / math.sqrt(blocks)


def _is_numpy_map(model) -> bool:
    """A plain callable (not an rnnflow model, nor a torch / flax module to adapt)."""
    return callable(model) and not is_recurrent_model(model) and \
        not type(model).__module__.startswith(("torch", "flax", "jax", "rnnflow"))


def _model_map(model, h0, params, backend):
    """``(f, h0)``: one autonomous step ``(2B, N) -> (2B, N)`` float64 NumPy of layer 0 of an
    rnnflow recurrent model (``x = 0``; an LSTM's state ``(h, c)`` concatenated), and its start."""
    model, bk, _, h0 = prepare(model, None, h0, params=params, backend=backend, sequence=False)
    if not is_recurrent_model(model):
        raise TypeError(f"model must be an rnnflow recurrent model, a recurrent config (with params and backend) "
                        f"or a NumPy map f(h) -> h', got {type(model).__name__}")
    ops, lstm = bk.ops, model.config.cell == "lstm"
    if "float64" not in str(model.dtype):
        raise ValueError("largest_exponent_direct needs a float64 model: eps-sized differences are below float32 "
                         "resolution (build it from float64 params)")
    if h0 is None:
        raise ValueError("h0 is required: the zero state is a fixed point of a bias-free network, and the "
                         "exponent there is not that of its attractor")
    h0 = np.concatenate([ops.numpy(ops.asarray(p))[0] for p in h0], axis=-1) if lstm \
        else ops.numpy(ops.asarray(h0))[0]                                    # layer 0: (B, N)
    step, p = step_function(model, 0)
    H, I = model.config.hidden_size, model.config.input_size

    def f(z):
        x = ops.asarray(np.zeros((z.shape[0], I)), model.dtype, ops.device_of(model))
        s = (ops.asarray(z[:, :H], model.dtype, ops.device_of(model)), ops.asarray(z[:, H:], model.dtype, ops.device_of(model))) if lstm \
            else ops.asarray(z, model.dtype, ops.device_of(model))
        with ops.no_grad():
            out = step(p, s, x)
        return np.concatenate([ops.numpy(o) for o in out], axis=-1) if lstm else ops.numpy(out)
    return f, h0


def largest_exponent_direct(model, h0=None, *, steps: int, warmup: int = 100, eps: float = 1e-8,
                            blocks: int = 20, seed: int = 0, params=None,
                            backend: str | None = None) -> DirectExponent:
    """``lambda_1`` by two nearby trajectories, renormalised every step (Benettin's first method).

    ``h_t = f(h_{t-1})``, ``y_t = f(h_{t-1} + eps u_{t-1})``, ``d_t = y_t - h_t``:
    ``lambda_1 = (1/S) sum_{t > warmup} log(|d_t| / eps)``, ``u_t = d_t / |d_t|``
    (``u_0`` random). Both trajectories advance as one batch of ``2B``.

    * ``model``: an rnnflow recurrent model or config (``params``, ``backend``), run autonomously
      (``x_t = 0``, layer 0, float64) from ``h0`` as in :func:`lyapunov_spectrum`
      (``(L, B, H)``; an LSTM pair), or a NumPy map ``f(h) -> h'`` on ``(B, N)`` float64
      with ``h0`` ``(B, N)``.
    * ``eps``: the separation, in ``[1e-12, 1e-4]``: large enough that float64 rounding of ``d``
      (``~1e-16 / eps`` relative) is negligible, small enough to stay linear.
    * ``blocks``: consecutive blocks for the standard error (:func:`block_stderr`).
    """
    owner = "largest_exponent_direct"
    steps = check_count(owner, "steps", steps, 2)
    warmup = check_count(owner, "warmup", warmup, 0)
    check_real(owner, "eps", eps, lo=EPS_RANGE[0], hi=EPS_RANGE[1])
    blocks = check_count(owner, "blocks", blocks, 2)
    if blocks > steps:
        fail(owner, "blocks", blocks, f"an integer in [2, steps={steps}]")
    if _is_numpy_map(model):
        f = model
        if h0 is None:
            raise ValueError("h0 is required for a NumPy map f(h) -> h': a (B, N) float64 array")
        h = np.asarray(h0, dtype=np.float64)
    else:
        f, h = _model_map(model, h0, params, backend)
    if h.ndim != 2 or 0 in h.shape:
        raise ValueError(f"h0 has shape {h.shape}: expected (B, N)")
    B = h.shape[0]
    u = np.random.default_rng(seed).standard_normal(h.shape)
    y = h + eps * u / np.linalg.norm(u, axis=1, keepdims=True)
    local = np.empty((steps, B))
    for t in range(warmup + steps):
        both = np.asarray(f(np.concatenate([h, y])), dtype=np.float64)        # (2B, N)
        if both.shape != (2 * B, h.shape[1]):
            raise ValueError(f"the map returned shape {both.shape}: expected {(2 * B, h.shape[1])}")
        h, d = both[:B], both[B:] - both[:B]
        n = np.linalg.norm(d, axis=1)
        if not (np.isfinite(n).all() and np.isfinite(h).all() and (n > 0).all()):
            raise ValueError(f"the separation became {n.min():g} (zero or non-finite) at step {t + 1}: a collapse "
                             "to a fixed point below eps, or a diverging state")
        if t >= warmup:
            local[t - warmup] = np.log(n / eps)
        y = h + (eps / n)[:, None] * d
    return DirectExponent(exponent=local.mean(axis=0), stderr=block_stderr(local, blocks), local=local,
                          steps=steps, warmup=warmup, eps=float(eps), blocks=blocks)

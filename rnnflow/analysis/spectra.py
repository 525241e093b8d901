"""Full singular-value spectra of end-to-end Jacobians, in log space, and their closed forms.

Dynamical isometry (Saxe et al. 2014; Pennington, Schoenholz & Ganguli 2017, "Resurrecting the
sigmoid") asks for every singular value of the input-output Jacobian near 1, not only its norm.
Two analyzers return the whole spectrum per example:

* :func:`singular_spectrum_through_depth`: ``dx_L/dx_0`` of a stack (an rnnflow MLP or
  Transformer, or a list of layers: whatever :func:`rnnflow.analysis.gradient_through_depth`
  takes), the product of the per-layer Jacobians ``dx_{l+1}/dx_l``;
* :func:`singular_spectrum_over_time`: ``dh_T/dh_t`` of a recurrent layer for one ``t``, the
  product of the step Jacobians ``A_{t+1} .. A_T`` (closed forms for Elman/LSTM/GRU).

How: the product is accumulated in float64 with each example rescaled by a power of two after
every factor (exact: only the exponent changes; the scale is kept as a log), then one SVD, so
``log sigma_i`` is finite where ``sigma_i`` itself would over- or underflow. A float64 product
of L factors of size N carries an absolute error of about ``e = L N eps sigma_1``, so ``log sigma_i``
is good to about ``e / sigma_i``: ``resolved`` is True where that is below :data:`LOG_TOLERANCE`
(1e-3), and a value with ``resolved`` False is only an estimate (below ``e`` it is noise: read it
as "at most e"). Products of many random factors are that ill-conditioned quickly: the smallest
of 5 singular values of 60 Gaussian 5 x 5 factors sits ~e^-40 below the largest.

Closed forms (tests/test_spectra.py): a deep linear network with orthogonal weights has every
singular value exactly 1; with Gaussian weights ``N(0, 1/N)`` the squared singular values of an
L-layer product have, as N -> infinity, the Fuss-Catalan moments (:func:`fuss_catalan_moment`).
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

RESOLUTION = float(np.finfo(np.float64).eps)   # per factor and unit of N (see the module docstring)
LOG_TOLERANCE = 1e-3                           # |error of log sigma_i| a resolved value stays below


@dataclass(frozen=True)
class SingularSpectrum:
    """Singular values of one end-to-end Jacobian per example.

    log_singular: ``(B, n)`` ``log sigma_i`` descending, ``n = min(rows, cols)``
    resolved:     ``(B, n)`` bool, True where ``log sigma_i`` is good to :data:`LOG_TOLERANCE`
    factors:      how many Jacobians were multiplied (layers, or steps ``T - t``)
    what:         ``"depth"`` or ``"time"``
    """

    log_singular: np.ndarray
    resolved: np.ndarray
    factors: int
    what: str

    def squared_moments(self, k: int) -> np.ndarray:
        """``(1/n) sum_i sigma_i^(2k)`` per example, ``(B,)`` (all values, resolved or not)."""
        return np.exp(2 * k * self.log_singular).mean(axis=1)


def fuss_catalan_moment(L: int, k: int) -> float:
    """The k-th moment of the squared singular values of a product of L Gaussian matrices with
    ``N(0, 1/N)`` entries as N -> infinity: ``binom((L+1)k, k) / (Lk + 1)`` (the Fuss-Catalan
    numbers; L=1: Catalan numbers, the Marchenko-Pastur moments). Mean 1, second moment L+1."""
    for name, v in (("L", L), ("k", k)):
        if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < 1:
            raise ValueError(f"{name}={v!r} is invalid: expected an integer >= 1")
    return math.comb((L + 1) * k, k) / (L * k + 1)


def product_log_singular(factors, what: str) -> SingularSpectrum:
    """The spectrum of ``F_n ... F_2 F_1`` for ``factors`` an iterable of ``(B, out, in)`` float
    arrays in the order they act (``F_1`` first), accumulated with power-of-two rescaling."""
    M, log_scale, n = None, None, 0
    for F in factors:
        F = np.asarray(F, dtype=np.float64)
        if F.ndim != 3:
            raise ValueError(f"factor {n} has shape {F.shape}: expected (B, out, in)")
        if M is not None and F.shape[2] != M.shape[1]:
            raise ValueError(f"factor {n} has shape {F.shape}: its inputs must match the previous "
                             f"output size {M.shape[1]}")
        M = F.copy() if M is None else F @ M
        if not np.isfinite(M).all():
            raise ValueError(f"the product is not finite after factor {n} (a Jacobian with NaN/Inf)")
        peak = np.abs(M).max(axis=(1, 2))
        _, e = np.frexp(np.where(peak > 0, peak, 1.0))      # peak = m 2^e, m in [0.5, 1)
        M = np.ldexp(M, -e[:, None, None])
        log_scale = e * math.log(2) + (0.0 if log_scale is None else log_scale)
        n += 1
    if M is None:
        raise ValueError("no factors: expected at least one Jacobian")
    s = np.linalg.svd(M, compute_uv=False)                    # (B, n) descending
    with np.errstate(divide="ignore"):
        log_s = np.log(s) + log_scale[:, None]
    error = RESOLUTION * n * max(M.shape[1:]) * s[:, :1]      # absolute error of the product's sigmas
    return SingularSpectrum(log_s, s * LOG_TOLERANCE > error, n, what)


def singular_spectrum_through_depth(model, x, *, params=None, backend: str | None = None,
                                    batch_axis: int | None = None, device=None) -> SingularSpectrum:
    """All singular values of ``dx_L/dx_0`` per example, ``log`` and descending: ``x_0`` and the
    layers as :func:`rnnflow.analysis.gradient_through_depth` defines them (an MLP: from its input
    through every hidden layer; a Transformer: the residual stream, per token's own Jacobian
    ``(T D, T D)``). The per-layer Jacobians come from the backend's autodiff (one per example),
    so this is for moderate widths (a few hundred). ``device``: as in
    :func:`rnnflow.analysis.gradient_through_depth`."""
    from .backends import prepare_stack
    from .depth import OwnStack, depth_stack
    model, bk = prepare_stack(model, x, params=params, backend=backend, batch_axis=batch_axis, device=device)
    if isinstance(model, OwnStack):
        dev = bk.ops.device(device)
        x0, layers, axis = x if dev is None else bk.ops.asarray(x, None, dev), list(model.layers), model.batch_axis
    else:
        x0, layers, _, axis = depth_stack(bk, model, x)
    return product_log_singular(bk.autodiff.layer_jacobians(layers, x0, batch_axis=axis), "depth")


def singular_spectrum_over_time(model, xs, t: int = 0, h0=None, *, params=None, layer: int = 0,
                                backend: str | None = None, device=None) -> SingularSpectrum:
    """All singular values of ``dh_T/dh_t = A_T ... A_{t+1}`` per example for one ``t`` in
    ``0..T-1`` (``xs``: ``(T, B, I)``; the model and state as
    :func:`rnnflow.analysis.jacobians_over_time` takes them, ``device`` too; an LSTM's state is
    ``(h, c)``)."""
    from .backends import prepare
    from .jacobians import run_trace, trace_step_jacobians
    model, bk, xs, h0 = prepare(model, xs, h0, params=params, backend=backend, device=device)
    tr = run_trace(bk, model, xs, h0, layer=layer)
    if isinstance(t, bool) or not isinstance(t, (int, np.integer)) or not 0 <= t < tr.T:
        raise ValueError(f"t={t!r} is invalid: expected an integer in [0, T-1={tr.T - 1}]")
    steps = trace_step_jacobians(bk, model, tr, layer=layer)
    chunk = 64

    def factors():
        for lo in range(int(t), tr.T, chunk):
            yield from steps.block(lo, min(lo + chunk, tr.T))   # (n, B, N, N): each step in turn
    return product_log_singular(factors(), "time")


def fuss_catalan_density(L: int, points: int = 2001):
    """The N -> infinity density of the squared singular values ``x = sigma^2`` of a product of L
    Gaussian ``N(0, 1/N)`` matrices, on its support ``(0, (L+1)^(L+1) / L^L]``, from the
    parametrisation of Haagerup & Moller (2012) / Penson & Zyczkowski (2011, PRE 83, 061118),
    for ``phi`` in ``(0, pi/(L+1))``::

        x(phi)   = sin((L+1) phi)^(L+1) / (sin(phi) sin(L phi)^L)
        rho(phi) = sin(phi)^2 sin(L phi)^(L-1) / (pi sin((L+1) phi)^L)

    (L = 1: Marchenko-Pastur, ``sqrt(x (4 - x)) / (2 pi x)``). Returns ``(x, rho)`` with x
    increasing; its moments are :func:`fuss_catalan_moment` (tests/test_spectra.py)."""
    fuss_catalan_moment(L, 1)     # validates L
    phi = np.linspace(0, math.pi / (L + 1), points + 2)[1:-1]
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        x = np.sin((L + 1) * phi) ** (L + 1) / (np.sin(phi) * np.sin(L * phi) ** L)
        rho = np.sin(phi) ** 2 * np.sin(L * phi) ** (L - 1) / (math.pi * np.sin((L + 1) * phi) ** L)
    order = np.argsort(x)
    return x[order], rho[order]

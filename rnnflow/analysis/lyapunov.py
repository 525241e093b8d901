"""Lyapunov spectrum from step Jacobians by the QR (Benettin) method.

Engelken, Wolf & Abbott (2020), "Lyapunov spectra of chaotic recurrent neural networks";
Vogt et al. (2022), "On Lyapunov exponents for RNNs". An orthonormal tangent basis
``Q_0`` (``N x k``) is pushed through the step Jacobians and re-orthonormalised::

    Q_t R_t = A_t Q_{t-1}          lambda_i = (1 / S) sum_{t > warmup} log |(R_t)_ii|

with ``S = T - warmup`` steps. ``lambda_1`` is the growth rate of a generic tangent
vector, i.e. the slope of ``log ||dh_T/dh_t||`` against ``T - t`` on long runs.
"""
from __future__ import annotations

import numpy as np

from . import diagonal
from .threads import analysis_threads, check_threads, choose_threads, state_size
from .backends import prepare
from .jacobians import run_trace, trace_step_jacobians
from .results import LyapunovSpectrum
from .spectral import random_basis
from .step_jacobians import StepJacobians, check_finite_steps, chunk_size
from .trace import check_layer, check_sequence


COND_LIMIT = 1e12   # largest max|R_ii| / min|R_ii| of an un-orthonormalised block (reortho > 1)


def _check_index(name: str, value, lo: int, hi: int, what: str) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or not lo <= value <= hi:
        raise ValueError(f"{name}={value!r} is invalid: expected an integer in [{lo}, {what}]")
    return int(value)


def _check_conditioning(r: np.ndarray, d: np.ndarray, reortho: int, since: int, t: int) -> None:
    """Refuse a block whose basis lost its small directions to rounding: its R-diagonal ``d``
    (``log|R_ii|``, ``(B, k)``) spans more than :data:`COND_LIMIT`, or it over/underflowed."""
    if not np.isfinite(r).all():
        raise ValueError(f"reortho={reortho} is too large: the tangent basis over/underflowed within "
                         f"{since} steps without re-orthonormalisation (block ending at step {t}); lower reortho")
    span = float((d.max(axis=1) - d.min(axis=1)).max())        # log(max|R_ii| / min|R_ii|)
    if span > np.log(COND_LIMIT):
        per_step = span / since
        ok = max(1, int(np.log(COND_LIMIT) / per_step))
        raise ValueError(f"reortho={reortho} is too large for these step Jacobians: after {since} steps "
                         f"without re-orthonormalisation the tangent basis is ill-conditioned (R-diagonal ratio "
                         f"{np.exp(min(span, 700.0)):.1e} > {COND_LIMIT:.0e}, block ending at step {t}), so its "
                         f"smallest directions are lost to rounding; lower reortho (<= {ok} here) or ask for fewer "
                         f"exponents k")


def lyapunov_exponents(steps: StepJacobians, k: int | None = None, *, warmup: int = 0,
                       seed: int = 0, reortho: int = 1, trace: bool = False) -> LyapunovSpectrum:
    """The ``k`` largest Lyapunov exponents (default all ``N``) per example.

    * ``steps``: ``A_t`` for ``t = 1..T`` (batch ``B``), in forward time order.
    * ``warmup``: leading steps that only align the basis (their ``R_t`` are discarded; QR every step).
    * ``seed``: seed of the random initial basis ``Q_0``.
    * ``reortho``: after warmup, QR every ``reortho`` steps and only multiply the basis in between
      (``Z = A_{t+m} ... A_{t+1} Q``, ``Q R = Z``; the last block may be shorter). The
      basis' columns then separate like ``exp((lambda_1 - lambda_k) m)``: a block whose
      R-diagonal ratio exceeds :data:`COND_LIMIT` (1e12) raises ``ValueError`` (lower
      ``reortho``) rather than return exponents rounding has corrupted. ``1``: as before.
    * ``trace``: also return the local exponents per block and their running mean
      (:attr:`LyapunovSpectrum.local`, :attr:`~LyapunovSpectrum.running`; ``(n, B, k)``
      float64, ``n = ceil((T - warmup) / reortho)``: 8 n B k bytes).
    """
    T, B, N = steps.T, steps.B, steps.N
    k = _check_index("k", N if k is None else k, 1, N, f"N={N}")
    if isinstance(warmup, bool) or not isinstance(warmup, (int, np.integer)) or not 0 <= warmup < T:
        raise ValueError(f"warmup={warmup!r} is invalid: expected an integer in [0, T={T})")
    reortho = _check_index("reortho", reortho, 1, T - warmup, f"T - warmup = {T - warmup}] (steps between QRs")
    if not isinstance(trace, bool):
        raise ValueError(f"trace={trace!r} is invalid: expected True or False")
    q = np.broadcast_to(random_basis(N, k, seed), (B, N, k)).copy()
    acc = np.zeros((B, k))
    local, ends, since = [], [], 0
    C = chunk_size(B, N)
    with np.errstate(divide="ignore"):
        for lo in range(0, T, C):
            hi = min(T, lo + C)
            if steps.is_elman:
                blk = steps.dphi[lo:hi]
                check_finite_steps(blk, lo)
            elif steps.tangent_fn is not None:
                push = steps.tangent_fn(lo, hi)
            elif steps.is_split:
                left, dh, dc = steps.split_block(lo, hi)
            else:
                blk = steps.block(lo, hi)
            for j in range(hi - lo):
                t = lo + j
                if steps.is_elman:
                    z = blk[j][:, :, None] * np.matmul(steps.weight, q)   # diag(d) W Q
                elif steps.tangent_fn is not None:                        # A Q without forming A
                    z = push(j, q)
                elif steps.is_split:                                      # [L | diag blocks] Q, no dense A
                    H = N // 2
                    z = np.matmul(left[j], q[:, :H])                      # (B, N, k)
                    z[:, :H] += dh[j][:, :, None] * q[:, H:]
                    z[:, H:] += dc[j][:, :, None] * q[:, H:]
                else:
                    z = np.matmul(blk[j], q)                              # (B, N, k)
                since += 1
                if t < warmup or (t + 1 - warmup) % reortho == 0 or t == T - 1:
                    q, r = np.linalg.qr(z)
                    d = np.log(np.abs(np.diagonal(r, axis1=1, axis2=2)))  # (B, k)
                    if since > 1:
                        _check_conditioning(r, d, reortho, since, t + 1)
                    if t >= warmup:
                        acc += d
                        if trace:
                            local.append(d / since)
                            ends.append(t + 1 - warmup)
                    since = 0
                else:
                    q = z
    order = np.argsort(-(acc / (T - warmup)), axis=1, kind="stable")      # descending, per example
    exps = np.take_along_axis(acc / (T - warmup), order, axis=1)
    if not trace:
        return LyapunovSpectrum(exponents=exps, steps=T - warmup, warmup=int(warmup), reortho=reortho)
    loc = np.take_along_axis(np.stack(local), order[None], axis=2)        # (n, B, k)
    return LyapunovSpectrum(exponents=exps, steps=T - warmup, warmup=int(warmup), reortho=reortho,
                            local=loc, trace_steps=np.asarray(ends))


def _driving_inputs(xs, T: int | None, batch: int, input_size: int | None):
    """Inputs ``(T, B, I)`` from ``None`` (zeros), a constant ``(I,)``/``(B, I)`` or a sequence."""
    if xs is not None and len(getattr(xs, "shape", np.shape(xs))) == 3:
        return xs
    if T is None:
        raise ValueError("steps is required unless xs is a (T, B, I) sequence")
    if xs is None:
        if input_size is None:
            raise ValueError("input_size is required for autonomous runs (xs=None) of a step function")
        return np.zeros((T, batch, input_size))
    c = np.asarray(xs)
    if c.ndim == 1:
        c = np.broadcast_to(c, (batch, c.shape[0]))
    if c.ndim != 2:
        raise ValueError(f"xs has shape {c.shape}: expected None, a constant (I,) or (B, I), or (T, B, I)")
    return np.ascontiguousarray(np.broadcast_to(c, (T,) + c.shape))


def lyapunov_spectrum(model, xs=None, h0=None, *, params=None, steps: int | None = None, warmup: int = 100,
                      k: int | None = None, layer: int = 0, batch: int = 1,
                      input_size: int | None = None, backend: str | None = None,
                      analytic: bool = True, seed: int = 0, route: str = "auto", reortho: int = 1,
                      trace: bool = False, device=None, threads: int | None = None) -> LyapunovSpectrum:
    """Lyapunov exponents of a recurrent cell (QR/Benettin method), sorted descending.

    Driving: ``xs=None``: autonomous, ``x_t = 0``; ``xs`` of shape ``(I,)`` or ``(B, I)``:
    constant input; ``(T, B, I)``: input-driven (then ``warmup + steps = T``).
    The first ``warmup`` steps settle the state and the tangent basis and are not
    averaged. Exponents are per step, natural log: ``(B, k)`` (default ``k = N``).

    ``model``, ``params``, ``h0`` and ``layer`` are as in :func:`jacobians_over_time` (rnnflow
    models and configs, step functions, torch ``nn.RNN``/``nn.LSTM``/``nn.GRU`` and their cells,
    flax cells and ``RNN`` wrappers); a sequence ``xs`` is ``(T, B, I)``, or ``(B, T, I)`` for a
    batch-major module (torch ``batch_first=True``, flax ``RNN(time_major=False)``).

    ``route``: as in :func:`jacobians_over_time`. For a diagonal model the exponents are
    exactly the time averages of ``log|a_t|`` per real state coordinate after ``warmup``,
    sorted (:func:`rnnflow.analysis.diagonal.lyapunov`; no QR, ``seed`` and ``reortho`` unused,
    ``trace=True`` refused: pass ``route="dense"``).

    ``reortho``, ``trace``: as in :func:`lyapunov_exponents` (QR every ``reortho`` steps after
    warmup; the local exponents and the running estimate).

    ``device``: as in :func:`jacobians_over_time` (the trace and autodiff step Jacobians run
    there; the float64 QR iteration runs on the host).
    ``threads``: CPU threads (:mod:`rnnflow.analysis.threads`; None: chosen by size, ``n``:
    exactly ``n``; restored on return).
    """
    if steps is not None and (isinstance(steps, bool) or not isinstance(steps, (int, np.integer)) or steps < 1):
        raise ValueError(f"steps={steps!r} is invalid: expected an integer >= 1")
    if isinstance(warmup, bool) or not isinstance(warmup, (int, np.integer)) or warmup < 0:
        raise ValueError(f"warmup={warmup!r} is invalid: expected an integer >= 0")
    threads = check_threads("lyapunov_spectrum", threads)
    model, bk, xs, h0 = prepare(model, xs, h0, params=params, backend=backend, sequence=False, device=device)
    with analysis_threads(bk.ops, choose_threads(state_size(model, h0), False, threads)):
        if input_size is None and hasattr(model, "config"):
            input_size = model.config.input_size
        if h0 is not None:  # the batch is fixed by h0: (B, H) for a step, (L, B, H) for a model
            first = h0[0] if isinstance(h0, (tuple, list)) else h0
            batch = int(tuple(first.shape)[1 if hasattr(model, "config") else 0])
        seq = _driving_inputs(xs, None if steps is None else warmup + steps, batch, input_size)
        T = int(seq.shape[0])
        if steps is not None and T != warmup + steps:
            raise ValueError(f"xs has T={T} steps but warmup + steps = {warmup + steps}")
        if T <= warmup:
            raise ValueError(f"warmup={warmup} leaves no steps of the T={T} inputs to average")
        if diagonal.check_route(route, model):
            if trace:
                raise ValueError("trace=True is not available on the diagonal route (its exponents are exact time "
                                 "averages of log|a_t|, no QR blocks): pass route='dense' for the QR method's trace")
            check_sequence(np.shape(seq))
            return diagonal.lyapunov(bk, model, seq, h0, check_layer(layer, model.config.num_layers), k, warmup)
        tr = run_trace(bk, model, seq, h0, layer)
        return lyapunov_exponents(trace_step_jacobians(bk, model, tr, layer, analytic), k, warmup=warmup, seed=seed,
                                  reortho=reortho, trace=trace)

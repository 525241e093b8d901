"""The diagonal fast path: exact ``log ||dh_T/dh_t||`` of a diagonal recurrence in O(T N).

A layer of a diagonal model (LRU, minGRU, minLSTM, a selective SSM: any model whose config
has ``model_kind(config) == "diagonal"``) updates ``h_t = a_t * h_{t-1} + b_t`` elementwise,
with ``a_t`` a function of the layer's input only. Its step Jacobian ``A_t = dh_t/dh_{t-1}``
on the real state (S coordinates) is ``diag(a_t)`` for a real state, and for a complex unit
stored as ``[re, im]`` the 2x2 block ``|lambda_t| R(phase_t)`` (a scaled rotation). Products
of scaled rotations are scaled rotations, so for every coordinate i::

    J(t) = dh_T/dh_t = prod_{k=t+1..T} A_k     singular values  exp(c_i(t)),
    c_i(t) = sum_{k=t+1..T} log|a_{k,i}|       (a complex unit: both its coordinates carry log|lambda|)

exactly, and ``log ||J(t)||_2 = max_i c_i(t)``, ``log ||J(t)||_F = 0.5 logsumexp_i 2 c_i(t)``:
a reverse cumulative sum, no matrix products, exact at any T (in float64 log space). The norm
of a complex state is the norm over the real 2N-dimensional state ``[re, im]``, with
``|lambda|`` per unit. The model is reached only through its ``log_decay(x, layer, state0)``
method (``(T, B, S)`` of ``log|a_t|``), see the contract in ``rnnflow.torch.diagonal``.
"""
from __future__ import annotations

import numpy as np

from ..models import model_kind
from .results import JacobianNorms, LyapunovSpectrum

ROUTES = ("auto", "diagonal", "dense")


def is_diagonal_model(obj) -> bool:
    """True for a model whose config is a diagonal recurrence and which has ``log_decay``."""
    cfg = getattr(obj, "config", None)
    try:
        return model_kind(cfg) == "diagonal" and hasattr(obj, "log_decay")
    except TypeError:
        return False


def check_route(route: str, model) -> bool:
    """Whether to take the diagonal fast path: ``route="auto"`` takes it for a diagonal model,
    ``"diagonal"`` demands one, ``"dense"`` forces autodiff step Jacobians and the product."""
    if route not in ROUTES:
        raise ValueError(f"route={route!r} is invalid: expected one of {', '.join(map(repr, ROUTES))}")
    diag = is_diagonal_model(model)
    if route == "diagonal" and not diag:
        raise ValueError(f"route='diagonal' needs a diagonal model (LRU, minGRU, minLSTM, selective SSM), got "
                         f"a {type(model).__name__}: use route='auto' or 'dense'")
    return diag and route != "dense"


def log_decay(bk, model, xs, h0=None, layer: int = 0) -> np.ndarray:
    """``log|a_t|`` ``(T, B, S)`` float64 of layer ``layer`` (an index the caller checked),
    ``xs`` ``(T, B, I)``; checked finite."""
    ops = bk.ops
    x = ops.asarray(xs, model.dtype, ops.device_of(model))
    if h0 is not None:
        h0 = ops.asarray(h0, model.dtype, ops.device_of(model))
    with ops.no_grad():
        ld = ops.numpy(model.log_decay(x, layer, h0)).astype(np.float64)
    if np.isnan(ld).any() or np.isposinf(ld).any():
        t = int(np.argmax((np.isnan(ld) | np.isposinf(ld)).reshape(ld.shape[0], -1).any(axis=1)))
        raise ValueError(f"log|a_t| of layer {layer} is NaN or +Inf first at step t={t + 1} (input xs[{t}])")
    return ld


def reverse_cumsum(ld: np.ndarray) -> np.ndarray:
    """``c[t] = sum_{i >= t} ld[i]`` over axis 0: ``c[t]`` is ``log`` of the singular values of
    ``dh_T/dh_t`` (index ``i`` of ``ld`` holds step ``i + 1``). ``(T, ...)`` -> ``(T, ...)``."""
    return np.cumsum(ld[::-1], axis=0)[::-1]


def log_norms(ld: np.ndarray, topk: int = 0) -> dict:
    """``log ||dh_T/dh_t||_2`` and ``_F`` ``(B, T)`` (and the top-k ``log sigma_i`` ``(B, T, k)``)
    from ``ld = log|a_t|`` ``(T, B, S)``, exactly."""
    c = reverse_cumsum(ld)                                             # (T, B, S)
    with np.errstate(divide="ignore", invalid="ignore"):
        m = c.max(-1)
        safe = np.where(np.isfinite(m), m, 0.0)
        frob = safe + 0.5 * np.log(np.exp(2 * (c - safe[..., None])).sum(-1))
    frob = np.where(np.isfinite(m), frob, m)
    top = None
    if topk:
        top = -np.sort(-c, axis=-1)[..., :topk].transpose(1, 0, 2)
    return {"log_spectral": m.T, "log_frobenius": frob.T, "log_singular": top}


def jacobian_norms(bk, model, xs, h0=None, layer: int = 0, topk: int = 0) -> JacobianNorms:
    """:class:`JacobianNorms` of a diagonal model's layer by the fast path."""
    ld = log_decay(bk, model, xs, h0, layer)
    S = ld.shape[-1]
    if isinstance(topk, bool) or not isinstance(topk, (int, np.integer)) or not 0 <= topk <= S:
        raise ValueError(f"topk={topk!r} is invalid: expected an integer in [0, S={S}]")
    res = log_norms(ld, int(topk))
    T = ld.shape[0]
    t = np.arange(T)
    return JacobianNorms(
        t=t, gap=T - t, log_spectral=res["log_spectral"], log_frobenius=res["log_frobenius"],
        log_spectral_h=res["log_spectral"], log_frobenius_h=res["log_frobenius"],
        log_singular=res["log_singular"], state_sizes=(S,), cell=model.config.cell, backend=bk.name)


def lyapunov(bk, model, xs, h0=None, layer: int = 0, k: int | None = None, warmup: int = 0) -> LyapunovSpectrum:
    """Lyapunov exponents of a diagonal layer: the time average of ``log|a_t|`` over the steps
    after ``warmup``, per coordinate, sorted descending (exact: the step Jacobians commute up
    to the rotations, which do not change singular values)."""
    ld = log_decay(bk, model, xs, h0, layer)
    T, _, S = ld.shape
    k = S if k is None else k
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or not 1 <= k <= S:
        raise ValueError(f"k={k!r} is invalid: expected an integer in [1, N={S}]")
    exps = -np.sort(-ld[warmup:].mean(axis=0), axis=-1)[:, :k]
    return LyapunovSpectrum(exponents=exps, steps=T - warmup, warmup=int(warmup))


def pairwise_log_spectral(ld: np.ndarray) -> np.ndarray:
    """``log ||dh_s/dh_t||_2`` for every pair ``0 <= t <= s <= T`` (``nan`` where ``t > s``),
    ``(B, T+1, T+1)`` indexed ``[b, s, t]``, from prefix sums
    ``P[s] = sum_{i < s} ld[i]``: ``max_i (P[s] - P[t])_i``. O(T^2 S): for modest T."""
    T, B, S = ld.shape
    P = np.concatenate([np.zeros((1, B, S)), np.cumsum(ld, axis=0)])   # (T+1, B, S)
    out = np.full((B, T + 1, T + 1), np.nan)
    for s in range(T + 1):
        out[:, s, :s + 1] = (P[s][None] - P[:s + 1]).max(-1).T
    return out


CHUNK = 8192    # steps per chunk of chunked_log_spectral: (CHUNK, 1, 256) float64 is 16 MiB; at N = 256,
                # T = 10^6 ~1.7x faster than 32768 (the model's per-chunk tensors stay below glibc's
                # mmap threshold, so their pages are reused, not faulted in afresh)
SEGMENT = 256   # rows per segment of _running_sum


def _running_sum(v: np.ndarray, R: np.ndarray) -> None:
    """In place, the running sum of ``v`` ``(k, L, ...)`` over its first two axes taken as one
    axis of ``k L`` rows, plus ``R`` ``(...)``: row-wise vector adds within each segment of ``L``
    rows (``L - 1`` NumPy calls on ``(k, ...)`` slices), then each segment's offset. About 4x
    faster than ``np.cumsum(axis=0)``, which walks each column with a stride of a whole row."""
    for j in range(1, v.shape[1]):
        v[:, j] += v[:, j - 1]
    off = np.cumsum(v[:, -1], axis=0)                                   # (k, ...): segment totals so far
    off[1:] = off[:-1] + R
    off[0] = R
    v += off[:, None]


def chunked_log_spectral(model, xs, h0=None, *, params=None, layer: int = 0, backend: str | None = None,
                         chunk: int = CHUNK, device=None) -> np.ndarray:
    """``log ||dh_T/dh_t||_2`` ``(B, T)`` of a diagonal model's layer, the same numbers as
    ``jacobians_over_time(model, xs, h0, layer=layer).log_spectral``, computed ``chunk`` steps
    at a time, so that no ``(T, B, S)`` array is ever held (T = 10^6 at S = 256 in a few
    hundred MiB instead of several GiB).

    ``log ||J(t)||_2 = max_i c_i(t)`` with ``c(t) = sum_{k >= t} log|a_k|`` needs all of
    ``c(t)`` before the max over units; in a forward order ``c(t) = P(T) - P(t)`` would mean
    keeping the prefix sums ``P(t)`` of every t until ``P(T)`` is known, i.e. the whole array.
    So the chunks run from the last to the first, carrying only ``R = c(e)`` ``(B, S)``, the
    reverse sum of the chunks already done: in a chunk ``[s, e)``, ``c(t) = R + sum_{t <= k < e}
    log|a_k|``, a float64 running sum in segments of 256 steps (its rounding differs from the
    one-shot :func:`reverse_cumsum` by ~1e-16 relative: 1e-10 absolute at T = 10^6).

    Layer 0's ``log|a_t|`` depends on ``xs`` alone (its input is ``norm(embed(x_t))``), so its
    chunks need no state; for a deeper layer a first pass runs the model forward over the
    chunks and keeps the state ``(L, B, S)`` entering each one. The selective SSM's causal conv
    also reads ``d_conv - 1`` inputs before each step, which the state does not carry: layer 0
    of an SSM runs each chunk with that many earlier inputs in front (and drops their rows);
    a deeper layer of an SSM with ``conv=True`` is refused.

    Memory beyond ``xs``: the output ``B T`` float64; one float64 buffer ``(chunk, B, S)``
    reused by every chunk for the running sum; the model's ``log|a_t|`` of one chunk in its
    dtype and its activations over those steps while it runs; for ``layer > 0`` one state
    ``(L, B, S)`` per chunk. A NaN or +Inf ``log|a_t|`` raises ``ValueError`` naming the last
    such step (the chunks run backwards).

    Args: as :func:`rnnflow.analysis.jacobians_over_time` (a diagonal model or its config with
    ``params`` and ``backend``; ``h0`` its ``state0`` ``(L, B, S)``; ``device``); ``chunk``: steps per chunk.
    """
    from .backends import prepare
    from ..validation import check_layer, check_sequence

    if isinstance(chunk, bool) or not isinstance(chunk, (int, np.integer)) or chunk < 1:
        raise ValueError(f"chunk={chunk!r} is invalid: expected a positive integer")
    model, bk, xs, h0 = prepare(model, xs, h0, params=params, backend=backend, device=device)
    if not is_diagonal_model(model):
        raise ValueError(f"chunked_log_spectral needs a diagonal model (LRU, minGRU, minLSTM, selective SSM), "
                         f"got a {type(model).__name__}: use jacobians_over_time")
    check_sequence(np.shape(xs))
    cfg = model.config
    layer = check_layer(layer, cfg.num_layers)
    conv = cfg.cell == "ssm" and cfg.conv
    if conv and layer > 0:
        raise ValueError(f"chunked_log_spectral: layer {layer} of a selective SSM with conv=True reads conv "
                         f"windows (its own and the layers' below) across each chunk's start, which the "
                         f"state does not carry: use jacobians_over_time, or layer=0")
    T, B = int(np.shape(xs)[0]), int(np.shape(xs)[1])
    starts = list(range(0, T, int(chunk)))
    ops = bk.ops
    # the state entering each chunk (layer 0: not needed; its log|a_t| reads xs only)
    states = [h0] + [None] * (len(starts) - 1)
    if layer > 0:
        h = None if h0 is None else ops.asarray(h0, model.dtype, ops.device_of(model))
        with ops.no_grad():
            for i, s in enumerate(starts[:-1]):
                hid = model(ops.asarray(xs[s:s + chunk], model.dtype, ops.device_of(model)), h, validate=False).hidden
                states[i + 1] = ops.numpy(hid[:, -1]).copy()            # (L, B, S), not a view of hid
                h = ops.asarray(states[i + 1], model.dtype, ops.device_of(model))
                del hid
    lead = cfg.d_conv - 1 if conv else 0
    seg = min(SEGMENT, int(chunk))
    out = np.empty((B, T))
    R = np.zeros((B, cfg.state_width))                                  # c(e) of the chunks done (B, S)
    buf = np.empty((-(-min(chunk, T) // seg) * seg,) + R.shape)         # c(e-1), c(e-2), ... (padded)
    for s, st in zip(reversed(starts), reversed(states)):
        e = min(s + chunk, T)
        a = max(s - lead, 0)                                            # SSM layer 0: the conv's lead-in
        with ops.no_grad():
            x = ops.asarray(xs[a:e], model.dtype, ops.device_of(model))
            ld = ops.numpy(model.log_decay(x, layer, None if st is None else ops.asarray(st, model.dtype, ops.device_of(model))))
        n = e - s
        k = -(-n // seg)
        buf[:n] = ld[s - a:][::-1]                                      # float64, reversed in time
        buf[n:k * seg] = 0.0
        del ld
        _running_sum(buf[:k * seg].reshape((k, seg) + R.shape), R)
        m = buf[:n].max(-1)                                             # (n, B); NaN/+Inf propagate
        bad = np.isnan(m) | np.isposinf(m)
        if bad.any():
            t = e - 1 - int(np.argmax(bad.any(axis=1)))
            raise ValueError(f"log|a_t| of layer {layer} is NaN or +Inf, last at step t={t + 1} (input xs[{t}])")
        out[:, s:e] = m[::-1].T
        R = buf[n - 1].copy()
    return out

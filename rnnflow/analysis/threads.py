"""How many threads an analyzer computes on: chosen by the problem's size and kind, or the caller's.

Measured on 2 shared cores (torch backend, min of 4 interleaved rounds, 1 vs 2 threads for
torch and BLAS together; ``benchmarks/bench_threads.py``, table in ``docs/benchmarks.md``):

==============================================  =====  ============  =====================
route                                           N      2 threads     ``threads=None``
==============================================  =====  ============  =====================
``jacobians_over_time``, ``spectral="exact"``   128    2.9x slower   1 thread
``spectral="exact"`` (LAPACK per matrix)        512    1.3x slower   1 thread
``spectral="none"`` (one GEMM per step)         512    1.8x faster   the caller's threads
``spectral="none"``                             1024   1.8x faster   the caller's threads
``spectral="topk"``                             1024   equal         the caller's threads
``lyapunov_spectrum`` (QR per step)             128    2.4x slower   1 thread
``lyapunov_spectrum``                           512    equal         1 thread
``gradient_reach`` (recurrent, VJPs)            128    1.1x faster   1 thread
``gradient_reach``                              512    1.7x faster   the caller's threads
==============================================  =====  ============  =====================

So ``threads=None`` (the default) pins one thread where a step's work is small
(``N < GEMM_MIN_N``) or made of many small LAPACK calls, and otherwise leaves the thread counts
as the caller set them (torch's and BLAS's defaults: every core), never raising them: a
process that pinned one thread per worker (the docs build, a sweep's pool) keeps it.
``threads=n`` runs on exactly ``n`` threads. Either way the caller's counts are restored on
return. The count covers the backend's CPU kernels (torch; XLA fixes its pool at start-up, so
JAX is unaffected) and the host BLAS under the float64 products (through ``threadpoolctl``).
"""
from __future__ import annotations

import contextlib

#: the state size from which a GEMM-bound route keeps the caller's threads
GEMM_MIN_N = 512


def check_threads(owner: str, threads) -> int | None:
    """``threads``: None or an integer >= 1, else ``ValueError`` naming ``owner.threads``."""
    if threads is None:
        return None
    if isinstance(threads, bool) or not isinstance(threads, int) or threads < 1:
        raise ValueError(f"{owner}: threads={threads!r} is invalid: expected an integer >= 1, or None "
                         "(chosen by the problem's size)")
    return threads


def choose_threads(n: int, gemm_bound: bool, threads: int | None = None) -> int | None:
    """The thread count to pin for a problem of state size ``n``: ``threads`` if given; else 1
    unless the route is ``gemm_bound`` and ``n >= GEMM_MIN_N``, where None (keep the caller's)."""
    if threads is not None:
        return threads
    return None if gemm_bound and n >= GEMM_MIN_N else 1


@contextlib.contextmanager
def analysis_threads(ops, n: int | None):
    """A context computing on ``n`` threads (None: as the caller set them): the backend's
    ``ops.threads(n)`` and the BLAS pools; both restored on exit."""
    if n is None:
        yield
        return
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:  # pragma: no cover - a dependency; kept optional for minimal installs
        threadpool_limits = None
    with ops.threads(n):
        # BLAS only (torch's OpenMP pool is ops.threads'), and limited only now: threadpoolctl
        # applies its limits when constructed, and restores them when its context ends
        with threadpool_limits(n, user_api="blas") if threadpool_limits else contextlib.nullcontext():
            yield


def state_size(model, h0=None) -> int:
    """N, the size of the state an analyzer's step acts on: an rnnflow model's (an LSTM's
    ``(h, c)``: 2H; a Transformer's ``d_model``, an MLP's width); else the sum of ``h0``'s
    last dimensions; 0 when unknown."""
    cfg = getattr(model, "config", None)
    if cfg is not None:
        for name in ("state_width", "d_model", "width", "hidden_size"):
            v = getattr(cfg, name, None)
            if isinstance(v, int):
                return 2 * v if getattr(cfg, "cell", None) == "lstm" and name == "hidden_size" else v
    parts = h0 if isinstance(h0, (tuple, list)) else (h0,) if h0 is not None else ()
    try:
        return int(sum(p.shape[-1] for p in parts))
    except (AttributeError, IndexError, TypeError):
        return 0


__all__ = ["GEMM_MIN_N", "analysis_threads", "check_threads", "choose_threads", "state_size"]

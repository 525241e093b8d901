"""The Jacobian over time: ``log ||dh_T/dh_t||`` for every ``t``, from one backward sweep.

``J(T) = I``, ``J(t-1) = J(t) A_t`` with step Jacobians ``A_t = dh_t/dh_{t-1}``: analytic
``diag(phi'(a_t)) W_hh`` for an Elman cell, closed forms for rnnflow LSTM/GRU layers
(:mod:`rnnflow.analysis.gated_jacobians`), autodiff of one step otherwise. The log-space
product is :func:`rnnflow.analysis.products.product_norms`; the result type is
:class:`rnnflow.analysis.results.JacobianNorms`; plots are in :mod:`rnnflow.plotting.jacobians`.
"""
from __future__ import annotations

import numpy as np

from ..activations import dphi as _dphi
from ..types import Trace
from . import diagonal
from .backends import Backend, prepare
from .gated_jacobians import GATED, gated_step_jacobians
from .products import SPECTRAL, product_norms
from .threads import analysis_threads, check_threads, choose_threads, state_size
from .results import JacobianNorms
from .topk import topk_norms
from .step_jacobians import StepJacobians
from .trace import check_layer, check_sequence, check_trace, step_function, step_inputs, trace


def run_trace(bk: Backend, model, xs, h0=None, layer: int = 0) -> Trace:
    """:func:`rnnflow.analysis.trace.trace` in backend ``bk``, checked finite."""
    tr = trace(bk.ops, model, xs, h0, layer=layer)
    check_trace(tr)
    return tr


def trace_step_jacobians(bk: Backend, model, tr: Trace, layer: int = 0, analytic: bool = True) -> StepJacobians:
    """The step Jacobians along a trace: closed forms for rnnflow Elman, LSTM and GRU layers
    (``analytic``; :mod:`rnnflow.analysis.gated_jacobians`), else computed chunk by chunk by
    the backend's autodiff of one step."""
    if tr.cell == "rnn" and analytic:
        return StepJacobians.elman(_dphi(tr.activation, tr.preact.astype(np.float64)), tr.weight_hh)
    if tr.cell in GATED and analytic:
        return gated_step_jacobians(tr)
    step, params = step_function(model, layer)
    N = sum(tr.sizes)

    def block(lo, hi):
        z, x = step_inputs(tr, lo, hi)
        return bk.autodiff.step_jacobians(step, params, z, x, tr.sizes).reshape(hi - lo, tr.B, N, N)
    return StepJacobians.lazy(block, tr.T, tr.B, N)


def topk_route(steps: StepJacobians, topk: int, sizes: tuple) -> dict:
    """``spectral="topk"``: :func:`rnnflow.analysis.topk.topk_norms` in ``product_norms``'s dict."""
    if isinstance(topk, bool) or not isinstance(topk, (int, np.integer)) or not 0 <= topk <= steps.N:
        raise ValueError(f"topk={topk!r} is invalid: expected an integer in [0, N={steps.N}]")
    res = topk_norms(steps, max(int(topk), 1))
    nan = np.full(res["log_spectral"].shape, np.nan)
    single = len(sizes) == 1
    return {"log_spectral": res["log_spectral"], "log_frobenius": nan,
            "log_spectral_h": res["log_spectral"] if single else nan, "log_frobenius_h": nan,
            "log_singular": res["log_singular"] if topk else None}


def jacobians_over_time(model, xs, h0=None, *, params=None, layer: int = 0, backend: str | None = None,
                        topk: int = 0, spectral: str = "exact", analytic: bool = True,
                        power_iters: int = 2, route: str = "auto", device=None,
                        threads: int | None = None) -> JacobianNorms:
    """``log ||dh_T/dh_t||`` for every ``t`` and example, from one backward sweep.

    ``J(T) = I``, ``J(t-1) = J(t) A_t`` with step Jacobians ``A_t = dh_t/dh_{t-1}``:
    analytic ``diag(phi'(a_t)) W_hh`` for an Elman cell, closed forms from the gates for an
    rnnflow (or adapted torch/flax) LSTM or GRU layer, autodiff of one step otherwise
    (LSTM: the state ``(h, c)`` is concatenated, ``A_t`` is ``2H x 2H``). The product is
    accumulated in float64 log space, so norms of ``1e-300`` or ``1e+300`` are exact.

    Args:
      model:    an rnnflow ``RecurrentNet`` (torch or jax), a recurrent config (with
                ``params`` and ``backend``), a step function ``step(h, x) -> h'`` on
                batched tensors/arrays (``h``: ``(B, H)`` or a tuple), a step function
                ``f(params, h, x) -> h'`` with ``params=``, or a user's own module: torch
                ``nn.RNN``/``nn.LSTM``/``nn.GRU`` (unidirectional, no ``proj_size``) and
                ``nn.RNNCell``/``nn.LSTMCell``/``nn.GRUCell``; flax ``SimpleCell``/``LSTMCell``/
                ``OptimizedLSTMCell``/``GRUCell``/``MGUCell`` (linen: its variables as
                ``params=``; NNX: as is) and their ``RNN`` wrappers. Modules that match
                rnnflow's schema are copied exactly into an rnnflow model; other flax cells run
                as a step function; any other module is refused (never called with its
                arguments swapped). See :mod:`rnnflow.analysis.own_models`.
      xs:       inputs (NumPy or backend arrays): ``(T, B, I)``, time-major, except for a
                batch-major module (torch ``batch_first=True``, flax ``RNN`` with
                ``time_major=False``, its default), which takes ITS layout ``(B, T, I)``.
      h0:       model: its ``state0`` ``(L, B, H)``, LSTM ``(h0, c0)`` (default zeros; torch's
                ``nn.LSTM`` takes its own ``(h0, c0)``); a cell: ``(B, H)`` (torch LSTM cell
                ``(h, c)``, flax LSTM carry ``(c, h)``); step function: the initial state.
      layer:    which layer of a stacked model (``nn.LSTM(num_layers=3)``: 0, 1 or 2).
      topk:     also return the ``topk`` largest ``log sigma_i(dh_T/dh_t)``.
      spectral: how ``log ||J(t)||_2`` and the top-k are computed: ``"exact"`` (LAPACK on
                ``M M^T``, ~5-6x the FLOP bound of the product at N=128), ``"svd"`` (full SVD,
                slowest), ``"power"`` (``power_iters`` subspace iterations, batched over 8 steps
                at a time, ~2.5-3x) or ``"none"`` (Frobenius only, ~1.5x). ``"power"`` gives
                lower bounds, exact once the top singular value separates, and LOW where the
                top values cluster, i.e. at small gaps ``T - t``. Measured against
                ``"exact"`` (tanh RNN, H=128, ``power_iters=2``, 10 seeds; see
                ``tests/test_power_accuracy.py``), ``log sigma_1`` is low by at most:
                orthogonal ``W_hh``: 0.15 at gaps < 16, 0.06 at 16-31, 7e-3 at 32-63, 5e-4
                past 64; Gaussian ``W_hh``: 0.1 at gaps < 8, 0.03 at 8-15, 1e-4 past 16. Use
                ``"exact"`` where short gaps matter.
                ``"topk"``: for large ``N``, the ``max(topk, 1)`` largest values without ever
                forming ``J(t)`` (:mod:`rnnflow.analysis.topk`, ``O(T N^2 (k + 8))``; H=2048,
                T=1024, k=8 in seconds, see docs/benchmarks.md); ``log_frobenius`` (and for a
                tuple state the ``*_h`` fields) are nan. Lower bounds; measured against
                ``"exact"`` (tanh RNN, H=256, k=8; ``tests/test_topk.py``): within 1e-3 in
                ``log sigma_i`` wherever ``log sigma_i - log sigma_{k+9} >= 5`` (the top
                directions have separated); before that LOW by up to ~0.4 (gaps < 32 on a
                Gaussian ``W_hh``, < 128 on an orthogonal one, whose spectrum stays clustered).
      analytic: use the closed-form Elman/LSTM/GRU step Jacobians (``False``: autodiff, for checks).
      route:    ``"auto"``: the diagonal fast path for a diagonal model (LRU, minGRU, minLSTM,
                selective SSM: ``model_kind(config) == "diagonal"``), the product otherwise;
                ``"dense"``: autodiff step Jacobians and the product for any model (the
                cross-check); ``"diagonal"``: the fast path or an error. The fast path
                (:mod:`rnnflow.analysis.diagonal`) is exact in O(T N): ``log ||J(t)||_2 =
                max_i sum_{k>t} log|a_{k,i}|`` (``spectral`` and ``power_iters`` do not apply);
                a complex state's norm is over its real ``[re, im]`` coordinates.
      device:   where the model runs (:mod:`rnnflow.devices`: ``"cpu"``, ``"cuda[:N]"``,
                ``"auto"``; default: where it is). A model elsewhere is copied there (yours
                is not moved); its inputs follow it. The per-step work (the forward trace,
                autodiff step Jacobians) runs there; the float64 log-space product runs on
                the host on the per-step results.
      threads:  CPU threads (:mod:`rnnflow.analysis.threads`): None chooses by size (one
                thread for small or LAPACK-bound work, else the caller's count); ``n``: exactly
                ``n``. The caller's counts are restored on return.

    Raises ``ValueError`` naming the first step ``t`` where the hidden state is NaN/Inf.
    """
    if spectral not in SPECTRAL + ("topk",):
        raise ValueError(f"spectral={spectral!r} is invalid: expected one of {SPECTRAL + ('topk',)}")
    threads = check_threads("jacobians_over_time", threads)
    model, bk, xs, h0 = prepare(model, xs, h0, params=params, backend=backend, device=device)
    with analysis_threads(bk.ops, choose_threads(state_size(model, h0), spectral in ("none", "topk"), threads)):
        if diagonal.check_route(route, model):
            check_sequence(np.shape(xs))
            return diagonal.jacobian_norms(bk, model, xs, h0, check_layer(layer, model.config.num_layers), topk)
        tr = run_trace(bk, model, xs, h0, layer)
        steps = trace_step_jacobians(bk, model, tr, layer, analytic)
        sizes = tr.sizes
        if spectral == "topk":
            res = topk_route(steps, topk, sizes)
        else:
            res = product_norms(steps, topk=topk, spectral=spectral, power_iters=power_iters,
                                h_size=sizes[0] if len(sizes) > 1 else None)
        t = np.arange(tr.T)
        return JacobianNorms(
            t=t, gap=tr.T - t, log_spectral=res["log_spectral"], log_frobenius=res["log_frobenius"],
            log_spectral_h=res["log_spectral_h"], log_frobenius_h=res["log_frobenius_h"],
            log_singular=res["log_singular"], state_sizes=sizes, cell=tr.cell, activation=tr.activation,
            dphi=steps.dphi if steps.is_elman else None,
            weight_hh=steps.weight if steps.is_elman else None, backend=bk.name)

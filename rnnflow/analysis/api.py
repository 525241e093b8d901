"""Backend-neutral entry points: take a model (or step function) from either backend.

The backend (``"torch"`` or ``"jax"``) is detected from the model or its arrays, or
named with ``backend=``, and imported lazily; its ``jacobians`` module produces NumPy
arrays and the math here (float64, log space) is shared.
"""
from __future__ import annotations

import importlib
import sys

import numpy as np

from .. import _backend
from ..activations import dphi as _dphi
from .decomposition import decompose_elman
from .lyapunov import lyapunov_exponents
from .products import product_norms
from .results import DepthProfile, ElmanDecomposition, JacobianNorms, LyapunovSpectrum, ReachProfile
from .step_jacobians import StepJacobians
from .trace import Trace, check_trace


# ---------------------------------------------------------------- backend plumbing
def _array_backend(a):
    a = a[0] if isinstance(a, (tuple, list)) and a else a
    mod = type(a).__module__
    if mod.startswith("torch"):
        return "torch"
    if mod.startswith(("jax", "jaxlib")):
        return "jax"
    return None


def resolve_backend(obj, *arrays, backend: str | None = None) -> str:
    """``backend`` if given, else the backend of ``obj`` (a model) or of the first tensor in ``arrays``."""
    if backend is not None:
        if backend not in _backend.BACKENDS:
            raise ValueError(f"backend={backend!r} is invalid: expected one of {_backend.BACKENDS}")
        return backend
    try:
        return _backend.detect(obj)
    except ValueError:
        pass
    torch = sys.modules.get("torch")
    if torch is not None and isinstance(obj, torch.nn.Module):
        return "torch"
    for a in arrays:
        found = _array_backend(a)
        if found:
            return found
    raise ValueError(f"cannot tell the backend of {getattr(obj, '__name__', type(obj).__name__)!r} "
                     f"from it or its inputs: pass backend='torch' or backend='jax'")


def as_model(model, params=None, backend: str | None = None):
    """``model`` itself, or, for an rnnflow config, ``rnnflow.build(config, params, backend=...)``."""
    from ..config import RECURRENT_CONFIGS, MLPConfig, TransformerConfig
    if isinstance(model, RECURRENT_CONFIGS + (TransformerConfig, MLPConfig)):
        if backend is None:
            raise ValueError(f"analysing a {type(model).__name__} needs backend='torch' or backend='jax'")
        from .. import build
        return build(model, params, backend=backend)
    if params is not None:
        raise ValueError("params= goes with a config; a built model or step function carries its own parameters")
    return model


def _jacobians_module(backend: str):
    _backend.load(backend)  # a missing backend raises an error naming the pip extra
    return importlib.import_module(f"rnnflow.{backend}.jacobians")


def _steps(bk, model, tr: Trace, layer: int, analytic: bool) -> StepJacobians:
    if tr.cell == "rnn" and analytic:
        return StepJacobians.elman(_dphi(tr.activation, tr.preact.astype(np.float64)), tr.weight_hh)
    return StepJacobians.lazy(lambda lo, hi: bk.step_jacobians(model, tr, lo, hi, layer=layer),
                              tr.T, tr.B, sum(tr.sizes))


# ---------------------------------------------------------------- Jacobians over time
def jacobians_over_time(model, xs, h0=None, *, params=None, layer: int = 0, backend: str | None = None,
                        topk: int = 0, spectral: str = "exact", analytic: bool = True,
                        power_iters: int = 2) -> JacobianNorms:
    """``log ||dh_T/dh_t||`` for every ``t`` and example, from one backward sweep.

    ``J(T) = I``, ``J(t-1) = J(t) A_t`` with step Jacobians ``A_t = dh_t/dh_{t-1}``:
    analytic ``diag(phi'(a_t)) W_hh`` for an Elman cell, autodiff of one step otherwise
    (LSTM: the state ``(h, c)`` is concatenated, ``A_t`` is ``2H x 2H``). The product is
    accumulated in float64 log space, so norms of ``1e-300`` or ``1e+300`` are exact.

    Args:
      model:    an rnnflow ``RecurrentNet`` (torch or jax), a recurrent config (with
                ``params`` and ``backend``), or a step function ``step(h, x) -> h'`` on
                batched tensors/arrays (``h``: ``(B, H)`` or a tuple; wrap
                ``torch.nn.GRUCell`` as ``lambda h, x: cell(x, h)``).
      xs:       ``(T, B, I)`` inputs (NumPy or backend arrays), time-major.
      h0:       model: its ``state0`` (default zeros); step function: the initial state.
      layer:    which layer of a stacked model.
      topk:     also return the ``topk`` largest ``log sigma_i(dh_T/dh_t)``.
      spectral: how ``log ||J(t)||_2`` and the top-k are computed: ``"exact"`` (LAPACK on
                ``M M^T``, ~4-5x the cost of the product itself), ``"svd"`` (full SVD,
                slowest), ``"power"`` (``power_iters`` warm-started subspace iterations per
                step, ~2.4x: lower bounds, exact once the top direction separates, up to
                ~1e-3 low in log where the top singular values cluster, mostly at small
                gaps) or ``"none"`` (Frobenius only, ~1.3x).
      analytic: use the closed-form Elman step Jacobian (``False``: autodiff, for checks).

    Raises ``ValueError`` naming the first step ``t`` where the hidden state is NaN/Inf.
    """
    model = as_model(model, params, backend)
    backend = resolve_backend(model, xs, h0, backend=backend)
    bk = _jacobians_module(backend)
    tr = bk.trace(model, xs, h0, layer=layer)
    check_trace(tr)
    steps = _steps(bk, model, tr, layer, analytic)
    sizes = tr.sizes
    res = product_norms(steps, topk=topk, spectral=spectral, power_iters=power_iters,
                        h_size=sizes[0] if len(sizes) > 1 else None)
    t = np.arange(tr.T)
    return JacobianNorms(
        t=t, gap=tr.T - t, log_spectral=res["log_spectral"], log_frobenius=res["log_frobenius"],
        log_spectral_h=res["log_spectral_h"], log_frobenius_h=res["log_frobenius_h"],
        log_singular=res["log_singular"], state_sizes=sizes, cell=tr.cell, activation=tr.activation,
        dphi=steps.dphi if steps.is_elman else None,
        weight_hh=steps.weight if steps.is_elman else None, backend=backend)


def elman_decomposition(model, xs, h0=None, *, params=None, layer: int = 0, backend: str | None = None,
                        spectral: str = "exact") -> ElmanDecomposition:
    """:func:`jacobians_over_time` of an Elman layer, split into its ``phi'`` and ``W_hh`` factors."""
    return decompose_elman(jacobians_over_time(model, xs, h0, params=params, layer=layer, backend=backend,
                                               spectral=spectral), spectral=spectral)


# ---------------------------------------------------------------- Lyapunov
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
                      analytic: bool = True, seed: int = 0) -> LyapunovSpectrum:
    """Lyapunov exponents of a recurrent cell (QR/Benettin method), sorted descending.

    Driving: ``xs=None``: autonomous, ``x_t = 0``; ``xs`` of shape ``(I,)`` or ``(B, I)``:
    constant input; ``(T, B, I)``: input-driven (then ``warmup + steps = T``).
    The first ``warmup`` steps settle the state and the tangent basis and are not
    averaged. Exponents are per step, natural log: ``(B, k)`` (default ``k = N``).
    """
    if steps is not None and (isinstance(steps, bool) or not isinstance(steps, (int, np.integer)) or steps < 1):
        raise ValueError(f"steps={steps!r} is invalid: expected an integer >= 1")
    if isinstance(warmup, bool) or not isinstance(warmup, (int, np.integer)) or warmup < 0:
        raise ValueError(f"warmup={warmup!r} is invalid: expected an integer >= 0")
    model = as_model(model, params, backend)
    backend = resolve_backend(model, xs, h0, backend=backend)
    bk = _jacobians_module(backend)
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
    tr = bk.trace(model, seq, h0, layer=layer)
    check_trace(tr)
    return lyapunov_exponents(_steps(bk, model, tr, layer, analytic), k, warmup=warmup, seed=seed)


# ---------------------------------------------------------------- reach and depth
def _log_sqrt(sq):
    with np.errstate(divide="ignore"):
        return 0.5 * np.log(sq)


def gradient_reach(model, xs, *, params=None, backend: str | None = None, directions=None,
                   label: str = "") -> ReachProfile:
    """``log ||dy_T/dx_t||_F`` for every input position ``t``, per example.

    ``y_T`` is the output at the last position; one backward pass per output
    direction (``directions`` ``(K, O)``; default the unit basis, giving the Frobenius
    norm over output and input features). Works for any model ``model(x)`` returning
    ``(T, B, O)`` or an object with ``.y`` (RNN, LSTM, GRU, Transformer). Gradients are
    computed in the model's dtype: use float64 models for long sequences.
    """
    model = as_model(model, params, backend)
    backend = resolve_backend(model, xs, backend=backend)
    sq = _jacobians_module(backend).output_input_grads(model, xs, directions)   # (K, T, B)
    T = sq.shape[1]
    t = np.arange(T)
    per_dir = None if directions is None else _log_sqrt(sq).transpose(0, 2, 1)
    return ReachProfile(t=t, gap=T - 1 - t, log_norm=_log_sqrt(sq.sum(0)).T,
                        log_norm_per_direction=per_dir, label=label)


def _half_sum_of_squares(y):
    return (y * y).sum() / 2


def gradient_through_depth(model, x, loss_fn=None, *, params=None, backend: str | None = None,
                           batch_axis: int | None = None, jacobians: bool = False,
                           label: str = "") -> DepthProfile:
    """Per-layer ``log ||dL/dx_l||`` through a stack ``x_{l+1} = f_l(x_l)``, ``l = 0..L-1``.

    Args:
      model: an rnnflow ``Transformer`` (``x_l`` = the residual stream ``hidden[l]``,
             ``(T, B, D)``) or ``MLP`` (``x_0`` = the input, ``x_l`` = hidden layer ``l``'s
             output ``(B, W)``), with ``L = loss_fn(y)``; or a list of layer callables
             ``[f_0, ...]`` with ``L = loss_fn(x_L)`` (then ``x`` is ``x_0``).
      loss_fn: scalar loss (default ``sum(y^2) / 2``), written with backend operations.
      batch_axis: where the batch sits in every ``x_l`` (models: known; lists: default 0).
      jacobians: add per-example ``log ||dx_{l+1}/dx_l||_2`` and ``_F`` (full Jacobians:
             small sizes only; needs layers that treat examples independently, so no
             train-mode BatchNorm).

    All ``L+1`` gradients come from one backward pass (per-example norms assume the
    loss is a sum over examples; ``log_grad_norm_total`` does not).
    """
    loss_fn = loss_fn or _half_sum_of_squares
    if isinstance(model, (list, tuple)):
        as_model(None, params)  # params= makes no sense for a list of layers
        layers = list(model)
        backend = resolve_backend(layers[0] if layers else None, x, backend=backend)
        bk = _jacobians_module(backend)
        x0, loss, axis = x, loss_fn, 0 if batch_axis is None else batch_axis
    else:
        model = as_model(model, params, backend)
        backend = resolve_backend(model, x, backend=backend)
        bk = _jacobians_module(backend)
        x0, layers, readout, axis = bk.depth_stack(model, x)
        loss = lambda h: loss_fn(readout(h))  # noqa: E731
    grads, _ = bk.depth_gradients(layers, x0, loss)
    sq = np.stack([(np.moveaxis(g, axis, 0).reshape(g.shape[axis], -1) ** 2).sum(1) for g in grads], 1)  # (B, L+1)
    spec = frob = None
    if jacobians:
        jacs = bk.layer_jacobians(layers, x0, batch_axis=axis)
        with np.errstate(divide="ignore"):
            spec = np.stack([np.log(np.linalg.norm(j, 2, axis=(1, 2))) for j in jacs], axis=1)
            frob = np.stack([np.log(np.linalg.norm(j, axis=(1, 2))) for j in jacs], axis=1)
    return DepthProfile(layer=np.arange(len(grads)), log_grad_norm=_log_sqrt(sq),
                        log_grad_norm_total=_log_sqrt(sq.sum(0)), log_jacobian_spectral=spec,
                        log_jacobian_frobenius=frob, label=label)


__all__ = ["jacobians_over_time", "elman_decomposition", "lyapunov_spectrum", "gradient_reach",
           "gradient_through_depth", "resolve_backend", "as_model"]

"""Gradient flow through depth: per-layer ``log ||dL/dx_l||`` through a stack ``x_{l+1} = f_l(x_l)``.

Result type :class:`rnnflow.analysis.results.DepthProfile`; plots in :mod:`rnnflow.plotting.depth`.
"""
from __future__ import annotations

import numpy as np

from .backends import Backend, prepare_stack
from .threads import analysis_threads, check_threads, choose_threads, state_size
from .own_models import OwnStack
from .rescaled import LN2, check_finite_backward, exponent, log_norm
from .results import DepthProfile


def depth_stack(bk: Backend, model, x):
    """An rnnflow ``Transformer`` or ``MLP`` (either backend) as a stack ``x_{l+1} = layers[l](x_l)``,
    through the stack contract (``stack_input``, ``blocks``, ``readout``, ``batch_axis``).

    Returns ``(x0, layers, readout, batch_axis)``: Transformer: ``x0`` is the residual
    stream entering block 0 ``(T, B, D)`` and ``readout`` the final LN and head; MLP:
    ``x0`` is the input ``(B, I)`` and ``readout`` the head. ``readout(x_L)`` is ``y``.
    """
    if not all(hasattr(model, a) for a in ("stack_input", "blocks", "readout", "batch_axis")):
        raise TypeError(f"depth_stack needs an rnnflow Transformer or MLP, got {type(model).__name__}")
    x0 = model.stack_input(bk.ops.asarray(x, model.dtype, bk.ops.device_of(model)))
    return x0, model.blocks(), model.readout, model.batch_axis


def _half_sum_of_squares(y):
    return (y * y).sum() / 2


def gradient_through_depth(model, x, loss_fn=None, *, params=None, backend: str | None = None,
                           batch_axis: int | None = None, jacobians: bool = False,
                           param_grads: bool = False, label: str = "", device=None,
                           threads: int | None = None) -> DepthProfile:
    """Per-layer ``log ||dL/dx_l||`` through a stack ``x_{l+1} = f_l(x_l)``, ``l = 0..L-1``.

    Args:
      model: an rnnflow ``Transformer`` (``x_l`` = the residual stream ``hidden[l]``,
             ``(T, B, D)``) or ``MLP`` (``x_0`` = the input, ``x_l`` = hidden layer ``l``'s
             output ``(B, W)``), with ``L = loss_fn(y)``; or a list of layer callables
             ``[f_0, ...]`` with ``L = loss_fn(x_L)`` (then ``x`` is ``x_0``); or a user's
             torch ``nn.TransformerEncoder`` (its ``layers``; ``L = loss_fn(norm(x_L))`` with
             its final ``norm`` if it has one), ``nn.TransformerEncoderLayer``,
             ``nn.Sequential`` / ``nn.ModuleList``, or a ``flax.nnx.Sequential``. ``x`` is in
             the module's own layout: ``(B, T, D)`` for ``batch_first=True`` (batch axis 0),
             else ``(T, B, D)`` (batch axis 1). Modules run in the mode they are in: call
             ``.eval()`` first to switch dropout off.
      loss_fn: scalar loss (default ``sum(y^2) / 2``), written with backend operations.
      batch_axis: where the batch sits in every ``x_l`` (models: known; lists: default 0).
      jacobians: add per-example ``log ||dx_{l+1}/dx_l||_2`` and ``_F`` (full Jacobians:
             small sizes only; needs layers that treat examples independently, so no
             train-mode BatchNorm).
      param_grads: add ``log ||dL/dW_l||_F`` for every parameter of every block, from the
             same backward pass (``log_param_grad_norm``: the block's own names, e.g.
             ``fc2.weight``, each ``(L,)``; the gradient of the whole batch's loss).
             rnnflow models only (their ``param_blocks``).
      device: where the stack runs (:mod:`rnnflow.devices`; default: where it is); a model or
             torch layer elsewhere is copied there, ``x`` follows it.
      threads: CPU threads (:mod:`rnnflow.analysis.threads`; None: chosen by the width, ``n``:
             exactly ``n``; restored on return).

    All ``L+1`` gradients come from one backward pass, layer by layer, with the cotangent
    rescaled by a power of two after each layer (:mod:`rnnflow.analysis.rescaled`), so the
    log-norms are finite and exact where ``dL/dx_l`` itself would overflow or underflow
    (an exploding stack in float32). A forward pass that leaves the float range raises an
    error naming the layer. Per-example norms assume the loss is a sum over examples
    (``log_grad_norm_total`` does not); one scale is shared by the batch, so examples may
    interact (train-mode BatchNorm).
    """
    loss_fn = loss_fn or _half_sum_of_squares
    threads = check_threads("gradient_through_depth", threads)
    model, bk = prepare_stack(model, x, params=params, backend=backend, batch_axis=batch_axis, device=device)
    with analysis_threads(bk.ops, choose_threads(state_size(model), True, threads)):
        if isinstance(model, OwnStack):   # a list of layers, nn.Sequential, nn.TransformerEncoder, ...
            dev = bk.ops.device(device)
            x0 = x if dev is None else bk.ops.asarray(x, None, dev)
            layers, readout, axis = list(model.layers), model.readout, model.batch_axis
        else:
            x0, layers, readout, axis = depth_stack(bk, model, x)

        def loss(h):
            return loss_fn(h if readout is None else readout(h))
        links, params = layers, None
        if param_grads:
            if isinstance(model, OwnStack) or not hasattr(model, "param_blocks"):
                raise ValueError("param_grads=True needs an rnnflow Transformer or MLP (their param_blocks); for "
                                 f"{type(model).__name__} use param_grads=False")
            links, params = zip(*model.param_blocks())
            params = list(params) + [None]                                # the loss link has none
        sq, log_scale, log_params = _rescaled_gradients(bk, links, x0, loss, axis, params)
        spec = frob = None
        if jacobians:
            jacs = bk.autodiff.layer_jacobians(layers, x0, batch_axis=axis)
            with np.errstate(divide="ignore"):
                spec = np.stack([np.log(np.linalg.norm(j, 2, axis=(1, 2))) for j in jacs], axis=1)
                frob = np.stack([np.log(np.linalg.norm(j, axis=(1, 2))) for j in jacs], axis=1)
        return DepthProfile(layer=np.arange(sq.shape[1]), log_grad_norm=log_norm(log_scale, sq),
                            log_grad_norm_total=log_norm(log_scale, sq.sum(0)), log_jacobian_spectral=spec,
                            log_jacobian_frobenius=frob, log_param_grad_norm=log_params, label=label)


def _rescaled_gradients(bk: Backend, layers, x0, loss, axis: int, params=None):
    """Per-example squared norms ``sq`` ``(B, L+1)`` of ``dL/dx_l`` in units ``exp(2 log_scale[l])``,
    and with ``params`` (a tree per layer, None for the loss) ``{name: (L,) log ||dL/dW_l||_F}``
    (else None).

    Runs ``x_{l+1} = layers[l](x_l)`` and ``L = loss(x_L)`` forward, then pulls the
    cotangent back link by link, rescaling it by ``2^-e`` (``e`` the exponent of its largest entry)
    after each one; a layer's parameter cotangent carries the same ``2^-k`` as the cotangent
    that entered it.
    """
    fns = list(layers) + [loss]
    values, pulls = bk.autodiff.pullbacks(fns, x0, params=params)
    if values[-1].size != 1:
        raise ValueError(f"loss_fn must return a scalar, got shape {tuple(values[-1].shape)}")
    check_forward(values[:-1])
    dtype = values[-2].dtype
    n = len(values) - 1                              # L+1 gradients dL/dx_0..dL/dx_L
    sq, log_scale, k = np.empty((values[0].shape[axis], n)), np.empty(n), 0
    log_params: dict[str, np.ndarray] | None = None if params is None else {}
    g = np.ones(values[-1].shape)
    for l in range(n - 1, -1, -1):
        g = pulls[l](g)                              # dL/dx_l * 2^-k
        if params is not None:
            g, gp = g
            with np.errstate(divide="ignore"):
                for name, v in gp.items():           # dL/dW_l * 2^-k (l < L: a layer link)
                    log_params.setdefault(name, np.full(n - 1, -np.inf))[l] = (
                        0.5 * np.log((v * v).sum()) + k * LN2)
        m = np.abs(g).max(initial=0.0)
        check_finite_backward(m, "the loss (dL/dx_L)" if l == n - 1 else f"layer {l}", dtype)
        e = int(exponent(m))
        g, k = np.ldexp(g, -e), k + e
        sq[:, l] = (np.moveaxis(g, axis, 0).reshape(g.shape[axis], -1) ** 2).sum(1)
        log_scale[l] = k * LN2
    return sq, log_scale, log_params


def check_forward(values) -> None:
    """``values`` ``x_0..x_L`` of a stack must be finite: name the first layer whose output is not."""
    for l, v in enumerate(values):
        if not np.isfinite(v).all():
            if l == 0:
                raise ValueError("the stack input x_0 contains NaN or Inf")
            big = float(np.abs(values[l - 1]).max())
            raise ValueError(f"the forward pass left the {v.dtype} range at layer {l - 1}: its output x_{l} "
                             f"is non-finite (NaN/Inf; max |x_{l - 1}| = {big:.3g}), so no gradient can be "
                             f"measured: use float64 (init_params(..., dtype=np.float64)) or a smaller init")

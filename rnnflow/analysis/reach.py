"""Gradient reach: how strongly the last output depends on each input, ``log ||dy_T/dx_t||``.

Result type :class:`rnnflow.analysis.results.ReachProfile`; plots in :mod:`rnnflow.plotting.reach`.
"""
from __future__ import annotations

import numpy as np

from ..config import LSTMConfig
from .backends import prepare
from .threads import analysis_threads, check_threads, choose_threads, state_size
from .rescaled import LN2, check_finite_backward, exponent, log_norm
from .results import ReachProfile
from .trace import check_directions, check_sequence, is_recurrent_model


def gradient_reach(model, xs, *, params=None, backend: str | None = None, directions=None,
                   label: str = "", device=None, threads: int | None = None) -> ReachProfile:
    """``log ||dy_T/dx_t||_F`` for every input position ``t``, per example.

    ``y_T`` is the output at the last position; one backward pass per output
    direction (``directions`` ``(K, O)``; default the unit basis, giving the Frobenius
    norm over output and input features). Works for any model ``model(x)`` returning
    ``(T, B, O)`` or an object with ``.y`` (RNN, LSTM, GRU, Transformer).

    A user's torch ``nn.RNN``/``nn.LSTM``/``nn.GRU`` (or cell) or flax recurrent cell / ``RNN``
    wrapper (linen with ``params=``) is copied exactly into an rnnflow model whose ``y`` is the
    top layer's ``h`` (what the module returns); ``xs`` is then in the module's own layout,
    ``(B, T, I)`` where it is batch-major, else ``(T, B, I)``. Any other torch module is
    called as it is, ``model(x)`` with ``x`` ``(T, B, I)``.

    For an rnnflow RNN, LSTM or GRU (and so for the modules copied into one) the backward
    pass runs step by step through the model's ``step`` with the cotangent of every
    (direction, example) rescaled by a power of two after each step
    (:mod:`rnnflow.analysis.rescaled`), so ``log_norm`` is finite and exact at any ``T``
    where ``dy_T/dx_t`` itself underflows to 0 or overflows; a forward pass that leaves the
    float range raises an error naming the step. Other models (a Transformer, a plain
    callable) get one backward pass in their dtype: there is no long product to rescale.
    A diagonal model (LRU, minGRU, minLSTM) takes that one-pass route too (not rescaled yet):
    where its gradient falls below the dtype's range, ``log_norm`` is ``-inf``.

    ``device``: where the model runs (:mod:`rnnflow.devices`; default: where it is); a model
    elsewhere is copied there, ``xs`` and the cotangents follow it.
    ``threads``: CPU threads (:mod:`rnnflow.analysis.threads`; None: chosen by size, ``n``:
    exactly ``n``; restored on return).
    """
    threads = check_threads("gradient_reach", threads)
    model, bk, xs, _ = prepare(model, xs, params=params, backend=backend, role="sequence", device=device)
    with analysis_threads(bk.ops, choose_threads(state_size(model), True, threads)):
        check_sequence(np.shape(xs))
        if is_recurrent_model(model):
            sq_log = _recurrent_reach(bk, model, xs, directions)                # (K, B, T) log-norms
        else:
            sq = bk.autodiff.output_input_grads(model, xs, directions)         # (K, T, B)
            if not np.isfinite(sq).all():
                t = int(np.argmax(~np.isfinite(sq).all(axis=(0, 2))))
                raise ValueError(f"the gradient dy_T/dx_t is non-finite (NaN/Inf) first at position t={t}: "
                                 f"the model left its float range; use float64 or a smaller init")
            sq_log = log_norm(0.0, sq).transpose(0, 2, 1)
        T = sq_log.shape[-1]
        t = np.arange(T)
        total = np.logaddexp.reduce(2 * sq_log, axis=0) / 2                   # log of the norm over k
        return ReachProfile(t=t, gap=T - 1 - t, log_norm=total,
                            log_norm_per_direction=None if directions is None else sq_log, label=label)


def _recurrent_reach(bk, model, xs, directions) -> np.ndarray:
    """``log ||d(u_k . y_T)/dx_t||`` ``(K, B, T)`` of an rnnflow recurrent model, step by step.

    Rows ``r = k*B + b`` pair direction ``k`` with example ``b``; each row has its own
    scale ``2^k_r`` (rows never interact in an rnnflow recurrence). At step ``t``
    (``state_{t-1}, x_t -> state_t``) the layers are pulled back top down, the input
    cotangent of layer ``l`` joining layer ``l-1``'s state cotangent.
    """
    ops, cfg = bk.ops, model.config
    x = ops.asarray(xs, model.dtype, ops.device_of(model))
    with ops.no_grad():
        out = model(x)
        s0 = model.initial_state(x.shape[1])
    lstm = isinstance(cfg, LSTMConfig)
    xs = ops.numpy(x)                                                    # (T, B, I)
    T, B = xs.shape[:2]
    seqs = (out.hidden, out.cell) if lstm else (out.hidden,)             # parts of (L, T, B, H)
    firsts = s0 if lstm else (s0,)                                       # parts of (L, B, H)
    states = [np.concatenate([ops.numpy(f)[:, None], ops.numpy(s)], axis=1) for f, s in zip(firsts, seqs)]
    check_states(states)                                                 # parts of (L, T+1, B, H)
    dirs = check_directions(directions, ops.numpy(out.y).shape[-1])       # (K, O)
    K, L = dirs.shape[0], cfg.num_layers

    def rows(a):  # (B, n) -> (K*B, n)
        return np.tile(a, (K, 1))
    h = states[0]
    _, (pull,) = bk.autodiff.pullbacks([model.readout], rows(h[L - 1, T]))
    cot = [[np.zeros((K * B, s.shape[-1])) for s in states] for _ in range(L)]
    cot[L - 1][0] = pull(np.repeat(dirs, B, axis=0))                      # d(u_k . y_T)/dh^{L-1}_T
    step, params = model.step_function(), [model.layer_params(l) for l in range(L)]
    out_log, k = np.empty((T, K * B)), np.zeros(K * B, dtype=np.int64)
    for t in range(T, 0, -1):
        c_in = None
        for l in range(L - 1, -1, -1):
            c = list(cot[l])
            if c_in is not None:
                c[0] = c[0] + c_in
            inp = xs[t - 1] if l == 0 else h[l - 1, t]
            prev, c_in = bk.autodiff.step_vjp(step, params[l], tuple(rows(s[l, t - 1]) for s in states),
                                              rows(inp), tuple(c))
            cot[l] = list(prev)
        sq = (c_in ** 2).sum(-1)
        check_finite_backward(sq, f"step t={t} (input xs[{t - 1}])", xs.dtype)
        out_log[t - 1] = log_norm(k * LN2, sq)
        m = np.max([np.abs(c).max(-1) for layer in cot for c in layer], axis=0)   # (K*B,)
        check_finite_backward(m, f"step t={t}", xs.dtype)
        e = exponent(m)
        cot, k = [[np.ldexp(c, -e[:, None]) for c in layer] for layer in cot], k + e
    return out_log.reshape(T, K, B).transpose(1, 2, 0)


def check_states(states) -> None:
    """Every state part ``(L, T+1, B, H)`` must be finite: name the first step and layer that is not."""
    bad = np.zeros(states[0].shape[:2], dtype=bool)                       # (L, T+1)
    for s in states:
        bad |= ~np.isfinite(s).all(axis=(2, 3))
    if bad.any():
        t = int(np.argmax(bad.any(axis=0)))
        l = int(np.argmax(bad[:, t]))
        raise ValueError(f"the forward pass left the {states[0].dtype} range at step t={t} (input xs[{t - 1}]), "
                         f"layer {l}: the hidden state is non-finite (NaN/Inf), so no gradient can be "
                         f"measured: use float64 (init_params(..., dtype=np.float64)) or a smaller init")

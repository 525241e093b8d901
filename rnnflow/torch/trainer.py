"""Training in torch: the optimizer, loss and clipping, and the :class:`Stepper` that
:func:`rnnflow.train` drives (:mod:`rnnflow.training.loop`).

Mirrors :mod:`rnnflow.jax.trainer` function for function. Where torch and JAX differ in
kind the names differ too: torch updates in place, so :func:`clip_gradients_` and
:func:`load_optimizer_state_` mutate (JAX's ``clip_gradients`` / ``load_optimizer_state``
return new trees), and a ``torch.optim`` optimizer binds its parameters
(:func:`make_optimizer`; JAX's ``make_transformation`` is pure). The update rules, losses
and clipping formulas are written out in :mod:`rnnflow.training.config`.
"""
from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from ..config import LSTMConfig
from ..params import flatten, unflatten
from ..training.config import TrainConfig
from ..training.loop import trainable_keys
from .arrays import device_of
from .build import build, export_params

# neutral slot name -> torch.optim state name, per optimizer
TORCH_SLOTS = {"sgd": {}, "momentum": {"trace": "momentum_buffer"},
               "adam": {"mu": "exp_avg", "nu": "exp_avg_sq"}, "rmsprop": {"nu": "square_avg"}}


def make_optimizer(train_config: TrainConfig, params) -> torch.optim.Optimizer:
    """The ``torch.optim`` optimizer for ``train_config`` over the tensors ``params`` (in
    the order of the flat keys the state helpers below are given).

    Multi-tensor (``foreach=True``) kernels: one fused call per step instead of one per
    parameter; on CPU their results are bit-identical to the single-tensor ones
    (``tests/test_trainer_step.py`` checks every optimizer in float32 and float64).
    """
    c = train_config
    params = list(params)
    if c.optimizer == "sgd":
        return torch.optim.SGD(params, lr=c.lr, foreach=True)
    if c.optimizer == "momentum":
        return torch.optim.SGD(params, lr=c.lr, momentum=c.momentum, nesterov=c.nesterov, foreach=True)
    if c.optimizer == "adam":
        return torch.optim.Adam(params, lr=c.lr, betas=(c.beta1, c.beta2), eps=c.eps, foreach=True)
    return torch.optim.RMSprop(params, lr=c.lr, alpha=c.rms_alpha, eps=c.eps, foreach=True)


def compute_loss(loss: str, y_pred, y, length=None):
    """The scalar loss ``loss`` (see :mod:`rnnflow.training.config`) of ``y_pred`` against ``y``;
    ``length``: a padded batch's own length (:mod:`rnnflow.training.padding`), whose last step
    ``y_pred[length - 1]`` the ``*_last`` losses read instead of ``y_pred[-1]``."""
    last = y_pred[-1] if length is None else y_pred[int(length) - 1]
    if loss == "mse_last":
        return F.mse_loss(last, y)                     # (B, O) vs (B, O)
    if loss == "mse":
        return F.mse_loss(y_pred, y)
    if loss == "xent_last":
        return F.cross_entropy(last, y)                # (B, C) logits, (B,) labels
    if loss == "xent_all":
        return F.cross_entropy(y_pred.reshape(-1, y_pred.shape[-1]), y.reshape(-1))  # (T*B, C), (T*B,)
    if loss == "xent":
        return F.cross_entropy(y_pred, y)
    raise ValueError(f"loss={loss!r} is invalid")


def group_norms(grads: dict, keys) -> torch.Tensor:
    """(G,) L2 norm of ``grads[k]`` for each key (the global norm is the norm of this
    vector, as in ``clip_grad_norm_``). One fused ``torch._foreach_norm`` call, bit-identical
    to ``torch.linalg.vector_norm`` per tensor."""
    return torch.stack(torch._foreach_norm([grads[k] for k in keys]))


def clip_gradients_(params: dict, train_config: TrainConfig, total_norm=None) -> None:
    """Clip the ``.grad`` of the parameters ``{key: parameter}`` in place
    (``clip_grad_norm_`` / ``clip_grad_value_``). ``total_norm``: the global gradient norm
    when already computed (a 0-d tensor, the norm of :func:`group_norms`), so norm clipping
    does not compute it again (``clip_grads_with_norm_``, the same formula)."""
    if train_config.clip == "norm":
        params = list(params.values())
        if total_norm is None:
            torch.nn.utils.clip_grad_norm_(params, train_config.clip_value)
        else:
            torch.nn.utils.clip_grads_with_norm_(params, train_config.clip_value, total_norm)
    elif train_config.clip == "value":
        torch.nn.utils.clip_grad_value_(list(params.values()), train_config.clip_value)


def _step_dtype():
    # torch.optim keeps Adam's / RMSprop's step counter as a float tensor of this dtype
    return torch.float64 if torch.get_default_dtype() == torch.float64 else torch.float32


def _bound(opt, keys) -> list:
    """The optimizer's parameters, one per flat key (in :func:`make_optimizer`'s order)."""
    params = [p for group in opt.param_groups for p in group["params"]]
    if len(params) != len(keys):
        raise ValueError(f"keys has {len(keys)} entries, but the optimizer holds {len(params)} parameters: "
                         "expected one flat key per parameter, in make_optimizer's order")
    return params


def optimizer_state(opt, keys, train_config: TrainConfig, count: int) -> dict:
    """The state of the ``torch.optim`` optimizer ``opt`` as a backend-neutral dict
    (:mod:`rnnflow.training.results`) of NumPy arrays; ``keys`` are the flat keys of its
    parameters, in order."""
    out = {"count": np.array(count, np.int64)}
    for slot, name in TORCH_SLOTS[train_config.optimizer].items():
        for k, p in zip(keys, _bound(opt, keys)):
            v = opt.state.get(p, {}).get(name)
            out[f"{slot}/{k}"] = (np.zeros(tuple(p.shape), _np(p.dtype)) if v is None
                                  else v.detach().cpu().numpy().copy())
    return out


def load_optimizer_state_(opt, keys, train_config: TrainConfig, state: dict) -> int:
    """Fill ``opt.state`` (a ``torch.optim`` optimizer over the parameters of ``keys``) in
    place from a neutral state; returns its update count."""
    count = int(state["count"])
    slots = TORCH_SLOTS[train_config.optimizer]
    for k, p in zip(keys, _bound(opt, keys)):
        st = {name: torch.as_tensor(np.asarray(state[f"{slot}/{k}"])).to(p.device, p.dtype).clone()
              for slot, name in slots.items()}
        if train_config.optimizer in ("adam", "rmsprop"):
            st["step"] = torch.tensor(float(count), dtype=_step_dtype())
        if st:
            opt.state[p] = st
    return count


def _np(dtype):
    return np.dtype(str(dtype).removeprefix("torch."))


def _dropout_seed(seed: int, step: int) -> int:
    return int(np.random.SeedSequence([seed, step]).generate_state(1, np.uint64)[0] >> 1)


class Stepper:
    """One model, its optimizer and the pending gradients (:class:`rnnflow.training.loop.Stepper`)."""

    def __init__(self, model_config, flat, cfg: TrainConfig, opt_state, monitor, max_length=None, device=None):
        del max_length   # torch compiles nothing: each batch runs at its own length
        self.cfg, self.keys = cfg, trainable_keys(model_config)
        with torch.random.fork_rng(devices=[]):  # nn.Linear's default init draws from it
            self.model = build(model_config, unflatten(flat, model_config), dtype=np.dtype(cfg.dtype), device=device)
        self.device = device_of(self.model)
        self.model.train()
        named = dict(self.model.named_parameters())
        self.trainable = {k: named[k] for k in self.keys}
        self.buffers = dict(self.model.named_buffers())
        self.optimizer = make_optimizer(cfg, self.trainable.values())
        self.count = 0 if opt_state is None else load_optimizer_state_(self.optimizer, self.keys, cfg, opt_state)
        self.dropout = getattr(model_config, "dropout", 0.0) > 0
        # an LSTM need not rebuild its cell states when only y enters the loss
        self.call_kw = {"validate": False, **({"return_cell": False} if isinstance(model_config, LSTMConfig) else {})}
        self.monitor, self._attached = monitor, False
        if monitor is not None and monitor.module is None:
            monitor.attach(self.model)
            self._attached = True
        elif monitor is not None and monitor.module is not self.model:
            raise ValueError("the torch GradientMonitor passed to train() is attached to another module: "
                             "pass an unattached GradientMonitor() (train attaches it to its model)")
        self._norm = float("nan")

    def compute(self, step, x, y):
        self._saved_buffers = {k: b.clone() for k, b in self.buffers.items()}
        for p in self.trainable.values():
            p.grad = None
        xt, yt = torch.as_tensor(x, device=self.device), torch.as_tensor(y, device=self.device)
        if self.dropout and self.device.type == "cuda":
            # on a GPU dropout draws from that device's generator: fork and seed it alone
            with torch.random.fork_rng(devices=[self.device]):
                torch.cuda.manual_seed(_dropout_seed(self.cfg.seed, step))
                out = self.model(xt, **self.call_kw)
        elif self.dropout:
            # dropout draws from torch's global CPU generator: seed it per step (a resumed run
            # draws the same masks) inside fork_rng, which restores the caller's state after.
            # default_generator.manual_seed, not torch.manual_seed: the latter also queues
            # lazy CUDA/XPU seeding calls, one per step.
            with torch.random.fork_rng(devices=[]):
                torch.default_generator.manual_seed(_dropout_seed(self.cfg.seed, step))
                out = self.model(xt, **self.call_kw)
        else:
            out = self.model(xt, **self.call_kw)
        loss = compute_loss(self.cfg.loss, out.y, yt)
        loss.backward()
        for p in self.trainable.values():
            if p.grad is None:  # an unused parameter: a zero gradient, as JAX gives
                p.grad = torch.zeros_like(p)
        norms = group_norms(self._grads(), self.keys)
        self._total = torch.linalg.vector_norm(norms)   # kept for norm clipping in apply
        vals = torch.cat([loss.detach().reshape(1), self._total.reshape(1), norms]).tolist()
        if self.monitor is not None:
            self.monitor.record(loss=vals[0])
        self._norm = vals[1]
        return vals[0], vals[1], np.array(vals[2:])

    def _grads(self) -> dict:
        return {k: p.grad for k, p in self.trainable.items()}

    def _state_tensors(self):
        """The optimizer state's tensors, in a fixed order, and their layout
        ``((param index, name), ...)``."""
        index = {p: i for i, p in enumerate(self.trainable.values())}
        layout, tensors = [], []
        for p, st in self.optimizer.state.items():
            for name, v in st.items():
                layout.append((index[p], name))
                tensors.append(v)
        return tuple(layout), tensors

    def _snapshot(self):
        """Copy the parameters and the optimizer state into buffers kept between steps
        (one fused ``torch._foreach_copy_``; allocated again only when the state's layout
        changes, i.e. after the first update)."""
        layout, state = self._state_tensors()
        live = list(self.trainable.values()) + state
        if getattr(self, "_saved_layout", None) != layout or any(
                s.shape != t.shape or s.dtype != t.dtype for s, t in zip(self._saved, live)):
            self._saved_layout, self._saved = layout, [t.detach().clone() for t in live]
        else:
            with torch.no_grad():
                torch._foreach_copy_(self._saved, [t.detach() for t in live])

    def _restore(self):
        """Undo the last update from :meth:`_snapshot` (parameters and optimizer state)."""
        params = list(self.trainable.values())
        with torch.no_grad():
            for p, s in zip(params, self._saved):
                p.copy_(s)
        state = {}
        for (i, name), s in zip(self._saved_layout, self._saved[len(params):]):
            state.setdefault(params[i], {})[name] = s.clone()
        self.optimizer.state.clear()
        self.optimizer.state.update(state)

    def apply(self):
        clip_gradients_(self.trainable, self.cfg, self._total)
        post = (torch.linalg.vector_norm(group_norms(self._grads(), self.keys))
                if self.cfg.clip != "none" else None)
        # torch.optim updates in place: keep a copy (params + optimizer state) so that an
        # update which makes a parameter NaN/Inf can be undone
        self._snapshot()
        self.optimizer.step()
        params = list(self.trainable.values())
        # finite parameters have finite norms unless a norm overflows; a non-finite sum of
        # the norms sends us to the exact per-parameter check below
        check = torch.stack(torch._foreach_norm(params)).sum()
        vals = torch.stack([check.to(torch.float64),
                            (post if post is not None else torch.zeros((), device=check.device)).to(torch.float64)]).tolist()
        bad = ()
        if not np.isfinite(vals[0]):
            bad = tuple(k for k, p in zip(self.keys, params) if not bool(torch.isfinite(p).all()))
        if bad:  # undo: parameters, optimizer state and BatchNorm running stats
            self._restore()
            self.discard()
            return float("nan"), bad
        self.count += 1
        return (vals[1] if post is not None else self._norm), ()

    def discard(self):
        with torch.no_grad():
            for k, b in self.buffers.items():
                b.copy_(self._saved_buffers[k])

    def params(self):
        return flatten(export_params(self.model))

    def optimizer_state(self):
        return optimizer_state(self.optimizer, self.keys, self.cfg, self.count)

    def close(self):
        if self._attached:
            self.monitor.remove()


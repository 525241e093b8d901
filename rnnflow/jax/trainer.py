"""Training in JAX: the optimizer, loss and clipping, and the :class:`Stepper` that
:func:`rnnflow.train` drives (:mod:`rnnflow.training.loop`).

Mirrors :mod:`rnnflow.torch.trainer` function for function. Where JAX and torch differ in
kind the names differ too: JAX returns new trees, so :func:`clip_gradients` and
:func:`load_optimizer_state` return them (torch's ``clip_gradients_`` /
``load_optimizer_state_`` mutate), and an optax transformation is pure
(:func:`make_transformation`, its state from ``.init(params)``; torch's ``make_optimizer``
binds its parameters). The optax settings
reproduce ``torch.optim`` (see :mod:`rnnflow.training.config`): ``optax.rmsprop``
with ``eps_in_sqrt=False`` and torch's ``alpha`` as ``decay``, and norm clipping by
:func:`clip_by_global_norm`, which is ``torch.nn.utils.clip_grad_norm_``'s formula
``g * min(1, c / (||g|| + 1e-6))`` (``optax.clip_by_global_norm`` scales by
``c / ||g||`` without the 1e-6, so the two would differ by ~1e-6 relative).

One JAX-only detail: a Transformer's layers are differentiated and updated *packed*, one
``(L, ...)`` array per parameter name (:mod:`rnnflow.training.packing`), because XLA's
compile time grows with the number of arrays in a program (48 layers: the first step takes
4.3 s, a plain jit over per-layer arrays 14.7 s; ``benchmarks/bench_compile.py``). Records,
checkpoints and the monitor still see one group per flat key.
"""
from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np
import optax

from ..models import model_kind
from ..training.config import CLIP_NORM_EPS, TrainConfig
from ..training.loop import trainable_keys
from ..training.packing import PACKED_PREFIX, Packing, make_packing
from ..training.padding import can_pad, pad_time
from . import arrays
from .build import as_dtype
from .diagonal import diagonal_forward
from .mlp import mlp_forward
from .rnn import initial_state, recurrent_forward
from .ssm import ssm_forward
from .transformer import transformer_forward

# neutral slot name -> (optax state type, its field), per optimizer
OPTAX_SLOTS = {"sgd": {}, "momentum": {"trace": (optax.TraceState, "trace")},
               "adam": {"mu": (optax.ScaleByAdamState, "mu"), "nu": (optax.ScaleByAdamState, "nu")},
               "rmsprop": {"nu": (optax.ScaleByRmsState, "nu")}}
_STATE_TYPES = (optax.TraceState, optax.ScaleByAdamState, optax.ScaleByRmsState)


def make_transformation(train_config: TrainConfig) -> optax.GradientTransformation:
    """The optax transformation that performs ``torch.optim``'s update for ``train_config``
    (pure: its state comes from ``.init(params)``)."""
    c = train_config
    if c.optimizer == "sgd":
        return optax.sgd(c.lr)
    if c.optimizer == "momentum":
        return optax.sgd(c.lr, momentum=c.momentum, nesterov=c.nesterov)
    if c.optimizer == "adam":
        return optax.adam(c.lr, b1=c.beta1, b2=c.beta2, eps=c.eps)
    return optax.rmsprop(c.lr, decay=c.rms_alpha, eps=c.eps, initial_scale=0.0, eps_in_sqrt=False)


def compute_loss(loss: str, y_pred, y, length=None):
    """The scalar loss ``loss`` (see :mod:`rnnflow.training.config`) of ``y_pred`` against ``y``;
    ``length``: a padded batch's own length (:mod:`rnnflow.training.padding`), whose last step
    ``y_pred[length - 1]`` the ``*_last`` losses read instead of ``y_pred[-1]``."""
    last = y_pred[-1] if length is None else jax.lax.dynamic_index_in_dim(y_pred, length - 1, 0, keepdims=False)
    if loss == "mse_last":
        return jnp.mean((last - y) ** 2)         # (B, O) vs (B, O)
    if loss == "mse":
        return jnp.mean((y_pred - y) ** 2)
    if loss in ("xent_last", "xent_all", "xent"):
        logits = last if loss == "xent_last" else y_pred  # (B, C) / (T, B, C) / (B, C)
        return optax.softmax_cross_entropy_with_integer_labels(logits, y).mean()
    raise ValueError(f"loss={loss!r} is invalid")


def group_norms(grads: dict, keys) -> jax.Array:
    """(G,) L2 norm of ``grads[k]`` for each key (the global norm is the norm of this
    vector, as in ``clip_grad_norm_``)."""
    return jnp.stack([jnp.linalg.norm(grads[k].ravel()) for k in keys])


def _per_group(packed: dict, packing: Packing, reduce) -> jax.Array:
    """(G,) ``reduce(array, axis)`` of every flat group, in ``packing.keys`` order, from a
    packed dict: a packed ``(L, ...)`` array gives its L groups' values at once."""
    parts = []
    for p in packing.packed:
        a = packed[p]
        if p.startswith(PACKED_PREFIX):
            parts.append(reduce(a.reshape(a.shape[0], -1), 1))   # (L,)
        else:
            parts.append(reduce(a.reshape(1, -1), 1))            # (1,)
    return jnp.concatenate(parts)[packing.group_order()]


def packed_group_norms(grads: dict, packing: Packing) -> jax.Array:
    """:func:`group_norms` of a packed gradient dict (see :mod:`rnnflow.training.packing`)."""
    return _per_group(grads, packing, lambda a, axis: jnp.linalg.norm(a, axis=axis))


def clip_by_global_norm(max_norm: float) -> optax.GradientTransformation:
    """``torch.nn.utils.clip_grad_norm_`` as an optax transformation:
    ``g * min(1, max_norm / (||g|| + 1e-6))`` with ``||g||`` the norm of the per-leaf norms."""
    def update_fn(updates, state, params=None):
        del params
        leaves = jax.tree_util.tree_leaves(updates)
        norm = jnp.linalg.norm(jnp.stack([jnp.linalg.norm(u.ravel()) for u in leaves]))
        coef = jnp.minimum(max_norm / (norm + CLIP_NORM_EPS), 1.0)
        return jax.tree_util.tree_map(lambda u: u * coef.astype(u.dtype), updates), state
    return optax.GradientTransformation(optax.init_empty_state, update_fn)


def clip_gradients(grads, train_config: TrainConfig, total_norm=None):
    """Clipped ``grads`` (:func:`clip_by_global_norm` / ``optax.clip``); a new pytree.
    ``total_norm``: the global gradient norm when already computed (the norm of
    :func:`group_norms`), so norm clipping does not compute it again (the same formula)."""
    if train_config.clip == "none":
        return grads
    if train_config.clip == "norm" and total_norm is not None:
        coef = jnp.minimum(train_config.clip_value / (total_norm + CLIP_NORM_EPS), 1.0)
        return jax.tree_util.tree_map(lambda u: u * coef.astype(u.dtype), grads)
    tx = (clip_by_global_norm(train_config.clip_value) if train_config.clip == "norm"
          else optax.clip(train_config.clip_value))
    return tx.update(grads, tx.init(grads))[0]


def optimizer_state(opt, keys, train_config: TrainConfig, count: int, *,
                    packing: Packing | None = None) -> dict:
    """The optax state ``opt`` as a backend-neutral dict (:mod:`rnnflow.training.results`) of
    NumPy arrays; ``keys`` are the flat keys of its trees (``packing``: the trees are packed by it)."""
    out = {"count": np.array(count, np.int64)}
    for slot, (cls, field) in OPTAX_SLOTS[train_config.optimizer].items():
        tree = getattr(_find(opt, cls), field)
        flat = packing.unpack(jax.device_get(tree)) if packing is not None else tree
        out.update({f"{slot}/{k}": np.array(flat[k]) for k in keys})
    return out


def load_optimizer_state(opt, keys, train_config: TrainConfig, state: dict, *,
                         packing: Packing | None = None):
    """The optax state ``opt`` (of ``make_transformation(train_config)``, its trees over the
    flat ``keys``, or packed by ``packing``) filled from a neutral state, as a new tree;
    returns ``(new state, update count)``."""
    count = int(state["count"])
    packing = packing or make_packing(None, keys)
    fields: dict = {}
    for slot, (cls, field) in OPTAX_SLOTS[train_config.optimizer].items():
        like = getattr(_find(opt, cls), field)  # dtypes to keep
        neutral = packing.pack({k: np.asarray(state[f"{slot}/{k}"]) for k in keys})
        fields.setdefault(cls, {})[field] = {k: jnp.asarray(v, dtype=like[k].dtype) for k, v in neutral.items()}

    def fill(node):
        if type(node) in fields:
            new = node._replace(**fields[type(node)])
            return new._replace(count=jnp.asarray(count, node.count.dtype)) if "count" in new._fields else new
        return node
    return jax.tree_util.tree_map(fill, opt, is_leaf=lambda n: isinstance(n, _STATE_TYPES)), count


def _find(opt_state, cls):
    nodes = jax.tree_util.tree_leaves(opt_state, is_leaf=lambda n: isinstance(n, _STATE_TYPES))
    return next(n for n in nodes if isinstance(n, cls))


def forward(params, x, config, *, key=None):
    """Train-mode output: ``(y, bn_stats)``; y ``(T, B, O)`` (MLP: ``(B, O)``), bn_stats the
    MLP's updated BatchNorm running stats (None otherwise). Recurrent and diagonal models start
    from the zero state, as their ``__call__`` does without ``state0``."""
    kind = model_kind(config)
    if kind == "recurrent":
        return recurrent_forward(params, x, initial_state(config, x.shape[1], x.dtype), config).y, None
    if kind == "transformer":
        return transformer_forward(params, x, config, train=True, key=key).y, None
    if kind == "diagonal":   # LRU, minGRU, minLSTM, selective SSM: from a zero state, parallel scan
        state0 = jnp.zeros((config.num_layers, x.shape[1], config.state_width), x.dtype)
        fwd = ssm_forward if config.cell == "ssm" else diagonal_forward
        return fwd(params, x, state0, config).y, None
    out = mlp_forward(params, x, config, train=True, key=key)
    return out.y, out.bn_stats


@functools.lru_cache(maxsize=32)
def _grad_fn(model_config, loss: str):
    """jit(trainable, buffers, x, y, key, step, length) -> (loss, grads, new buffers, group norms,
    global norm); ``trainable`` and ``grads`` packed (:mod:`rnnflow.training.packing`), norms per
    flat group; the dropout key ``fold_in(key, step)`` is folded inside the program; ``length``:
    None, or a padded batch's own length (a traced int32: one program for every length)."""
    packing = make_packing(model_config, trainable_keys(model_config))

    def loss_fn(trainable, buffers, x, y, key, length):
        params = packing.nest({**trainable, **buffers}, model_config)
        y_pred, stats = forward(params, x, model_config, key=key)
        new_buffers = {f"layers.{l}.bn.{name}": v for l, s in enumerate(stats or []) for name, v in s.items()}
        return compute_loss(loss, y_pred, y, length), new_buffers

    def step(trainable, buffers, x, y, key, step, length=None):
        key = jax.random.fold_in(key, step)
        (value, new_buffers), grads = jax.value_and_grad(loss_fn, has_aux=True)(trainable, buffers, x, y, key,
                                                                               length)
        norms = packed_group_norms(grads, packing)
        return value, grads, {**buffers, **new_buffers}, norms, jnp.linalg.norm(norms)
    return jax.jit(step)


@functools.lru_cache(maxsize=32)
def _update_fn(cfg: TrainConfig, packing: Packing):
    """jit(trainable, opt_state, grads) -> (new trainable, new state, clipped norm, (G,) finite),
    over packed dicts; ``finite`` per flat group."""
    tx = make_transformation(cfg)

    def update(trainable, opt_state, grads):
        grads = clip_gradients(grads, cfg)
        clipped = jnp.linalg.norm(packed_group_norms(grads, packing))
        # optax's bias corrections raise a Python float to an int32 count, which JAX's strict
        # dtype promotion refuses: run the update under standard promotion whatever the caller set
        with jax.numpy_dtype_promotion("standard"):
            updates, opt_state = tx.update(grads, opt_state, trainable)
        new = optax.apply_updates(trainable, updates)
        return new, opt_state, clipped, _per_group(new, packing, lambda a, axis: jnp.isfinite(a).all(axis=axis))
    return jax.jit(update)


def _update_key(cfg: TrainConfig) -> TrainConfig:
    # only these fields shape the update: share one compiled function between runs
    return TrainConfig(optimizer=cfg.optimizer, lr=cfg.lr, momentum=cfg.momentum, nesterov=cfg.nesterov,
                       beta1=cfg.beta1, beta2=cfg.beta2, rms_alpha=cfg.rms_alpha, eps=cfg.eps,
                       clip=cfg.clip, clip_value=cfg.clip_value, dtype=cfg.dtype)


class Stepper:
    """Parameters, optimizer state and the pending gradients (:class:`rnnflow.training.loop.Stepper`)."""

    def __init__(self, model_config, flat, cfg: TrainConfig, opt_state, monitor, max_length=None, device=None):
        self.cfg, self.keys = cfg, trainable_keys(model_config)
        # variable-length batches padded to one compiled length where that is exact
        self.pad_to = max_length if max_length is not None and can_pad(model_config, cfg.loss) else None
        self.packing = make_packing(model_config, self.keys)  # a Transformer's layers: (L, ...) arrays
        dt = as_dtype(cfg.dtype)  # refuses float64 without JAX's 64-bit mode
        packed = self.packing.pack({k: np.asarray(flat[k]) for k in self.keys})
        # device None: uncommitted arrays on JAX's default device; else committed to it, and the
        # optimizer state, the key and every batch follow them there
        self.device = dev = arrays.device(device)
        self.trainable = {k: arrays.asarray(v, dt, dev) for k, v in packed.items()}
        self.buffers = {k: arrays.asarray(np.asarray(v), dt, dev) for k, v in flat.items() if k not in self.keys}
        self.opt_state, self.count = make_transformation(cfg).init(self.trainable), 0
        if opt_state is not None:
            self.opt_state, self.count = load_optimizer_state(self.opt_state, self.keys, cfg, opt_state,
                                                              packing=self.packing)
        self._grad = _grad_fn(model_config, cfg.loss)
        self._update = _update_fn(_update_key(cfg), self.packing)
        self._key = jax.random.key(cfg.seed) if dev is None else jax.device_put(jax.random.key(cfg.seed), dev)
        self.monitor = monitor
        self._pending = None

    def compute(self, step, x, y):
        if y.dtype == np.int64:
            y = y.astype(np.int32)  # labels: int32 works with or without 64-bit mode
        length = None
        if self.pad_to is not None:
            length, x = np.int32(x.shape[0]), pad_time(x, self.pad_to)
        if self.device is not None:   # one transfer per batch, to the parameters' device
            x, y = jax.device_put((x, y), self.device)
        value, grads, buffers, norms, norm = self._grad(
            self.trainable, self.buffers, x, y, self._key, np.uint32(step), length)
        # the update is dispatched at once (JAX runs asynchronously) and committed by apply
        # only when the loop asks for it; the step's statistics come back in one transfer.
        # Two programs, not one: fusing them changes XLA's float rounding (the records would
        # no longer be the earlier releases' bit for bit).
        new, opt_state, clipped, finite = self._update(self.trainable, self.opt_state, grads)
        value, norms, norm, clipped, finite = jax.device_get((value, norms, norm, clipped, finite))
        if self.monitor is not None:  # in flat names (packed arrays: NumPy views of their layers)
            flat = self.packing.unpack(jax.device_get(grads)) if self.packing.layers else grads
            self.monitor.record(flat, loss=float(value))
        self._pending = (new, opt_state, buffers, float(norm), float(clipped), finite)
        return float(value), float(norm), np.asarray(norms, np.float64)

    def apply(self):
        new, opt_state, buffers, norm, clipped, finite = self._pending
        self._pending = None
        bad = tuple(k for k, ok in zip(self.keys, finite) if not ok)
        if bad:  # nothing committed: parameters, state and running stats stay as they were
            return float("nan"), bad
        self.trainable, self.opt_state, self.buffers = new, opt_state, buffers
        self.count += 1
        return (clipped if self.cfg.clip != "none" else norm), ()

    def discard(self):
        self._pending = None

    def params(self):
        trainable = self.packing.unpack(jax.device_get(self.trainable))
        return {k: np.array(v) for k, v in {**trainable, **self.buffers}.items()}

    def optimizer_state(self):
        return optimizer_state(self.opt_state, self.keys, self.cfg, self.count, packing=self.packing)

    def close(self):
        pass


"""The training loop both backends share (framework-free), and :func:`train`, its one entry.

A backend supplies a :class:`Stepper` (gradients, clipping and the optimizer in its own
framework, ``rnnflow/{torch,jax}/trainer.py``) and a ``GradientMonitor``; everything else
lives here once: data and batch checks, the non-finite policy, the records, the progress
bar, checkpoints and resumption.

One step::

    x, y = data_fn(step, np.random.default_rng([seed, step]))   # same batch on every rerun
    loss, grads = value_and_grad(params; x, y)                  # stepper.compute
    record loss, ||g|| (global), ||g_k|| (per group)            # before clipping
    if loss or any g_k is NaN/Inf: policy (skip | stop | raise), params untouched
    else: g <- clip(g); params <- optimizer(params, g)          # stepper.apply
          if the new params are NaN/Inf: undo the update, policy as above
"""
from __future__ import annotations

import math
from typing import Callable, Protocol

import numpy as np
from tqdm import tqdm

from ..config import MLPConfig
from ..devices import check_visible
from .._backend import load
from ..params import check_params, flatten, init_params, is_buffer, map_with_path, param_shapes, unflatten
from ..validation import check_folder
from .config import TrainConfig, check_loss_for_model, output_size
from .padding import check_length, data_max_length
from .records import MetricsLog, NonFiniteEvent, TrainResult, run_status
from .resume import open_run
from .spectrum import probe_inputs
from .results import Checkpoint, ResultsDir, run_meta


class Stepper(Protocol):
    """What a backend implements for :func:`run` (``rnnflow/{torch,jax}/trainer.py``), built as
    ``Stepper(model_config, flat_params, train_config, optimizer_state_or_None, monitor,
    max_length=None, device=None)``; ``max_length``: the data function's bound on a batch's
    length (:mod:`rnnflow.training.padding`), which a compiling backend may pad batches to;
    ``device``: a checked :mod:`rnnflow.devices` spelling, where the parameters, the optimizer
    state and each batch live (None: the CPU / JAX's default device)."""

    keys: tuple[str, ...]   # trainable flat schema keys: the gradient groups, in schema order

    def compute(self, step: int, x: np.ndarray, y: np.ndarray) -> tuple[float, float, np.ndarray]:
        """Loss and gradients of one batch; returns ``(loss, global norm, (G,) group norms)``
        (before clipping) and feeds the monitor, if any."""

    def apply(self) -> tuple[float, tuple[str, ...]]:
        """Clip and update; returns ``(global norm after clipping, groups made non-finite)``.
        When that tuple is non-empty the update has been undone."""

    def discard(self) -> None:
        """Drop the computed gradients without updating (restores BatchNorm running stats)."""

    def params(self) -> dict:
        """Flat ``{key: np.ndarray}`` of every parameter and buffer."""

    def optimizer_state(self) -> dict:
        """Backend-neutral optimizer state (see :mod:`rnnflow.training.results`)."""

    def close(self) -> None:
        """Release what the stepper attached (the torch monitor's hooks)."""


def trainable_keys(model_config) -> tuple[str, ...]:
    """The flat schema keys of the trained parameters (BatchNorm running stats excluded)."""
    keys: list[str] = []
    map_with_path(lambda k, _s: keys.append(k), param_shapes(model_config))
    return tuple(k for k in keys if not is_buffer(k))


def data_rng(seed: int, step: int) -> np.random.Generator:
    """The generator ``data_fn`` gets at ``step``: a function of (seed, step) only."""
    return np.random.default_rng([seed, step])


def check_batch(train_config: TrainConfig, model_config, x, y, step: int):
    """Validate one batch from ``data_fn`` and cast it: ``x`` to the training dtype, float
    targets likewise, labels to int64. Raises ``ValueError`` naming the step."""
    where = f"data_fn(step={step})"
    x, y = np.asarray(x), np.asarray(y)
    cfg, loss = train_config, train_config.loss
    flat = isinstance(model_config, MLPConfig)
    layout = "(B, I)" if flat else "(T, B, I)"
    if not (np.issubdtype(x.dtype, np.floating) or np.issubdtype(x.dtype, np.integer)):
        raise ValueError(f"{where}: x has dtype {x.dtype}, expected a real array")
    if x.ndim != len(layout.split(",")):
        raise ValueError(f"{where}: x has shape {x.shape}, expected {layout}" + ("" if flat else " (time-major)"))
    B = x.shape[0] if flat else x.shape[1]
    if B != cfg.batch_size:
        raise ValueError(f"{where}: x has batch size {B} (shape {x.shape}), expected "
                         f"TrainConfig.batch_size={cfg.batch_size}")
    if x.shape[-1] != model_config.input_size:
        raise ValueError(f"{where}: x has {x.shape[-1]} features (shape {x.shape}), expected "
                         f"I={model_config.input_size}")
    if not np.isfinite(x).all():
        raise ValueError(f"{where}: x contains NaN or Inf")
    O = output_size(model_config)
    if loss in ("mse_last", "mse"):
        if y.shape != (B, O) or not np.issubdtype(y.dtype, np.floating):
            raise ValueError(f"{where}: y has shape {y.shape} and dtype {y.dtype}; loss={loss!r} "
                             f"needs float targets of shape (B, O) = {(B, O)}")
        if not np.isfinite(y).all():
            raise ValueError(f"{where}: y contains NaN or Inf")
        y = y.astype(cfg.dtype)
    else:
        want = (x.shape[0], B) if loss == "xent_all" else (B,)
        if y.shape != want or not np.issubdtype(y.dtype, np.integer):
            what = "(T, B)" if loss == "xent_all" else "(B,)"
            raise ValueError(f"{where}: y has shape {y.shape} and dtype {y.dtype}; loss={loss!r} "
                             f"needs integer labels of shape {what} = {want}")
        if y.size and (y.min() < 0 or y.max() >= O):
            raise ValueError(f"{where}: labels must lie in [0, {O}) (the model's output size); "
                             f"got [{y.min()}, {y.max()}]")
        y = y.astype(np.int64)
    return x.astype(cfg.dtype), y


def train(model_config, params, data_fn, train_config: TrainConfig, *, backend: str, out_dir=None,
          progress: bool = True, monitor=None, device=None) -> TrainResult:
    """Train a model of ``model_config`` from ``params`` in ``backend`` (``"torch"`` or ``"jax"``):
    the same config, parameters and data give the same losses in both.

    Args:
      model_config: an rnnflow model config (RNN/LSTM/GRU/Transformer/MLP, or a diagonal
        recurrence: LRU/minGRU/minLSTM/selective SSM).
      params: the initial NumPy schema dict, or None for
        ``init_params(model_config, train_config.seed, train_config.dtype)``.
      data_fn: ``data_fn(step, rng) -> (x, y)`` NumPy batch; ``rng`` is
        ``np.random.default_rng([seed, step])``, so a resumed run sees the same data.
        x ``(T, B, I)`` (MLP: ``(B, I)``), y as the loss needs.
      train_config: a :class:`~rnnflow.training.TrainConfig` (``dtype="float64"`` in JAX
        needs ``jax.config.update("jax_enable_x64", True)``).
      backend: ``"torch"`` or ``"jax"``, imported lazily.
      out_dir: results folder (see :mod:`rnnflow.training.results`); rerunning with the
        same folder resumes from its last checkpoint, or returns a finished run as is.
      progress: show a tqdm progress bar.
      monitor: the backend's ``GradientMonitor``, fed every step's gradients; every
        ``train_config.hist_every`` steps it closes an "epoch" (histograms). A torch one must
        be unattached: it is attached to the model while training and removed after.
        Default: a ``GradientMonitor()`` when ``hist_every > 0``, else none.
        With ``spectrum=...`` it also records the recurrent matrices' eigenvalues, sigma_max and
        Lyapunov exponents (:mod:`rnnflow.training.spectrum`) on a probe batch from ``data_fn``
        before the first step and after every ``SpectrumSettings.every``-th epoch.
      device: where the step runs (:mod:`rnnflow.devices`: ``"cpu"``, ``"cuda[:N]"``,
        ``"auto"``; default the CPU / JAX's default device). Parameters, optimizer state and
        each batch live there; each step brings back only its loss, norms and finiteness flags
        (one transfer), the monitor's per-parameter statistics are reduced there. Not part of
        the run's identity: a run started on one device resumes on another (the numbers then
        differ from an uninterrupted run's by the devices' rounding); ``summary.json`` records
        it.

    Returns:
      :class:`~rnnflow.training.TrainResult`: status "finished", "stopped" (policy "stop"),
      or, when every step ran but some loss or gradient was NaN/Inf (and skipped),
      "non-finite", or when the loss grew over 1e6 x its first value, "diverged"
      (``result.describe()`` names the first step).

    Raises:
      FloatingPointError: a non-finite loss, gradient or update with ``nonfinite="raise"``.
    """
    _check_train_config(train_config)
    adapter = load(backend)
    monitor = check_monitor(monitor, train_config, backend, adapter.GradientMonitor)
    return run(backend, adapter.Stepper, model_config, params, data_fn, train_config,
               out_dir=out_dir, progress=progress, monitor=monitor, device=device)


def check_monitor(monitor, train_config: TrainConfig, backend: str, monitor_class):
    """The monitor to train with: the caller's, which must be ``backend``'s ``monitor_class``,
    or a default one when ``hist_every`` asks for histograms."""
    if monitor is None:
        return monitor_class() if train_config.hist_every else None
    if not isinstance(monitor, monitor_class):
        raise TypeError(f"monitor must be a rnnflow.{backend}.GradientMonitor (backend={backend!r}), got "
                        f"{type(monitor).__module__}.{type(monitor).__name__}")
    if monitor.recorder.spectrum is not None and not train_config.hist_every:
        raise ValueError("TrainConfig.hist_every=0 is invalid with a monitor's spectrum record: expected an integer "
                         ">= 1, the steps per monitor epoch (SpectrumSettings.every counts those epochs)")
    return monitor


def _check_train_config(cfg) -> None:
    if not isinstance(cfg, TrainConfig):
        raise TypeError(f"train_config must be an rnnflow.training.TrainConfig, got {type(cfg).__name__}")


def run(backend: str, make_stepper: Callable, model_config, params, data_fn, train_config: TrainConfig,
        *, out_dir=None, progress: bool = True, monitor=None, device=None) -> TrainResult:
    """The loop of :func:`train`, over ``make_stepper(model_config, flat_params, train_config,
    optimizer_state_or_None, monitor) -> Stepper`` (a backend's ``Stepper`` class).

    With ``out_dir``, the run holds the folder's lock throughout: a second process training
    into the same folder fails with ``rnnflow.lock.FolderLockedError`` (see :mod:`rnnflow.lock`)."""
    device = check_visible("train", device, backend)   # before any folder is written
    args = (backend, make_stepper, model_config, params, data_fn, train_config)
    if out_dir is None:
        return _run(*args, out_dir=None, progress=progress, monitor=monitor, device=device)
    out_dir = check_folder("out_dir", out_dir)        # before the lock creates the folder,
    _check_train_config(train_config)                 # so bad input leaves nothing behind
    check_loss_for_model(train_config, model_config)
    with ResultsDir(out_dir).lock():
        return _run(*args, out_dir=out_dir, progress=progress, monitor=monitor, device=device)


def _run(backend: str, make_stepper: Callable, model_config, params, data_fn, train_config: TrainConfig,
         *, out_dir, progress: bool, monitor, device=None) -> TrainResult:
    cfg = train_config
    _check_train_config(cfg)
    check_loss_for_model(cfg, model_config)
    if not callable(data_fn):
        raise TypeError(f"data_fn must be callable as data_fn(step, rng) -> (x, y), got {type(data_fn).__name__}")
    if params is None:
        params = init_params(model_config, cfg.seed, cfg.dtype)
    check_params(model_config, params)
    flat = {k: np.array(v, dtype=cfg.dtype) for k, v in flatten(params).items()}
    bad = [k for k, v in flat.items() if not np.isfinite(v).all()]
    if bad:
        raise ValueError(f"initial params[{bad[0]!r}] contains NaN or Inf")
    keys = trainable_keys(model_config)
    recorder = None if monitor is None else monitor.recorder

    log, events, opt_state, mon_state, start = MetricsLog(keys), [], None, None, 0
    folder = ResultsDir(check_folder("out_dir", out_dir)) if out_dir is not None else None
    if folder is not None:
        meta = run_meta(backend, cfg, model_config, flat, recorder)
        # a finished run read back, or the newest checkpoint that verifies (rnnflow.training.resume)
        finished, ckpt = open_run(folder, meta, cfg, model_config, keys, recorder, backend)
        if finished is not None:
            return finished
        if ckpt is not None:
            start, flat, opt_state, mon_state = ckpt.step, ckpt.params, ckpt.optimizer, ckpt.monitor
            log.extend(ckpt.metrics)
            events = list(ckpt.events)
        folder.write_meta(meta)
        folder.write_summary("running", cfg.steps, log.freeze(), events, backend=backend,
                             device=device or "default")

    max_length = data_max_length(data_fn)
    stepper = make_stepper(model_config, flat, cfg, opt_state, monitor, max_length=max_length, device=device)
    if recorder is not None and mon_state is not None:
        recorder.load_state_dict(mon_state)
    if recorder is not None and recorder.spectrum is not None:
        monitor.bind_model(model_config, probe_inputs(data_fn, recorder.spectrum.settings, cfg.dtype))
        if mon_state is None:                  # the record before the first step (a resumed run has it)
            monitor.record_spectrum(stepper.params())

    def checkpoint(done: int, status: str = "running") -> Checkpoint:
        return Checkpoint(step=done, params=stepper.params(), optimizer=stepper.optimizer_state(),
                          metrics=log.freeze(), events=tuple(events),
                          monitor=None if recorder is None else recorder.state_dict(), status=status)

    status = "finished"
    bar = tqdm(total=cfg.steps, initial=start, disable=not progress, unit="step",
               desc=f"{backend} {cfg.optimizer}", dynamic_ncols=True)
    try:
        for step in range(start, cfg.steps):
            batch = data_fn(step, data_rng(cfg.seed, step))
            if not (isinstance(batch, (tuple, list)) and len(batch) == 2):
                raise TypeError(f"data_fn(step={step}) must return a pair (x, y), got {type(batch).__name__}")
            x, y = check_batch(cfg, model_config, *batch, step)
            check_length(x, max_length, step)
            loss, norm, norms = stepper.compute(step, x, y)
            bad_groups = tuple(k for k, n in zip(keys, norms) if not math.isfinite(n))
            kind = "loss" if not math.isfinite(loss) else "grad" if bad_groups or not math.isfinite(norm) else None
            clipped = math.nan
            if kind is None:
                clipped, made_bad = stepper.apply()
                if made_bad:
                    kind, bad_groups, clipped = "update", tuple(made_bad), math.nan
            else:
                stepper.discard()
            log.append(step, loss, norm, clipped, norms, skipped=kind is not None)
            if monitor is not None and cfg.hist_every and (step + 1) % cfg.hist_every == 0:
                monitor.epoch_end(params=stepper.params() if monitor.spectrum_due() else None)
            bar.update(1)
            if kind is not None:
                event = NonFiniteEvent(step, kind, bad_groups, cfg.nonfinite)
                events.append(event)
                if cfg.nonfinite == "raise":
                    if folder is not None:
                        folder.write_summary("raised", cfg.steps, log.freeze(), events, backend=backend,
                                             device=device or "default")
                    raise FloatingPointError(
                        f"{event.describe()} (TrainConfig.nonfinite='raise'); the parameters were not "
                        "updated at this step. Lower lr, clip gradients, or use nonfinite='skip'/'stop'.")
                if cfg.nonfinite == "stop":
                    status = "stopped"
                    break
            if (step + 1) % cfg.log_every == 0:
                bar.set_postfix(loss=f"{loss:.4g}", grad_norm=f"{norm:.3g}", refresh=False)
            if folder is not None and cfg.checkpoint_every and (step + 1) % cfg.checkpoint_every == 0 \
                    and step + 1 < cfg.steps:
                folder.save_checkpoint(checkpoint(step + 1), cfg.keep_checkpoints)
    finally:
        bar.close()
        stepper.close()

    metrics = log.freeze()
    result = TrainResult(
        status=run_status(status, metrics, events), steps_done=len(metrics), metrics=metrics,
        params=unflatten(stepper.params(), model_config), events=tuple(events),
        train_config=cfg, model_config=model_config, backend=backend,
        gradients=None if recorder is None else recorder.history(),
        out_dir=None if folder is None else folder.path, resumed_from=start)
    if progress and result.status != status:
        tqdm.write(f"rnnflow.train: status {result.describe()}")
    if folder is not None:
        folder.save_checkpoint(checkpoint(len(metrics), status), cfg.keep_checkpoints)
        folder.write_results(result, device=device or "default")   # summary.json: lifecycle "status" + honest "outcome"
    return result


__all__ = ["train", "run", "check_monitor", "check_batch", "trainable_keys", "data_rng", "Stepper"]

"""Diagnosing a saved training run (the folder ``rnnflow.train(..., out_dir=...)`` writes).

The model is rebuilt from ``config.json`` (model config and backend) and either
``params_final.npz`` or one checkpoint (``checkpoints/step_XXXXXXXX.npz``); see
:mod:`rnnflow.training.results` for the layout.
"""
from __future__ import annotations

import os

import numpy as np

from ..config import MLPConfig
from ..io import load_npz
from ..models import float_dtype, params_dtype
from ..params import map_arrays, unflatten
from ..training.results import ResultsDir, config_from_dict
from .api import diagnose


def load_run(run_dir, checkpoint: int | None = None) -> tuple:
    """``(model_config, params, backend, source)`` of a saved run; ``source`` names the file read.

    ``checkpoint``: a step with a checkpoint in the folder (default: the final parameters,
    or the newest checkpoint when the run has not finished)."""
    folder = ResultsDir(run_dir)
    if not os.path.isdir(folder.path):
        raise FileNotFoundError(f"diagnose: run folder {folder.path!r} does not exist: expected a folder "
                                f"written by rnnflow.train(..., out_dir=...)")
    meta = folder.read_meta()
    if meta is None or "model" not in meta:
        raise FileNotFoundError(f"diagnose: {folder.file('config.json')!r} is missing: expected a folder "
                                f"written by rnnflow.train(..., out_dir=...)")
    config = config_from_dict(meta["model"])
    final = folder.file("params_final.npz")
    steps = folder.checkpoints()
    if checkpoint is not None:
        if checkpoint not in steps:
            raise ValueError(f"diagnose(checkpoint={checkpoint!r}): {folder.path} has checkpoints at steps "
                             f"{steps or 'none'}")
        flat, source = folder.load_checkpoint(checkpoint).params, folder._ckpt_path(checkpoint)
    elif os.path.exists(final):
        flat, source = load_npz(final), final
    elif steps:
        flat, source = folder.load_checkpoint(steps[-1]).params, folder._ckpt_path(steps[-1])
    else:
        raise FileNotFoundError(f"diagnose: {folder.path} has neither params_final.npz nor a checkpoint")
    return config, unflatten(flat, config), meta["backend"], source


def random_batch(config, *, steps: int = 32, batch: int = 8, seed: int = 0, scale: float = 1.0,
                 dtype=np.float64) -> np.ndarray:
    """N(0, scale^2) inputs of the shape ``config``'s model takes: ``(T, B, I)``, or ``(B, I)`` for an MLP."""
    shape = (batch, config.input_size) if isinstance(config, MLPConfig) else (steps, batch, config.input_size)
    return (scale * np.random.default_rng(seed).standard_normal(shape)).astype(dtype)


def diagnose_run(run_dir, x=None, loss_fn=None, *, checkpoint: int | None = None, backend: str | None = None,
                 dtype=None, steps: int = 32, batch: int = 8, seed: int = 0, scale: float = 1.0, **kw):
    """:func:`rnnflow.diagnose` of a saved run's model on ``x`` (default: :func:`random_batch`).

    ``backend`` defaults to the run's; ``dtype`` casts the parameters (e.g. ``"float64"``;
    default: as saved). Returns ``(Diagnosis, source)``.
    """
    config, params, run_backend, source = load_run(run_dir, checkpoint)
    if dtype is not None:
        params = map_arrays(lambda a, dt=float_dtype(dtype): np.asarray(a, dtype=dt), params)
    dt = params_dtype(params)
    if x is None:
        x = random_batch(config, steps=steps, batch=batch, seed=seed, scale=scale, dtype=dt)
    d = diagnose(config, x, loss_fn, params=params, backend=backend or run_backend, **kw)
    return d, source

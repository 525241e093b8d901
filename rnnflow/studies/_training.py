"""Helpers shared by the training studies (clipping, activations, init_stall, long_range)."""
from __future__ import annotations

import numpy as np

from .._backend import load
from ..models import build
from ..training import train


def one_thread(backend: str):
    """A context in which ``backend`` computes on one CPU thread (the caller's count is restored
    after): the studies' models are small, so one thread is fastest, and on a busy machine more
    threads spin against each other (100x slower was measured with 2 threads on 2 shared cores)."""
    return load(backend).arrays.threads(1)


def fit(ctx, model_config, params, data_fn, train_config, monitor=None):
    """:func:`rnnflow.train` in the study's backend, quietly, on one thread; its outcome is
    recorded in the study's ``summary.json`` (``ctx.record_training``)."""
    with one_thread(ctx.backend):
        result = train(model_config, params, data_fn, train_config, backend=ctx.backend, progress=False,
                       monitor=monitor, device=ctx.device)
    ctx.record_training(result)
    return result


def predict(backend: str, model_config, params, x) -> np.ndarray:
    """The output ``y`` of the model ``(model_config, params)`` for ``x`` in inference mode
    (BatchNorm on running stats, no dropout), as float64 NumPy; ``x`` is cast to the params' dtype."""
    dtype = np.asarray(params["head"]["weight"]).dtype
    model = build(model_config, params, backend=backend)
    arrays = load(backend).arrays
    with one_thread(backend):
        return arrays.predict(model, np.asarray(x, dtype=dtype))


def epoch_means(loss: np.ndarray, steps_per_epoch: int) -> np.ndarray:
    """Mean loss of each complete epoch, ``(E,)``."""
    E = len(loss) // steps_per_epoch
    return np.asarray(loss[:E * steps_per_epoch], dtype=np.float64).reshape(E, steps_per_epoch).mean(axis=1)

"""Helpers shared by the training studies (clipping, activations, init_stall, long_range)."""
from __future__ import annotations

from contextlib import contextmanager

import numpy as np

from ..models import build
from ..training import train
from ..config import MLPConfig

@contextmanager
def torch_threads(backend: str, n: int = 1):
    """Train torch on ``n`` threads, restoring the caller's setting after: the studies'
    models are small, so one thread is fastest, and on a busy machine more threads
    spin against each other (100x slower was measured with 2 threads on 2 shared cores)."""
    if backend != "torch":
        yield
        return
    import torch
    old = torch.get_num_threads()
    torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(old)


def fit(ctx, model_config, params, data_fn, train_config, monitor=None):
    """:func:`rnnflow.train` in the study's backend, quietly, on one torch thread."""
    with torch_threads(ctx.backend):
        return train(model_config, params, data_fn, train_config, backend=ctx.backend, progress=False,
                     monitor=monitor)


def predict(backend: str, model_config, params, x) -> np.ndarray:
    """The model's output ``y`` for ``x`` in inference mode (BatchNorm on running stats),
    as float64 NumPy."""
    dtype = np.asarray(params["head"]["weight"]).dtype
    x = np.asarray(x, dtype=dtype)
    model = build(model_config, params, backend=backend)
    if backend == "torch":
        import torch
        model.eval()
        with torch.no_grad(), torch_threads(backend):
            y = model(torch.as_tensor(x)).y.numpy()
    else:
        y = model(x, train=False).y if isinstance(model_config, MLPConfig) else model(x).y
    return np.asarray(y, dtype=np.float64)


def epoch_means(loss: np.ndarray, steps_per_epoch: int) -> np.ndarray:
    """Mean loss of each complete epoch, ``(E,)``."""
    E = len(loss) // steps_per_epoch
    return np.asarray(loss[:E * steps_per_epoch], dtype=np.float64).reshape(E, steps_per_epoch).mean(axis=1)

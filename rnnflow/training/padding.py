"""Variable-length batches at one compiled length: pad the time axis, read the loss at the end.

JAX compiles a training step per input shape, so a task whose length varies per batch (the
adding problem's ``[T, T + T // 10]``) compiles up to ``T // 10 + 1`` programs of 1-10 s
each. A ``data_fn`` that declares ``data_fn.max_length`` (every batch's time axis is at most
that long; :func:`rnnflow.training.adding_data` does) lets the JAX trainer pad each batch
with zeros after its last step to that length and read the loss at the batch's own last step,
``y[length - 1]``: one program for every length. Torch compiles nothing and runs each batch as
it comes.

Padding changes nothing the loss sees when

* the model is causal: ``y[t]`` depends on ``x[:t+1]`` only (recurrent and diagonal models; a
  Transformer's attention would see the padding, so Transformers are not padded);
* the loss reads only the last step (``mse_last``, ``xent_last``): per-step losses would count
  the padded steps;
* the padded steps stay finite, so their zero cotangents stay exact zeros in the backward
  pass (``0 * inf`` would be NaN): the state is bounded for tanh and sigmoid RNNs, LSTMs, GRUs
  and the diagonal models (``|lambda| < 1`` or convex gates, for any parameters); a ReLU,
  ELU, GELU, swish or linear RNN can grow without bound and is not padded.

Elsewhere each length compiles its own program, as without ``max_length``.
"""
from __future__ import annotations

import numpy as np

from ..config import GRUConfig, LSTMConfig, RNNConfig
from ..models import model_kind
from ..validation import check_count

PAD_LOSSES = ("mse_last", "xent_last")     # losses that read y[length - 1] only
BOUNDED_ACTIVATIONS = ("tanh", "sigmoid")  # RNN activations whose state stays in a bounded set


def data_max_length(data_fn) -> int | None:
    """``data_fn.max_length`` (an integer >= 1) or None when the data function declares none."""
    n = getattr(data_fn, "max_length", None)
    if n is None:
        return None
    return check_count("data_fn", "max_length", n, lo=1)


def can_pad(model_config, loss: str) -> bool:
    """Whether padding a batch's time axis leaves the loss and its gradient unchanged for
    this model and loss (see the module docstring)."""
    if loss not in PAD_LOSSES:
        return False
    kind = model_kind(model_config)
    if kind == "diagonal":
        return True
    if kind != "recurrent":
        return False
    if isinstance(model_config, (LSTMConfig, GRUConfig)):
        return True
    return isinstance(model_config, RNNConfig) and model_config.activation in BOUNDED_ACTIVATIONS


def check_length(x: np.ndarray, max_length: int | None, step: int) -> None:
    """Refuse a batch longer than the data function's declared ``max_length``."""
    if max_length is not None and np.ndim(x) == 3 and x.shape[0] > max_length:
        raise ValueError(f"data_fn(step={step}) returned x with T={x.shape[0]} steps, more than its "
                         f"max_length={max_length}: raise data_fn.max_length or cut the batch")


def pad_time(x: np.ndarray, length: int) -> np.ndarray:
    """``x`` (T, B, I) followed by zeros up to ``length`` steps: (length, B, I)."""
    if x.shape[0] == length:
        return x
    out = np.zeros((length,) + x.shape[1:], dtype=x.dtype)
    out[: x.shape[0]] = x
    return out

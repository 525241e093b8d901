"""The adding problem, in the form of Pascanu, Mikolov & Bengio (2013), section 5.1.

Source: R. Pascanu, T. Mikolov, Y. Bengio, "On the difficulty of training recurrent
neural networks", ICML 2013 (task from Hochreiter & Schmidhuber 1997, experiment 4;
generator as in Pascanu's reference code, ``trainingRNNs/addition.py``).

Task, for a requested length ``T >= 2`` and a batch of ``B`` sequences:

* length: ``L = T + k`` with ``k`` uniform on ``{0, ..., T // 10}``, drawn **once per
  batch** so the arrays stay rectangular (every sequence in a batch has length ``L``);
* channel 0: values ``x[t, b, 0] ~ U[0, 1)``, i.i.d.;
* channel 1: markers, 0 everywhere except two 1s, at
  ``p0 ~ U{0, ..., n1 - 1}`` (the first 10% of the sequence) and
  ``p1 ~ U{n1, ..., n2 - 1}`` (from 10% up to 50%), with
  ``n1 = max(1, L // 10)`` and ``n2 = max(n1 + 1, L // 2)``; the ``max`` keeps both
  ranges non-empty and disjoint for small ``L`` (``L = 2`` gives ``p0 = 0, p1 = 1``);
* target: ``y[b, 0] = (x[p0, b, 0] + x[p1, b, 0]) / 2``, read at the last step.

Baseline: predicting the constant 0.5 (the target's mean) gives the target's
variance as MSE. With ``a, b ~ U[0, 1)`` independent,
``Var((a + b) / 2) = (Var a + Var b) / 4 = (1/12 + 1/12) / 4 = 1/24 ~= 0.0417``
(:data:`ADDING_BASELINE_MSE`). A model is said to solve the task when its squared
error per sequence is below 0.04 (:func:`adding_solved`). That threshold is only
just under the baseline MSE: the constant 0.5 already passes it on 64% of sequences
(``P(|a + b - 1| < 0.4) = 1 - 0.6**2``), so report a solved *rate* near 100% (the
paper reports error below 1%), not the MSE alone.

Differences from the reference code, on purpose: it puts the markers in channel 0
and the values in channel 1 (here: values 0, markers 1), and draws ``k`` from
``{0, ..., int(0.1 T) - 1}`` (here the upper end ``T // 10`` is included, and
``T < 10`` works).
"""
from __future__ import annotations

import numbers

import numpy as np

from ..validation import check_count, check_float_dtype, check_generator, fail

ADDING_BASELINE_MSE = 1.0 / 24.0   #: MSE of always predicting 0.5: Var((a + b) / 2)
ADDING_THRESHOLD = 0.04            #: squared error below which a sequence counts as solved


def adding_batch(rng, batch: int, T: int, *, dtype=np.float32):
    """One batch of the adding problem (see the module docstring for the definition).

    Args:
      rng: a ``numpy.random.Generator`` (advanced in place) or an int seed.
      batch: ``B``, the number of sequences (>= 1).
      T: the requested length (>= 2); the drawn length ``L`` is in ``[T, T + T // 10]``.
      dtype: float32 (default) or float64. Values are drawn in float64 and cast, so
        the two dtypes give the same data up to rounding for the same seed.

    Returns:
      ``x`` of shape ``(L, B, 2)`` (time-major; channel 0 values, channel 1 markers)
      and ``y`` of shape ``(B, 1)``, both of ``dtype``.
    """
    fn = "adding_batch"
    g = check_generator(fn, "rng", rng)
    batch = check_count(fn, "batch", batch)
    T = check_count(fn, "T", T, lo=2)   # two distinct markers need two steps
    dtype = check_float_dtype(fn, "dtype", dtype)

    L = T + int(g.integers(0, T // 10, endpoint=True))
    n1 = max(1, L // 10)
    n2 = max(n1 + 1, L // 2)
    p0 = g.integers(0, n1, size=batch)       # (B,)
    p1 = g.integers(n1, n2, size=batch)      # (B,)
    cols = np.arange(batch)

    x = np.zeros((L, batch, 2), dtype=dtype)             # (L, B, 2)
    x[:, :, 0] = g.random((L, batch))
    x[p0, cols, 1] = 1
    x[p1, cols, 1] = 1
    y = (x[p0, cols, 0] + x[p1, cols, 0]) / dtype.type(2)  # (B,), computed in dtype
    return x, y[:, None]


def adding_solved(pred, y, threshold: float = ADDING_THRESHOLD):
    """Which sequences are solved: squared error ``sum((pred - y)**2) < threshold``.

    ``pred`` and ``y`` have shape ``(B, 1)`` or ``(B,)`` (either; they are compared
    row by row, the error summed over the output dimension as in Pascanu's code).
    Returns a boolean array of shape ``(B,)``; its mean is the solved rate.
    """
    fn = "adding_solved"
    if isinstance(threshold, bool) or not isinstance(threshold, numbers.Real) \
            or not np.isfinite(threshold) or threshold <= 0:
        fail(fn, "threshold", threshold, "a finite number > 0")
    pred, y = np.asarray(pred), np.asarray(y)
    if pred.ndim not in (1, 2) or y.ndim not in (1, 2):
        raise ValueError(f"{fn}: pred has shape {pred.shape} and y has shape {y.shape}: "
                         "expected (B, 1) or (B,)")
    pred2, y2 = pred.reshape(len(pred), -1), y.reshape(len(y), -1)
    if pred2.shape != y2.shape:
        raise ValueError(f"{fn}: pred has shape {pred.shape} but y has shape {y.shape}: "
                         "expected the same (B, 1) or (B,)")
    return ((pred2 - y2) ** 2).sum(axis=1) < threshold

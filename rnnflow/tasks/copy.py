"""The copying memory task of Arjovsky, Shah & Bengio (2016), section 4.1.

Source: M. Arjovsky, A. Shah, Y. Bengio, "Unitary Evolution Recurrent Neural
Networks", ICML 2016 (after Hochreiter & Schmidhuber 1997).

Categories (labels): ``0`` is the blank, ``1 .. n_symbols`` are the data symbols and
``n_symbols + 1`` is the marker (delimiter); the paper's setting is ``n_symbols = 8``
(ten categories in all). For a delay ``T >= 1`` every sequence has length
``L = T + 2 * n_copy``::

    input : s_1 .. s_n | blank x (T - 1) | marker | blank x n
    target: blank x (n + T)                       | s_1 .. s_n

with ``n = n_copy`` symbols ``s_i`` drawn uniformly, independently and with
replacement from the data symbols. The marker sits at step ``n + T - 1``, and the
model must emit the copy on the ``n`` steps after it. Inputs are one-hot; targets
are integer labels for a per-step cross-entropy averaged over all ``L`` steps.

Baseline: a memoryless model that predicts the blank for the first ``n + T`` steps
and a uniform guess over the ``n_symbols`` data symbols for the last ``n`` gets
cross-entropy ``n * log(n_symbols) / (T + 2 n)`` (:func:`copy_baseline`).
"""
from __future__ import annotations

import math

import numpy as np

from ..validation import check_count, check_float_dtype, check_generator

COPY_BLANK = 0   #: label of the blank; data symbols are 1..n_symbols, the marker n_symbols + 1


def copy_batch(rng, batch: int, T: int, *, n_symbols: int = 8, n_copy: int = 10, dtype=np.float32):
    """One batch of the copying task (see the module docstring for the layout).

    Args:
      rng: a ``numpy.random.Generator`` (advanced in place) or an int seed.
      batch: ``B``, the number of sequences (>= 1).
      T: the delay (>= 1): the marker comes ``T`` steps after the last data symbol.
      n_symbols: number of data symbols (>= 1); one-hot width is ``n_symbols + 2``.
      n_copy: number of symbols to remember (>= 1).
      dtype: float32 (default) or float64, for the one-hot inputs.

    Returns:
      ``x`` one-hot of shape ``(L, B, n_symbols + 2)`` and ``dtype``, and ``y``
      int64 labels of shape ``(L, B)``, with ``L = T + 2 * n_copy``.
    """
    fn = "copy_batch"
    g = check_generator(fn, "rng", rng)
    batch = check_count(fn, "batch", batch)
    T = check_count(fn, "T", T)
    n_symbols = check_count(fn, "n_symbols", n_symbols)
    n_copy = check_count(fn, "n_copy", n_copy)
    dtype = check_float_dtype(fn, "dtype", dtype)

    L = T + 2 * n_copy
    data = g.integers(1, n_symbols, size=(n_copy, batch), endpoint=True)   # (n, B)
    inp = np.full((L, batch), COPY_BLANK, dtype=np.int64)                 # (L, B)
    inp[:n_copy] = data
    inp[n_copy + T - 1] = n_symbols + 1
    y = np.full((L, batch), COPY_BLANK, dtype=np.int64)                   # (L, B)
    y[-n_copy:] = data
    x = np.eye(n_symbols + 2, dtype=dtype)[inp]                           # (L, B, K)
    return x, y


def copy_baseline(T: int, *, n_symbols: int = 8, n_copy: int = 10) -> float:
    """Cross-entropy (nats per step) of the memoryless baseline:
    ``n_copy * log(n_symbols) / (T + 2 * n_copy)`` (Arjovsky et al. 2016, section 4.1)."""
    fn = "copy_baseline"
    T = check_count(fn, "T", T)
    n_symbols = check_count(fn, "n_symbols", n_symbols)
    n_copy = check_count(fn, "n_copy", n_copy)
    return n_copy * math.log(n_symbols) / (T + 2 * n_copy)

"""Seeded NumPy data generators for long-range-dependency tasks (framework-free).

Every generator takes an explicit ``numpy.random.Generator`` or int seed and returns
float32 arrays by default (``dtype=`` float32 or float64); sequences are time-major,
``(T, B, F)``. scikit-learn is needed only by the digits functions (``rnnflow[data]``).
"""
from __future__ import annotations

from .adding import (
    ADDING_BASELINE_MSE as ADDING_BASELINE_MSE, ADDING_THRESHOLD as ADDING_THRESHOLD,
    adding_batch as adding_batch, adding_solved as adding_solved,
)
from .copy import COPY_BLANK as COPY_BLANK, copy_baseline as copy_baseline, copy_batch as copy_batch
from .digits import (
    digits_permutation as digits_permutation, digits_sequences as digits_sequences,
    load_digits_split as load_digits_split, upsample_digits as upsample_digits,
)

"""Sinusoidal positional encodings (framework-free; both backends add this table)."""
from __future__ import annotations

import math

import numpy as np


def sinusoidal_table(length: int, d_model: int) -> np.ndarray:
    """Vaswani et al. (2017): ``PE[t, 2i] = sin(t w_i)``, ``PE[t, 2i+1] = cos(t w_i)``,
    ``w_i = 10000^(-2i/D)``; (length, D) float64."""
    t = np.arange(length, dtype=np.float64)[:, None]
    freq = np.exp(-math.log(10000.0) * np.arange(0, d_model, 2) / d_model)  # (ceil(D/2),)
    pe = np.zeros((length, d_model))
    pe[:, 0::2] = np.sin(t * freq)
    pe[:, 1::2] = np.cos(t * freq[: d_model // 2])
    return pe

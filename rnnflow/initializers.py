"""Seeded NumPy weight initialisers.

All functions take a ``numpy.random.Generator`` and a PyTorch-layout shape
``(fan_out, fan_in)`` (1-D shapes are biases: fan_in = fan_out = n) and return a
float64 array; callers cast. Formulas (Glorot & Bengio 2010; He et al. 2015)::

    xavier_normal:  N(0, gain^2 * 2 / (fan_in + fan_out))
    xavier_uniform: U(-a, a),  a = gain * sqrt(6 / (fan_in + fan_out))
    he_normal:      N(0, gain^2 * 2 / fan_in)          (ReLU gain sqrt(2) built in)
    he_uniform:     U(-a, a),  a = gain * sqrt(6 / fan_in)
    orthogonal:     gain * Q,  Q from the QR of a Gaussian matrix (sign-fixed, Haar)
    identity:       gain * I   (IRNN, Le et al. 2015)
"""
from __future__ import annotations

import math

import numpy as np

from .config import Init


def _fans(shape: tuple[int, ...]) -> tuple[int, int]:
    if len(shape) == 1:
        return shape[0], shape[0]
    fan_out, fan_in = shape[0], int(np.prod(shape[1:]))
    return fan_in, fan_out


def orthogonal(rng: np.random.Generator, shape, gain: float = 1.0) -> np.ndarray:
    """(Semi-)orthogonal matrix drawn from the Haar measure (Mezzadri 2007)."""
    rows, cols = shape
    a = rng.standard_normal((max(rows, cols), min(rows, cols)))
    q, r = np.linalg.qr(a)
    q = q * np.sign(np.diag(r))  # fixes the sign ambiguity so Q is Haar-distributed
    if rows < cols:
        q = q.T
    return gain * q[:rows, :cols]


def spectral_radius(w: np.ndarray) -> float:
    """``max |eig(w)|`` of a square matrix."""
    return float(np.max(np.abs(np.linalg.eigvals(w))))


def rescale_spectral_radius(w: np.ndarray, rho: float) -> np.ndarray:
    """Scale square ``w`` so that its spectral radius is exactly ``rho``."""
    if w.ndim != 2 or w.shape[0] != w.shape[1]:
        raise ValueError(f"spectral_radius rescale needs a square matrix, got shape {w.shape}")
    current = spectral_radius(w)
    if current == 0.0:
        raise ValueError("spectral_radius rescale: the matrix has spectral radius 0 (nilpotent or zero)")
    return w * (rho / current)


def sample(init: Init, shape, rng: np.random.Generator) -> np.ndarray:
    """Draw one tensor of ``shape`` according to ``init``."""
    shape = tuple(int(s) for s in shape)
    fan_in, fan_out = _fans(shape)
    k = init.kind
    if k == "zeros":
        w = np.zeros(shape)
    elif k == "constant":
        w = np.full(shape, float(init.value))
    elif k == "normal":
        w = rng.normal(init.mean, init.std, size=shape)
    elif k == "uniform":
        w = rng.uniform(init.low, init.high, size=shape)
    elif k == "xavier_normal":
        w = rng.normal(0.0, init.gain * math.sqrt(2.0 / (fan_in + fan_out)), size=shape)
    elif k == "xavier_uniform":
        a = init.gain * math.sqrt(6.0 / (fan_in + fan_out))
        w = rng.uniform(-a, a, size=shape)
    elif k == "he_normal":
        w = rng.normal(0.0, init.gain * math.sqrt(2.0 / fan_in), size=shape)
    elif k == "he_uniform":
        a = init.gain * math.sqrt(6.0 / fan_in)
        w = rng.uniform(-a, a, size=shape)
    elif k in ("orthogonal", "identity"):
        if len(shape) != 2:
            raise ValueError(f"Init.kind={k!r} needs a 2-D weight, got shape {shape}")
        w = orthogonal(rng, shape, init.gain) if k == "orthogonal" else init.gain * np.eye(*shape)
    else:  # unreachable: Init validates kind
        raise ValueError(f"Init.kind={k!r} is unknown")
    if init.spectral_radius is not None:
        w = rescale_spectral_radius(w, init.spectral_radius)
    return w


def sample_blocks(init: Init, blocks: int, shape, rng: np.random.Generator) -> np.ndarray:
    """Draw ``blocks`` gate blocks of ``shape`` independently and stack them on axis 0
    (``(blocks * H, fan_in)``), so per-block rules (orthogonal, spectral radius) hold per gate."""
    return np.concatenate([sample(init, shape, rng) for _ in range(blocks)], axis=0)

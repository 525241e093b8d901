"""scikit-learn's bundled 8x8 handwritten digits, as flat, sequential and 28x28 inputs.

Source: the UCI "Optical Recognition of Handwritten Digits" test set (E. Alpaydin,
C. Kaynak, 1998) as shipped inside scikit-learn (``sklearn.datasets.load_digits``):
1797 grey-scale 8x8 images, pixel values 0..16, ten classes of 174-183 images each.
It is read from the installed package; nothing is downloaded.

Forms:

* flat, for MLPs: ``x`` of shape ``(B, 64)``, pixels in row-major order, scaled to
  ``[0, 1]`` by dividing by 16 (:func:`load_digits_split`);
* sequential (time-major), :func:`digits_sequences`: ``"rows"`` reads one image row
  per step, ``(T, B, F) = (8, B, 8)``; ``"pixels"`` reads one pixel per step in
  row-major (raster) order, ``(64, B, 1)`` - the 8x8 analogue of sequential MNIST;
  ``"pixels"`` with ``permutation=seed`` applies one fixed pixel permutation to every
  image - the analogue of permuted sequential MNIST (Le, Jaitly & Hinton 2015);
* 28x28, :func:`upsample_digits`: bilinear upsampling, ``(B, 784)``, to mirror an
  MNIST-sized input layer without a download.
"""
from __future__ import annotations

import functools
import numbers

import numpy as np

from ..validation import check_choice, check_count, check_float_dtype, check_generator, fail

SIDE = 8          # images are SIDE x SIDE
MODES = ("rows", "pixels")


def _images(fn, x):
    """``x`` as a ``(B, 8, 8)`` array (accepts ``(B, 64)`` or ``(B, 8, 8)``)."""
    x = np.asarray(x)
    if x.ndim == 2 and x.shape[1] == SIDE * SIDE:
        return x.reshape(len(x), SIDE, SIDE)
    if x.ndim == 3 and x.shape[1:] == (SIDE, SIDE):
        return x
    raise ValueError(f"{fn}: x has shape {x.shape}: expected (B, 64) or (B, 8, 8) digit images")


@functools.lru_cache(maxsize=1)
def _raw_digits():
    """(pixels (1797, 64) float64 in [0, 1], labels (1797,) int64), read-only."""
    try:
        from sklearn.datasets import load_digits
    except ImportError as e:
        raise ImportError("rnnflow.tasks.digits needs scikit-learn, which ships the 8x8 digits: "
                          "pip install 'rnnflow[data]'") from e
    d = load_digits()
    x = np.asarray(d.data, dtype=np.float64) / 16.0
    y = np.asarray(d.target, dtype=np.int64)
    x.setflags(write=False)
    y.setflags(write=False)
    return x, y


def load_digits_split(seed, test_fraction: float = 0.2, *, dtype=np.float32) -> dict:
    """A seeded, stratified train/test split of the 1797 digits.

    Stratified: in each class ``c`` with ``n_c`` images, ``round(n_c * test_fraction)``
    (clipped to ``[1, n_c - 1]``) images, chosen by the seeded generator, go to test;
    the rest go to train. Both sets are then shuffled. Pure NumPy, so the split does
    not change with the scikit-learn version.

    Args:
      seed: an int seed or a ``numpy.random.Generator``.
      test_fraction: in ``(0, 1)``.
      dtype: float32 (default) or float64 for the pixels.

    Returns:
      dict with ``x_train (N_train, 64)``, ``y_train (N_train,)``, ``x_test (N_test, 64)``,
      ``y_test (N_test,)`` (pixels in ``[0, 1]``, labels int64 in 0..9), and
      ``idx_train``, ``idx_test``: the rows of ``load_digits()`` each sample came from.
    """
    fn = "load_digits_split"
    g = check_generator(fn, "seed", seed)
    ok = isinstance(test_fraction, numbers.Real) and not isinstance(test_fraction, bool)
    if not (ok and 0.0 < test_fraction < 1.0):
        fail(fn, "test_fraction", test_fraction, "a number in (0, 1)")
    dtype = check_float_dtype(fn, "dtype", dtype)

    x, y = _raw_digits()
    test = []
    for c in np.unique(y):
        idx = np.flatnonzero(y == c)
        k = min(max(1, int(np.floor(len(idx) * test_fraction + 0.5))), len(idx) - 1)
        test.append(g.permutation(idx)[:k])
    is_test = np.zeros(len(y), dtype=bool)
    is_test[np.concatenate(test)] = True
    idx_train = g.permutation(np.flatnonzero(~is_test))
    idx_test = g.permutation(np.flatnonzero(is_test))
    return {
        "x_train": x[idx_train].astype(dtype), "y_train": y[idx_train],
        "x_test": x[idx_test].astype(dtype), "y_test": y[idx_test],
        "idx_train": idx_train, "idx_test": idx_test,
    }


def digits_permutation(seed) -> np.ndarray:
    """The fixed pixel permutation for ``seed``: int64 ``(64,)``, a permutation of 0..63."""
    if isinstance(seed, bool) or not isinstance(seed, numbers.Integral) or seed < 0:
        fail("digits_permutation", "seed", seed, "a non-negative int")
    return np.random.default_rng(int(seed)).permutation(SIDE * SIDE)


def digits_sequences(x, mode: str = "rows", permutation=None) -> np.ndarray:
    """Digit images ``(B, 64)`` or ``(B, 8, 8)`` as time-major sequences.

    ``mode="rows"``: ``(8, B, 8)``, step ``t`` is image row ``t``.
    ``mode="pixels"``: ``(64, B, 1)``, step ``t`` is pixel ``t`` in row-major order,
    or pixel ``digits_permutation(permutation)[t]`` when ``permutation`` (an int seed)
    is given; ``permutation`` is only allowed in this mode.
    The dtype of ``x`` is kept; the result is a new C-contiguous array.
    """
    fn = "digits_sequences"
    check_choice(fn, "mode", mode, MODES)
    if permutation is not None:
        if mode != "pixels":
            fail(fn, "permutation", permutation, "None in mode='rows' (permuting needs mode='pixels')")
        if isinstance(permutation, bool) or not isinstance(permutation, numbers.Integral) or permutation < 0:
            fail(fn, "permutation", permutation, "None or a non-negative int seed")
    img = _images(fn, x)                                   # (B, 8, 8)
    if mode == "rows":
        return np.ascontiguousarray(img.transpose(1, 0, 2))  # (8, B, 8)
    flat = img.reshape(len(img), SIDE * SIDE)              # (B, 64)
    if permutation is not None:
        flat = flat[:, digits_permutation(permutation)]
    return np.ascontiguousarray(flat.T[:, :, None])       # (64, B, 1)


def _interp_matrix(n_in: int, n_out: int, dtype) -> np.ndarray:
    """``(n_out, n_in)`` linear-interpolation weights, corners aligned; rows sum to 1."""
    pos = np.arange(n_out) * ((n_in - 1) / (n_out - 1))    # sample points in input coordinates
    lo = np.minimum(np.floor(pos).astype(np.int64), n_in - 2)
    frac = pos - lo
    a = np.zeros((n_out, n_in))
    a[np.arange(n_out), lo] = 1.0 - frac
    a[np.arange(n_out), lo + 1] += frac
    return a.astype(dtype)


def upsample_digits(x, size: int = 28) -> np.ndarray:
    """Bilinear upsampling of 8x8 digits to ``size x size``, flattened: ``(B, size**2)``.

    Separable linear interpolation with aligned corners (the output's corner pixels
    are the input's; ``size=15`` puts a new pixel exactly halfway between each pair),
    i.e. ``out = A @ img @ A.T`` with ``A`` of shape ``(size, 8)``. Every output pixel
    is a convex combination of input pixels, so the value range is kept (``[0, 1]``
    for :func:`load_digits_split`'s pixels). Floating inputs keep their dtype; others
    become float64. ``size`` must be >= 2.
    """
    fn = "upsample_digits"
    size = check_count(fn, "size", size, lo=2)
    img = _images(fn, x)                                   # (B, 8, 8)
    dtype = img.dtype if np.issubdtype(img.dtype, np.floating) else np.dtype(np.float64)
    img = img.astype(dtype, copy=False)
    a = _interp_matrix(SIDE, size, dtype)                  # (S, 8)
    out = np.einsum("ij,bjk,lk->bil", a, img, a)           # (B, S, S)
    if out.size:
        out = np.clip(out, img.min(), img.max())           # rounding can step one ulp outside
    return out.reshape(len(img), size * size)

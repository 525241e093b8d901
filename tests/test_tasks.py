"""Data generators: determinism, the stated layouts, closed-form baselines, validation."""
import math
import sys

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from rnnflow.tasks import (
    ADDING_BASELINE_MSE, COPY_BLANK, adding_batch, adding_solved, copy_baseline, copy_batch,
    digits_permutation, digits_sequences, load_digits_split, upsample_digits,
)
from rnnflow.tasks import digits as digits_mod


# ---------------------------------------------------------------- adding

def _markers(x):
    """Marker positions (p0 < p1) per sequence, read back from channel 1."""
    t, b = np.nonzero(x[:, :, 1].T)            # row-major over (B, L): b-th pair in order
    assert np.array_equal(t, np.repeat(np.arange(x.shape[1]), 2)), "not exactly 2 markers each"
    return b[0::2], b[1::2]


@pytest.mark.parametrize("T", [2, 3, 5, 9, 10, 11, 25, 100])
def test_adding_layout_over_many_draws(T):
    g = np.random.default_rng(T)
    lengths, first, second = set(), set(), set()
    for _ in range(300):
        x, y = adding_batch(g, 8, T)
        L = x.shape[0]
        assert x.shape == (L, 8, 2) and y.shape == (8, 1)
        assert x.dtype == y.dtype == np.float32
        assert T <= L <= T + T // 10
        assert set(np.unique(x[:, :, 1])) <= {0.0, 1.0}
        assert np.all((x[:, :, 0] >= 0) & (x[:, :, 0] < 1))
        p0, p1 = _markers(x)
        n1 = max(1, L // 10)                   # first 10%, at least one step
        n2 = max(n1 + 1, L // 2)               # up to 50%, at least one step
        assert np.all(p0 < n1) and np.all((p1 >= n1) & (p1 < n2)) and np.all(p1 < L)
        cols = np.arange(8)
        np.testing.assert_array_equal(y[:, 0], (x[p0, cols, 0] + x[p1, cols, 0]) / np.float32(2))
        lengths.add(L)
        if L == T:
            first.update(p0.tolist())
            second.update(p1.tolist())
    assert lengths == set(range(T, T + T // 10 + 1))   # both ends of the length range occur
    n1, n2 = max(1, T // 10), max(max(1, T // 10) + 1, T // 2)
    assert first == set(range(n1)) and second == set(range(n1, n2))  # every position reachable


def test_adding_small_T_is_forced():
    x, y = adding_batch(0, 4, 2)
    assert x.shape == (2, 4, 2)
    np.testing.assert_array_equal(x[:, :, 1], np.ones((2, 4)))
    np.testing.assert_array_equal(y[:, 0], (x[0, :, 0] + x[1, :, 0]) / np.float32(2))


@settings(max_examples=40, deadline=None)
@given(T=st.integers(2, 60), batch=st.integers(1, 5), seed=st.integers(0, 2**32 - 1))
def test_adding_invariants_property(T, batch, seed):
    x, y = adding_batch(seed, batch, T, dtype=np.float64)
    L = x.shape[0]
    assert T <= L <= T + T // 10 and x.dtype == y.dtype == np.float64
    p0, p1 = _markers(x)
    assert np.all(p0 < max(1, L // 10)) and np.all(p0 < p1) and np.all(p1 < max(max(1, L // 10) + 1, L // 2))


def test_adding_seeding():
    a, b = adding_batch(7, 16, 50), adding_batch(7, 16, 50)
    c = adding_batch(np.random.default_rng(7), 16, 50)
    for u, v in zip(a, c):
        np.testing.assert_array_equal(u, v)
    np.testing.assert_array_equal(a[0], b[0])
    d = adding_batch(8, 16, 50)
    assert a[0].shape != d[0].shape or not np.array_equal(a[0], d[0])
    # float64 and float32 draws agree up to the cast
    x64, _ = adding_batch(7, 16, 50, dtype="float64")
    np.testing.assert_array_equal(x64.astype(np.float32), a[0])
    # a Generator is advanced in place: consecutive batches differ
    g = np.random.default_rng(3)
    assert not np.array_equal(adding_batch(g, 4, 20)[1], adding_batch(g, 4, 20)[1])


def test_adding_constant_baseline():
    assert ADDING_BASELINE_MSE == pytest.approx(1 / 24)
    _, y = adding_batch(11, 200_000, 10, dtype=np.float64)
    mse = np.mean((y - 0.5) ** 2)
    # Var((a+b)/2 - 1/2)^2 = 1/240 - 1/576, so the standard error is 0.049 / sqrt(n) ~ 1.1e-4
    assert abs(mse - 1 / 24) < 6e-4
    assert abs(y.mean() - 0.5) < 3e-3
    # the 0.04 threshold already passes the constant guess on 1 - 0.6**2 = 64% of sequences
    assert adding_solved(np.full_like(y, 0.5), y).mean() == pytest.approx(0.64, abs=5e-3)


def test_adding_solved_threshold():
    y = np.array([[0.3], [0.3], [0.7], [0.5]])
    pred = np.array([[0.49], [0.51], [0.7], [0.0]])   # squared errors 0.0361, 0.0441, 0, 0.25
    np.testing.assert_array_equal(adding_solved(pred, y), [True, False, True, False])
    np.testing.assert_array_equal(adding_solved(pred[:, 0], y), [True, False, True, False])
    np.testing.assert_array_equal(adding_solved(pred, y, threshold=0.05), [True, True, True, False])
    # strict inequality: an error exactly at the threshold is not solved (0.25 is exact in binary)
    np.testing.assert_array_equal(adding_solved(pred, y, threshold=0.25), [True, True, True, False])
    assert adding_solved(pred, y).dtype == bool


# ---------------------------------------------------------------- copy

@pytest.mark.parametrize("T,n_symbols,n_copy", [(1, 8, 10), (5, 8, 10), (30, 3, 4), (2, 1, 1)],
                         ids=["T1", "T5", "T30-s3-n4", "tiny"])
def test_copy_layout(T, n_symbols, n_copy):
    x, y = copy_batch(0, 32, T, n_symbols=n_symbols, n_copy=n_copy)
    L, K = T + 2 * n_copy, n_symbols + 2
    assert x.shape == (L, 32, K) and x.dtype == np.float32
    assert y.shape == (L, 32) and y.dtype == np.int64
    np.testing.assert_array_equal(x.sum(-1), 1)                     # one-hot
    inp = x.argmax(-1)
    data = inp[:n_copy]
    assert np.all((data >= 1) & (data <= n_symbols))
    assert np.all(inp[n_copy:n_copy + T - 1] == COPY_BLANK)          # T - 1 blanks
    assert np.all(inp[n_copy + T - 1] == n_symbols + 1)              # the marker
    assert np.all(inp[n_copy + T:] == COPY_BLANK)                    # n_copy blanks
    assert np.all(y[:n_copy + T] == COPY_BLANK)
    np.testing.assert_array_equal(y[-n_copy:], data)                 # the copy


def test_copy_symbols_uniform_and_seeded():
    x, y = copy_batch(5, 2000, 3)
    counts = np.bincount(y[-10:].ravel(), minlength=9)[1:]          # 20000 draws over 8 symbols
    assert counts.min() > 2200 and counts.max() < 2800               # expected 2500, sd ~47
    x2, y2 = copy_batch(5, 2000, 3)
    np.testing.assert_array_equal(x, x2)
    np.testing.assert_array_equal(y, y2)
    assert not np.array_equal(y, copy_batch(6, 2000, 3)[1])
    np.testing.assert_array_equal(copy_batch(5, 2000, 3, dtype=np.float64)[0], x)


@pytest.mark.parametrize("T,n_symbols,n_copy", [(100, 8, 10), (1, 8, 10), (50, 3, 4)])
def test_copy_baseline_is_memoryless_cross_entropy(T, n_symbols, n_copy):
    _, y = copy_batch(1, 64, T, n_symbols=n_symbols, n_copy=n_copy)
    L, K = y.shape[0], n_symbols + 2
    p = np.zeros((L, K))
    p[:n_copy + T, COPY_BLANK] = 1.0                  # blank until the copy is due ...
    p[n_copy + T:, 1:n_symbols + 1] = 1.0 / n_symbols  # ... then a uniform guess
    ce = -np.mean(np.log(p[np.arange(L)[:, None], y]))
    assert copy_baseline(T, n_symbols=n_symbols, n_copy=n_copy) == pytest.approx(ce, rel=1e-12)
    assert copy_baseline(100) == pytest.approx(10 * math.log(8) / 120)


# ---------------------------------------------------------------- digits

def test_digits_split_covers_and_is_stratified():
    d = load_digits_split(0)
    n_tr, n_te = len(d["y_train"]), len(d["y_test"])
    assert n_tr + n_te == 1797
    assert d["x_train"].shape == (n_tr, 64) and d["x_test"].shape == (n_te, 64)
    assert d["x_train"].dtype == np.float32 and d["y_train"].dtype == np.int64
    assert not set(d["idx_train"]) & set(d["idx_test"])
    assert not np.all(np.diff(d["idx_test"]) > 0), "test set should be shuffled, not in file order"
    np.testing.assert_array_equal(np.sort(np.concatenate([d["idx_train"], d["idx_test"]])), np.arange(1797))
    for k in ("x_train", "x_test"):
        assert d[k].min() == 0.0 and d[k].max() == 1.0
    from sklearn.datasets import load_digits
    raw = load_digits()
    np.testing.assert_array_equal(d["x_test"], (raw.data[d["idx_test"]] / 16).astype(np.float32))
    np.testing.assert_array_equal(d["y_test"], raw.target[d["idx_test"]])
    per_class = np.bincount(raw.target)
    np.testing.assert_array_equal(np.bincount(d["y_test"], minlength=10), np.floor(per_class * 0.2 + 0.5))


def test_digits_split_seeding():
    a, b, c = load_digits_split(3), load_digits_split(3), load_digits_split(4)
    for k in a:
        np.testing.assert_array_equal(a[k], b[k])
    assert not np.array_equal(a["idx_test"], c["idx_test"])
    assert load_digits_split(3, dtype=np.float64)["x_train"].dtype == np.float64
    tiny = load_digits_split(0, test_fraction=0.001)   # each class keeps >= 1 test image
    assert len(tiny["y_test"]) == 10 and set(tiny["y_test"]) == set(range(10))


def test_digits_sequences_rows_and_pixels():
    x = load_digits_split(0)["x_test"][:7]                       # (7, 64)
    rows = digits_sequences(x, "rows")
    assert rows.shape == (8, 7, 8) and rows.dtype == x.dtype and rows.flags.c_contiguous
    np.testing.assert_array_equal(rows.transpose(1, 0, 2).reshape(7, 64), x)  # reassembles
    np.testing.assert_array_equal(rows[2, 4], x.reshape(7, 8, 8)[4, 2])        # step t = row t
    pix = digits_sequences(x.reshape(7, 8, 8), "pixels")
    assert pix.shape == (64, 7, 1)
    np.testing.assert_array_equal(pix[:, :, 0].T, x)


def test_digits_permutation_is_fixed():
    x = load_digits_split(0)["x_test"][:5]
    perm = digits_permutation(17)
    np.testing.assert_array_equal(perm, digits_permutation(17))
    np.testing.assert_array_equal(np.sort(perm), np.arange(64))
    assert not np.array_equal(perm, np.arange(64))
    assert not np.array_equal(perm, digits_permutation(18))
    a = digits_sequences(x, "pixels", permutation=17)
    np.testing.assert_array_equal(a, digits_sequences(x, "pixels", permutation=17))
    np.testing.assert_array_equal(a[:, :, 0].T, x[:, perm])      # same permutation for every image
    np.testing.assert_array_equal(np.sort(a[:, :, 0].T, axis=1), np.sort(x, axis=1))


def test_upsample_digits():
    x = load_digits_split(0)["x_test"][:6]
    up = upsample_digits(x)
    assert up.shape == (6, 784) and up.dtype == np.float32
    assert up.min() >= 0.0 and up.max() <= 1.0
    img, big = x.reshape(6, 8, 8), up.reshape(6, 28, 28)
    np.testing.assert_array_equal(big[:, [0, 0, -1, -1], [0, -1, 0, -1]], img[:, [0, 0, -1, -1], [0, -1, 0, -1]])
    # size 15 = 2*8 - 1: even pixels are the originals, odd ones the midpoints
    x64 = x.astype(np.float64).reshape(6, 8, 8)
    half = upsample_digits(x64, size=15).reshape(6, 15, 15)
    np.testing.assert_allclose(half[:, ::2, ::2], x64, atol=1e-15)
    np.testing.assert_allclose(half[:, 1::2, ::2], (x64[:, :-1] + x64[:, 1:]) / 2, atol=1e-15)
    np.testing.assert_allclose(upsample_digits(x64, size=8), x64.reshape(6, 64), atol=1e-15)


def test_digits_missing_sklearn_names_extra(monkeypatch):
    digits_mod._raw_digits.cache_clear()
    monkeypatch.setitem(sys.modules, "sklearn.datasets", None)
    try:
        with pytest.raises(ImportError, match=r"pip install 'rnnflow\[data\]'"):
            load_digits_split(0)
    finally:
        digits_mod._raw_digits.cache_clear()


# ---------------------------------------------------------------- validation

@pytest.mark.parametrize("call,match", [
    (lambda: adding_batch(0, 0, 10), r"adding_batch\.batch=0 .*integer >= 1"),
    (lambda: adding_batch(0, 4, 1), r"adding_batch\.T=1 .*integer >= 2"),
    (lambda: adding_batch(0, 4, 10.0), r"adding_batch\.T=10\.0"),
    (lambda: adding_batch(0, True, 10), r"adding_batch\.batch=True"),
    (lambda: adding_batch(None, 4, 10), r"adding_batch\.rng=None .*Generator"),
    (lambda: adding_batch(np.random.RandomState(0), 4, 10), r"adding_batch\.rng="),
    (lambda: adding_batch(0, 4, 10, dtype=np.float16), r"adding_batch\.dtype=.*float32 or float64"),
    (lambda: adding_batch(0, 4, 10, dtype=None), r"adding_batch\.dtype=None"),
    (lambda: adding_solved(np.zeros((3, 1)), np.zeros((4, 1))), r"adding_solved: pred has shape \(3, 1\)"),
    (lambda: adding_solved(np.zeros(3), np.zeros(3), threshold=0), r"adding_solved\.threshold=0"),
    (lambda: copy_batch(0, 0, 5), r"copy_batch\.batch=0"),
    (lambda: copy_batch(0, 4, 0), r"copy_batch\.T=0 .*integer >= 1"),
    (lambda: copy_batch(0, 4, 5, n_symbols=0), r"copy_batch\.n_symbols=0"),
    (lambda: copy_batch(0, 4, 5, n_copy=0), r"copy_batch\.n_copy=0"),
    (lambda: copy_batch(-1, 4, 5), r"copy_batch\.rng=-1"),
    (lambda: copy_baseline(0), r"copy_baseline\.T=0"),
    (lambda: load_digits_split(0, test_fraction=1.0), r"load_digits_split\.test_fraction=1\.0 .*\(0, 1\)"),
    (lambda: load_digits_split("a"), r"load_digits_split\.seed='a'"),
    (lambda: digits_sequences(np.zeros((2, 64)), "cols"), r"digits_sequences\.mode='cols' .*'rows', 'pixels'"),
    (lambda: digits_sequences(np.zeros((2, 64)), "rows", permutation=1), r"digits_sequences\.permutation=1 .*pixels"),
    (lambda: digits_sequences(np.zeros((2, 64)), "pixels", permutation=1.5), r"digits_sequences\.permutation=1\.5"),
    (lambda: digits_sequences(np.zeros((2, 63)), "pixels"), r"shape \(2, 63\)"),
    (lambda: digits_permutation(True), r"digits_permutation\.seed=True"),
    (lambda: upsample_digits(np.zeros((2, 64)), size=1), r"upsample_digits\.size=1 .*integer >= 2"),
    (lambda: upsample_digits(np.zeros((2, 28, 28))), r"shape \(2, 28, 28\)"),
], ids=lambda v: v.split(" ")[0].replace("\\", "") if isinstance(v, str) else None)
def test_validation(call, match):
    with pytest.raises(ValueError, match=match):
        call()


def test_numpy_integers_accepted():
    x, y = adding_batch(np.int64(1), np.int32(3), np.int64(20))
    assert x.shape[1] == 3
    assert copy_batch(np.uint8(1), 2, np.int64(4))[1].shape == (24, 2)


def test_tasks_import_no_framework():
    import subprocess
    code = ("import sys, rnnflow.tasks, rnnflow.tasks.digits as d; d.load_digits_split(0); "
            "bad = [m for m in ('torch', 'jax') if m in sys.modules]; assert not bad, bad")
    subprocess.run([sys.executable, "-W", "error", "-c", code], check=True)

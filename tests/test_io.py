"""rnnflow.io: atomic writes leave the old file or the new one, JSON and npz round trips."""
from __future__ import annotations

import json
import math

import numpy as np
import pytest

from rnnflow import io as rio


def test_atomic_write_replaces_and_leaves_no_temporary(tmp_path):
    path = tmp_path / "sub" / "f.txt"          # the folder is created
    rio.atomic_write_text(path, "old")
    rio.atomic_write_text(path, "néw\n")
    assert path.read_text(encoding="utf-8") == "néw\n"
    assert sorted(p.name for p in path.parent.iterdir()) == ["f.txt"]


def test_failed_write_keeps_the_old_file_and_removes_the_temporary(tmp_path):
    path = tmp_path / "a.npz"
    rio.save_npz(path, {"x": np.arange(3)})
    with pytest.raises(TypeError):   # raised inside the write, once the temporary file exists
        rio.atomic_write_bytes(path, "text, not bytes")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.npz"]
    np.testing.assert_array_equal(rio.load_npz(path)["x"], np.arange(3))


def test_json_round_trip_with_numpy_and_non_finite(tmp_path):
    path = tmp_path / "d.json"
    rio.write_json(path, {"a": np.float32(0.5), "b": np.int64(3), "c": np.bool_(True), "d": (1, 2),
                          "nan": math.nan, "inf": np.float64(-np.inf), 4: "four", "nested": [{"x": 1.5}]})
    text = path.read_text(encoding="utf-8")
    assert text.endswith("\n") and "NaN" not in text and "Infinity" not in text
    assert rio.read_json(path) == {"a": 0.5, "b": 3, "c": True, "d": [1, 2], "nan": None, "inf": None,
                                   "4": "four", "nested": [{"x": 1.5}]}
    assert json.loads(text) == rio.read_json(path)


def test_json_safe_leaves_other_values_alone():
    assert rio.json_safe({"s": "x", "n": None, "i": 2, "f": 2.5}) == {"s": "x", "n": None, "i": 2, "f": 2.5}
    assert type(rio.json_safe(np.int32(2))) is int and type(rio.json_safe(np.float32(2))) is float


def test_npz_round_trip_keeps_dtypes_and_shapes(tmp_path):
    arrays = {"f32": np.arange(6, dtype=np.float32).reshape(2, 3), "i64": np.array([-1, 2], np.int64),
              "b": np.array([True, False]), "s": np.array(["a", "bc"]), "scalar": 3.5,
              "group/key.with.dots": np.zeros((0, 4))}
    path = tmp_path / "a.npz"
    rio.save_npz(path, arrays)
    back = rio.load_npz(path)
    assert list(back) == list(arrays)
    for k, v in arrays.items():
        v = np.asarray(v)
        assert back[k].dtype == v.dtype and back[k].shape == v.shape
        np.testing.assert_array_equal(back[k], v)


def test_npz_refuses_pickles(tmp_path):
    path = tmp_path / "o.npz"
    np.savez(path, o=np.array([{"a": 1}], dtype=object))
    with pytest.raises(ValueError, match="allow_pickle"):
        rio.load_npz(path)

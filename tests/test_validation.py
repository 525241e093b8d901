"""rnnflow.validation's argument checks: what each accepts, what it refuses, and the message."""
from __future__ import annotations

import ast
import math
import re
import sys
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest

import rnnflow
from rnnflow.validation import (
    check_bool, check_choice, check_count, check_float_dtype, check_generator, check_int, check_real, fail,
)


def refused(check, *args, value, expected, **kwargs):
    """``check(*args, **kwargs)`` raises ValueError "Owner.field=<value!r> is invalid: expected <expected>"."""
    with pytest.raises(ValueError) as err:
        check(*args, **kwargs)
    assert str(err.value) == f"Owner.field={value!r} is invalid: expected {expected}"


def test_fail_names_owner_field_value_and_expected():
    with pytest.raises(ValueError, match=r"^Owner\.field='x' is invalid: expected a number$"):
        fail("Owner", "field", "x", "a number")


# ---------------------------------------------------------------- integers
@pytest.mark.parametrize("value,lo", [(1, 1), (7, 1), (0, 0), (-3, -3), (10**20, 2)])
def test_check_int_accepts(value, lo):
    assert check_int("Owner", "field", value, lo) is None


@pytest.mark.parametrize("value,lo", [
    (0, 1), (-1, 0), (1, 2), (2.0, 1), (True, 1), (False, 0), (np.int64(3), 1), ("3", 1), (None, 1),
], ids=["below", "negative", "below_lo2", "float", "true", "false", "numpy_int", "str", "none"])
def test_check_int_refuses(value, lo):
    refused(check_int, "Owner", "field", value, lo, value=value, expected=f"an integer >= {lo}")


@pytest.mark.parametrize("value", [1, np.int64(5), np.uint8(3), np.int32(2)])
def test_check_count_accepts_any_integral_and_returns_int(value):
    out = check_count("Owner", "field", value)
    assert out == int(value) and type(out) is int


@pytest.mark.parametrize("value,lo", [(0, 1), (1, 2), (np.int64(-1), 0), (2.0, 1), (np.float64(2), 1),
                                      (True, 1), (np.bool_(True), 1), (None, 1)],
                         ids=["below", "below_lo2", "numpy_negative", "float", "numpy_float", "true",
                              "numpy_bool", "none"])
def test_check_count_refuses(value, lo):
    refused(check_count, "Owner", "field", value, lo, value=value, expected=f"an integer >= {lo}")


# ---------------------------------------------------------------- reals
@pytest.mark.parametrize("value,kw", [
    (0.0, {}), (-1e300, {}), (3, {}), (np.float64(0.5), {}),
    (0.0, dict(lo=0.0)), (1.0, dict(lo=0.0, hi=1.0)), (0.999, dict(lo=0.0, hi=1.0, hi_open=True)),
    (1e-12, dict(lo=0.0, lo_open=True)),
])
def test_check_real_accepts(value, kw):
    assert check_real("Owner", "field", value, **kw) is None


@pytest.mark.parametrize("value,kw,expected", [
    (math.nan, {}, "a finite number in [-inf, inf]"),
    (math.inf, {}, "a finite number in [-inf, inf]"),
    (-math.inf, dict(hi=0.0), "a finite number in [-inf, 0.0]"),
    (True, {}, "a finite number in [-inf, inf]"),
    ("1.0", {}, "a finite number in [-inf, inf]"),
    (None, {}, "a finite number in [-inf, inf]"),
    (-0.1, dict(lo=0.0), "a finite number in [0.0, inf]"),
    (0.0, dict(lo=0.0, lo_open=True), "a finite number in (0.0, inf]"),
    (1.0, dict(lo=0.0, hi=1.0, hi_open=True), "a finite number in [0.0, 1.0)"),
    (1.5, dict(lo=0.0, hi=1.0), "a finite number in [0.0, 1.0]"),
], ids=["nan", "inf", "minus_inf", "bool", "str", "none", "below", "open_lo", "open_hi", "above"])
def test_check_real_refuses(value, kw, expected):
    refused(check_real, "Owner", "field", value, value=value, expected=expected, **kw)


@pytest.mark.parametrize("value", [np.float32(0.5), Fraction(1, 2)])
def test_check_real_refuses_other_real_types(value):
    # configs store the value as given and write it to JSON: only int and float go in
    with pytest.raises(ValueError, match=re.escape(f"Owner.field={value!r} is invalid")):
        check_real("Owner", "field", value)


# ---------------------------------------------------------------- choices and bools
def test_check_choice():
    assert check_choice("Owner", "field", "b", ("a", "b")) is None
    refused(check_choice, "Owner", "field", "c", ("a", "b"), value="c", expected="one of 'a', 'b'")
    refused(check_choice, "Owner", "field", None, ("a",), value=None, expected="one of 'a'")


@pytest.mark.parametrize("value", [True, False])
def test_check_bool_accepts(value):
    assert check_bool("Owner", "field", value) is None


@pytest.mark.parametrize("value", [0, 1, np.bool_(True), "True", None], ids=["0", "1", "numpy", "str", "none"])
def test_check_bool_refuses(value):
    refused(check_bool, "Owner", "field", value, value=value, expected="True or False")


# ---------------------------------------------------------------- generators and dtypes
def test_check_generator_passes_a_generator_through():
    g = np.random.default_rng(3)
    assert check_generator("Owner", "field", g) is g


@pytest.mark.parametrize("seed", [0, 5, np.int64(5), np.uint8(5)])
def test_check_generator_seeds(seed):
    g = check_generator("Owner", "field", seed)
    assert isinstance(g, np.random.Generator)
    assert g.random() == np.random.default_rng(int(seed)).random()


@pytest.mark.parametrize("value", [-1, True, 1.0, None, np.random.RandomState(0), "0"],
                         ids=["negative", "bool", "float", "none", "randomstate", "str"])
def test_check_generator_refuses(value):
    refused(check_generator, "Owner", "field", value, value=value,
            expected="a numpy.random.Generator or a non-negative int seed")


@pytest.mark.parametrize("value,want", [(np.float32, np.float32), ("float64", np.float64),
                                        (np.dtype("float32"), np.float32), (float, np.float64)])
def test_check_float_dtype_accepts(value, want):
    out = check_float_dtype("Owner", "field", value)
    assert isinstance(out, np.dtype) and out == np.dtype(want)


@pytest.mark.parametrize("value", [None, np.float16, np.int32, "int64", "nonsense", complex],
                         ids=["none", "float16", "int32", "int64_str", "unknown", "complex"])
def test_check_float_dtype_refuses(value):
    # None matters: np.dtype(None) is float64, and np.dtype("float64") == None is True
    refused(check_float_dtype, "Owner", "field", value, value=value, expected="float32 or float64")


# ---------------------------------------------------------------- leaf modules
@pytest.mark.parametrize("module", ["validation", "io"])
def test_leaf_module_imports_only_stdlib_and_numpy(module):
    """Every part of rnnflow may import these two, so they import nothing from rnnflow
    (no circles) and neither torch nor jax."""
    path = Path(rnnflow.__file__).parent / f"{module}.py"
    imported = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom):
            assert node.level == 0, f"rnnflow/{module}.py has a relative import (line {node.lineno})"
            imported.add(node.module.split(".")[0])
        elif isinstance(node, ast.Import):
            imported.update(a.name.split(".")[0] for a in node.names)
    assert imported, "no imports found: is the path right?"
    outside = sorted(m for m in imported if m not in sys.stdlib_module_names and m != "numpy")
    assert outside == [], f"rnnflow/{module}.py imports {outside}"

"""The strategies in tape.testing.strategies draw what their docstrings promise."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import find, given, settings
from hypothesis import strategies as st

import tape
from tape.testing import strategies as tst

FLOATS = ["float16", "bfloat16", "float32", "float64"]
DTYPES = [*FLOATS, "int8", "int32", "int64", "uint8", "bool"]


@pytest.mark.parametrize("dtype", DTYPES)
@given(data=st.data())
def test_tensors_have_the_dtype_asked_and_finite_values(dtype, data):
    t = data.draw(tst.tensors(dtype=dtype))
    assert isinstance(t, tape.Tensor)
    assert t.dtype == tape.dtypes.as_dtype(dtype)
    a = t.numpy()
    if tape.dtypes.is_float(a.dtype):
        tiny = np.finfo(np.float32 if dtype == "bfloat16" else a.dtype).tiny  # bf16: float32 range
        a = a.astype(np.float64)
        assert np.all(np.isfinite(a))
        assert np.all((a == 0) | (np.abs(a) >= tiny)), "subnormal drawn"
    if a.dtype.kind != "b":
        assert np.all((a >= -10) & (a <= 10))


@given(tst.tensors(min_dims=1, max_dims=3, min_side=2, max_side=3))
def test_tensors_respect_dims_and_sides(t):
    assert 1 <= t.ndim <= 3 and all(2 <= s <= 3 for s in t.shape)


@given(tst.tensors(shape=(2, 3)), tst.tensors(shape=st.sampled_from([(1,), (4, 1)])))
def test_tensors_take_a_shape_or_a_strategy_of_shapes(a, b):
    assert a.shape == (2, 3) and b.shape in ((1,), (4, 1))


@given(tst.arrays(shape=5, dtype="float16", min_value=-0.1, max_value=0.1))
def test_arrays_round_float_bounds_inward(a):
    assert isinstance(a, np.ndarray) and a.shape == (5,)
    assert np.all((a >= -0.1) & (a <= 0.1))


@given(tst.arrays(shape=4, dtype="bfloat16", min_value=-0.1, max_value=0.1))
def test_bfloat16_arrays_are_rounded_draws_within_the_bounds(a):
    assert a.dtype == tape.dtypes.bfloat16() and a.shape == (4,)
    wide = a.astype(np.float64)
    assert np.all((wide >= -0.1) & (wide <= 0.1))
    assert np.all(wide.astype(np.float32).view(np.uint32) & 0xFFFF == 0)  # 8 mantissa bits


@given(tst.arrays(shape=(3,), elements=st.just(7.0)))
def test_arrays_take_an_elements_strategy(a):
    assert a.tolist() == [7.0, 7.0, 7.0]


@given(st.integers(1, 4).flatmap(lambda n: st.tuples(st.just(n), tst.broadcastable_shapes(n))))
def test_broadcastable_shapes_broadcast(n_and_shapes):
    n, shapes = n_and_shapes
    assert len(shapes) == n
    np.broadcast_shapes(*shapes)
    assert all(len(s) <= 4 and all(1 <= d <= 5 for d in s) for s in shapes)


def test_broadcastable_shapes_need_broadcasting():
    # Not just equal shapes: some draw has a size-1 dim against a bigger one.
    def broadcasts(shapes):
        return any(s != np.broadcast_shapes(*shapes) for s in shapes)

    find(tst.broadcastable_shapes(), broadcasts)


@given(st.data())
def test_axes_are_valid_for_np_sum(data):
    shape = data.draw(tst.broadcastable_shapes(1).map(lambda s: s[0]))
    axis = data.draw(tst.axes(shape))
    x = np.zeros(shape)
    np.sum(x, axis=axis)
    assert tape.sum(tape.tensor(x), axis=axis).shape == np.sum(x, axis=axis).shape


@given(tst.axes(3, allow_none=False, allow_tuple=False, allow_negative=False))
def test_axes_respect_the_flags(axis):
    assert isinstance(axis, int) and 0 <= axis < 3


@given(tst.axes(0))
def test_axes_of_a_scalar(axis):
    assert axis is None or axis == ()


def test_axes_draw_negative_ints_and_tuples():
    find(tst.axes(3), lambda a: isinstance(a, int) and a < 0)
    find(tst.axes(3), lambda a: isinstance(a, tuple) and len(a) == 2 and min(a) < 0)


def test_axes_with_nothing_valid_is_an_error():
    with pytest.raises(ValueError, match="no valid axis"):
        tst.axes(0, allow_none=False, allow_tuple=False)


@settings(max_examples=100)
@given(st.data())
def test_index_expressions_are_valid_numpy_indices(data):
    shape = data.draw(tst.arrays(max_side=4).map(lambda a: a.shape))
    index = data.draw(tst.index_expressions(shape))
    np.zeros(shape)[index]  # raises IndexError if the strategy broke its promise


def _parts(index):
    return index if isinstance(index, tuple) else (index,)


def _has(kind):
    def check(index):
        return any(kind(p) for p in _parts(index))

    return check


@pytest.mark.parametrize(
    "name, predicate",
    [
        ("negative int", _has(lambda p: isinstance(p, int) and p < 0)),
        ("negative-step slice", _has(lambda p: isinstance(p, slice) and (p.step or 1) < 0)),
        ("None", _has(lambda p: p is None)),
        ("Ellipsis", _has(lambda p: p is Ellipsis)),
        (
            "repeated integer array",
            _has(
                lambda p: (
                    isinstance(p, np.ndarray)
                    and p.dtype.kind == "i"
                    and len(np.unique(p % 4)) < p.size
                )
            ),
        ),
        ("boolean mask", _has(lambda p: isinstance(p, np.ndarray) and p.dtype == bool)),
    ],
)
def test_index_expressions_cover_every_kind(name, predicate):
    find(tst.index_expressions((4, 4, 4)), predicate)


def test_tape_profile_has_no_deadline():
    assert settings.get_profile("tape").deadline is None

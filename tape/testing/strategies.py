"""Hypothesis strategies for tape tests: tensors, arrays, broadcastable shapes, axes, indices.

Importing this module registers a settings profile named ``"tape"`` with ``deadline=None``
(the first call of an op, or of a JAX oracle, is much slower than the rest, so a deadline
makes tests flaky). Load it in your ``conftest.py`` with
``hypothesis.settings.load_profile("tape")``.
"""

from __future__ import annotations

try:
    from hypothesis import settings
    from hypothesis import strategies as st
    from hypothesis.extra import numpy as hnp
except ImportError as e:  # an optional dependency: say how to get it
    raise ImportError(
        "tape.testing.strategies needs hypothesis: pip install 'tape[test]' "
        "(or pip install hypothesis)"
    ) from e

import math

import numpy as np

import tape

__all__ = ["arrays", "axes", "broadcastable_shapes", "index_expressions", "tensors"]

settings.register_profile("tape", deadline=None)


def _inward(bound, dtype: np.dtype, up: bool):
    """``bound`` rounded into [min_value, max_value] and representable in ``dtype``
    (hypothesis rejects float bounds that the width cannot hold exactly)."""
    value = dtype.type(bound)
    if up and float(value) < bound:
        value = np.nextafter(value, dtype.type(np.inf))
    elif not up and float(value) > bound:
        value = np.nextafter(value, dtype.type(-np.inf))
    return float(value)


def _elements(dtype: np.dtype, min_value, max_value):
    if dtype.kind == "b":
        return st.booleans()
    if dtype.kind in "iu":
        info = np.iinfo(dtype)
        lo = info.min if min_value is None else max(info.min, math.ceil(min_value))
        hi = info.max if max_value is None else min(info.max, math.floor(max_value))
        return st.integers(int(lo), int(hi))
    if tape.dtypes.is_float(dtype):
        lo = None if min_value is None else _inward(min_value, dtype, up=True)
        hi = None if max_value is None else _inward(max_value, dtype, up=False)
        return st.floats(  # bfloat16: float32 values, rounded by ``arrays`` (bounds hold)
            lo,
            hi,
            width=32 if dtype.name == "bfloat16" else dtype.itemsize * 8,
            allow_nan=False,
            allow_infinity=False,
            allow_subnormal=False,
        )
    raise ValueError(f"tape.testing.strategies: unsupported dtype {dtype} (bool, int or float)")


def arrays(
    shape=None,
    dtype="float32",
    min_value=-10,
    max_value=10,
    min_dims=0,
    max_dims=4,
    min_side=1,
    max_side=5,
    elements=None,
) -> st.SearchStrategy:
    """NumPy arrays with finite values (no nan, inf or subnormals), e.g. for oracles.

    Args:
        shape: A shape tuple, an int, or a strategy of shapes; None draws one from
            ``min_dims``..``max_dims`` dims of ``min_side``..``max_side`` each.
        dtype: Any bool, integer or float dtype, bfloat16 included.
        min_value: Smallest element (floats are rounded inward to the dtype); None = no bound.
        max_value: Largest element; None = no bound.
        min_dims: Fewest dims when ``shape`` is None.
        max_dims: Most dims when ``shape`` is None.
        min_side: Smallest side when ``shape`` is None.
        max_side: Largest side when ``shape`` is None.
        elements: A strategy for the elements, replacing the dtype-based default.

    Example:
        >>> from hypothesis import given, settings
        >>> from tape.testing import strategies as tst
        >>> @settings(max_examples=10)
        ... @given(tst.arrays(shape=(2, 3), dtype="float16"))
        ... def test(a):
        ...     assert a.shape == (2, 3) and a.dtype == "float16"
        >>> test()
    """
    dtype = tape.dtypes.as_dtype(dtype)
    if shape is None:
        shape = hnp.array_shapes(
            min_dims=min_dims, max_dims=max_dims, min_side=min_side, max_side=max_side
        )
    if elements is None:
        elements = _elements(dtype, min_value, max_value)
    if dtype.name == "bfloat16":  # hypothesis has no bfloat16: float32 draws, rounded to it
        return hnp.arrays(np.float32, shape, elements=elements).map(lambda a: a.astype(dtype))
    return hnp.arrays(dtype, shape, elements=elements)


def tensors(
    shape=None,
    dtype="float32",
    min_value=-10,
    max_value=10,
    min_dims=0,
    max_dims=4,
    min_side=1,
    max_side=5,
    elements=None,
) -> st.SearchStrategy:
    """``tape.Tensor``\\ s with finite values; the arguments are those of :func:`arrays`.

    Example:
        >>> from hypothesis import given, settings
        >>> from tape.testing import strategies as tst
        >>> @settings(max_examples=10)
        ... @given(tst.tensors(dtype="float32", max_dims=2))
        ... def test(t):
        ...     assert t.dtype == "float32" and t.ndim <= 2
        >>> test()
    """
    strategy = arrays(
        shape, dtype, min_value, max_value, min_dims, max_dims, min_side, max_side, elements
    )
    return strategy.map(tape.tensor)


def broadcastable_shapes(
    num_shapes=2, min_dims=0, max_dims=4, min_side=1, max_side=5
) -> st.SearchStrategy:
    """Tuples of ``num_shapes`` shapes that broadcast together (``np.broadcast_shapes``).

    Example:
        >>> import numpy as np
        >>> from hypothesis import given, settings
        >>> from tape.testing import strategies as tst
        >>> @settings(max_examples=10)
        ... @given(tst.broadcastable_shapes(num_shapes=3))
        ... def test(shapes):
        ...     assert len(shapes) == 3
        ...     np.broadcast_shapes(*shapes)
        >>> test()
    """
    return hnp.mutually_broadcastable_shapes(
        num_shapes=num_shapes,
        min_dims=min_dims,
        max_dims=max_dims,
        min_side=min_side,
        max_side=max_side,
    ).map(lambda bs: bs.input_shapes)


def axes(
    shape_or_ndim, allow_none=True, allow_tuple=True, allow_negative=True
) -> st.SearchStrategy:
    """Valid ``axis`` arguments of a reduction over an array of this shape (or ndim).

    Draws None, an int in ``[-ndim, ndim)``, or a tuple of distinct axes (possibly empty,
    which reduces nothing, as in NumPy).

    Example:
        >>> import numpy as np
        >>> from hypothesis import given, settings
        >>> from tape.testing import strategies as tst
        >>> @settings(max_examples=10)
        ... @given(tst.axes((2, 3, 4)))
        ... def test(axis):
        ...     np.sum(np.ones((2, 3, 4)), axis=axis)
        >>> test()
    """
    ndim = shape_or_ndim if isinstance(shape_or_ndim, int) else len(tuple(shape_or_ndim))
    options = []
    if allow_none:
        options.append(st.none())
    if ndim > 0:
        low = -ndim if allow_negative else 0
        options.append(st.integers(low, ndim - 1))
    if allow_tuple:
        signs = st.booleans() if allow_negative else st.just(False)
        options.append(
            st.lists(
                st.tuples(st.integers(0, max(ndim - 1, 0)), signs),
                unique_by=lambda p: p[0],
                max_size=ndim,
            ).map(lambda pairs: tuple(a - ndim if negative else a for a, negative in pairs))
        )
    if not options:
        raise ValueError(f"axes: no valid axis for ndim={ndim} without None or tuples")
    return st.one_of(options)


def index_expressions(shape) -> st.SearchStrategy:
    """Index expressions valid for an array of ``shape``: ints (also negative), slices with
    steps, None, Ellipsis, integer arrays (advanced, with repeats) and boolean masks.

    Example:
        >>> import numpy as np
        >>> from hypothesis import given, settings
        >>> from tape.testing import strategies as tst
        >>> @settings(max_examples=20)
        ... @given(tst.index_expressions((3, 4)))
        ... def test(index):
        ...     np.zeros((3, 4))[index]
        >>> test()
    """
    shape = tuple(int(s) for s in shape)
    basic = hnp.basic_indices(shape, allow_newaxis=True, allow_ellipsis=True)
    if not any(shape):
        return basic  # no element to point at: only basic indices are valid for every dim
    return st.one_of(basic, _advanced_indices(shape), _mask_indices(shape))


def _int_index(size: int):
    return st.integers(-size, size - 1)


@st.composite
def _arrange(draw, items: list):
    """Optionally replace a leading or trailing run of items with Ellipsis (or drop a
    trailing run), and insert up to two None."""
    cut = draw(st.integers(0, len(items)))
    style = draw(st.sampled_from(["full", "drop_tail", "ellipsis_tail", "ellipsis_head"]))
    if style == "drop_tail" or style == "ellipsis_tail":
        items = items[:cut] + ([Ellipsis] if style == "ellipsis_tail" else [])
    elif style == "ellipsis_head":
        items = [Ellipsis] + items[cut:]
    for _ in range(draw(st.integers(0, 2))):
        items.insert(draw(st.integers(0, len(items))), None)
    return tuple(items)


@st.composite
def _advanced_indices(draw, shape):
    """Integer arrays (one common index shape, repeats likely) mixed with ints and slices."""
    index_shape = draw(hnp.array_shapes(min_dims=0, max_dims=2, min_side=0, max_side=4))
    items, has_array = [], False
    for size in shape:
        kinds = ["array", "int", "slice"] if size > 0 else ["slice"]
        kind = draw(st.sampled_from(kinds))
        if kind == "array":
            items.append(draw(hnp.arrays(np.intp, index_shape, elements=_int_index(size))))
            has_array = True
        elif kind == "int":
            items.append(draw(_int_index(size)))
        else:
            items.append(draw(st.slices(size)))
    if not has_array:  # make one dim advanced, so that this strategy lives up to its name
        axis = draw(st.sampled_from([a for a, size in enumerate(shape) if size > 0]))
        items[axis] = draw(hnp.arrays(np.intp, index_shape, elements=_int_index(shape[axis])))
    if draw(st.booleans()):
        return tuple(items)  # every dim explicit: arrays never sit inside Ellipsis
    return draw(_arrange(items))


@st.composite
def _mask_indices(draw, shape):
    """A boolean mask over dims ``[start, start + k)``, slices elsewhere."""
    ndim = len(shape)
    start = draw(st.integers(0, ndim - 1))
    k = draw(st.integers(1, ndim - start))
    mask = draw(hnp.arrays(np.bool_, shape[start : start + k]))
    items = [draw(st.slices(size)) for size in shape[:start]] + [mask]
    items += [draw(st.slices(size)) for size in shape[start + k :]]
    if len(items) == 1 and draw(st.booleans()):
        return mask
    return draw(_arrange(items))

"""Dtype rules: float32 by default, weak Python scalars, which dtypes carry gradients."""

from __future__ import annotations

import numpy as np

from .backend import is_gpu_array
from .errors import DTypeError, ShapeError, user_line

DEFAULT_FLOAT = np.dtype(np.float32)
DEFAULT_INT = np.dtype(np.int64)
FLOAT_DTYPES = (np.dtype(np.float16), np.dtype(np.float32), np.dtype(np.float64))
LOW_PRECISION = ("float16", "bfloat16")  # mixed precision's compute dtypes


def is_float(dtype) -> bool:
    """True for dtypes that carry gradients: float16/32/64 and bfloat16 (``ml_dtypes``).

    Example:
        >>> import numpy as np
        >>> is_float(np.float16), is_float("bfloat16"), is_float(np.int32)
        (True, True, False)
    """
    if not isinstance(dtype, np.dtype):
        dtype = as_dtype(dtype)
    return dtype.kind == "f" or (dtype.kind == "V" and dtype.name == "bfloat16")


def is_low_precision(dtype: np.dtype) -> bool:
    """True for float16 and bfloat16, mixed precision's compute dtypes (by name:
    ``ml_dtypes`` is not imported).

    Example:
        >>> is_low_precision(np.dtype(np.float16)), is_low_precision(np.dtype(np.float32))
        (True, False)
    """
    return dtype.itemsize == 2 and dtype.name in LOW_PRECISION


def bfloat16() -> np.dtype:
    """NumPy's bfloat16 dtype, from ``ml_dtypes`` (a JAX dependency, imported on first use:
    its import costs about half a second); a DTypeError says how to get it when missing."""
    try:
        import ml_dtypes
    except ImportError as e:
        raise DTypeError(
            "bfloat16 needs the ml_dtypes package, which gives NumPy its bfloat16 dtype "
            "(pip install ml_dtypes; it comes with jax)") from e
    return np.dtype(ml_dtypes.bfloat16)


def as_dtype(dtype) -> np.dtype:
    """Resolve ``'float32'``, ``np.float32``, ``float`` (-> float32)... to a NumPy dtype."""
    if dtype is float:
        return DEFAULT_FLOAT
    if dtype is int:
        return DEFAULT_INT
    if isinstance(dtype, str) and dtype == "bfloat16":
        return bfloat16()
    try:
        resolved = np.dtype(dtype)
    except TypeError as e:
        raise DTypeError(f"not a dtype: {dtype!r}") from e
    _check_supported(resolved, "dtype", dtype)
    return resolved


def _check_supported(dtype: np.dtype, what: str, given=None) -> None:
    if dtype.kind not in "biuf" and dtype.name != "bfloat16":
        what = f"{what} {given!r}" if given is not None else what  # only when raising
        raise DTypeError(
            f"{what}: tape tensors hold booleans, integers or floats, not {dtype} "
            "(strings, objects and complex numbers are not supported)"
        )


def to_array(value, dtype=None, xp=np):
    """Turn user data into an array: Python floats (and lists of them) become float32,
    NumPy arrays keep their dtype unless ``dtype`` is given."""
    if dtype is not None:
        dtype = as_dtype(dtype)
    if is_gpu_array(value):  # a CuPy array stays on its device (copied, as NumPy data is)
        _check_supported(value.dtype, "tensor data")
        return value.astype(dtype if dtype is not None else value.dtype, copy=True)
    if isinstance(value, np.ndarray | np.generic):
        array = value
    else:
        try:
            array = np.asarray(value)
        except ValueError as e:  # ragged nested lists
            raise ShapeError(f"tensor data: {e} [at {user_line()}]") from e
        if array.dtype == np.float64 and dtype is None and not _is_numpy_float64(value):
            array = array.astype(DEFAULT_FLOAT)
    _check_supported(array.dtype, "tensor data")
    if dtype is not None and array.dtype != dtype:
        array = array.astype(dtype)
    if xp is not np:
        return xp.asarray(array)
    return np.array(array, copy=True) if array is value else np.asarray(array)


def _is_numpy_float64(value) -> bool:
    """True when nested lists hold NumPy float64 scalars, which keep their dtype."""
    while isinstance(value, list | tuple) and value:
        value = value[0]
    return isinstance(value, np.floating)


def weak_scalar_dtype(value, like: np.dtype) -> np.dtype:
    """Dtype for a Python scalar used with a tensor of dtype ``like``.

    Python scalars are weak, as in NumPy 2 and JAX: ``float16_tensor * 2.0`` stays float16.
    A Python float with an integer or bool tensor gives the default float (float32).
    """
    if isinstance(value, bool):
        return like
    if isinstance(value, int):
        return like if like.kind in "iuf" or like.name == "bfloat16" else DEFAULT_INT
    if isinstance(value, float):
        return like if like.kind == "f" or like.name == "bfloat16" else DEFAULT_FLOAT
    raise DTypeError(f"cannot use {type(value).__name__} {value!r} as tensor data")

"""Creating tensors: from data, filled, ranges, identity, ``*_like``."""

from __future__ import annotations

import numpy as np

from .. import _state, dtypes
from ..backend import array_module_of_device, out_of_memory_error, to_default_device
from ..tensor import Tensor


def tensor(data, dtype=None) -> Tensor:
    """A new tensor from nested lists, scalars or arrays (copied).

    Python floats become float32, Python ints int64; NumPy arrays keep their dtype.

    Example:
        >>> import tape
        >>> tape.tensor([[1.0, 2.0], [3.0, 4.0]]).dtype
        dtype('float32')
    """
    return _placed(Tensor(data, dtype))


def constant_like(value, like) -> Tensor:
    """``value`` (array-like) as a tensor on the device of ``like``: for the constants that
    library code makes beside a user's tensor (masks, index grids), which must not stay on
    the host when ``like`` lives on a GPU.

    Example:
        >>> import tape
        >>> from tape.ops.creation import constant_like
        >>> constant_like([1, 2], tape.ones(3)).device
        'cpu'
    """
    from ..backend import get_array_module

    return Tensor._wrap(get_array_module(like._data).asarray(value))


def beside(t: Tensor):
    """A context in which creation ops make tensors on ``t``'s device: for the zeros, ones
    and states library code makes next to a user's tensor.

    Example:
        >>> import tape
        >>> from tape.ops.creation import beside
        >>> with beside(tape.ones(2)):
        ...     tape.zeros(3).device
        'cpu'
    """
    from ..backend import _on_device

    return _on_device(t.device)


def _placed(t: Tensor) -> Tensor:
    """``t`` on the default device (``with tape.device(...)``); a no-op on the CPU."""
    data = to_default_device(t._data)
    return t if data is t._data else Tensor._wrap(data)


def _filled(what: str, make) -> Tensor:
    """``make(xp)`` run by the default device's array module: filled tensors are made where
    they will live, never on the host first. A failed GPU allocation is an OutOfMemoryError
    with the size asked for."""
    device = _state.default_device.get()
    if device == "cpu":
        return Tensor._wrap(make(np))
    xp = array_module_of_device(device)
    try:
        with xp.cuda.Device(int(device.split(":")[1])):
            return Tensor._wrap(make(xp))
    except MemoryError as e:
        raise out_of_memory_error(f"in {what} on {device}", e) from e


def constant(value, dtype=None, shape=None) -> Tensor:
    """TensorFlow's ``constant``: like ``tensor``, optionally broadcast to ``shape``."""
    t = Tensor(value, dtype)
    if shape is not None and tuple(t.shape) != tuple(shape):
        t = Tensor._wrap(_xp(t._data).broadcast_to(t._data, tuple(shape)).copy())
    return _placed(t)


def _shape(shape) -> tuple:
    return (int(shape),) if isinstance(shape, int | np.integer) else tuple(int(n) for n in shape)


def _float_or(dtype) -> np.dtype:
    return dtypes.DEFAULT_FLOAT if dtype is None else dtypes.as_dtype(dtype)


def zeros(shape, dtype=None) -> Tensor:
    """A tensor of zeros (float32 unless ``dtype`` is given)."""
    return _filled("zeros", lambda xp: xp.zeros(_shape(shape), dtype=_float_or(dtype)))


def ones(shape, dtype=None) -> Tensor:
    """A tensor of ones (float32 unless ``dtype`` is given)."""
    return _filled("ones", lambda xp: xp.ones(_shape(shape), dtype=_float_or(dtype)))


def full(shape, fill_value, dtype=None) -> Tensor:
    """A tensor filled with ``fill_value`` (its dtype follows the value, floats as float32)."""
    if dtype is None:
        dtype = dtypes.to_array(fill_value).dtype
    dtype = dtypes.as_dtype(dtype)
    return _filled("full", lambda xp: xp.full(_shape(shape), fill_value, dtype=dtype))


def zeros_like(x, dtype=None) -> Tensor:
    """Zeros with the shape (and dtype) of ``x``."""
    x = _data(x)
    return Tensor._wrap(_xp(x).zeros(x.shape, dtype=_like_dtype(x, dtype)))


def ones_like(x, dtype=None) -> Tensor:
    """Ones with the shape (and dtype) of ``x``."""
    x = _data(x)
    return Tensor._wrap(_xp(x).ones(x.shape, dtype=_like_dtype(x, dtype)))


def full_like(x, fill_value, dtype=None) -> Tensor:
    """``fill_value`` with the shape (and dtype) of ``x``."""
    x = _data(x)
    return Tensor._wrap(_xp(x).full(x.shape, fill_value, dtype=_like_dtype(x, dtype)))


def arange(start, stop=None, step=1, dtype=None) -> Tensor:
    """Evenly spaced values in ``[start, stop)``; integers unless a bound is a float.

    Example:
        >>> import tape
        >>> tape.arange(3).numpy().tolist()
        [0, 1, 2]
    """
    if stop is None:
        start, stop = 0, start
    if dtype is None:
        is_float = any(isinstance(v, float) for v in (start, stop, step))
        dtype = dtypes.DEFAULT_FLOAT if is_float else dtypes.DEFAULT_INT
    return _placed(Tensor._wrap(np.arange(start, stop, step, dtype=dtypes.as_dtype(dtype))))


def linspace(start, stop, num=50, endpoint=True, dtype=None) -> Tensor:
    """``num`` evenly spaced values from ``start`` to ``stop`` (float32 by default)."""
    values = np.linspace(start, stop, num, endpoint=endpoint)
    return _placed(Tensor._wrap(values.astype(_float_or(dtype))))


def eye(n, m=None, dtype=None) -> Tensor:
    """The identity matrix (``n`` x ``m``)."""
    return _filled("eye", lambda xp: xp.eye(n, m, dtype=_float_or(dtype)))


def _like_dtype(array, dtype) -> np.dtype:
    return array.dtype if dtype is None else dtypes.as_dtype(dtype)


def _data(x):
    if isinstance(x, Tensor):
        x.shape  # noqa: B018 - read as a Tensor, so that a trace sees the size it takes
        return x._data
    return dtypes.to_array(x)


def _xp(array):
    from ..backend import get_array_module

    return get_array_module(array)

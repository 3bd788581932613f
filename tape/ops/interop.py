"""NumPy interoperability: ``np.exp(t)``, ``np.sum(t)``... dispatch to tape ops (and are
recorded on tapes) through ``__array_ufunc__`` / ``__array_function__``.

A NumPy function with no tape op runs on the raw arrays and returns a NumPy array; when a
tape is recording and the result holds floating or complex values (``np.fft.fft``'s complex
output too), a warning names the function and says that this result carries no gradient.
Integer and boolean results (``np.searchsorted``, ``np.nonzero``) carry none in tape either,
so they pass without a word.
"""

from __future__ import annotations

import warnings

import numpy as np

from .. import _state
from ..errors import user_stacklevel
from ..tensor import Tensor
from . import linalg, math, reduce, shape, sorting

UFUNCS = {
    np.add: math.add, np.subtract: math.subtract, np.multiply: math.multiply,
    np.true_divide: math.divide, np.negative: math.negative, np.power: math.power,
    np.remainder: math.mod, np.square: math.square, np.absolute: math.abs,
    np.maximum: math.maximum, np.minimum: math.minimum, np.exp: math.exp,
    np.expm1: math.expm1, np.log: math.log, np.log1p: math.log1p, np.sqrt: math.sqrt,
    np.sin: math.sin, np.cos: math.cos, np.tan: math.tan, np.tanh: math.tanh,
    np.sign: math.sign, np.floor: math.floor, np.ceil: math.ceil, np.rint: math.round,
    np.isnan: math.isnan, np.isinf: math.isinf, np.isfinite: math.isfinite,
    np.floor_divide: math.floor_divide, np.equal: math.equal, np.not_equal: math.not_equal,
    np.less: math.less, np.less_equal: math.less_equal, np.greater: math.greater,
    np.greater_equal: math.greater_equal, np.logical_and: math.logical_and,
    np.logical_or: math.logical_or, np.logical_xor: math.logical_xor,
    np.logical_not: math.logical_not, np.matmul: linalg.matmul,
}

FUNCTIONS = {
    np.sum: reduce.sum, np.mean: reduce.mean, np.max: reduce.max, np.min: reduce.min,
    np.amax: reduce.max, np.amin: reduce.min, np.prod: reduce.prod, np.var: reduce.var,
    np.std: reduce.std, np.argmax: reduce.argmax, np.argmin: reduce.argmin,
    np.any: reduce.any, np.all: reduce.all, np.reshape: shape.reshape,
    np.transpose: shape.transpose, np.swapaxes: shape.swapaxes, np.moveaxis: shape.moveaxis,
    np.expand_dims: shape.expand_dims, np.squeeze: shape.squeeze,
    np.broadcast_to: shape.broadcast_to, np.concatenate: shape.concatenate,
    np.stack: shape.stack, np.split: shape.split, np.tile: shape.tile,
    np.repeat: shape.repeat, np.pad: shape.pad, np.flip: shape.flip, np.take: shape.take,
    np.take_along_axis: shape.take_along_axis, np.ravel: shape.flatten,
    np.einsum: linalg.einsum, np.tensordot: linalg.tensordot, np.dot: linalg.dot,
    np.outer: linalg.outer, np.where: math.where, np.clip: math.clip, np.round: math.round,
    np.zeros_like: None, np.ones_like: None, np.cumsum: reduce.cumsum,
    np.sort: sorting.sort, np.argsort: sorting.argsort, np.tril: linalg.tril,
    np.triu: linalg.triu,
}


def array_ufunc(ufunc, method, inputs, kwargs):
    op = UFUNCS.get(ufunc)
    if op is not None and method == "__call__" and not kwargs:
        return op(*inputs)
    return _fallback(f"numpy.{ufunc.__name__}.{method}", getattr(ufunc, method),
                     inputs, kwargs)


def array_function(func, args, kwargs):
    if func is np.zeros_like or func is np.ones_like:
        from . import creation

        return getattr(creation, func.__name__)(*args, **kwargs)
    target = FUNCTIONS.get(func)
    if target is not None:
        return target(*args, **kwargs)
    module = getattr(func, "__module__", None) or "numpy"
    return _fallback(f"{module}.{func.__name__}", func, args, kwargs)


def _fallback(name, func, args, kwargs):
    raw_args, raw_kwargs = _unwrap(args), _unwrap(kwargs)
    out = func(*raw_args, **raw_kwargs)
    if _state.active_tapes.get() and _inexact(out):
        warnings.warn(
            f"{name} has no tape op: it ran on NumPy arrays and its result carries no "
            "gradient (the tape drops it); use tape ops, or wrap the NumPy code in "
            "tape.custom_gradient", stacklevel=user_stacklevel())
    return out


def _inexact(value) -> bool:
    """Whether ``value`` (an array, or a tuple/list of them, as ``np.linalg.eigh`` returns)
    holds floating or complex numbers: a value a gradient could flow through."""
    if isinstance(value, list | tuple):
        return any(_inexact(v) for v in value)
    return getattr(value, "dtype", np.dtype(bool)).kind in "fc"


def _unwrap(value):
    if isinstance(value, Tensor):
        return np.asarray(value)
    if isinstance(value, list | tuple):
        return type(value)(_unwrap(v) for v in value)
    if isinstance(value, dict):
        return {k: _unwrap(v) for k, v in value.items()}
    return value


__all__ = ["array_ufunc", "array_function"]

"""``keras.ops``: Keras 3's backend-agnostic ops, mapped onto tape's op table (the same
functions where the signatures agree, a thin adapter where Keras names an argument
differently). ``ops.nn`` holds the neural-network ops, which are also here at the top, as in
Keras. A Keras op that is not mapped raises OutOfReachError naming it.

Example:
    >>> from tape.keras import ops
    >>> x = ops.convert_to_tensor([[1.0, 2.0], [3.0, 4.0]])
    >>> ops.shape(x), ops.sum(x, axis=0).numpy().tolist()
    ((2, 2), [4.0, 6.0])
"""

from __future__ import annotations

import numpy as np

from ... import ops as _ops
from ...tensor import Tensor
from .._reach import missing
from . import nn
from .nn import (
    batch_normalization,
    binary_crossentropy,
    categorical_crossentropy,
    conv,
    elu,
    gelu,
    hard_sigmoid,
    leaky_relu,
    log_sigmoid,
    log_softmax,
    moments,
    multi_hot,
    normalize,
    one_hot,
    relu,
    relu6,
    selu,
    sigmoid,
    silu,
    softmax,
    softplus,
    softsign,
    sparse_categorical_crossentropy,
    swish,
    tanh,
)

# ---- the same functions as tape's (Keras and NumPy agree on these) ----
(abs, absolute, add, all, any, arange, argmax, argmin, broadcast_to, ceil, cos, cumsum,
 divide, dot, einsum, equal, erf, exp, expand_dims, expm1, eye, flip, floor, floor_divide,
 full, full_like, greater, greater_equal, isfinite, isinf, isnan, less, less_equal, linspace,
 log, log1p, logical_and, logical_not, logical_or, logical_xor, logsumexp, matmul, max,
 maximum, mean, min, minimum, mod, moveaxis, multiply, negative, not_equal, ones_like, outer,
 power, prod, repeat, reshape, sign, sin, split, sqrt, square, squeeze, stack, subtract, sum,
 swapaxes, take, take_along_axis, tan, tensordot, tile, transpose, tril, triu, where,
 zeros_like, stop_gradient, concatenate, identity) = (
    _ops.abs, _ops.absolute, _ops.add, _ops.all, _ops.any, _ops.arange, _ops.argmax,
    _ops.argmin, _ops.broadcast_to, _ops.ceil, _ops.cos, _ops.cumsum, _ops.divide, _ops.dot,
    _ops.einsum, _ops.equal, _ops.erf, _ops.exp, _ops.expand_dims, _ops.expm1, _ops.eye,
    _ops.flip, _ops.floor, _ops.floor_divide, _ops.full, _ops.full_like, _ops.greater,
    _ops.greater_equal, _ops.isfinite, _ops.isinf, _ops.isnan, _ops.less, _ops.less_equal,
    _ops.linspace, _ops.log, _ops.log1p, _ops.logical_and, _ops.logical_not, _ops.logical_or,
    _ops.logical_xor, _ops.logsumexp, _ops.matmul, _ops.max, _ops.maximum, _ops.mean,
    _ops.min, _ops.minimum, _ops.mod, _ops.moveaxis, _ops.multiply, _ops.negative,
    _ops.not_equal, _ops.ones_like, _ops.outer, _ops.power, _ops.prod, _ops.repeat,
    _ops.reshape, _ops.sign, _ops.sin, _ops.split, _ops.sqrt, _ops.square, _ops.squeeze,
    _ops.stack, _ops.subtract, _ops.sum, _ops.swapaxes, _ops.take, _ops.take_along_axis,
    _ops.tan, _ops.tensordot, _ops.tile, _ops.transpose, _ops.tril, _ops.triu, _ops.where,
    _ops.zeros_like, _ops.stop_gradient, _ops.concatenate, _ops.identity)
true_divide, amax, amin, cast = _ops.divide, _ops.max, _ops.min, _ops.cast
std, var = _ops.std, _ops.var


# ---- adapters: Keras' argument names and defaults ----
def convert_to_tensor(x, dtype=None, sparse=None):
    """``x`` as a Tensor (a Tensor stays itself unless ``dtype`` differs)."""
    if isinstance(x, Tensor):
        return x if dtype is None else _ops.cast(x, dtype)
    return _ops.tensor(x, dtype=dtype)


array = convert_to_tensor


def convert_to_numpy(x):
    """A NumPy array of ``x``'s value."""
    return np.asarray(x.numpy() if isinstance(x, Tensor) else x)


def is_tensor(x) -> bool:
    """True for a tape Tensor."""
    return isinstance(x, Tensor)


def shape(x) -> tuple:
    """The static shape as a tuple of ints (Keras 3's ``ops.shape``)."""
    return tuple(x.shape) if hasattr(x, "shape") else np.shape(x)


def size(x) -> int:
    """The number of elements.

    Example:
        >>> from tape.keras import ops
        >>> ops.size(ops.zeros((2, 3)))
        6
    """
    return int(np.prod(shape(x)))


def ndim(x) -> int:
    """The number of axes."""
    return len(shape(x))


def dtype(x) -> str:
    """The dtype's name, as Keras 3 reports it (``'float32'``)."""
    return np.dtype(x.dtype).name


def zeros(shape, dtype=None):
    """Zeros of ``shape`` (an int or a tuple)."""
    return _ops.zeros(tuple(shape) if not isinstance(shape, int) else (shape,), dtype=dtype)


def ones(shape, dtype=None):
    """Ones of ``shape`` (an int or a tuple)."""
    return _ops.ones(tuple(shape) if not isinstance(shape, int) else (shape,), dtype=dtype)


def clip(x, x_min, x_max):
    """``x`` limited to ``[x_min, x_max]`` (Keras' argument names)."""
    return _ops.clip(x, x_min, x_max)


def pad(x, pad_width, mode="constant", constant_values=None):
    """Constant padding by ``pad_width`` pairs per axis (other modes are not mapped)."""
    if mode != "constant":
        raise missing("keras.ops", "pad", {"pad": f"mode={mode!r} (only 'constant' is mapped)"})
    return _ops.pad(x, pad_width, constant_values=constant_values or 0)


def round(x, decimals=0):
    """Round half to even, to ``decimals`` places.

    Example:
        >>> from tape.keras import ops
        >>> ops.round(ops.convert_to_tensor([1.26, 2.5]), decimals=1).numpy().tolist()
        [1.2999999523162842, 2.5]
    """
    if decimals:
        scale = 10.0 ** decimals
        return _ops.divide(_ops.round(_ops.multiply(x, scale)), scale)
    return _ops.round(x)


def rsqrt(x):
    """``1 / sqrt(x)``."""
    return _ops.divide(1.0, _ops.sqrt(x))


def reciprocal(x):
    """``1 / x``."""
    return _ops.divide(1.0, x)


def average(x, axis=None, weights=None):
    """The mean along ``axis``, weighted by ``weights`` (one per entry, or per position
    along ``axis``), as ``np.average``."""
    if weights is None:
        return _ops.mean(x, axis=axis)
    x = _ops.convert(x)
    weights = _ops.convert(weights, like=x)  # host weights go where x lives
    if axis is not None and weights.ndim == 1:
        shape_ = [1] * x.ndim
        shape_[axis] = -1
        weights = _ops.reshape(weights, tuple(shape_))
    return _ops.divide(_ops.sum(_ops.multiply(x, weights), axis=axis),
                       _ops.sum(_ops.multiply(_ops.ones_like(x), weights), axis=axis))


def norm(x, ord=None, axis=None, keepdims=False):
    """Vector norms along ``axis`` (``ord`` None or 2, 1, inf); the Frobenius norm of a
    matrix for ``ord`` None/'fro' over two axes."""
    x = _ops.convert(x)
    if ord in (None, 2, "fro", "euclidean"):
        return _ops.sqrt(_ops.sum(_ops.square(x), axis=axis, keepdims=keepdims))
    if ord == 1:
        return _ops.sum(_ops.abs(x), axis=axis, keepdims=keepdims)
    if ord in (np.inf, "inf"):
        return _ops.max(_ops.abs(x), axis=axis, keepdims=keepdims)
    raise missing("keras.ops", "norm", {"norm": f"ord={ord!r} is not mapped"})


def top_k(x, k, sorted=True):
    """``(values, indices)`` of the ``k`` largest entries along the last axis."""
    return _ops.top_k(x, k)


def sort(x, axis=-1):
    """``x`` sorted along ``axis``."""
    return _ops.sort(x, axis=axis)


def argsort(x, axis=-1):
    """The indices that sort ``x`` along ``axis``."""
    return _ops.argsort(x, axis=axis)


def slice(inputs, start_indices, shape):
    """``inputs[start:start + shape]`` along every axis (Keras' ``ops.slice``)."""
    index = tuple(builtins_slice(int(s), int(s) + int(n)) for s, n in zip(start_indices, shape))
    return _ops.getitem(inputs, index)


builtins_slice = __builtins__["slice"] if isinstance(__builtins__, dict) else __builtins__.slice


def unstack(x, num=None, axis=0):
    """The slices of ``x`` along ``axis``, as a list."""
    x = _ops.convert(x)
    return [_ops.squeeze(p, axis=axis) for p in _ops.split(x, x.shape[axis], axis=axis)]


def ravel(x):
    """``x`` as one axis."""
    return _ops.reshape(x, (-1,))


def hstack(xs):
    """Join along axis 1 (axis 0 for 1-D tensors), as ``np.hstack``."""
    xs = [_ops.convert(x) for x in xs]
    return _ops.concatenate(xs, axis=0 if xs[0].ndim == 1 else 1)


def vstack(xs):
    """Join along axis 0 (1-D tensors become rows), as ``np.vstack``."""
    return _ops.concatenate([_ops.reshape(x, (1, -1)) if _ops.convert(x).ndim == 1 else x
                             for x in xs], axis=0)


def log2(x):
    """Base-2 logarithm."""
    return _ops.divide(_ops.log(x), float(np.log(2.0)))


def log10(x):
    """Base-10 logarithm."""
    return _ops.divide(_ops.log(x), float(np.log(10.0)))


def copy(x):
    """A copy of ``x`` (an identity op)."""
    return _ops.identity(x)


# ---- control flow: plain Python, as eager code runs it ----
def cond(pred, true_fn, false_fn):
    """``true_fn()`` if ``pred`` else ``false_fn()``."""
    return true_fn() if bool(pred) else false_fn()


def fori_loop(lower, upper, body_fun, init_val):
    """``val = body_fun(i, val)`` for ``i`` in ``range(lower, upper)``."""
    val = init_val
    for i in range(int(lower), int(upper)):
        val = body_fun(i, val)
    return val


def while_loop(cond, body, loop_vars, maximum_iterations=None):
    """Run ``loop_vars = body(*loop_vars)`` while ``cond(*loop_vars)``."""
    single = not isinstance(loop_vars, list | tuple)
    state = (loop_vars,) if single else tuple(loop_vars)
    count = 0
    while bool(cond(*state)) and (maximum_iterations is None or count < maximum_iterations):
        state = body(*state)
        state = (state,) if single else tuple(state)
        count += 1
    return state[0] if single else state


def vectorized_map(function, elements):
    """``stack([function(e) for e in elements])`` along the first axis."""
    return _ops.stack([function(e) for e in unstack(elements)])


def __getattr__(name):
    raise missing("keras.ops", name, {
        "image": "keras.ops.image (resize, affine transforms) is not mapped",
        "linalg": "keras.ops.linalg is not mapped; use tape.matmul, tape.einsum",
        "fft": "tape has no FFT op", "segment_sum": "tape has no segment ops",
        "scatter": "tape has no scatter op", "ctc_loss": "tape has no CTC loss"})

"""``tape.tf``: the TensorFlow 2 names that Keras-era code calls, as aliases onto tape's op
table (no second math), so ``import tensorflow as tf`` becomes ``from tape import tf``; the
module is not named ``tape`` in user code, which ends the ``with tf.GradientTape() as tape:``
clash.

Example:
    >>> from tape import tf
    >>> w = tf.Variable(tf.ones((2, 1)))
    >>> with tf.GradientTape() as tape:
    ...     loss = tf.reduce_mean(tf.square(tf.matmul(tf.constant([[1.0, 2.0]]), w)))
    >>> tape.gradient(loss, w).numpy().ravel().tolist()
    [6.0, 12.0]
"""

from __future__ import annotations

import types

import numpy as np

from . import data as _data
from . import dtypes as _dtypes
from . import keras
from . import nn as _nn
from . import ops as _ops
from .autodiff import GradientTape, custom_gradient, stop_gradient
from .backend import device
from .keras import _reach
from .keras import ops as _kops
from .keras import random as _krandom
from .ops import random as _random
from .tensor import Tensor, Variable
from .trace import TensorSpec, run_eagerly, trace

__all__ = ["GradientTape", "Tensor", "TensorSpec", "Variable", "function", "keras", "nn",
           "math", "random", "data", "linalg", "config", "dtypes"]

# ---- dtypes ----
float16, float32, float64 = np.dtype("float16"), np.dtype("float32"), np.dtype("float64")
int8, int16, int32, int64 = (np.dtype(t) for t in ("int8", "int16", "int32", "int64"))
uint8, bool_ = np.dtype("uint8"), np.dtype("bool")
globals()["bool"] = bool_  # tf.bool
newaxis = None


class _DTypes(types.SimpleNamespace):
    """``tf.dtypes``; ``bfloat16`` is ml_dtypes' NumPy dtype, imported on first use."""

    def __getattr__(self, name):
        if name == "bfloat16":
            return _dtypes.bfloat16()
        raise _reach.missing("tf.dtypes", name)


dtypes = _DTypes(float16=float16, float32=float32, float64=float64, int8=int8, int16=int16,
                 int32=int32, int64=int64, uint8=uint8, bool=bool_, as_dtype=_dtypes.as_dtype)


# ---- creation and conversion ----
def constant(value, dtype=None, shape=None, name=None):
    """A tensor of ``value`` (Python floats become float32)."""
    return _ops.constant(value, dtype=dtype, shape=shape)


def convert_to_tensor(value, dtype=None, dtype_hint=None, name=None):
    """``value`` as a Tensor (Python floats as float32)."""
    return _kops.convert_to_tensor(value, dtype=dtype)


def zeros(shape, dtype=float32, name=None):
    """Zeros of ``shape`` (float32 by default, as TF)."""
    return _kops.zeros(shape, dtype=dtype)


def ones(shape, dtype=float32, name=None):
    """Ones of ``shape`` (float32 by default, as TF)."""
    return _kops.ones(shape, dtype=dtype)


def fill(dims, value, name=None):
    """A tensor of shape ``dims`` filled with ``value``."""
    return _ops.full(tuple(dims), value)


def range(start, limit=None, delta=1, dtype=None, name=None):  # noqa: A001 - tf.range
    """``tf.range``: ``arange(start, limit, delta)``."""
    return _ops.arange(start, limit, delta, dtype=dtype)


zeros_like, ones_like, eye, linspace = _ops.zeros_like, _ops.ones_like, _ops.eye, _ops.linspace
identity, where, tile, sign = _ops.identity, _ops.where, _ops.tile, _ops.sign
shape, size, rank = _kops.shape, _kops.size, _kops.ndim
cast, reshape, expand_dims, stack, unstack = (_ops.cast, _ops.reshape, _ops.expand_dims,
                                              _ops.stack, _kops.unstack)
square, sqrt, exp, abs, maximum, minimum = (_ops.square, _ops.sqrt, _ops.exp, _ops.abs,
                                            _ops.maximum, _ops.minimum)
add, subtract, multiply, divide = _ops.add, _ops.subtract, _ops.multiply, _ops.divide
equal, not_equal, greater, greater_equal, less, less_equal = (
    _ops.equal, _ops.not_equal, _ops.greater, _ops.greater_equal, _ops.less, _ops.less_equal)
tanh, sigmoid, round, floor, ceil = _ops.tanh, _ops.sigmoid, _ops.round, _ops.floor, _ops.ceil
split, einsum, cumsum, sort, argsort = _ops.split, _ops.einsum, _ops.cumsum, _kops.sort, \
    _kops.argsort
logical_and, logical_or, logical_not = _ops.logical_and, _ops.logical_or, _ops.logical_not
pow = _ops.power


def log(x, name=None):
    """Natural logarithm."""
    return _ops.log(x)


def concat(values, axis, name=None):
    """``tf.concat``: join along an existing axis."""
    return _ops.concatenate(list(values), axis=axis)


def transpose(a, perm=None, conjugate=False, name=None):
    """Permute the axes (``perm``; reversed when None)."""
    return _ops.transpose(a, perm)


def squeeze(input, axis=None, name=None):  # noqa: A002 - TF's argument name
    """Drop axes of size 1 (``axis``: which)."""
    return _ops.squeeze(input, axis=axis)


def matmul(a, b, transpose_a=False, transpose_b=False, name=None):
    """``a @ b`` with optional transposes of the last two axes."""
    a = _ops.swapaxes(a, -1, -2) if transpose_a else a
    b = _ops.swapaxes(b, -1, -2) if transpose_b else b
    return _ops.matmul(a, b)


def argmax(input, axis=None, output_type=int64, name=None):  # noqa: A002
    """Index of the largest entry along ``axis`` (0 when None, as TF)."""
    return _ops.argmax(input, axis=0 if axis is None else axis)


def argmin(input, axis=None, output_type=int64, name=None):  # noqa: A002
    """Index of the smallest entry along ``axis`` (0 when None, as TF)."""
    return _ops.argmin(input, axis=0 if axis is None else axis)


def clip_by_value(t, clip_value_min, clip_value_max, name=None):
    """``t`` limited to ``[clip_value_min, clip_value_max]``."""
    return _ops.clip(t, clip_value_min, clip_value_max)


def gather(params, indices, axis=None, batch_dims=0, name=None):
    """Slices of ``params`` at ``indices`` along ``axis``.

    Example:
        >>> from tape import tf
        >>> tf.gather(tf.constant([10.0, 20.0, 30.0]), [2, 0]).numpy().tolist()
        [30.0, 10.0]
    """
    params = _ops.convert(params)
    return _ops.take(params, _ops.convert(np.asarray(indices) if isinstance(indices, list)
                                          else indices, like=params),
                     axis=0 if axis is None else axis)


def one_hot(indices, depth, on_value=None, off_value=None, axis=None, dtype=float32, name=None):
    """One-hot vectors of ``depth`` (``on_value``/``off_value`` as TF).

    Example:
        >>> from tape import tf
        >>> tf.one_hot([1], 3).numpy().tolist()
        [[0.0, 1.0, 0.0]]
    """
    out = _kops.one_hot(indices, depth, axis=-1 if axis is None else axis, dtype=dtype)
    if on_value is not None or off_value is not None:
        on, off = 1.0 if on_value is None else on_value, 0.0 if off_value is None else off_value
        out = _ops.add(_ops.multiply(out, on - off), off)
    return out


def pad(tensor, paddings, mode="CONSTANT", constant_values=0, name=None):
    """Constant padding by ``paddings`` (``[[before, after], ...]``)."""
    return _kops.pad(tensor, [tuple(p) for p in np.asarray(paddings).tolist()],
                     mode=mode.lower(), constant_values=constant_values)


def _reduce(op):
    def reduce(input_tensor, axis=None, keepdims=False, name=None):
        return op(input_tensor, axis=axis, keepdims=keepdims)

    name = getattr(op, "name", None) or op.__name__
    reduce.__name__ = f"reduce_{name}"
    reduce.__doc__ = f"``tf.reduce_{name}``: ``tape.{name}`` over ``axis``."
    return reduce


reduce_sum, reduce_mean, reduce_max, reduce_min = (_reduce(o) for o in (
    _ops.sum, _ops.mean, _ops.max, _ops.min))
reduce_prod, reduce_any, reduce_all, reduce_logsumexp = (_reduce(o) for o in (
    _ops.prod, _ops.any, _ops.all, _ops.logsumexp))
reduce_std, reduce_variance = _reduce(_ops.std), _reduce(_ops.var)


def function(func=None, input_signature=None, autograph=True, jit_compile=None,
             reduce_retracing=False, experimental_relax_shapes=None, **kwargs):
    """``tf.function`` -> ``tape.trace`` (with ``input_signature`` of ``tf.TensorSpec``);
    usable bare (``@tf.function``) or with arguments."""
    def wrap(f):
        return trace(f, input_signature=input_signature)

    return wrap if func is None else wrap(func)


def print(*inputs, **kwargs):  # noqa: A001 - tf.print
    """``tf.print``: print the values (tensors as arrays)."""
    import builtins

    builtins.print(*(np.asarray(x) if isinstance(x, Tensor) else x for x in inputs))


def _module(name: str, **names) -> types.ModuleType:
    module = types.ModuleType(f"tape.tf.{name}")
    module.__dict__.update(names)
    module.__getattr__ = lambda attr: (_ for _ in ()).throw(_reach.missing(f"tf.{name}", attr))
    return module


def _sigmoid_xent(labels=None, logits=None, name=None):
    return _nn.sigmoid_cross_entropy_with_logits(labels, logits)


def _softmax_xent(labels=None, logits=None, axis=-1, name=None):
    return _nn.softmax_cross_entropy_with_logits(labels, logits, axis=axis)


def _sparse_softmax_xent(labels=None, logits=None, name=None):
    return _nn.sparse_softmax_cross_entropy_with_logits(labels, logits)


def _l2_normalize(x, axis=None, epsilon=1e-12, name=None):
    x = _ops.convert(x)
    squares = _ops.sum(_ops.square(x), axis=axis, keepdims=True)
    return _ops.multiply(x, _kops.rsqrt(_ops.maximum(squares, epsilon)))


def _bias_add(value, bias, data_format=None, name=None):
    return _ops.add(value, bias)


def _dropout(x, rate, noise_shape=None, seed=None, name=None):
    return _krandom.dropout(x, rate, noise_shape=noise_shape, seed=seed)


def _divide_no_nan(x, y, name=None):
    y = _ops.convert(y)
    zero = _ops.equal(y, 0)
    return _ops.where(zero, 0.0, _ops.divide(x, _ops.where(zero, 1.0, y)))


nn = _module(
    "nn", relu=_ops.relu, relu6=_kops.relu6, sigmoid=_ops.sigmoid, tanh=_ops.tanh,
    softplus=_ops.softplus, softsign=_kops.softsign, elu=_kops.elu, selu=_kops.selu,
    gelu=_kops.gelu, silu=_kops.silu, swish=_kops.silu, leaky_relu=_nn.leaky_relu,
    softmax=_kops.softmax, log_softmax=_kops.log_softmax, moments=_nn.moments,
    batch_normalization=_nn.batch_norm, dropout=_dropout, bias_add=_bias_add,
    l2_loss=lambda t, name=None: _ops.divide(_ops.sum(_ops.square(t)), 2.0),
    l2_normalize=_l2_normalize, embedding_lookup=lambda params, ids, **kw: gather(params, ids),
    sigmoid_cross_entropy_with_logits=_sigmoid_xent,
    softmax_cross_entropy_with_logits=_softmax_xent,
    sparse_softmax_cross_entropy_with_logits=_sparse_softmax_xent,
    conv1d=_nn.conv1d, conv2d=_nn.conv2d, convolution=_nn.convolution,
    max_pool2d=_nn.max_pool2d, avg_pool2d=_nn.avg_pool2d, top_k=_kops.top_k)

math = _module(
    "math", reduce_sum=reduce_sum, reduce_mean=reduce_mean, reduce_max=reduce_max,
    reduce_min=reduce_min, reduce_prod=reduce_prod, reduce_any=reduce_any,
    reduce_all=reduce_all, reduce_logsumexp=reduce_logsumexp, reduce_std=reduce_std,
    reduce_variance=reduce_variance, log=_ops.log, exp=_ops.exp, sqrt=_ops.sqrt,
    rsqrt=_kops.rsqrt, square=_ops.square, abs=_ops.abs, sign=_ops.sign, pow=_ops.power,
    maximum=_ops.maximum, minimum=_ops.minimum, add=_ops.add, subtract=_ops.subtract,
    multiply=_ops.multiply, divide=_ops.divide, divide_no_nan=_divide_no_nan,
    reciprocal=_kops.reciprocal, log1p=_ops.log1p, expm1=_ops.expm1, erf=_ops.erf,
    sigmoid=_ops.sigmoid, tanh=_ops.tanh, softplus=_ops.softplus, sin=_ops.sin, cos=_ops.cos,
    floor=_ops.floor, ceil=_ops.ceil, round=_ops.round, argmax=argmax, argmin=argmin,
    equal=_ops.equal, not_equal=_ops.not_equal, greater=_ops.greater, less=_ops.less,
    greater_equal=_ops.greater_equal, less_equal=_ops.less_equal,
    logical_and=_ops.logical_and, logical_or=_ops.logical_or, logical_not=_ops.logical_not,
    is_nan=_ops.isnan, is_inf=_ops.isinf, is_finite=_ops.isfinite, cumsum=_ops.cumsum,
    top_k=_kops.top_k, l2_normalize=_l2_normalize)


def _normal(shape, mean=0.0, stddev=1.0, dtype=float32, seed=None, name=None):
    return _random.normal(tuple(shape), mean, stddev, dtype=dtype, seed=seed)


def _uniform(shape, minval=0, maxval=None, dtype=float32, seed=None, name=None):
    if np.dtype(dtype).kind in "iu":
        return _random.randint(minval, maxval, tuple(shape), dtype=dtype, seed=seed)
    return _random.uniform(tuple(shape), minval, 1.0 if maxval is None else maxval,
                           dtype=dtype, seed=seed)


def _truncated_normal(shape, mean=0.0, stddev=1.0, dtype=float32, seed=None, name=None):
    return _krandom.truncated_normal(shape, mean, stddev, dtype=dtype, seed=seed)


random = _module(
    "random", normal=_normal, uniform=_uniform, truncated_normal=_truncated_normal,
    set_seed=_random.seed, shuffle=lambda value, seed=None, name=None: _krandom.shuffle(
        value, seed=seed),
    categorical=lambda logits, num_samples, dtype=int64, seed=None, name=None:
        _krandom.categorical(logits, num_samples, dtype=dtype, seed=seed))

data = _module("data", Dataset=_data.Dataset, AUTOTUNE=-1,
               experimental=types.SimpleNamespace(AUTOTUNE=-1))

linalg = _module("linalg", matmul=matmul, norm=lambda tensor, ord="euclidean", axis=None,
                 keepdims=False, name=None: _kops.norm(tensor, ord=ord, axis=axis,
                                                       keepdims=keepdims),
                 einsum=_ops.einsum, matvec=lambda a, b, **kw: _ops.matmul(a, b))


def _list_physical_devices(device_type=None):
    from . import backend

    gpus = [f"gpu:{i}" for i in _kops.arange(backend.device_count()).numpy().tolist()]
    if device_type is None:
        return ["cpu", *gpus]
    return gpus if device_type.upper() == "GPU" else ["cpu"]


config = _module(
    "config", run_functions_eagerly=run_eagerly, list_physical_devices=_list_physical_devices,
    experimental=types.SimpleNamespace(set_memory_growth=lambda device, enable: None))


def __getattr__(name):
    if name == "bfloat16":
        return dtypes.bfloat16
    raise _reach.missing("tf", name, {
        "distribute": "use tape.distribute for data-parallel training",
        "saved_model": "use model.save / tape.keras.saving.load_model, or ONNX export",
        "lite": "TensorFlow Lite is out of reach; export ONNX with tape.trace.export_onnx",
        "io": "tf.io is out of reach; read files with Python and NumPy",
        "strings": "tape has no string tensors",
        "sparse": "tape has no sparse tensors", "RaggedTensor": "tape has no ragged tensors",
        "ragged": "tape has no ragged tensors", "image": "tf.image is out of reach",
        "summary": "use the TensorBoard callback (tape.keras.callbacks.TensorBoard)"})


_ = (custom_gradient, stop_gradient, device)  # re-exported TF names

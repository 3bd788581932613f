"""``keras.ops.nn``: Keras 3's neural-network ops, mapped onto tape's op table and tape.nn.

Example:
    >>> from tape.keras import ops
    >>> ops.nn.relu(ops.convert_to_tensor([-1.0, 2.0])).numpy().tolist()
    [0.0, 2.0]
"""

from __future__ import annotations

from ... import activations, losses, nn
from ... import ops as _ops
from .._reach import missing

relu = _ops.relu
sigmoid = _ops.sigmoid
softplus = _ops.softplus
tanh = _ops.tanh
silu = swish = activations.silu
gelu = activations.gelu
elu = activations.elu
selu = activations.selu
softsign = activations.softsign
moments = nn.moments


def relu6(x):
    """``min(max(x, 0), 6)``."""
    return _ops.minimum(_ops.relu(x), 6.0)


def leaky_relu(x, negative_slope=0.2):
    """``x`` where positive, ``negative_slope * x`` elsewhere (Keras' argument name)."""
    return nn.leaky_relu(x, alpha=negative_slope)


def log_sigmoid(x):
    """``log(sigmoid(x)) = -softplus(-x)``, stable for large ``|x|``."""
    return _ops.negative(_ops.softplus(_ops.negative(x)))


def hard_sigmoid(x):
    """``clip(x / 6 + 0.5, 0, 1)`` (Keras 3's definition)."""
    return _ops.clip(_ops.add(_ops.divide(x, 6.0), 0.5), 0.0, 1.0)


def softmax(x, axis=-1):
    """Softmax along ``axis``."""
    return _ops.softmax(x, axis=axis)


def log_softmax(x, axis=-1):
    """Log-softmax along ``axis``."""
    return _ops.log_softmax(x, axis=axis)


def one_hot(x, num_classes, axis=-1, dtype=None, sparse=False):
    """One-hot vectors of ``num_classes`` along ``axis`` (Keras 3's argument names)."""
    if sparse:
        raise missing("keras.ops", "one_hot(sparse=True)",
                      {"one_hot(sparse=True)": "tape has no sparse tensors"})
    out = _ops.one_hot(_ops.convert(x), int(num_classes), dtype=dtype or "float32")
    return out if axis in (-1, out.ndim - 1) else _ops.moveaxis(out, -1, axis)


def multi_hot(x, num_classes, axis=-1, dtype=None):
    """The union of one-hot vectors over the last input axis."""
    return _ops.max(one_hot(x, num_classes, dtype=dtype), axis=-2 if axis == -1 else axis)


def normalize(x, axis=-1, order=2, epsilon=None):
    """``x`` divided by its ``order``-norm along ``axis``."""
    from . import norm

    return _ops.divide(x, _ops.maximum(norm(x, ord=order, axis=axis, keepdims=True),
                                       1e-12 if epsilon is None else epsilon))


def batch_normalization(x, mean, variance, axis, offset=None, scale=None, epsilon=1e-3):
    """``(x - mean) / sqrt(variance + epsilon) * scale + offset``; the statistics are
    given for ``axis`` and broadcast along it."""
    x = _ops.convert(x)
    axis = axis % x.ndim

    def along(v):
        if v is None:
            return None
        shape = [1] * x.ndim
        shape[axis] = -1
        return _ops.reshape(v, tuple(shape))

    return nn.batch_norm(x, along(mean), along(variance), along(offset), along(scale), epsilon)


def binary_crossentropy(target, output, from_logits=False):
    """Elementwise binary crossentropy (no reduction), as ``keras.ops``."""
    return losses.binary_crossentropy(_ops.expand_dims(target, -1), _ops.expand_dims(output, -1),
                                      from_logits=from_logits)


def categorical_crossentropy(target, output, from_logits=False, axis=-1):
    """Crossentropy per sample between one-hot ``target`` and ``output``."""
    return losses.categorical_crossentropy(target, output, from_logits=from_logits, axis=axis)


def sparse_categorical_crossentropy(target, output, from_logits=False, axis=-1):
    """Crossentropy per sample between integer ``target`` and ``output``."""
    return losses.sparse_categorical_crossentropy(target, output, from_logits=from_logits,
                                                  axis=axis)


def conv(inputs, kernel, strides=1, padding="valid", data_format=None, dilation_rate=1):
    """N-D convolution, channels last (Keras' ``ops.conv``)."""
    if data_format not in (None, "channels_last"):
        raise missing("keras.ops", "conv", {"conv": "only channels_last data is supported"})
    return nn.convolution(inputs, kernel, strides=strides, padding=padding,
                          dilations=dilation_rate)


def __getattr__(name):
    raise missing("keras.ops.nn", name)

"""Neural-network functions: activations and losses from logits, built on the op table.

Activations that are primitives (relu, softplus, softmax, log_softmax, sigmoid, tanh)
come from ``tape.ops``; the rest are compositions, differentiable to any order.
"""

from __future__ import annotations

import math as _math

from . import ops
from .ops import log_softmax, relu, sigmoid, softmax, softplus, tanh
from .ops.conv import (
    conv1d,
    conv2d,
    conv2d_transpose,
    conv_transpose,
    convolution,
    depthwise_conv2d,
)
from .ops.pool import avg_pool1d, avg_pool2d, max_pool1d, max_pool2d, pool

__all__ = [
    "relu", "leaky_relu", "elu", "gelu", "silu", "softplus", "sigmoid", "tanh", "softmax",
    "log_softmax", "softmax_cross_entropy_with_logits",
    "sparse_softmax_cross_entropy_with_logits", "sigmoid_cross_entropy_with_logits",
]
__all__ += [
    "convolution", "conv1d", "conv2d", "depthwise_conv2d", "conv_transpose", "conv2d_transpose",
    "pool", "max_pool1d", "max_pool2d", "avg_pool1d", "avg_pool2d",
]


def leaky_relu(x, alpha: float = 0.2):
    """``x`` where positive, ``alpha * x`` elsewhere (Keras' default alpha=0.2).

    Example:
        >>> import tape
        >>> tape.nn.leaky_relu(tape.tensor([-1.0, 2.0]))
        Tensor([-0.2,  2. ], dtype=float32, device=cpu)
    """
    x = ops.convert(x)
    return ops.where(x > 0, x, ops.multiply(x, alpha))


def elu(x, alpha: float = 1.0):
    """``x`` where positive, ``alpha * (exp(x) - 1)`` elsewhere."""
    x = ops.convert(x)
    # expm1 of x only where x <= 0: the unused branch never overflows, so no inf * 0 in
    # backward. A where, not minimum(x, 0), whose tie at 0 would halve the gradient there.
    return ops.where(x > 0, x, ops.multiply(ops.expm1(ops.where(x > 0, 0, x)), alpha))


def gelu(x, approximate: bool = False):
    """Gaussian error linear unit: ``x * Phi(x)`` (exact with erf, or the tanh form).

    Example:
        >>> import tape
        >>> round(tape.nn.gelu(tape.tensor(1.0)).item(), 4)
        0.8413
    """
    x = ops.convert(x)
    if approximate:
        inner = ops.multiply(ops.add(x, ops.multiply(ops.power(x, 3), 0.044715)),
                             _math.sqrt(2 / _math.pi))
        return ops.multiply(ops.multiply(x, 0.5), ops.add(ops.tanh(inner), 1))
    return ops.multiply(ops.multiply(x, 0.5),
                        ops.add(ops.erf(ops.multiply(x, 1 / _math.sqrt(2))), 1))


def silu(x):
    """``x * sigmoid(x)`` (also called swish)."""
    x = ops.convert(x)
    return ops.multiply(x, ops.sigmoid(x))


def softmax_cross_entropy_with_logits(labels, logits, axis: int = -1):
    """Cross-entropy between probability ``labels`` (e.g. one-hot) and ``logits``, per
    example; stable for any logits because it goes through log_softmax.

    Example:
        >>> import tape
        >>> loss = tape.nn.softmax_cross_entropy_with_logits(
        ...     tape.tensor([[0.0, 1.0]]), tape.tensor([[0.0, 0.0]]))
        >>> round(loss.item(), 4)
        0.6931
    """
    return ops.negative(ops.sum(ops.multiply(labels, log_softmax(logits, axis=axis)), axis=axis))


def sparse_softmax_cross_entropy_with_logits(labels, logits):
    """Cross-entropy for integer class ``labels`` against ``logits`` over the last axis."""
    logits = ops.convert(logits)
    labels = ops.convert(labels)
    if labels.dtype.kind not in "iu":
        raise TypeError(f"sparse labels must be integers, got {labels.dtype}")
    if labels.shape != logits.shape[:-1]:
        raise ValueError(
            f"sparse_softmax_cross_entropy_with_logits: labels of shape {labels.shape} do not "
            f"match logits of shape {logits.shape} (expected labels of shape "
            f"{logits.shape[:-1]})"
        )
    picked = ops.take_along_axis(log_softmax(logits), ops.expand_dims(labels, -1), axis=-1)
    return ops.negative(ops.squeeze(picked, -1))


def sigmoid_cross_entropy_with_logits(labels, logits):
    """Binary cross-entropy between ``labels`` in [0, 1] and ``logits``, elementwise:
    ``softplus(logits) - logits * labels``, which never overflows."""
    logits = ops.convert(logits)
    return ops.subtract(softplus(logits), ops.multiply(logits, labels))

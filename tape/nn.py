"""Neural-network functions: activations and losses from logits, built on the op table.

Activations that are primitives (relu, softplus, mish, softmax, log_softmax, sigmoid, tanh)
come from ``tape.ops``; the rest are compositions, differentiable to any order.
"""

from __future__ import annotations

import math as _math

from . import _state, backend, ops
from .errors import user_line
from .ops import log_softmax, mish, relu, sigmoid, softmax, softplus, tanh
from .ops.conv import (
    conv1d,
    conv2d,
    conv2d_transpose,
    conv_transpose,
    convolution,
    depthwise_conv2d,
)
from .ops.creation import beside, constant_like
from .ops.pool import avg_pool1d, avg_pool2d, max_pool1d, max_pool2d, pool

__all__ = [
    "relu", "leaky_relu", "elu", "gelu", "silu", "mish", "softplus", "sigmoid", "tanh", "softmax",
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
    """Cross-entropy for integer class ``labels`` against ``logits`` over the last axis.

    One fused op forward (``sparse_softmax_xent``) and one backward (``softmax - one_hot``),
    as a hand-written step computes it.

    Example:
        >>> import tape
        >>> loss = tape.nn.sparse_softmax_cross_entropy_with_logits(
        ...     tape.tensor([1]), tape.tensor([[0.0, 0.0]]))
        >>> round(loss.item(), 4)
        0.6931
    """
    name = "sparse_softmax_cross_entropy_with_logits"
    logits = ops.convert(logits)
    labels = ops.convert(labels, like=logits)
    if labels.dtype.kind not in "iu":
        raise TypeError(f"sparse labels must be integers, got {labels.dtype}")
    if labels.shape != logits.shape[:-1]:
        raise ValueError(
            f"{name}: labels of shape {labels.shape} do not match logits of shape "
            f"{logits.shape} (expected labels of shape {logits.shape[:-1]})"
        )
    check_class_labels(name, labels, logits.shape[-1])
    return ops.sparse_softmax_xent(labels, logits)


def check_class_labels(name: str, labels, classes: int) -> None:
    """Raise ValueError, naming ``name`` and the user's line, unless every class label is in
    ``[0, classes)``: indexing would take a negative label from the end without a word, and a
    one-hot of an out-of-range label is all zeros (a silent zero loss). Skipped while
    tracing, where values cannot be read. Labels on a GPU are checked there, and a failure
    is raised at the next read of a value on the host (``backend.check_range_on_device``)."""
    if _state.tracing.get() or not labels.size:
        return

    def message(low, high):
        return (f"{name}: labels must be in [0, {classes}) for {classes} classes, got labels "
                f"in [{low}, {high}]")

    if backend.is_gpu_array(labels._data):
        backend.check_range_on_device(name, labels._data, classes, ValueError, message)
        return
    values = labels.numpy()
    low, high = values.min(), values.max()
    if low < 0 or high >= classes:
        raise ValueError(f"{message(low, high)} [at {user_line()}]")


def sigmoid_cross_entropy_with_logits(labels, logits):
    """Binary cross-entropy between ``labels`` in [0, 1] and ``logits``, elementwise:
    ``softplus(logits) - logits * labels``, which never overflows."""
    logits = ops.convert(logits)
    return ops.subtract(softplus(logits), ops.multiply(logits, labels))


# ---- normalization and attention (the sequence layers' functional forms) -----------------

__all__ += ["moments", "batch_norm", "batch_normalization", "layer_norm",
            "scaled_dot_product_attention"]


def moments(x, axes, keepdims: bool = False):
    """``(mean, variance)`` of ``x`` over ``axes`` (``tf.nn.moments``); the variance is the
    biased one (divided by the count), as batch normalization uses.

    Example:
        >>> import tape
        >>> mean, variance = tape.nn.moments(tape.tensor([[1.0, 3.0], [5.0, 7.0]]), axes=0)
        >>> mean.numpy().tolist(), variance.numpy().tolist()
        ([3.0, 5.0], [4.0, 4.0])
    """
    x = ops.convert(x)
    mean = ops.mean(x, axis=axes, keepdims=True)
    variance = ops.mean(ops.square(ops.subtract(x, mean)), axis=axes, keepdims=keepdims)
    if not keepdims:
        mean = ops.reshape(mean, variance.shape)
    return mean, variance


def batch_norm(x, mean, variance, offset=None, scale=None, variance_epsilon: float = 1e-3):
    """``(x - mean) / sqrt(variance + variance_epsilon) * scale + offset``, all broadcast
    against ``x`` (``tf.nn.batch_normalization``'s signature; ``offset`` and ``scale`` may be
    None). Computed as ``x * a + b`` so that only two ops touch the full-size tensor.

    Example:
        >>> import tape
        >>> x = tape.tensor([[1.0], [3.0]])
        >>> tape.nn.batch_norm(x, tape.tensor([2.0]), tape.tensor([1.0]),
        ...                    variance_epsilon=0.0).numpy().tolist()
        [[-1.0], [1.0]]
    """
    x = ops.convert(x)
    inv = ops.divide(1.0, ops.sqrt(ops.add(variance, variance_epsilon)))
    if scale is not None:
        inv = ops.multiply(inv, scale)
    shift = ops.negative(ops.multiply(mean, inv))
    if offset is not None:
        shift = ops.add(shift, offset)
    return ops.add(ops.multiply(x, inv), shift)


batch_normalization = batch_norm


def layer_norm(x, gamma=None, beta=None, axis=-1, epsilon: float = 1e-3):
    """Normalize each example over ``axis`` (an int or a tuple), then scale by ``gamma`` and
    shift by ``beta`` (None: 1 and 0). Over the last axis alone this is the ``layer_norm``
    primitive (``gamma``/``beta`` of shape ``x.shape[-1:]``); over other axes it is composed
    from ``moments`` and ``batch_norm``, and ``gamma``/``beta`` must broadcast against ``x``.

    Example:
        >>> import tape
        >>> y = tape.nn.layer_norm(tape.tensor([[1.0, 2.0, 3.0]]), epsilon=0.0)
        >>> [round(v, 4) for v in y.numpy()[0].tolist()]
        [-1.2247, 0.0, 1.2247]
    """
    from .ops._helpers import normalize_axes

    x = ops.convert(x)
    axes = normalize_axes(axis, x.ndim)
    if axes == (x.ndim - 1,):
        size = x.shape[-1:]
        with beside(x):
            gamma = ops.ones(size, dtype=x.dtype) if gamma is None else gamma
            beta = ops.zeros(size, dtype=x.dtype) if beta is None else beta
        return ops.layer_norm(x, gamma, beta, epsilon=epsilon)
    mean, variance = moments(x, axes, keepdims=True)
    return batch_norm(x, mean, variance, beta, gamma, epsilon)


def scaled_dot_product_attention(query, key, value, mask=None, is_causal: bool = False,
                                 scale: float | None = None):
    """``softmax(query @ key^T * scale) @ value`` over the last two axes, with any leading
    (batch, head) axes broadcast. ``scale`` defaults to ``1 / sqrt(query.shape[-1])``.

    Args:
        query: ``(..., Lq, d)``; key: ``(..., Lk, d)``; value: ``(..., Lk, dv)``.
        mask: Boolean, broadcastable to ``(..., Lq, Lk)``: True where a query may attend to
            a key (Keras' and PyTorch's convention); integers and floats count as nonzero.
        is_causal: Also forbid attending to later keys (query ``i`` sees keys ``j <= i``).

    A query that may attend to nothing gets uniform weights (masked scores are set to a large
    negative number, as Keras does, not to -inf), so no NaN appears.

    Example:
        >>> import tape
        >>> q = k = v = tape.tensor([[1.0, 0.0], [0.0, 1.0]])
        >>> out = tape.nn.scaled_dot_product_attention(q, k, v, is_causal=True)
        >>> out.numpy()[0].tolist()
        [1.0, 0.0]
    """
    value = ops.convert(value)
    weights = attention_weights(query, key, mask=mask, is_causal=is_causal, scale=scale)
    return ops.matmul(weights, value)


def attention_weights(query, key, mask=None, is_causal: bool = False,
                      scale: float | None = None):
    """The softmax weights of ``scaled_dot_product_attention``, ``(..., Lq, Lk)``."""
    import numpy as np

    from .errors import ShapeError, user_line

    query, key = ops.convert(query), ops.convert(key)
    if query.ndim < 2 or key.ndim < 2 or query.shape[-1] != key.shape[-1]:
        raise ShapeError(f"scaled_dot_product_attention: query of shape {query.shape} and key "
                         f"of shape {key.shape} must be (..., Lq, d) and (..., Lk, d) with "
                         f"the same d [at {user_line()}]")
    if scale is None:
        scale = 1.0 / _math.sqrt(query.shape[-1])
    scores = ops.matmul(ops.multiply(query, scale), ops.swapaxes(key, -1, -2))
    if is_causal:
        causal = constant_like(np.tril(np.ones(scores.shape[-2:], dtype=bool)), scores)
        mask = causal if mask is None else ops.logical_and(_as_bool(mask, like=scores), causal)
    if mask is not None:
        mask = _as_bool(mask, like=scores)
        try:
            fits = np.broadcast_shapes(mask.shape, scores.shape) == scores.shape
        except ValueError:
            fits = False
        if not fits:
            raise ShapeError(f"scaled_dot_product_attention: a mask of shape {mask.shape} does "
                             f"not broadcast to the attention scores' shape {scores.shape} "
                             f"(..., Lq, Lk) [at {user_line()}]")
        # Keras' large negative rather than -inf: a fully masked row stays finite (uniform).
        scores = ops.where(mask, scores, -3e4 if scores.dtype == np.float16 else -1e9)
    return ops.softmax(scores, axis=-1)


def _as_bool(mask, like=None):
    mask = ops.convert(mask, like=like)  # a host mask goes where ``like`` is
    return mask if mask.dtype == bool else ops.not_equal(mask, 0)

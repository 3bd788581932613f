"""The logits a probability tensor was computed from, so that a crossentropy of
``softmax(x)`` or ``sigmoid(x)`` is computed from ``x``: fused, stable and exact for any
logits, as Keras' TensorFlow backend does with ``output._keras_logits``. The gradient then
flows into the logits (not through the probabilities), so it is right for the weights that
produced them.

The logits ride on the probabilities themselves (``Tensor._logits``), so they live exactly
as long as the tensor does; no table keyed by ``id()``.

Example:
    >>> import tape
    >>> from tape import logits, losses
    >>> probs = logits.softmax_with_logits(tape.tensor([[1e4, 0.0, -1e4]]))
    >>> round(losses.categorical_crossentropy([[0.0, 1.0, 0.0]], probs).item())
    10000
"""

from __future__ import annotations

from . import nn, ops
from .tensor import Tensor


def remember_logits(probs: Tensor, logits: Tensor, activation: str = "softmax",
                    axis: int = -1) -> Tensor:
    """Record that ``probs = activation(logits)`` (``'softmax'`` along ``axis``, or
    ``'sigmoid'``), so that crossentropy losses of ``probs`` use ``logits``. Returns ``probs``."""
    probs._logits = (activation, axis, logits)
    return probs


def logits_of(probs, activation: str | None = None, axis: int | None = None):
    """The logits remembered for ``probs`` (None when there are none, or when they were for
    another ``activation`` or softmax ``axis``)."""
    entry = getattr(probs, "_logits", None)
    if entry is None:
        return None
    act, act_axis, logits = entry
    if activation is not None and act != activation:
        return None
    if axis is not None and act_axis % probs.ndim != axis % probs.ndim:
        return None
    return logits


def carry_logits(source, probs: Tensor) -> Tensor:
    """``probs`` (a constant copy of ``source``) with ``source``'s logits remembered as
    constants too: a metric computes its crossentropy the loss's stable way, without
    taking part in the gradient."""
    entry = getattr(source, "_logits", None)
    if entry is not None:
        activation, axis, logits = entry
        remember_logits(probs, ops.stop_gradient(logits), activation, axis)
    return probs


def softmax_with_logits(x, axis: int = -1) -> Tensor:
    """``tape.nn.softmax(x, axis)`` that crossentropy losses can compute from ``x`` stably.

    Example:
        >>> import tape
        >>> from tape import logits
        >>> logits.softmax_with_logits(tape.tensor([0.0, 0.0])).numpy().tolist()
        [0.5, 0.5]
    """
    x = ops.convert(x)
    return remember_logits(nn.softmax(x, axis=axis), x, "softmax", axis)


def sigmoid_with_logits(x) -> Tensor:
    """``tape.nn.sigmoid(x)`` that binary crossentropy can compute from ``x`` stably.

    Example:
        >>> import tape
        >>> from tape import logits, losses
        >>> probs = logits.sigmoid_with_logits(tape.tensor([[-200.0]]))
        >>> losses.binary_crossentropy([[1.0]], probs).item()
        200.0
    """
    x = ops.convert(x)
    return remember_logits(nn.sigmoid(x), x, "sigmoid")

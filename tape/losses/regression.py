"""The regression losses, as Keras 3 defines them: mean squared and absolute error, Huber,
LogCosh, mean squared logarithmic and absolute percentage error, cosine similarity; each a
function of per-sample values and its ``Loss`` class."""

from __future__ import annotations

import math

from .. import ops
from .base import EPSILON, _Builtin, _same_rank


def mean_squared_error(y_true, y_pred):
    """``mean(square(y_true - y_pred), axis=-1)``."""
    y_true, y_pred = _same_rank(y_true, y_pred)
    return ops.mean(ops.square(ops.subtract(y_true, y_pred)), axis=-1)


def mean_absolute_error(y_true, y_pred):
    """``mean(abs(y_true - y_pred), axis=-1)``."""
    y_true, y_pred = _same_rank(y_true, y_pred)
    return ops.mean(ops.abs(ops.subtract(y_true, y_pred)), axis=-1)


def huber(y_true, y_pred, delta: float = 1.0):
    """Quadratic for ``|error| <= delta``, linear beyond, averaged over the last axis."""
    y_true, y_pred = _same_rank(y_true, y_pred)
    error = ops.subtract(y_pred, y_true)
    abs_error = ops.abs(error)
    quadratic = ops.multiply(ops.square(error), 0.5)
    linear = ops.subtract(ops.multiply(abs_error, delta), 0.5 * delta * delta)
    return ops.mean(ops.where(abs_error <= delta, quadratic, linear), axis=-1)


def log_cosh(y_true, y_pred):
    """``mean(log(cosh(y_pred - y_true)), axis=-1)``, computed as
    ``x + softplus(-2x) - log(2)``, which never overflows."""
    y_true, y_pred = _same_rank(y_true, y_pred)
    x = ops.subtract(y_pred, y_true)
    value = ops.subtract(ops.add(x, ops.softplus(ops.multiply(x, -2.0))), math.log(2.0))
    return ops.mean(value, axis=-1)


def mean_squared_logarithmic_error(y_true, y_pred):
    """``mean(square(log(y_pred + 1) - log(y_true + 1)), axis=-1)``, both floored at
    ``EPSILON`` first."""
    y_true, y_pred = _same_rank(y_true, y_pred)
    first = ops.log(ops.add(ops.maximum(y_pred, EPSILON), 1.0))
    second = ops.log(ops.add(ops.maximum(y_true, EPSILON), 1.0))
    return ops.mean(ops.square(ops.subtract(first, second)), axis=-1)


def mean_absolute_percentage_error(y_true, y_pred):
    """``100 * mean(abs((y_true - y_pred) / maximum(abs(y_true), EPSILON)), axis=-1)``."""
    y_true, y_pred = _same_rank(y_true, y_pred)
    diff = ops.abs(ops.divide(ops.subtract(y_true, y_pred),
                              ops.maximum(ops.abs(y_true), EPSILON)))
    return ops.multiply(ops.mean(diff, axis=-1), 100.0)


def l2_normalize(x, axis: int = -1):
    """``x / maximum(norm(x, axis), EPSILON)``: a zero vector stays zero (Keras' normalize)."""
    norm = ops.sqrt(ops.sum(ops.square(x), axis=axis, keepdims=True))
    return ops.divide(x, ops.maximum(norm, EPSILON))


def cosine_similarity(y_true, y_pred, axis: int = -1):
    """``-sum(l2_normalize(y_true) * l2_normalize(y_pred), axis)``: -1 for the same direction,
    0 for orthogonal vectors or a zero vector.

    Example:
        >>> from tape import losses
        >>> loss = losses.cosine_similarity([[0.0, 1.0], [1.0, 1.0]], [[1.0, 0.0], [2.0, 2.0]])
        >>> [round(x, 4) for x in loss.numpy().tolist()]
        [-0.0, -1.0]
    """
    y_true, y_pred = _same_rank(y_true, y_pred)
    products = ops.multiply(l2_normalize(y_true, axis), l2_normalize(y_pred, axis))
    return ops.negative(ops.sum(products, axis=axis))


# Keras' short names.
mse = MSE = mean_squared_error
mae = MAE = mean_absolute_error
msle = MSLE = mean_squared_logarithmic_error
mape = MAPE = mean_absolute_percentage_error


class MeanSquaredError(_Builtin):
    """Mean of squared errors.

    Example:
        >>> from tape import losses
        >>> losses.MeanSquaredError()([[0.0, 1.0], [0.0, 0.0]], [[1.0, 1.0], [1.0, 0.0]]).item()
        0.5
    """

    _fn = staticmethod(mean_squared_error)


class MeanAbsoluteError(_Builtin):
    """Mean of absolute errors."""

    _fn = staticmethod(mean_absolute_error)


class Huber(_Builtin):
    """Huber loss: quadratic for errors up to ``delta``, linear beyond.

    Example:
        >>> from tape import losses
        >>> losses.Huber(delta=1.0)([[0.0, 0.0]], [[0.5, 3.0]]).item()
        1.3125
    """

    _fn = staticmethod(huber)

    def __init__(self, delta: float = 1.0, reduction="sum_over_batch_size", name=None,
                 dtype=None):
        super().__init__(reduction, name or "huber_loss", dtype, delta=delta)


class LogCosh(_Builtin):
    """Mean of ``log(cosh(y_pred - y_true))``: like MSE for small errors, MAE for large ones.

    Example:
        >>> from tape import losses
        >>> round(losses.LogCosh()([[0.0, 1.0], [0.0, 0.0]], [[1.0, 1.0], [0.0, 0.0]]).item(), 4)
        0.1084
    """

    _fn = staticmethod(log_cosh)


class MeanSquaredLogarithmicError(_Builtin):
    """Mean of ``square(log(y_pred + 1) - log(y_true + 1))``.

    Example:
        >>> from tape import losses
        >>> loss = losses.MeanSquaredLogarithmicError()
        >>> round(loss([[1.0, 0.0]], [[0.0, 0.0]]).item(), 4)  # log(2) ** 2 / 2
        0.2402
    """

    _fn = staticmethod(mean_squared_logarithmic_error)


class MeanAbsolutePercentageError(_Builtin):
    """Mean of ``100 * abs((y_true - y_pred) / y_true)`` (the divisor floored at EPSILON).

    Example:
        >>> from tape import losses
        >>> losses.MeanAbsolutePercentageError()([[2.0, 4.0]], [[1.0, 5.0]]).item()
        37.5
    """

    _fn = staticmethod(mean_absolute_percentage_error)


class CosineSimilarity(_Builtin):
    """Negative cosine similarity along ``axis``: -1 when the vectors point the same way.

    Example:
        >>> from tape import losses
        >>> loss = losses.CosineSimilarity()
        >>> round(loss([[0.0, 1.0], [1.0, 1.0]], [[1.0, 0.0], [1.0, 1.0]]).item(), 4)
        -0.5
    """

    _fn = staticmethod(cosine_similarity)

    def __init__(self, axis: int = -1, reduction="sum_over_batch_size", name=None, dtype=None):
        super().__init__(reduction, name, dtype, axis=axis)

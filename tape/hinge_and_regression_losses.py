"""The hinge losses (Hinge, SquaredHinge, CategoricalHinge) and the further regression losses
(LogCosh, MeanSquaredLogarithmicError, MeanAbsolutePercentageError, CosineSimilarity, Poisson),
as Keras 3 defines them: each a function of per-sample values and its ``Loss`` class.

``tape.losses`` re-exports everything here and registers the Keras names; import from there.
"""

from __future__ import annotations

import math

from . import ops
from .losses import EPSILON, _Builtin, _pair, squeeze_or_expand_to_same_rank


# ---- function forms (per-sample values, reduced over the last axis) ----------------------
def _same_rank(y_true, y_pred):
    return squeeze_or_expand_to_same_rank(*_pair(y_true, y_pred))


def convert_binary_labels_to_hinge(y_true):
    """Labels that are all 0 or 1 become -1 or 1; other labels are kept (Keras' rule).

    The choice is a tensor ``where``, not Python control flow, so a traced step keeps it."""
    is_binary = ops.all(ops.logical_or(ops.equal(y_true, 0), ops.equal(y_true, 1)))
    return ops.where(is_binary, ops.subtract(ops.multiply(y_true, 2.0), 1.0), y_true)


def hinge(y_true, y_pred):
    """``mean(maximum(1 - y_true * y_pred, 0), axis=-1)``, labels -1/1 (0/1 converted).

    Example:
        >>> from tape import losses
        >>> losses.hinge([[0.0, 1.0]], [[0.5, 0.5]]).numpy().tolist()
        [1.0]
    """
    return ops.mean(_hinge_margin(y_true, y_pred), axis=-1)


def squared_hinge(y_true, y_pred):
    """``mean(square(maximum(1 - y_true * y_pred, 0)), axis=-1)``, labels as :func:`hinge`."""
    return ops.mean(ops.square(_hinge_margin(y_true, y_pred)), axis=-1)


def _hinge_margin(y_true, y_pred):
    """``maximum(1 - y_true * y_pred, 0)``, labels -1/1 (0/1 converted)."""
    y_true, y_pred = _pair(y_true, y_pred)
    margin = ops.subtract(1.0, ops.multiply(convert_binary_labels_to_hinge(y_true), y_pred))
    return ops.maximum(margin, 0.0)


def categorical_hinge(y_true, y_pred):
    """``maximum(neg - pos + 1, 0)`` with ``pos = sum(y_true * y_pred)`` and
    ``neg = max((1 - y_true) * y_pred)`` over the last axis (one-hot labels)."""
    y_true, y_pred = _pair(y_true, y_pred)
    pos = ops.sum(ops.multiply(y_true, y_pred), axis=-1)
    neg = ops.max(ops.multiply(ops.subtract(1.0, y_true), y_pred), axis=-1)
    return ops.maximum(ops.add(ops.subtract(neg, pos), 1.0), 0.0)


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


def poisson(y_true, y_pred):
    """``mean(y_pred - y_true * log(y_pred + EPSILON), axis=-1)``."""
    y_true, y_pred = _pair(y_true, y_pred)
    log_pred = ops.log(ops.add(y_pred, EPSILON))
    return ops.mean(ops.subtract(y_pred, ops.multiply(y_true, log_pred)), axis=-1)


# Keras' short names.
msle = MSLE = mean_squared_logarithmic_error
mape = MAPE = mean_absolute_percentage_error


# ---- the Loss classes ---------------------------------------------------------------------
class Hinge(_Builtin):
    """Hinge loss ``max(1 - y_true * y_pred, 0)`` for labels -1/1 (0/1 labels are converted).

    Example:
        >>> from tape import losses
        >>> losses.Hinge()([[0.0, 1.0], [1.0, 1.0]], [[0.5, 0.5], [2.0, -1.0]]).item()
        1.0
    """

    _fn = staticmethod(hinge)


class SquaredHinge(_Builtin):
    """Squared hinge loss ``max(1 - y_true * y_pred, 0) ** 2``, labels as :class:`Hinge`.

    Example:
        >>> from tape import losses
        >>> losses.SquaredHinge()([[0.0, 1.0]], [[0.5, 0.5]]).item()
        1.25
    """

    _fn = staticmethod(squared_hinge)


class CategoricalHinge(_Builtin):
    """Categorical hinge: the best wrong score minus the true score plus 1, floored at 0.

    Example:
        >>> from tape import losses
        >>> round(losses.CategoricalHinge()([[0.0, 1.0, 0.0]], [[0.3, 0.5, 0.9]]).item(), 4)
        1.4
    """

    _fn = staticmethod(categorical_hinge)


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


class Poisson(_Builtin):
    """Poisson negative log likelihood (up to a constant): ``y_pred - y_true * log(y_pred)``.

    Example:
        >>> from tape import losses
        >>> round(losses.Poisson()([[1.0, 0.0]], [[1.0, 2.0]]).item(), 4)
        1.5
    """

    _fn = staticmethod(poisson)


CLASSES = (Hinge, SquaredHinge, CategoricalHinge, LogCosh, MeanSquaredLogarithmicError,
           MeanAbsolutePercentageError, CosineSimilarity, Poisson)
ALIASES = {
    "hinge": Hinge, "squared_hinge": SquaredHinge, "categorical_hinge": CategoricalHinge,
    "log_cosh": LogCosh,
    "msle": MeanSquaredLogarithmicError,
    "mean_squared_logarithmic_error": MeanSquaredLogarithmicError,
    "mape": MeanAbsolutePercentageError,
    "mean_absolute_percentage_error": MeanAbsolutePercentageError,
    "cosine_similarity": CosineSimilarity, "poisson": Poisson,
}

"""Regression, hinge and probabilistic metrics, as Keras 3: RootMeanSquaredError, and the
weighted mean over samples of one loss function each (MAPE, MSLE, log-cosh, cosine
similarity, the hinges, KL divergence, Poisson)."""

from __future__ import annotations

from .. import losses, ops
from ..losses import squeeze_or_expand_to_same_rank
from ..tensor import Tensor
from .base import Mean, MeanMetricWrapper, _divide_no_nan, _pair


def cosine_similarity(y_true, y_pred, axis: int = -1):
    """``sum(l2_normalize(y_true) * l2_normalize(y_pred), axis)`` (the loss's negative)."""
    return ops.negative(losses.cosine_similarity(y_true, y_pred, axis=axis))


class _MeanOfLoss(MeanMetricWrapper):
    """The weighted mean of the class's ``_fn`` per sample; named ``_name`` by default."""

    _fn = _name = None

    def __init__(self, name=None, dtype=None, **kwargs):
        super().__init__(type(self)._fn, name or self._name, dtype, **kwargs)


class RootMeanSquaredError(Mean):
    """``sqrt`` of the weighted mean of squared errors over everything seen.

    Example:
        >>> from tape import metrics
        >>> m = metrics.RootMeanSquaredError()
        >>> m([[0.0, 1.0], [0.0, 0.0]], [[1.0, 1.0], [0.0, 0.0]]).item()
        0.5
    """

    def __init__(self, name="root_mean_squared_error", dtype=None):
        super().__init__(name, dtype)

    def update_state(self, y_true, y_pred, sample_weight=None) -> None:
        y_true, y_pred = squeeze_or_expand_to_same_rank(*_pair(y_true, y_pred))
        super().update_state(ops.square(ops.subtract(y_pred, y_true)), sample_weight)

    def result(self) -> Tensor:
        return ops.sqrt(_divide_no_nan(self.total, self.count))


class MeanAbsolutePercentageError(_MeanOfLoss):
    """Mean of ``losses.mean_absolute_percentage_error`` per sample.

    Example:
        >>> from tape import metrics
        >>> metrics.MeanAbsolutePercentageError()([[2.0, 4.0]], [[1.0, 5.0]]).item()
        37.5
    """

    _fn = staticmethod(losses.mean_absolute_percentage_error)
    _name = "mean_absolute_percentage_error"


class MeanSquaredLogarithmicError(_MeanOfLoss):
    """Mean of ``losses.mean_squared_logarithmic_error`` per sample.

    Example:
        >>> from tape import metrics
        >>> round(metrics.MeanSquaredLogarithmicError()([[1.0, 0.0]], [[0.0, 0.0]]).item(), 4)
        0.2402
    """

    _fn = staticmethod(losses.mean_squared_logarithmic_error)
    _name = "mean_squared_logarithmic_error"


class LogCoshError(_MeanOfLoss):
    """Mean of ``losses.log_cosh`` per sample (Keras names it ``'logcosh'``).

    Example:
        >>> from tape import metrics
        >>> m = metrics.LogCoshError()
        >>> round(m([[0.0, 1.0], [0.0, 0.0]], [[1.0, 1.0], [0.0, 0.0]]).item(), 4)
        0.1084
    """

    _fn = staticmethod(losses.log_cosh)
    _name = "logcosh"


class CosineSimilarity(_MeanOfLoss):
    """Mean cosine similarity along ``axis``: 1 when the vectors point the same way.

    Example:
        >>> from tape import metrics
        >>> m = metrics.CosineSimilarity()
        >>> round(m([[0.0, 1.0], [1.0, 1.0]], [[1.0, 0.0], [1.0, 1.0]]).item(), 4)
        0.5
    """

    _fn = staticmethod(cosine_similarity)
    _name = "cosine_similarity"

    def __init__(self, name=None, dtype=None, axis: int = -1):
        super().__init__(name, dtype, axis=axis)


class Hinge(_MeanOfLoss):
    """Mean of ``losses.hinge`` per sample (0/1 labels become -1/1).

    Example:
        >>> from tape import metrics
        >>> metrics.Hinge()([[0.0, 1.0], [1.0, 1.0]], [[0.5, 0.5], [2.0, -1.0]]).item()
        1.0
    """

    _fn = staticmethod(losses.hinge)
    _name = "hinge"


class SquaredHinge(_MeanOfLoss):
    """Mean of ``losses.squared_hinge`` per sample.

    Example:
        >>> from tape import metrics
        >>> metrics.SquaredHinge()([[0.0, 1.0]], [[0.5, 0.5]]).item()
        1.25
    """

    _fn = staticmethod(losses.squared_hinge)
    _name = "squared_hinge"


class CategoricalHinge(_MeanOfLoss):
    """Mean of ``losses.categorical_hinge`` per sample.

    Example:
        >>> from tape import metrics
        >>> round(metrics.CategoricalHinge()([[0.0, 1.0, 0.0]], [[0.3, 0.5, 0.9]]).item(), 4)
        1.4
    """

    _fn = staticmethod(losses.categorical_hinge)
    _name = "categorical_hinge"


class KLDivergence(_MeanOfLoss):
    """Mean of ``losses.kl_divergence`` per sample.

    Example:
        >>> from tape import metrics
        >>> round(metrics.KLDivergence()([[0.5, 0.5]], [[0.25, 0.75]]).item(), 4)
        0.1438
    """

    _fn = staticmethod(losses.kl_divergence)
    _name = "kl_divergence"


class Poisson(_MeanOfLoss):
    """Mean of ``losses.poisson`` per sample.

    Example:
        >>> from tape import metrics
        >>> round(metrics.Poisson()([[1.0, 0.0]], [[1.0, 2.0]]).item(), 4)
        1.5
    """

    _fn = staticmethod(losses.poisson)
    _name = "poisson"

"""Metrics that average a per-sample value: the accuracies, and the regression and
crossentropy metrics (each a MeanMetricWrapper around one function)."""

from __future__ import annotations

import numpy as np

from .. import losses, ops
from ..losses import squeeze_or_expand_to_same_rank
from .base import MeanMetricWrapper, _pair


# ---- accuracy functions (1.0 where right, per sample) ----------------------------------------
def accuracy(y_true, y_pred):
    """1.0 where ``y_true == y_pred`` exactly."""
    y_true, y_pred = squeeze_or_expand_to_same_rank(*_pair(y_true, y_pred))
    return ops.cast(ops.equal(y_true, y_pred), dtype=np.dtype("float32"))


def binary_accuracy(y_true, y_pred, threshold: float = 0.5):
    """1.0 where ``y_pred > threshold`` agrees with the 0/1 label."""
    y_true, y_pred = squeeze_or_expand_to_same_rank(*_pair(y_true, y_pred))
    predicted = ops.cast(ops.greater(y_pred, threshold), dtype=y_true.dtype)
    return ops.cast(ops.equal(y_true, predicted), dtype=np.dtype("float32"))


def sparse_categorical_accuracy(y_true, y_pred):
    """1.0 where ``argmax(y_pred, -1)`` is the integer label."""
    y_true, y_pred = _pair(y_true, y_pred)
    if y_true.ndim == y_pred.ndim and y_true.shape[-1] == 1:
        y_true = ops.squeeze(y_true, -1)
    if y_pred.ndim == y_true.ndim + 1:
        y_pred = ops.argmax(y_pred, axis=-1)
    return ops.cast(ops.equal(ops.cast(y_true, dtype=y_pred.dtype), y_pred),
                    dtype=np.dtype("float32"))


def categorical_accuracy(y_true, y_pred):
    """1.0 where ``argmax(y_pred, -1) == argmax(y_true, -1)`` (one-hot labels)."""
    y_true, y_pred = _pair(y_true, y_pred)
    return sparse_categorical_accuracy(ops.argmax(y_true, axis=-1), y_pred)


def _in_top_k(targets, y_pred, k: int):
    """True where the target's score is among the ``k`` largest (ties count as in, as Keras)."""
    target_score = ops.take_along_axis(y_pred, ops.expand_dims(targets, -1), axis=-1)
    return ops.less(ops.sum(ops.cast(ops.greater(y_pred, target_score), dtype=np.int64),
                            axis=-1), k)


def top_k_categorical_accuracy(y_true, y_pred, k: int = 5):
    """1.0 where the true class (argmax of the one-hot label) is in the top ``k`` scores."""
    y_true, y_pred = _pair(y_true, y_pred)
    targets = ops.argmax(y_true, axis=-1)
    return ops.cast(_in_top_k(targets, y_pred, k), dtype=np.dtype("float32"))


def sparse_top_k_categorical_accuracy(y_true, y_pred, k: int = 5, from_sorted_ids: bool = False):
    """1.0 where the integer label's score is in the top ``k`` (ties count as in); with
    ``from_sorted_ids``, ``y_pred`` holds class ids sorted by score and the label must be among
    the first ``k``."""
    y_true, y_pred = _pair(y_true, y_pred)
    if y_true.ndim == y_pred.ndim and y_true.shape[-1] == 1:
        y_true = ops.squeeze(y_true, -1)
    if from_sorted_ids:
        top = y_pred[..., :k]
        hit = ops.any(ops.equal(ops.expand_dims(ops.cast(y_true, dtype=top.dtype), -1), top),
                      axis=-1)
    else:
        hit = _in_top_k(ops.cast(y_true, dtype=np.dtype("int64")), y_pred, k)
    return ops.cast(hit, dtype=np.dtype("float32"))


# ---- MeanMetricWrapper metrics ---------------------------------------------------------------
class Accuracy(MeanMetricWrapper):
    """How often predictions equal labels exactly.

    Example:
        >>> from tape import metrics
        >>> metrics.Accuracy()([1, 2, 3, 4], [0, 2, 3, 4]).item()
        0.75
    """

    def __init__(self, name="accuracy", dtype=None):
        super().__init__(accuracy, name, dtype)


class BinaryAccuracy(MeanMetricWrapper):
    """How often ``y_pred > threshold`` matches the 0/1 label.

    Example:
        >>> from tape import metrics
        >>> metrics.BinaryAccuracy()([[1], [1], [0], [0]], [[0.98], [1], [0], [0.6]]).item()
        0.75
    """

    def __init__(self, name="binary_accuracy", dtype=None, threshold: float = 0.5):
        super().__init__(binary_accuracy, name, dtype, threshold=threshold)


class CategoricalAccuracy(MeanMetricWrapper):
    """How often ``argmax(y_pred)`` matches ``argmax(y_true)`` (one-hot labels).

    Example:
        >>> from tape import metrics
        >>> m = metrics.CategoricalAccuracy()
        >>> m([[0, 0, 1], [0, 1, 0]], [[0.1, 0.9, 0.8], [0.05, 0.95, 0]]).item()
        0.5
    """

    def __init__(self, name="categorical_accuracy", dtype=None):
        super().__init__(categorical_accuracy, name, dtype)


class SparseCategoricalAccuracy(MeanMetricWrapper):
    """How often ``argmax(y_pred)`` matches the integer label.

    Example:
        >>> from tape import metrics
        >>> metrics.SparseCategoricalAccuracy()([2, 1], [[0.1, 0.6, 0.3], [0.05, 0.95, 0]]).item()
        0.5
    """

    def __init__(self, name="sparse_categorical_accuracy", dtype=None):
        super().__init__(sparse_categorical_accuracy, name, dtype)


class TopKCategoricalAccuracy(MeanMetricWrapper):
    """How often the one-hot label's class is among the ``k`` highest scores.

    Example:
        >>> from tape import metrics
        >>> m = metrics.TopKCategoricalAccuracy(k=1)
        >>> m([[0, 0, 1], [0, 1, 0]], [[0.1, 0.9, 0.8], [0.05, 0.95, 0]]).item()
        0.5
    """

    def __init__(self, k: int = 5, name="top_k_categorical_accuracy", dtype=None):
        super().__init__(top_k_categorical_accuracy, name, dtype, k=k)


class SparseTopKCategoricalAccuracy(MeanMetricWrapper):
    """How often the integer label is among the ``k`` highest scores (or, with
    ``from_sorted_ids=True``, among the first ``k`` of the sorted class ids in ``y_pred``).

    Example:
        >>> from tape import metrics
        >>> m = metrics.SparseTopKCategoricalAccuracy(k=1)
        >>> m([2, 1], [[0.1, 0.9, 0.8], [0.05, 0.95, 0]]).item()
        0.5
    """

    def __init__(self, k: int = 5, name="sparse_top_k_categorical_accuracy", dtype=None,
                 from_sorted_ids: bool = False):
        super().__init__(sparse_top_k_categorical_accuracy, name, dtype, k=k,
                         from_sorted_ids=from_sorted_ids)


class MeanSquaredError(MeanMetricWrapper):
    """Mean of squared errors (``losses.mean_squared_error`` per sample)."""

    def __init__(self, name="mean_squared_error", dtype=None):
        super().__init__(losses.mean_squared_error, name, dtype)


class MeanAbsoluteError(MeanMetricWrapper):
    """Mean of absolute errors (``losses.mean_absolute_error`` per sample)."""

    def __init__(self, name="mean_absolute_error", dtype=None):
        super().__init__(losses.mean_absolute_error, name, dtype)


class BinaryCrossentropy(MeanMetricWrapper):
    """Mean binary crossentropy (``losses.binary_crossentropy`` per sample)."""

    def __init__(self, name="binary_crossentropy", dtype=None, from_logits=False,
                 label_smoothing=0.0):
        super().__init__(losses.binary_crossentropy, name, dtype, from_logits=from_logits,
                         label_smoothing=label_smoothing)


class CategoricalCrossentropy(MeanMetricWrapper):
    """Mean categorical crossentropy (``losses.categorical_crossentropy`` per sample)."""

    def __init__(self, name="categorical_crossentropy", dtype=None, from_logits=False,
                 label_smoothing=0.0):
        super().__init__(losses.categorical_crossentropy, name, dtype, from_logits=from_logits,
                         label_smoothing=label_smoothing)


class SparseCategoricalCrossentropy(MeanMetricWrapper):
    """Mean sparse categorical crossentropy (``losses.sparse_categorical_crossentropy``)."""

    def __init__(self, name="sparse_categorical_crossentropy", dtype=None, from_logits=False):
        super().__init__(losses.sparse_categorical_crossentropy, name, dtype,
                         from_logits=from_logits)

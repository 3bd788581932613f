"""The probabilistic losses, as Keras 3 defines them: the crossentropies (computed from the
logits a softmax/sigmoid output was made from, when there are some: ``tape.logits``),
KL divergence and Poisson; each a function of per-sample values and its ``Loss`` class."""

from __future__ import annotations

import numpy as np

from .. import _state, backend, nn, ops
from .base import EPSILON, _Builtin, _fused, _pair, _prediction, squeeze_or_expand_to_same_rank


def kl_divergence(y_true, y_pred):
    """``sum(y_true * log(y_true / y_pred), axis=-1)``, both clipped to ``[EPSILON, 1]``."""
    y_true, y_pred = squeeze_or_expand_to_same_rank(*_pair(y_true, y_pred))
    y_true = ops.clip(y_true, EPSILON, 1.0)
    y_pred = ops.clip(y_pred, EPSILON, 1.0)
    return ops.sum(ops.multiply(y_true, ops.log(ops.divide(y_true, y_pred))), axis=-1)


def binary_crossentropy(y_true, y_pred, from_logits: bool = False,
                        label_smoothing: float = 0.0, axis: int = -1):
    """Binary crossentropy, averaged over ``axis``; labels are smoothed towards 0.5."""
    y_true, y_pred = _pair(y_true, y_pred)
    # Look the logits up before any squeeze, which would make a new tensor.
    values, from_logits = _fused(y_pred, from_logits, "sigmoid")
    y_true, values = squeeze_or_expand_to_same_rank(y_true, values)
    if label_smoothing:
        y_true = ops.add(ops.multiply(y_true, 1.0 - label_smoothing), 0.5 * label_smoothing)
    if from_logits:
        bce = nn.sigmoid_cross_entropy_with_logits(y_true, values)
    else:
        p = ops.clip(values, EPSILON, 1.0 - EPSILON)
        bce = ops.negative(ops.add(ops.multiply(y_true, ops.log(p)),
                                   ops.multiply(ops.subtract(1.0, y_true),
                                                ops.log(ops.subtract(1.0, p)))))
    return ops.mean(bce, axis=axis)


def _log_probs(y_pred, from_logits: bool, axis: int):
    values, from_logits = _fused(y_pred, from_logits, "softmax", axis)
    if from_logits:
        return nn.log_softmax(values, axis=axis)
    p = ops.divide(values, ops.sum(values, axis=axis, keepdims=True))
    return ops.log(ops.clip(p, EPSILON, 1.0 - EPSILON))


def categorical_crossentropy(y_true, y_pred, from_logits: bool = False,
                             label_smoothing: float = 0.0, axis: int = -1):
    """Crossentropy between one-hot (or probability) labels and predictions along ``axis``."""
    y_true, y_pred = _pair(y_true, y_pred)
    if y_true.shape != y_pred.shape:
        hint = (" (integer class labels need sparse_categorical_crossentropy)"
                if y_true.ndim == y_pred.ndim - 1 else "")
        raise ValueError(f"categorical_crossentropy: y_true of shape {y_true.shape} must match "
                         f"y_pred of shape {y_pred.shape}{hint}")
    if label_smoothing:
        classes = y_pred.shape[axis]
        y_true = ops.add(ops.multiply(y_true, 1.0 - label_smoothing), label_smoothing / classes)
    values, from_logits = _fused(y_pred, from_logits, "softmax", axis)
    if from_logits and axis % values.ndim == values.ndim - 1:
        return ops.softmax_xent(y_true, values)  # one fused op each way
    logp = _log_probs(values, from_logits, axis)
    return ops.negative(ops.sum(ops.multiply(y_true, logp), axis=axis))


def sparse_categorical_crossentropy(y_true, y_pred, from_logits: bool = False, axis: int = -1):
    """Crossentropy between integer class labels and predictions over the last axis."""
    y_pred = _prediction(y_pred)
    if axis % y_pred.ndim != y_pred.ndim - 1:
        raise ValueError(f"sparse_categorical_crossentropy: only axis=-1 is supported, got {axis}")
    labels = ops.stop_gradient(ops.convert(y_true, like=y_pred))
    if labels.ndim == y_pred.ndim and labels.shape[-1] == 1:
        labels = ops.squeeze(labels, -1)
    classes = y_pred.shape[-1]
    if labels.shape != y_pred.shape[:-1]:
        raise ValueError(f"sparse_categorical_crossentropy: labels of shape {labels.shape} do "
                         f"not match y_pred of shape {y_pred.shape} (expected {y_pred.shape[:-1]}"
                         "; for one-hot labels use categorical_crossentropy)")
    if not _state.tracing.get() and labels.dtype.kind not in "biu":  # values cannot be read
        _check_integral(labels)  # while tracing: check them eagerly
    if labels.dtype.kind not in "iu":
        labels = ops.cast(labels, dtype=np.dtype("int64"))
    nn.check_class_labels("sparse_categorical_crossentropy", labels, classes)
    # The labels stay a graph input (no index grid built from the batch size), so a trace
    # serves any batch size.
    values, from_logits = _fused(y_pred, from_logits, "softmax", -1)
    if from_logits:
        return ops.sparse_softmax_xent(labels, values)  # one fused op each way
    one_hot = ops.one_hot(labels, classes, dtype=values.dtype)
    return ops.negative(ops.sum(ops.multiply(one_hot, _log_probs(values, False, -1)), axis=-1))


def _check_integral(labels) -> None:
    """Float labels must be whole numbers; on a GPU this is checked on the device and a
    failure raised at the next host read (``backend.check_range_on_device``)."""
    def message(*_):
        return ("sparse_categorical_crossentropy: labels must be integer class indices "
                f"(got {labels.dtype}); for one-hot labels use categorical_crossentropy")

    data = labels._data
    if labels.dtype.kind not in "biuf":
        raise ValueError(message())
    if labels.dtype.kind != "f":
        return
    if backend.is_gpu_array(data):  # 1 where a label has a fractional part: must be in [0, 1)
        fractional = (data != backend.get_array_module(data).round(data)).astype(np.int8)
        backend.check_range_on_device("sparse labels are whole", fractional, 1, ValueError,
                                      message)
    elif not np.all(data == np.round(data)):
        raise ValueError(message())


def poisson(y_true, y_pred):
    """``mean(y_pred - y_true * log(y_pred + EPSILON), axis=-1)``."""
    y_true, y_pred = _pair(y_true, y_pred)
    log_pred = ops.log(ops.add(y_pred, EPSILON))
    return ops.mean(ops.subtract(y_pred, ops.multiply(y_true, log_pred)), axis=-1)


kld = KLD = kl_divergence


class KLDivergence(_Builtin):
    """Kullback-Leibler divergence ``sum(y_true * log(y_true / y_pred))`` per sample."""

    _fn = staticmethod(kl_divergence)


class BinaryCrossentropy(_Builtin):
    """Binary crossentropy between labels in [0, 1] and probabilities (or logits).

    Example:
        >>> from tape import losses
        >>> round(losses.BinaryCrossentropy()([[1.0], [0.0]], [[0.8], [0.4]]).item(), 4)
        0.367
    """

    _fn = staticmethod(binary_crossentropy)

    def __init__(self, from_logits: bool = False, label_smoothing: float = 0.0, axis: int = -1,
                 reduction="sum_over_batch_size", name=None, dtype=None):
        super().__init__(reduction, name, dtype, from_logits=from_logits,
                         label_smoothing=label_smoothing, axis=axis)


class CategoricalCrossentropy(_Builtin):
    """Crossentropy between one-hot labels and class probabilities (or logits).

    Example:
        >>> from tape import losses
        >>> loss = losses.CategoricalCrossentropy(from_logits=True)
        >>> round(loss([[0.0, 1.0]], [[0.0, 0.0]]).item(), 4)
        0.6931
    """

    _fn = staticmethod(categorical_crossentropy)

    def __init__(self, from_logits: bool = False, label_smoothing: float = 0.0, axis: int = -1,
                 reduction="sum_over_batch_size", name=None, dtype=None):
        super().__init__(reduction, name, dtype, from_logits=from_logits,
                         label_smoothing=label_smoothing, axis=axis)


class SparseCategoricalCrossentropy(_Builtin):
    """Crossentropy between integer class labels and class probabilities (or logits).

    Example:
        >>> from tape import losses
        >>> loss = losses.SparseCategoricalCrossentropy(from_logits=True)
        >>> round(loss([0, 1], [[0.0, 0.0], [0.0, 0.0]]).item(), 4)
        0.6931
    """

    _fn = staticmethod(sparse_categorical_crossentropy)

    def __init__(self, from_logits: bool = False, ignore_class=None,
                 reduction="sum_over_batch_size", name=None, dtype=None):
        if ignore_class is not None:
            raise NotImplementedError("SparseCategoricalCrossentropy(ignore_class=...) is not "
                                      "supported yet")
        super().__init__(reduction, name, dtype, from_logits=from_logits)


class Poisson(_Builtin):
    """Poisson negative log likelihood (up to a constant): ``y_pred - y_true * log(y_pred)``.

    Example:
        >>> from tape import losses
        >>> round(losses.Poisson()([[1.0, 0.0]], [[1.0, 2.0]]).item(), 4)
        1.5
    """

    _fn = staticmethod(poisson)

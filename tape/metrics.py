"""Metrics, Keras 3 style: the ``Metric`` base (update_state / result / reset_state, state in
non-trainable Variables), the built-in metrics, ``get()`` and ``resolve_accuracy()``.

Updates are written with tape ops on ``stop_gradient`` inputs, so no GradientTape records
them (and a traced step could hold them); ``result()`` returns a Tensor.
"""

from __future__ import annotations

import numpy as np

from . import _config, initializers, losses, nn, ops
from .losses import squeeze_or_expand_to_same_rank
from .tensor import Tensor, Variable


def _tensor(x, dtype=None) -> Tensor:
    return ops.stop_gradient(ops.convert(x, dtype))


def _predictions(y_pred) -> Tensor:
    """``_tensor(y_pred)``, keeping the logits a softmax/sigmoid output was made from, so that
    crossentropy metrics take the same stable path as the losses."""
    out = _tensor(y_pred)
    entry = losses._LOGITS.get(id(y_pred))
    if entry is not None and entry[0]() is y_pred:
        losses.remember_logits(out, ops.stop_gradient(entry[3]), entry[1], entry[2])
    return out


def _divide_no_nan(a, b):
    zero = ops.equal(b, 0)
    return ops.where(zero, 0.0, ops.divide(a, ops.where(zero, 1.0, b)))


class Metric:
    """Base class: subclasses create state with ``add_variable`` and implement
    ``update_state(...)`` and ``result()``; ``reset_state`` and ``__call__`` come free.

    Args:
        name: Name of the metric (default: the class name in snake_case).
        dtype: Dtype of the state and the result (default float32).

    Example:
        >>> from tape import metrics
        >>> class Count(metrics.Metric):
        ...     def __init__(self, name="count"):
        ...         super().__init__(name=name)
        ...         self.n = self.add_variable((), name="n")
        ...     def update_state(self, values, sample_weight=None):
        ...         self.n.assign_add(len(values))
        ...     def result(self):
        ...         return self.n + 0
        >>> m = Count(); m.update_state([1, 2]); m([3]).item()
        3.0
    """

    def __init__(self, name: str | None = None, dtype=None):
        self.name = name or losses._snake(type(self).__name__)
        self.dtype = np.dtype(dtype or "float32")
        self._variables: list[Variable] = []
        self._initial: list[np.ndarray] = []

    def add_variable(self, shape, initializer="zeros", dtype=None, name=None) -> Variable:
        """A non-trainable state Variable; ``reset_state`` sets it back to ``initializer``."""
        init = initializers.get(initializer)
        value = np.array(init(tuple(shape), dtype=dtype or self.dtype).numpy())
        v = Variable(value, trainable=False, name=f"{self.name}/{name or 'variable'}")
        self._variables.append(v)
        self._initial.append(value)
        return v

    @property
    def variables(self) -> list[Variable]:
        return list(self._variables)

    def update_state(self, *args, **kwargs) -> None:
        raise NotImplementedError(f"{type(self).__name__} must implement update_state")

    def result(self) -> Tensor:
        raise NotImplementedError(f"{type(self).__name__} must implement result")

    def reset_state(self) -> None:
        """Set every state variable back to its initial value."""
        for v, value in zip(self._variables, self._initial):
            v.assign(value)

    def __call__(self, *args, **kwargs) -> Tensor:
        """``update_state(*args, **kwargs)``, then ``result()``."""
        self.update_state(*args, **kwargs)
        return self.result()

    def get_config(self) -> dict:
        return {"name": self.name, "dtype": self.dtype.name}

    @classmethod
    def from_config(cls, config: dict):
        return cls(**config)

    def __repr__(self) -> str:
        return f"<{type(self).__name__} name={self.name!r}>"


def reduce_to_samplewise_values(values, sample_weight, reduce_fn, dtype):
    """Keras' rule: weight the values, then reduce every axis but the first."""
    values = _tensor(values, dtype)
    if sample_weight is not None:
        sample_weight = _tensor(sample_weight, dtype)
        values, sample_weight = squeeze_or_expand_to_same_rank(values, sample_weight)
        if values.ndim > sample_weight.ndim:
            values = reduce_fn(values, axis=tuple(range(sample_weight.ndim, values.ndim)))
        sample_weight = ops.broadcast_to(sample_weight, values.shape)
        values = ops.multiply(values, sample_weight)
        if sample_weight.ndim > 1:
            sample_weight = reduce_fn(sample_weight, axis=tuple(range(1, sample_weight.ndim)))
    if values.ndim > 1:
        values = reduce_fn(values, axis=tuple(range(1, values.ndim)))
    return values, sample_weight


class Sum(Metric):
    """Weighted sum of the values seen.

    Example:
        >>> from tape import metrics
        >>> metrics.Sum()([1.0, 3.0, 5.0], sample_weight=[1.0, 0.0, 1.0]).item()
        6.0
    """

    def __init__(self, name="sum", dtype=None):
        super().__init__(name, dtype)
        self.total = self.add_variable((), name="total")

    def update_state(self, values, sample_weight=None) -> None:
        values, _ = reduce_to_samplewise_values(values, sample_weight, ops.sum, self.dtype)
        self.total.assign_add(ops.sum(values))

    def result(self) -> Tensor:
        return ops.identity(self.total)


class Mean(Metric):
    """Weighted mean of the values seen: ``sum(w * v) / sum(w)``.

    Example:
        >>> from tape import metrics
        >>> m = metrics.Mean()
        >>> m.update_state([1.0, 3.0]); m.update_state([5.0], sample_weight=[2.0])
        >>> m.result().item()
        3.5
    """

    def __init__(self, name="mean", dtype=None):
        super().__init__(name, dtype)
        self.total = self.add_variable((), name="total")
        self.count = self.add_variable((), name="count")

    def update_state(self, values, sample_weight=None) -> None:
        values, sample_weight = reduce_to_samplewise_values(
            values, sample_weight, ops.mean, self.dtype)
        self.total.assign_add(ops.sum(values))
        if sample_weight is not None:
            self.count.assign_add(ops.sum(sample_weight))
        else:
            self.count.assign_add(values.shape[0] if values.ndim else 1)

    def result(self) -> Tensor:
        return _divide_no_nan(self.total, self.count)


class MeanMetricWrapper(Mean):
    """The weighted mean of ``fn(y_true, y_pred, **kwargs)`` over all samples seen.

    Example:
        >>> from tape import losses, metrics
        >>> m = metrics.MeanMetricWrapper(losses.mean_absolute_error, name="mae")
        >>> m([[1.0], [2.0]], [[0.0], [0.0]]).item()
        1.5
    """

    def __init__(self, fn, name=None, dtype=None, **kwargs):
        super().__init__(name or getattr(fn, "__name__", "mean_metric_wrapper"), dtype)
        self._fn = fn
        self._fn_kwargs = kwargs

    def update_state(self, y_true, y_pred, sample_weight=None) -> None:
        values = self._fn(_tensor(y_true), _predictions(y_pred), **self._fn_kwargs)
        super().update_state(values, sample_weight)

    def get_config(self) -> dict:
        return {**super().get_config(), **self._fn_kwargs}


# ---- accuracy functions (1.0 where right, per sample) ----------------------------------------
def accuracy(y_true, y_pred):
    """1.0 where ``y_true == y_pred`` exactly."""
    y_true, y_pred = squeeze_or_expand_to_same_rank(_tensor(y_true), _tensor(y_pred))
    return ops.cast(ops.equal(y_true, y_pred), dtype=np.dtype("float32"))


def binary_accuracy(y_true, y_pred, threshold: float = 0.5):
    """1.0 where ``y_pred > threshold`` agrees with the 0/1 label."""
    y_true, y_pred = squeeze_or_expand_to_same_rank(_tensor(y_true), _tensor(y_pred))
    predicted = ops.cast(ops.greater(y_pred, threshold), dtype=y_true.dtype)
    return ops.cast(ops.equal(y_true, predicted), dtype=np.dtype("float32"))


def sparse_categorical_accuracy(y_true, y_pred):
    """1.0 where ``argmax(y_pred, -1)`` is the integer label."""
    y_true, y_pred = _tensor(y_true), _tensor(y_pred)
    if y_true.ndim == y_pred.ndim and y_true.shape[-1] == 1:
        y_true = ops.squeeze(y_true, -1)
    if y_pred.ndim == y_true.ndim + 1:
        y_pred = ops.argmax(y_pred, axis=-1)
    return ops.cast(ops.equal(ops.cast(y_true, dtype=y_pred.dtype), y_pred),
                    dtype=np.dtype("float32"))


def categorical_accuracy(y_true, y_pred):
    """1.0 where ``argmax(y_pred, -1) == argmax(y_true, -1)`` (one-hot labels)."""
    return sparse_categorical_accuracy(ops.argmax(_tensor(y_true), axis=-1), y_pred)


def _in_top_k(targets, y_pred, k: int):
    """True where the target's score is among the ``k`` largest (ties count as in, as Keras)."""
    target_score = ops.take_along_axis(y_pred, ops.expand_dims(targets, -1), axis=-1)
    return ops.less(ops.sum(ops.cast(ops.greater(y_pred, target_score), dtype=np.int64),
                            axis=-1), k)


def top_k_categorical_accuracy(y_true, y_pred, k: int = 5):
    """1.0 where the true class (argmax of the one-hot label) is in the top ``k`` scores."""
    y_pred = _tensor(y_pred)
    targets = ops.argmax(_tensor(y_true), axis=-1)
    return ops.cast(_in_top_k(targets, y_pred, k), dtype=np.dtype("float32"))


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


# ---- confusion-matrix metrics ------------------------------------------------------------------
def _confusion(y_true, y_pred, thresholds, sample_weight=None, top_k=None, class_id=None):
    """Weighted (tp, fp, tn, fn) counts at each threshold; predicted positive means
    ``y_pred > threshold`` and a label is positive when nonzero (as Keras)."""
    y_true, y_pred = squeeze_or_expand_to_same_rank(_tensor(y_true), _tensor(y_pred))
    y_pred = ops.cast(y_pred, dtype=np.dtype("float32"))
    if top_k is not None:  # keep the k largest scores per row, -inf elsewhere (ties kept)
        above = ops.greater(ops.expand_dims(y_pred, -2), ops.expand_dims(y_pred, -1))
        rank = ops.sum(ops.cast(above, dtype=np.int64), axis=-1)
        y_pred = ops.where(ops.less(rank, top_k), y_pred, -np.inf)
    if class_id is not None:
        y_true, y_pred = y_true[..., class_id], y_pred[..., class_id]
    positive = ops.cast(ops.not_equal(y_true, 0), dtype=np.dtype("float32"))
    weight = ops.ones_like(y_pred)
    if sample_weight is not None:  # per-sample weights apply to every score of the sample
        w = _tensor(sample_weight, np.dtype("float32"))
        while w.ndim > y_pred.ndim and w.shape[-1] == 1:
            w = ops.squeeze(w, -1)
        if 0 < w.ndim < y_pred.ndim:
            w = ops.reshape(w, w.shape + (1,) * (y_pred.ndim - w.ndim))
        weight = ops.broadcast_to(w, y_pred.shape)
    pred = ops.reshape(y_pred, (-1, 1))
    pos = ops.reshape(ops.broadcast_to(positive, y_pred.shape), (-1, 1))
    w = ops.reshape(weight, (-1, 1))
    pred_pos = ops.cast(ops.greater(pred, ops.tensor(np.asarray(thresholds, np.float32))),
                        dtype=np.dtype("float32"))
    pred_neg = ops.subtract(1.0, pred_pos)
    w_pos, w_neg = ops.multiply(w, pos), ops.multiply(w, ops.subtract(1.0, pos))
    return (ops.sum(ops.multiply(w_pos, pred_pos), axis=0),
            ops.sum(ops.multiply(w_neg, pred_pos), axis=0),
            ops.sum(ops.multiply(w_neg, pred_neg), axis=0),
            ops.sum(ops.multiply(w_pos, pred_neg), axis=0))


class _ConfusionMetric(Metric):
    def __init__(self, thresholds=None, top_k=None, class_id=None, name=None, dtype=None):
        super().__init__(name, dtype)
        default = 0.5 if top_k is None else -np.inf  # with top_k every kept score counts
        self._scalar = thresholds is None or np.ndim(thresholds) == 0
        self.thresholds = [default if thresholds is None else float(thresholds)] \
            if self._scalar else [float(t) for t in thresholds]
        self.top_k, self.class_id = top_k, class_id
        n = len(self.thresholds)
        self.true_positives = self.add_variable((n,), name="true_positives")
        self.false_positives = self.add_variable((n,), name="false_positives")
        self.false_negatives = self.add_variable((n,), name="false_negatives")

    def update_state(self, y_true, y_pred, sample_weight=None) -> None:
        tp, fp, _, fn = _confusion(y_true, y_pred, self.thresholds, sample_weight,
                                   self.top_k, self.class_id)
        self.true_positives.assign_add(tp)
        self.false_positives.assign_add(fp)
        self.false_negatives.assign_add(fn)

    def _finish(self, ratio) -> Tensor:
        return ratio[0] if self._scalar else ratio

    def get_config(self) -> dict:
        thresholds = None if self._scalar and self.thresholds[0] in (0.5, -np.inf) \
            else self.thresholds
        return {**super().get_config(), "thresholds": thresholds, "top_k": self.top_k,
                "class_id": self.class_id}


class Precision(_ConfusionMetric):
    """``tp / (tp + fp)`` with predictions positive above ``thresholds`` (default 0.5).

    Args:
        thresholds: A float, or a list of floats (then ``result()`` has one value each).
        top_k: Count only the ``k`` highest scores of each row as predicted positive.
        class_id: Look only at this class (last axis index).

    Example:
        >>> from tape import metrics
        >>> metrics.Precision()([0, 1, 1, 1], [1, 0, 1, 1]).item()
        0.6666666865348816
    """

    def result(self) -> Tensor:
        tp = self.true_positives
        return self._finish(_divide_no_nan(tp, ops.add(tp, self.false_positives)))


class Recall(_ConfusionMetric):
    """``tp / (tp + fn)`` with predictions positive above ``thresholds`` (default 0.5).

    Args: as :class:`Precision`.

    Example:
        >>> from tape import metrics
        >>> metrics.Recall()([0, 1, 1, 1], [1, 0, 1, 1]).item()
        0.6666666865348816
    """

    def result(self) -> Tensor:
        tp = self.true_positives
        return self._finish(_divide_no_nan(tp, ops.add(tp, self.false_negatives)))


class AUC(Metric):
    """Area under the ROC (or PR) curve, from confusion counts at ``num_thresholds`` evenly
    spaced thresholds in [0, 1], summed as Keras does (trapezoids by default).

    Args:
        num_thresholds: Thresholds to discretize the curve with (200).
        curve: ``'ROC'`` or ``'PR'``.
        summation_method: ``'interpolation'``, ``'minoring'`` or ``'majoring'``.
        thresholds: Explicit thresholds in (0, 1), replacing ``num_thresholds``.
        from_logits: Apply a sigmoid to the predictions first.

    Example:
        >>> from tape import metrics
        >>> round(metrics.AUC(num_thresholds=3)([0, 0, 1, 1], [0, 0.5, 0.3, 0.9]).item(), 4)
        0.75
    """

    def __init__(self, num_thresholds: int = 200, curve="ROC", summation_method="interpolation",
                 name=None, dtype=None, thresholds=None, multi_label=False, from_logits=False):
        super().__init__(name or "auc", dtype)
        if curve.upper() not in ("ROC", "PR"):
            raise ValueError(f"AUC: curve must be 'ROC' or 'PR', got {curve!r}")
        if summation_method not in ("interpolation", "minoring", "majoring"):
            raise ValueError("AUC: summation_method must be 'interpolation', 'minoring' or "
                             f"'majoring', got {summation_method!r}")
        if multi_label:
            raise NotImplementedError("AUC(multi_label=True) is not supported yet")
        if thresholds is not None:
            inner = sorted(float(t) for t in thresholds)
        else:
            if num_thresholds <= 1:
                raise ValueError(f"AUC: num_thresholds must be > 1, got {num_thresholds}")
            inner = [(i + 1) / (num_thresholds - 1) for i in range(num_thresholds - 2)]
        self.thresholds = [0.0 - losses.EPSILON, *inner, 1.0 + losses.EPSILON]
        self.num_thresholds = len(self.thresholds)
        self.curve, self.summation_method = curve.upper(), summation_method
        self.from_logits = from_logits
        shape = (self.num_thresholds,)
        self.true_positives = self.add_variable(shape, name="true_positives")
        self.false_positives = self.add_variable(shape, name="false_positives")
        self.true_negatives = self.add_variable(shape, name="true_negatives")
        self.false_negatives = self.add_variable(shape, name="false_negatives")

    def update_state(self, y_true, y_pred, sample_weight=None) -> None:
        y_pred = nn.sigmoid(_tensor(y_pred)) if self.from_logits else y_pred
        counts = _confusion(y_true, y_pred, self.thresholds, sample_weight)
        for v, c in zip((self.true_positives, self.false_positives, self.true_negatives,
                         self.false_negatives), counts):
            v.assign_add(c)

    def result(self) -> Tensor:
        tp, fp, tn, fn = (ops.identity(v) for v in (self.true_positives, self.false_positives,
                                                     self.true_negatives, self.false_negatives))
        if self.curve == "PR" and self.summation_method == "interpolation":
            return self._interpolate_pr_auc(tp, fp, fn)
        recall = _divide_no_nan(tp, ops.add(tp, fn))
        if self.curve == "ROC":
            x, y = _divide_no_nan(fp, ops.add(fp, tn)), recall
        else:
            x, y = recall, _divide_no_nan(tp, ops.add(tp, fp))
        lo, hi = y[:-1], y[1:]
        heights = {"interpolation": ops.multiply(ops.add(lo, hi), 0.5),
                   "minoring": ops.minimum(lo, hi),
                   "majoring": ops.maximum(lo, hi)}[self.summation_method]
        return ops.sum(ops.multiply(ops.subtract(x[:-1], x[1:]), heights))

    @staticmethod
    def _interpolate_pr_auc(tp, fp, fn):
        """Davis & Goadrich 2006 interpolation of the PR curve, as Keras."""
        dtp = ops.subtract(tp[:-1], tp[1:])
        p = ops.add(tp, fp)
        dp = ops.subtract(p[:-1], p[1:])
        slope = _divide_no_nan(dtp, ops.maximum(dp, 0.0))
        intercept = ops.subtract(tp[1:], ops.multiply(slope, p[1:]))
        both = ops.logical_and(ops.greater(p[:-1], 0), ops.greater(p[1:], 0))
        ratio = ops.where(both, _divide_no_nan(p[:-1], ops.maximum(p[1:], 0.0)), 1.0)
        increment = _divide_no_nan(
            ops.multiply(slope, ops.add(dtp, ops.multiply(intercept, ops.log(ratio)))),
            ops.maximum(ops.add(tp[1:], fn[1:]), 0.0))
        return ops.sum(increment)

    def get_config(self) -> dict:
        return {**super().get_config(), "num_thresholds": self.num_thresholds,
                "curve": self.curve, "summation_method": self.summation_method,
                "from_logits": self.from_logits}


# ---- get() and resolve_accuracy() ----------------------------------------------------------
_CLASSES = (Mean, Sum, Accuracy, BinaryAccuracy, CategoricalAccuracy, SparseCategoricalAccuracy,
            TopKCategoricalAccuracy, Precision, Recall, AUC, MeanSquaredError, MeanAbsoluteError,
            BinaryCrossentropy, CategoricalCrossentropy, SparseCategoricalCrossentropy)
ALIASES = {
    **{cls.__name__: cls for cls in _CLASSES},
    **{losses._snake(cls.__name__): cls for cls in _CLASSES},
    "acc": Accuracy, "top_k_categorical_accuracy": TopKCategoricalAccuracy,
    "mse": MeanSquaredError, "mae": MeanAbsoluteError, "bce": BinaryCrossentropy,
}


def get(identifier):
    """Resolve a metric: a Keras name (``'accuracy'``, ``'auc'``, ``'mse'``...), a config dict,
    a ``Metric`` class or instance, or a function ``fn(y_true, y_pred)`` (wrapped in
    MeanMetricWrapper).

    ``'accuracy'`` gives plain :class:`Accuracy` here; what ``compile`` means by it depends
    on the loss: see :func:`resolve_accuracy`.

    Example:
        >>> from tape import metrics
        >>> metrics.get("auc")
        <AUC name='auc'>
    """
    return _config.resolve(identifier, kind="metric", base=Metric, aliases=ALIASES,
                           wrap_callable=MeanMetricWrapper)


def _loss_kind(loss):
    """'binary', 'categorical', 'sparse' or None for a loss given in any form."""
    by_fn = {losses.binary_crossentropy: "binary", nn.sigmoid_cross_entropy_with_logits: "binary",
             losses.categorical_crossentropy: "categorical",
             nn.softmax_cross_entropy_with_logits: "categorical",
             losses.sparse_categorical_crossentropy: "sparse",
             nn.sparse_softmax_cross_entropy_with_logits: "sparse"}
    try:
        loss = losses.get(loss)
    except ValueError:
        return None
    fn = loss.fn if isinstance(loss, losses.LossFunctionWrapper) else loss
    return by_fn.get(fn) if callable(fn) else None


def resolve_accuracy(loss, y_true=None, y_pred=None, name: str = "accuracy") -> Metric:
    """The accuracy metric that ``compile(metrics=['accuracy'])`` means for ``loss``.

    Sparse categorical crossentropy gives SparseCategoricalAccuracy, categorical gives
    CategoricalAccuracy, binary gives BinaryAccuracy (threshold 0 when the loss takes
    logits, so it means ``sigmoid(logit) > 0.5``). For another loss, when ``y_true`` and
    ``y_pred`` (arrays, or their shapes as tuples) are given, Keras 3's shape rule decides:
    a last axis of 1 is binary, labels of one rank fewer are sparse, else categorical;
    without them, plain Accuracy.

    Example:
        >>> from tape import metrics
        >>> metrics.resolve_accuracy("sparse_categorical_crossentropy")
        <SparseCategoricalAccuracy name='accuracy'>
    """
    kind = _loss_kind(loss)
    if kind == "binary":
        resolved = losses.get(loss)
        logits = (resolved is nn.sigmoid_cross_entropy_with_logits
                  or getattr(resolved, "_fn_kwargs", {}).get("from_logits", False))
        return BinaryAccuracy(name=name, threshold=0.0 if logits else 0.5)
    if kind == "categorical":
        return CategoricalAccuracy(name=name)
    if kind == "sparse":
        return SparseCategoricalAccuracy(name=name)
    if y_true is not None and y_pred is not None:
        true_shape, pred_shape = (y if isinstance(y, tuple) else tuple(np.shape(y))
                                  for y in (y_true, y_pred))
        if pred_shape and pred_shape[-1] == 1:
            return BinaryAccuracy(name=name)
        if len(true_shape) == len(pred_shape) - 1:
            return SparseCategoricalAccuracy(name=name)
        return CategoricalAccuracy(name=name)
    return Accuracy(name=name)

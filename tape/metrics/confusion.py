"""Metrics kept as confusion-matrix counts over thresholds: Precision, Recall, AUC."""

from __future__ import annotations

import numpy as np

from .. import losses, nn, ops
from ..losses import squeeze_or_expand_to_same_rank
from ..ops.creation import constant_like
from ..tensor import Tensor
from .base import Metric, _divide_no_nan, _pair, _tensor


# ---- confusion-matrix metrics ------------------------------------------------------------------
def _confusion(y_true, y_pred, thresholds, sample_weight=None, top_k=None, class_id=None):
    """Weighted (tp, fp, tn, fn) counts at each threshold; predicted positive means
    ``y_pred > threshold`` and a label is positive when nonzero (as Keras)."""
    y_true, y_pred = squeeze_or_expand_to_same_rank(*_pair(y_true, y_pred))
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
        w = _tensor(sample_weight, np.dtype("float32"), like=y_pred)
        while w.ndim > y_pred.ndim and w.shape[-1] == 1:
            w = ops.squeeze(w, -1)
        if 0 < w.ndim < y_pred.ndim:
            w = ops.reshape(w, w.shape + (1,) * (y_pred.ndim - w.ndim))
        weight = ops.broadcast_to(w, y_pred.shape)
    pred = ops.reshape(y_pred, (-1, 1))
    pos = ops.reshape(ops.broadcast_to(positive, y_pred.shape), (-1, 1))
    w = ops.reshape(weight, (-1, 1))
    pred_pos = ops.cast(ops.greater(pred, constant_like(np.asarray(thresholds, np.float32), pred)),
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

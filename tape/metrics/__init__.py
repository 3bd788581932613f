"""Metrics, Keras 3 style: the ``Metric`` base (update_state / result / reset_state, state in
non-trainable Variables), the built-in metrics, ``get()`` and ``resolve_accuracy()``.

The package is split by what each module owns: ``base`` (Metric, Sum, Mean,
MeanMetricWrapper), ``averaged`` (accuracies, MSE/MAE and crossentropy metrics),
``regression`` (RMSE, MAPE, MSLE, log-cosh, cosine similarity, hinges, KL divergence,
Poisson) and ``confusion`` (Precision, Recall, AUC).
"""

from __future__ import annotations

import numpy as np

from .. import _config, losses, nn
from .._config import to_snake_case
from ..errors import names_user_line
from .averaged import (
    Accuracy,
    BinaryAccuracy,
    BinaryCrossentropy,
    CategoricalAccuracy,
    CategoricalCrossentropy,
    MeanAbsoluteError,
    MeanSquaredError,
    SparseCategoricalAccuracy,
    SparseCategoricalCrossentropy,
    SparseTopKCategoricalAccuracy,
    TopKCategoricalAccuracy,
    accuracy,
    binary_accuracy,
    categorical_accuracy,
    sparse_categorical_accuracy,
    sparse_top_k_categorical_accuracy,
    top_k_categorical_accuracy,
)
from .base import Mean, MeanMetricWrapper, Metric, Sum, reduce_to_samplewise_values
from .confusion import AUC, Precision, Recall
from .regression import (
    CategoricalHinge,
    CosineSimilarity,
    Hinge,
    KLDivergence,
    LogCoshError,
    MeanAbsolutePercentageError,
    MeanSquaredLogarithmicError,
    Poisson,
    RootMeanSquaredError,
    SquaredHinge,
    cosine_similarity,
)

# ---- get() and resolve_accuracy() ----------------------------------------------------------
_CLASSES = (Mean, Sum, Accuracy, BinaryAccuracy, CategoricalAccuracy, SparseCategoricalAccuracy,
            TopKCategoricalAccuracy, SparseTopKCategoricalAccuracy, Precision, Recall, AUC,
            MeanSquaredError, MeanAbsoluteError, RootMeanSquaredError,
            MeanAbsolutePercentageError, MeanSquaredLogarithmicError, LogCoshError,
            CosineSimilarity, Hinge, SquaredHinge, CategoricalHinge, KLDivergence, Poisson,
            BinaryCrossentropy, CategoricalCrossentropy, SparseCategoricalCrossentropy)


# Keras 3's registry: class names, their snake_case, and the short names.
ALIASES = {
    **{cls.__name__: cls for cls in _CLASSES},
    **{to_snake_case(cls.__name__): cls for cls in _CLASSES},  # sparse_top_k_categorical...
    "acc": Accuracy, "mse": MeanSquaredError, "mae": MeanAbsoluteError,
    "bce": BinaryCrossentropy, "mape": MeanAbsolutePercentageError,
    "msle": MeanSquaredLogarithmicError,
}


@names_user_line
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

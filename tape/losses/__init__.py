"""Losses, Keras 3 style: the ``Loss`` base (reduction, sample_weight), the built-in losses
as classes and functions, and ``get()`` for string identifiers.

- ``base``: ``Loss``, ``LossFunctionWrapper``, ``reduce_values`` and the label/prediction
  shape rules;
- ``probabilistic``: the crossentropies, KL divergence, Poisson;
- ``regression``: MSE, MAE, Huber, LogCosh, MSLE, MAPE, cosine similarity;
- ``hinge``: Hinge, SquaredHinge, CategoricalHinge.

Crossentropies from probabilities clip to ``[EPSILON, 1 - EPSILON]`` as Keras does; when the
probabilities come from a softmax/sigmoid output layer they are computed from its logits
instead (``tape.logits``).

Example:
    >>> from tape import losses
    >>> losses.get("mse")
    MeanSquaredError(name='mean_squared_error', reduction='sum_over_batch_size')
"""

from __future__ import annotations

from .. import _config
from ..errors import names_user_line
from ..logits import logits_of, remember_logits, sigmoid_with_logits, softmax_with_logits
from .base import (
    EPSILON,
    REDUCTIONS,
    Loss,
    LossFunctionWrapper,
    reduce_values,
    squeeze_or_expand_to_same_rank,
)
from .hinge import (
    CategoricalHinge,
    Hinge,
    SquaredHinge,
    categorical_hinge,
    convert_binary_labels_to_hinge,
    hinge,
    squared_hinge,
)
from .probabilistic import (
    KLD,
    BinaryCrossentropy,
    CategoricalCrossentropy,
    KLDivergence,
    Poisson,
    SparseCategoricalCrossentropy,
    binary_crossentropy,
    categorical_crossentropy,
    kl_divergence,
    kld,
    poisson,
    sparse_categorical_crossentropy,
)
from .regression import (
    MAE,
    MAPE,
    MSE,
    MSLE,
    CosineSimilarity,
    Huber,
    LogCosh,
    MeanAbsoluteError,
    MeanAbsolutePercentageError,
    MeanSquaredError,
    MeanSquaredLogarithmicError,
    cosine_similarity,
    huber,
    l2_normalize,
    log_cosh,
    mae,
    mape,
    mean_absolute_error,
    mean_absolute_percentage_error,
    mean_squared_error,
    mean_squared_logarithmic_error,
    mse,
    msle,
)

_CLASSES = (MeanSquaredError, MeanAbsoluteError, Huber, BinaryCrossentropy,
            CategoricalCrossentropy, SparseCategoricalCrossentropy, KLDivergence, Hinge,
            SquaredHinge, CategoricalHinge, LogCosh, MeanSquaredLogarithmicError,
            MeanAbsolutePercentageError, CosineSimilarity, Poisson)
ALIASES = {
    "mse": MeanSquaredError, "mean_squared_error": MeanSquaredError,
    "mae": MeanAbsoluteError, "mean_absolute_error": MeanAbsoluteError,
    "huber": Huber, "huber_loss": Huber,
    "bce": BinaryCrossentropy, "binary_crossentropy": BinaryCrossentropy,
    "categorical_crossentropy": CategoricalCrossentropy,
    "sparse_categorical_crossentropy": SparseCategoricalCrossentropy,
    "kld": KLDivergence, "kl_divergence": KLDivergence,
    "hinge": Hinge, "squared_hinge": SquaredHinge, "categorical_hinge": CategoricalHinge,
    "log_cosh": LogCosh,
    "msle": MeanSquaredLogarithmicError,
    "mean_squared_logarithmic_error": MeanSquaredLogarithmicError,
    "mape": MeanAbsolutePercentageError,
    "mean_absolute_percentage_error": MeanAbsolutePercentageError,
    "cosine_similarity": CosineSimilarity, "poisson": Poisson,
    **{cls.__name__: cls for cls in _CLASSES},
}
_FUNCTIONS = {cls._fn: cls for cls in _CLASSES}


@names_user_line
def get(identifier):
    """Resolve a loss: a Keras name (``'mse'``, ``'categorical_crossentropy'``...), a config
    dict, a ``Loss`` class or instance, or a callable ``fn(y_true, y_pred)``.

    Strings, classes and the built-in functions give a ``Loss`` instance (unlike Keras, which
    returns the function for a function name), so callers always get reduction and
    ``sample_weight``; another callable is returned as it is.

    Example:
        >>> from tape import losses
        >>> losses.get("mse")
        MeanSquaredError(name='mean_squared_error', reduction='sum_over_batch_size')
    """
    return _config.resolve(identifier, kind="loss", base=Loss, aliases=ALIASES,
                           wrap_callable=_wrap_function)


def _wrap_function(fn):
    """A built-in loss function as its Loss class (reduction, sample_weight); any other
    callable as it is."""
    return _FUNCTIONS[fn]() if fn in _FUNCTIONS else fn

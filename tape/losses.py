"""Losses, Keras 3 style: the ``Loss`` base (reduction, sample_weight), the built-in losses
as classes and functions, ``get()`` for string identifiers, and the logits registry that
lets a crossentropy see through a softmax/sigmoid output layer.

Crossentropies from probabilities clip to ``[EPSILON, 1 - EPSILON]`` as Keras does. When the
probabilities come from :func:`softmax_with_logits` or :func:`sigmoid_with_logits` (what
``Dense(activation='softmax')`` / ``Activation('sigmoid')`` call), the loss is computed from
the remembered logits instead: fused, stable and exact for any logits, as Keras' TensorFlow
backend does with ``output._keras_logits``. The gradient then flows into the logits (not
through the probabilities), so it is right for the weights that produced them.
"""

from __future__ import annotations

import warnings
import weakref

import numpy as np

from . import _config, _state, nn, ops
from .errors import names_user_line
from .tensor import Tensor

EPSILON = 1e-7  # keras.backend.epsilon()
REDUCTIONS = ("sum_over_batch_size", "sum", "mean", "mean_with_sample_weight", "none", None)

# ---- the logits registry ------------------------------------------------------------------
# {id(probs): (weakref to probs, activation, axis, logits)}. Tensor has __slots__, so the
# logits cannot ride on the tensor itself; the weakref's callback drops the entry when the
# probabilities die, and the ref check guards against a reused id.
_LOGITS: dict = {}


def remember_logits(probs: Tensor, logits: Tensor, activation: str = "softmax",
                    axis: int = -1) -> Tensor:
    """Record that ``probs = activation(logits)`` (``'softmax'`` along ``axis``, or
    ``'sigmoid'``), so that crossentropy losses of ``probs`` use ``logits``. Returns ``probs``."""
    key = id(probs)

    def forget(ref, key=key):
        entry = _LOGITS.get(key)
        if entry is not None and entry[0] is ref:
            del _LOGITS[key]

    _LOGITS[key] = (weakref.ref(probs, forget), activation, axis, logits)
    return probs


def logits_of(probs, activation: str | None = None, axis: int | None = None):
    """The logits remembered for ``probs`` (None when there are none, or when they were for
    another ``activation`` or softmax ``axis``)."""
    entry = _LOGITS.get(id(probs))
    if entry is None or entry[0]() is not probs:
        return None
    _, act, act_axis, logits = entry
    if activation is not None and act != activation:
        return None
    if axis is not None and act_axis % probs.ndim != axis % probs.ndim:
        return None
    return logits


def softmax_with_logits(x, axis: int = -1) -> Tensor:
    """``tape.nn.softmax(x, axis)`` that crossentropy losses can compute from ``x`` stably.

    Example:
        >>> import tape
        >>> from tape import losses
        >>> probs = losses.softmax_with_logits(tape.tensor([[1e4, 0.0, -1e4]]))
        >>> round(losses.categorical_crossentropy([[0.0, 1.0, 0.0]], probs).item())
        10000
    """
    x = ops.convert(x)
    return remember_logits(nn.softmax(x, axis=axis), x, "softmax", axis)


def sigmoid_with_logits(x) -> Tensor:
    """``tape.nn.sigmoid(x)`` that binary crossentropy can compute from ``x`` stably.

    Example:
        >>> import tape
        >>> from tape import losses
        >>> probs = losses.sigmoid_with_logits(tape.tensor([[-200.0]]))
        >>> losses.binary_crossentropy([[1.0]], probs).item()
        200.0
    """
    x = ops.convert(x)
    return remember_logits(nn.sigmoid(x), x, "sigmoid")


def _fused(y_pred, from_logits: bool, activation: str, axis: int = -1):
    """(values, from_logits): the remembered logits when ``y_pred`` is an activation output."""
    logits = logits_of(y_pred, activation, axis)
    if logits is None:
        return y_pred, from_logits
    if from_logits:
        warnings.warn(f"from_logits=True, but y_pred was produced by a {activation} "
                      "activation: using its input logits", stacklevel=4)
    return logits, True


# ---- shape helpers ------------------------------------------------------------------------
def squeeze_or_expand_to_same_rank(x1, x2, expand_rank_1: bool = True):
    """Make ranks equal when they differ by a trailing 1 (Keras' rule for y_true/y_pred
    and for sample weights)."""
    if x1.ndim == x2.ndim + 1 and x1.shape[-1] == 1:
        if x2.ndim == 1 and expand_rank_1:
            x2 = ops.expand_dims(x2, -1)
        else:
            x1 = ops.squeeze(x1, -1)
    elif x2.ndim == x1.ndim + 1 and x2.shape[-1] == 1:
        if x1.ndim == 1 and expand_rank_1:
            x1 = ops.expand_dims(x1, -1)
        else:
            x2 = ops.squeeze(x2, -1)
    return x1, x2


def _pair(y_true, y_pred):
    """Tensors: y_pred float (float32 unless already float), y_true in y_pred's dtype."""
    y_pred = ops.convert(y_pred)
    if y_pred.dtype.kind != "f":
        y_pred = ops.cast(y_pred, dtype=np.dtype("float32"))
    return ops.convert(y_true, y_pred.dtype, like=y_pred), y_pred


# ---- function forms (per-sample values, reduced over the last axis) ----------------------
def mean_squared_error(y_true, y_pred):
    """``mean(square(y_true - y_pred), axis=-1)``."""
    y_true, y_pred = squeeze_or_expand_to_same_rank(*_pair(y_true, y_pred))
    return ops.mean(ops.square(ops.subtract(y_true, y_pred)), axis=-1)


def mean_absolute_error(y_true, y_pred):
    """``mean(abs(y_true - y_pred), axis=-1)``."""
    y_true, y_pred = squeeze_or_expand_to_same_rank(*_pair(y_true, y_pred))
    return ops.mean(ops.abs(ops.subtract(y_true, y_pred)), axis=-1)


def huber(y_true, y_pred, delta: float = 1.0):
    """Quadratic for ``|error| <= delta``, linear beyond, averaged over the last axis."""
    y_true, y_pred = squeeze_or_expand_to_same_rank(*_pair(y_true, y_pred))
    error = ops.subtract(y_pred, y_true)
    abs_error = ops.abs(error)
    quadratic = ops.multiply(ops.square(error), 0.5)
    linear = ops.subtract(ops.multiply(abs_error, delta), 0.5 * delta * delta)
    return ops.mean(ops.where(abs_error <= delta, quadratic, linear), axis=-1)


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
    y_pred = _pair(0, y_pred)[1]
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
    if not _state.tracing.get():  # values cannot be read while tracing: check them eagerly
        _check_integral(np.asarray(labels))
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


def _check_integral(labels: np.ndarray) -> None:
    if labels.dtype.kind not in "biuf" or (
            labels.dtype.kind == "f" and not np.all(labels == np.round(labels))):
        raise ValueError("sparse_categorical_crossentropy: labels must be integer class indices "
                         f"(got {labels.dtype}); for one-hot labels use categorical_crossentropy")


# Keras' short names.
mse = MSE = mean_squared_error
mae = MAE = mean_absolute_error
kld = KLD = kl_divergence


# ---- the Loss base and its classes ----------------------------------------------------------
class Loss(_config.Configurable):
    """Base class: ``__call__`` reduces what a subclass's ``call(y_true, y_pred)`` returns.

    Args:
        name: Name of the loss.
        reduction: ``'sum_over_batch_size'`` (default: the mean over all elements),
            ``'sum'``, ``'mean'`` (same as the default), ``'mean_with_sample_weight'``
            (divides by the sum of the weights, broadcast to the losses), or ``'none'``/None
            (no reduction).
        dtype: Unused; kept for Keras signature compatibility (losses compute in y_pred's dtype).

    Example:
        >>> import tape
        >>> from tape import losses
        >>> class Cube(losses.Loss):
        ...     def call(self, y_true, y_pred):
        ...         return tape.mean((y_pred - y_true) ** 3, axis=-1)
        >>> Cube()([[0.0], [0.0]], [[1.0], [2.0]], sample_weight=[1.0, 0.5]).item()
        2.5
    """

    def __init__(self, name: str | None = None, reduction="sum_over_batch_size", dtype=None):
        if reduction not in REDUCTIONS:
            raise ValueError(f"Invalid value for argument `reduction`: {reduction!r}; expected "
                             f"one of {list(REDUCTIONS)}")
        self.name = name or _snake(type(self).__name__)
        self.reduction = reduction
        self.dtype = dtype

    def call(self, y_true, y_pred):
        """Per-sample (unreduced) losses; subclasses implement it."""
        raise NotImplementedError(f"{type(self).__name__} must implement call(y_true, y_pred)")

    def __call__(self, y_true, y_pred, sample_weight=None) -> Tensor:
        y_true, y_pred = _pair(y_true, y_pred)  # y_true in y_pred's float dtype, as Keras
        losses = ops.convert(self.call(y_true, y_pred))
        weight = None
        if sample_weight is not None:
            weight = ops.convert(sample_weight, losses.dtype, like=losses)
            losses, weight = squeeze_or_expand_to_same_rank(losses, weight)
            losses = ops.multiply(losses, weight)
        return reduce_values(losses, weight, self.reduction)

    def get_config(self) -> dict:
        return {"name": self.name, "reduction": self.reduction}


def reduce_values(values, sample_weight=None, reduction="sum_over_batch_size") -> Tensor:
    """Reduce (already weighted) losses as ``Loss.__call__`` does."""
    if reduction in (None, "none") or values.ndim == 0:
        return values
    total = ops.sum(values)
    if reduction == "sum":
        return total
    if reduction == "mean_with_sample_weight" and sample_weight is not None:
        # The sum of the weights (broadcast to the losses); 0 / 0 gives 0, as divide_no_nan.
        divisor = ops.sum(ops.broadcast_to(ops.convert(sample_weight, values.dtype, like=values),
                                           values.shape))
        zero = ops.equal(divisor, 0)
        return ops.where(zero, 0.0, ops.divide(total, ops.where(zero, 1.0, divisor)))
    return total if values.size == 0 else ops.divide(total, float(values.size))


class LossFunctionWrapper(Loss):
    """A ``Loss`` around a function ``fn(y_true, y_pred, **kwargs)`` of per-sample losses.

    Example:
        >>> from tape import losses
        >>> loss = losses.LossFunctionWrapper(losses.mean_absolute_error, reduction="sum")
        >>> loss([[1.0], [2.0]], [[0.0], [0.0]]).item()
        3.0
    """

    def __init__(self, fn, reduction="sum_over_batch_size", name=None, dtype=None, **kwargs):
        super().__init__(name or getattr(fn, "__name__", None), reduction, dtype)
        self.fn = fn
        self._fn_kwargs = kwargs

    def call(self, y_true, y_pred):
        return self.fn(y_true, y_pred, **self._fn_kwargs)

    def get_config(self) -> dict:
        return {**super().get_config(), **self._fn_kwargs}


class _Builtin(LossFunctionWrapper):
    _fn = None  # the function form, set per subclass

    def __init__(self, reduction="sum_over_batch_size", name=None, dtype=None, **kwargs):
        fn = type(self)._fn
        super().__init__(fn, reduction, name or fn.__name__, dtype, **kwargs)


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


class KLDivergence(_Builtin):
    """Kullback-Leibler divergence ``sum(y_true * log(y_true / y_pred))`` per sample."""

    _fn = staticmethod(kl_divergence)


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


# The hinge and further regression losses live in a sibling module that builds on _Builtin
# above; imported here (not at the top) so that it finds _Builtin defined.
from . import hinge_and_regression_losses as _more  # noqa: E402
from .hinge_and_regression_losses import (  # noqa: E402, F401
    MAPE,
    MSLE,
    CategoricalHinge,
    CosineSimilarity,
    Hinge,
    LogCosh,
    MeanAbsolutePercentageError,
    MeanSquaredLogarithmicError,
    Poisson,
    SquaredHinge,
    categorical_hinge,
    cosine_similarity,
    hinge,
    log_cosh,
    mape,
    mean_absolute_percentage_error,
    mean_squared_logarithmic_error,
    msle,
    poisson,
    squared_hinge,
)

# ---- get() -----------------------------------------------------------------------------------
_CLASSES = (MeanSquaredError, MeanAbsoluteError, Huber, BinaryCrossentropy,
            CategoricalCrossentropy, SparseCategoricalCrossentropy, KLDivergence, *_more.CLASSES)
ALIASES = {
    **_more.ALIASES,
    "mse": MeanSquaredError, "mean_squared_error": MeanSquaredError,
    "mae": MeanAbsoluteError, "mean_absolute_error": MeanAbsoluteError,
    "huber": Huber, "huber_loss": Huber,
    "bce": BinaryCrossentropy, "binary_crossentropy": BinaryCrossentropy,
    "categorical_crossentropy": CategoricalCrossentropy,
    "sparse_categorical_crossentropy": SparseCategoricalCrossentropy,
    "kld": KLDivergence, "kl_divergence": KLDivergence,
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


def _snake(name: str) -> str:
    out = []
    for i, c in enumerate(name):
        if c.isupper() and i and not name[i - 1].isupper():
            out.append("_")
        out.append(c.lower())
    return "".join(out)


def _wrap_function(fn):
    """A loss function of this module as its Loss class (reduction, sample_weight); any
    other callable as it is."""
    return _FUNCTIONS[fn]() if fn in _FUNCTIONS else fn

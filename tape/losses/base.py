"""The ``Loss`` base (reduction, ``sample_weight``) and what every built-in loss shares: the
shape rules for labels and predictions, and the wrapper that makes a loss class of a
per-sample function."""

from __future__ import annotations

import warnings

import numpy as np

from .. import _config, dtypes, logits, ops
from ..tensor import Tensor

EPSILON = 1e-7  # keras.backend.epsilon()
REDUCTIONS = ("sum_over_batch_size", "sum", "mean", "mean_with_sample_weight", "none", None)


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


def _prediction(y_pred):
    """``y_pred`` as a float tensor: float32 unless float32 or float64 already (a float16 or
    bfloat16 output of a mixed-precision model is cast up: losses compute in float32, as
    Keras' do)."""
    y_pred = ops.convert(y_pred)
    if not dtypes.is_float(y_pred.dtype) or dtypes.is_low_precision(y_pred.dtype):
        remembered = getattr(y_pred, "_logits", None)
        y_pred = ops.cast(y_pred, dtype=np.dtype("float32"))
        if remembered is not None:  # the fused crossentropy still finds the logits
            activation, axis, source = remembered
            logits.remember_logits(y_pred, source, activation, axis)
    return y_pred


def _pair(y_true, y_pred):
    """Tensors: y_pred float (float32 unless already float), y_true in y_pred's dtype."""
    y_pred = _prediction(y_pred)
    return ops.convert(y_true, y_pred.dtype, like=y_pred), y_pred


def _same_rank(y_true, y_pred):
    return squeeze_or_expand_to_same_rank(*_pair(y_true, y_pred))


def _fused(y_pred, from_logits: bool, activation: str, axis: int = -1):
    """(values, from_logits): the remembered logits when ``y_pred`` is an activation output."""
    remembered = logits.logits_of(y_pred, activation, axis)
    if remembered is None:
        return y_pred, from_logits
    remembered = _prediction(remembered)  # a mixed-precision model's logits: float32
    if from_logits:
        warnings.warn(f"from_logits=True, but y_pred was produced by a {activation} "
                      "activation: using its input logits", stacklevel=4)
    return remembered, True


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
        self.name = name or _config.to_snake_case(type(self).__name__)
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

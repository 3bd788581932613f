"""The ``Metric`` base (update_state / result / reset_state, state in non-trainable
Variables) and the averaging metrics everything else builds on: Sum, Mean, MeanMetricWrapper.

Updates are written with tape ops on ``stop_gradient`` inputs, so no GradientTape records
them (and a traced step could hold them); ``result()`` returns a Tensor.
"""

from __future__ import annotations

import numpy as np

from .. import _config, _state, initializers, logits, ops
from ..losses import squeeze_or_expand_to_same_rank
from ..tensor import Tensor, Variable


def _tensor(x, dtype=None, like=None) -> Tensor:
    """``x`` as a constant tensor; a host value (number, array) beside ``like`` is made on
    ``like``'s device, so that labels and weights meet GPU predictions there."""
    return ops.stop_gradient(ops.convert(x, dtype, like=like))


def _pair(y_true, y_pred) -> tuple[Tensor, Tensor]:
    """Labels and predictions as constant tensors, host labels on the predictions' device."""
    y_pred = _tensor(y_pred)
    return _tensor(y_true, like=y_pred), y_pred


def _predictions(y_pred) -> Tensor:
    """``_tensor(y_pred)``, keeping the logits a softmax/sigmoid output was made from, so that
    crossentropy metrics take the same stable path as the losses."""
    return logits.carry_logits(y_pred, _tensor(y_pred))


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
        self.name = name or _config.to_snake_case(type(self).__name__)
        self.dtype = np.dtype(dtype or "float32")
        self._variables: list[Variable] = []
        self._initial: list[np.ndarray] = []

    def add_variable(self, shape, initializer="zeros", dtype=None, name=None) -> Variable:
        """A non-trainable state Variable; ``reset_state`` sets it back to ``initializer``."""
        init = initializers.get(initializer)
        with _state.init_scope():  # an initial value is state, never part of a trace
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
        sample_weight = _tensor(sample_weight, dtype, like=values)
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
        y_pred = _predictions(y_pred)
        values = self._fn(_tensor(y_true, like=y_pred), y_pred, **self._fn_kwargs)
        super().update_state(values, sample_weight)

    def get_config(self) -> dict:
        return {**super().get_config(), **self._fn_kwargs}

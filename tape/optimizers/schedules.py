"""Learning-rate schedules (Keras 3 names and formulas): ``schedule(step)`` -> a scalar Tensor.

Schedules are written with tape ops on the step tensor (no Python branching on its value),
so a traced training step recomputes the rate from the ``iterations`` Variable at every
replay instead of baking in the rate it saw when it was captured.
"""

from __future__ import annotations

import math

from .. import dtypes, ops
from ..tensor import Tensor


class LearningRateSchedule:
    """Base class: implement ``__call__(step)`` and ``get_config()``.

    Example:
        >>> from tape.optimizers import schedules
        >>> class InverseTime(schedules.LearningRateSchedule):
        ...     def __init__(self, initial_learning_rate):
        ...         self.initial_learning_rate = initial_learning_rate
        ...     def __call__(self, step):
        ...         return self.initial_learning_rate / (step + 1)
        ...     def get_config(self):
        ...         return {"initial_learning_rate": self.initial_learning_rate}
        >>> float(InverseTime(1.0)(3.0))
        0.25
    """

    def __call__(self, step) -> Tensor:
        raise NotImplementedError(
            f"Learning rate schedule '{type(self).__name__}' must override `__call__(self, step)`."
        )

    def get_config(self) -> dict:
        raise NotImplementedError(
            f"Learning rate schedule '{type(self).__name__}' must override `get_config()` "
            "in order to be serializable."
        )

    @classmethod
    def from_config(cls, config: dict) -> LearningRateSchedule:
        return cls(**config)

    def __repr__(self) -> str:
        try:
            args = ", ".join(f"{k}={v!r}" for k, v in self.get_config().items())
        except NotImplementedError:
            args = ""
        return f"{type(self).__name__}({args})"


def _float(value, like=None) -> Tensor:
    """``value`` as a float tensor (Python numbers become float32, as Keras' floatx)."""
    t = ops.convert(value, like=like)  # a host number goes where the step is
    return t if dtypes.is_float(t.dtype) else ops.cast(t, dtype=dtypes.DEFAULT_FLOAT)


def _check_decay_steps(decay_steps) -> None:
    if not decay_steps > 0:
        raise ValueError(f"Argument `decay_steps` must be > 0. Received: decay_steps={decay_steps}")


class ExponentialDecay(LearningRateSchedule):
    """``initial_learning_rate * decay_rate ** (step / decay_steps)``.

    With ``staircase=True`` the exponent is ``floor(step / decay_steps)``, so the rate
    drops in steps every ``decay_steps`` updates.

    Example:
        >>> from tape.optimizers import schedules
        >>> s = schedules.ExponentialDecay(0.1, decay_steps=10, decay_rate=0.5)
        >>> round(float(s(10)), 6), round(float(s(20)), 6)
        (0.05, 0.025)
    """

    def __init__(self, initial_learning_rate: float, decay_steps: int, decay_rate: float,
                 staircase: bool = False, name: str = "ExponentialDecay"):
        _check_decay_steps(decay_steps)
        self.initial_learning_rate = initial_learning_rate
        self.decay_steps = decay_steps
        self.decay_rate = decay_rate
        self.staircase = staircase
        self.name = name

    def __call__(self, step) -> Tensor:
        step = ops.convert(step)
        initial = _float(self.initial_learning_rate, like=step)
        p = ops.cast(step, dtype=initial.dtype) / self.decay_steps
        if self.staircase:
            p = ops.floor(p)
        return initial * ops.power(ops.convert(self.decay_rate, initial.dtype, like=step), p)

    def get_config(self) -> dict:
        return {"initial_learning_rate": self.initial_learning_rate,
                "decay_steps": self.decay_steps, "decay_rate": self.decay_rate,
                "staircase": self.staircase, "name": self.name}


class CosineDecay(LearningRateSchedule):
    """Cosine decay (Loshchilov & Hutter, SGDR), with an optional linear warmup.

    Without warmup (``warmup_target=None``), with ``s = min(step, decay_steps)``::

        initial_learning_rate * ((1 - alpha) * 0.5 * (1 + cos(pi * s / decay_steps)) + alpha)

    With ``warmup_target`` set, the rate first goes linearly from ``initial_learning_rate``
    to ``warmup_target`` over ``warmup_steps``
    (``initial + (warmup_target - initial) * step / warmup_steps``), then decays from
    ``warmup_target`` by the formula above applied to ``min(step, warmup_steps +
    decay_steps) - warmup_steps``.

    Example:
        >>> from tape.optimizers import schedules
        >>> s = schedules.CosineDecay(1.0, decay_steps=10, alpha=0.1)
        >>> [round(float(s(k)), 4) for k in (0, 5, 10, 20)]
        [1.0, 0.55, 0.1, 0.1]
    """

    def __init__(self, initial_learning_rate: float, decay_steps: int, alpha: float = 0.0,
                 name: str = "CosineDecay", warmup_target: float | None = None,
                 warmup_steps: int = 0):
        _check_decay_steps(decay_steps)
        if warmup_steps < 0:
            raise ValueError(f"Argument `warmup_steps` must be >= 0. "
                             f"Received: warmup_steps={warmup_steps}")
        self.initial_learning_rate = initial_learning_rate
        self.decay_steps = decay_steps
        self.alpha = alpha
        self.name = name
        self.warmup_target = warmup_target
        self.warmup_steps = warmup_steps

    def _decay(self, step: Tensor, decay_from: Tensor) -> Tensor:
        cosine = 0.5 * (1.0 + ops.cos(math.pi * (step / self.decay_steps)))
        return decay_from * ((1 - self.alpha) * cosine + self.alpha)

    def __call__(self, step) -> Tensor:
        step = ops.convert(step)
        initial = _float(self.initial_learning_rate, like=step)
        step = ops.cast(step, dtype=initial.dtype)
        if self.warmup_target is None:
            return self._decay(ops.minimum(step, self.decay_steps), initial)
        target = ops.convert(self.warmup_target, initial.dtype, like=step)
        step = ops.minimum(step, self.decay_steps + self.warmup_steps)
        decayed = self._decay(step - self.warmup_steps, target)
        if self.warmup_steps == 0:  # a static choice, from the config: no warmup phase
            return decayed
        warmup = (target - initial) * (step / self.warmup_steps) + initial
        return ops.where(step < self.warmup_steps, warmup, decayed)

    def get_config(self) -> dict:
        return {"initial_learning_rate": self.initial_learning_rate,
                "decay_steps": self.decay_steps, "alpha": self.alpha, "name": self.name,
                "warmup_target": self.warmup_target, "warmup_steps": self.warmup_steps}


class PiecewiseConstantDecay(LearningRateSchedule):
    """``values[0]`` while ``step <= boundaries[0]``, ``values[i]`` while
    ``boundaries[i-1] < step <= boundaries[i]``, and ``values[-1]`` after the last boundary.

    Example:
        >>> from tape.optimizers import schedules
        >>> s = schedules.PiecewiseConstantDecay([10, 20], [1.0, 0.5, 0.1])
        >>> [round(float(s(k)), 6) for k in (0, 10, 11, 20, 21)]
        [1.0, 1.0, 0.5, 0.5, 0.1]
    """

    def __init__(self, boundaries, values, name: str = "PiecewiseConstant"):
        if len(boundaries) != len(values) - 1:
            raise ValueError(
                "The length of boundaries should be 1 less than the length of values. "
                f"Received: boundaries={boundaries} of length {len(boundaries)}, and "
                f"values={values} of length {len(values)}."
            )
        if any(b >= c for b, c in zip(boundaries, boundaries[1:])):
            raise ValueError(f"`boundaries` must be strictly increasing. "
                             f"Received: boundaries={boundaries}")
        self.boundaries = list(boundaries)
        self.values = list(values)
        self.name = name

    def __call__(self, step) -> Tensor:
        step = ops.convert(step)
        values = [ops.convert(v, like=step) for v in self.values]
        result = values[-1]
        # Walk the boundaries from the last one down, so the first boundary >= step wins.
        for boundary, value in zip(reversed(self.boundaries), reversed(values[:-1])):
            result = ops.where(step <= boundary, value, result)
        return result

    def get_config(self) -> dict:
        return {"boundaries": self.boundaries, "values": self.values, "name": self.name}


_BUILTIN = {cls.__name__: cls for cls in (ExponentialDecay, CosineDecay, PiecewiseConstantDecay)}


def serialize(schedule: LearningRateSchedule) -> dict:
    """``{"class_name": ..., "config": ...}``, the form ``deserialize`` reads."""
    return {"class_name": type(schedule).__name__, "config": schedule.get_config()}


def deserialize(config: dict, custom_objects: dict | None = None) -> LearningRateSchedule:
    """The schedule that ``serialize`` described (custom classes via ``custom_objects``)."""
    known = {**_BUILTIN, **(custom_objects or {})}
    name = config.get("class_name")
    if name not in known:
        raise ValueError(f"Unknown learning rate schedule {name!r}; known: {sorted(known)} "
                         "(pass others in `custom_objects`)")
    return known[name].from_config(config.get("config", {}))

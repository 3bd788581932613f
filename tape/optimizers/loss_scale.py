"""Dynamic loss scaling for float16 training (Keras 3's ``LossScaleOptimizer``).

float16 holds no magnitude below about 6e-8, so small gradients of a float16 model vanish.
The loss is multiplied by a large scale before differentiation and the gradients divided by
it before the update. A step whose gradients hold an inf or a NaN (the scale was too big) is
skipped and the scale halves; after ``dynamic_growth_steps`` finite steps in a row it doubles.
"""

from __future__ import annotations

import numpy as np

from .. import _state, ops
from ..tensor import Tensor, Variable
from .base import Optimizer


class LossScaleOptimizer(Optimizer):
    """Wraps ``inner_optimizer`` with dynamic loss scaling; ``compile`` wraps the optimizer
    by itself under a ``mixed_float16`` policy, as Keras does.

    In a custom loop, differentiate ``scale_loss(loss)`` and pass the (scaled) gradients to
    ``apply``/``apply_gradients``, which unscale them (Keras 3's contract). TF2's loop also
    works: ``get_scaled_loss``, then ``get_unscaled_gradients``, whose results
    ``apply_gradients`` recognizes and does not unscale again.

    Args:
        inner_optimizer: The optimizer that updates the variables.
        initial_scale: The first loss scale (default ``2**15``).
        dynamic_growth_steps: Finite steps in a row after which the scale doubles.

    Example:
        >>> import tape
        >>> from tape import optimizers
        >>> w = tape.Variable([1.0], name="w")
        >>> opt = optimizers.LossScaleOptimizer(optimizers.SGD(0.5), initial_scale=8.0)
        >>> with tape.GradientTape() as g:
        ...     loss = opt.scale_loss(tape.sum(w * w))
        >>> opt.apply(g.gradient(loss, [w]), [w])
        >>> w.numpy().tolist(), float(opt.dynamic_scale)
        ([0.0], 8.0)
        >>> opt.apply([tape.tensor([float("inf")])], [w])  # skipped; the scale halves
        >>> w.numpy().tolist(), float(opt.dynamic_scale)
        ([0.0], 4.0)
    """

    def __init__(self, inner_optimizer: Optimizer, initial_scale: float = 2.0 ** 15,
                 dynamic_growth_steps: int = 2000, name: str | None = None, **kwargs):
        if not isinstance(inner_optimizer, Optimizer):
            raise TypeError(f"LossScaleOptimizer: inner_optimizer must be an Optimizer; "
                            f"received {inner_optimizer!r}")
        if kwargs:
            raise TypeError(f"LossScaleOptimizer got unexpected arguments {sorted(kwargs)}")
        if not initial_scale > 0 or not int(dynamic_growth_steps) >= 1:
            raise ValueError(f"LossScaleOptimizer: initial_scale must be > 0 and "
                             f"dynamic_growth_steps >= 1; received {initial_scale}, "
                             f"{dynamic_growth_steps}")
        self.inner_optimizer = inner_optimizer
        self.initial_scale = float(initial_scale)
        self.dynamic_growth_steps = int(dynamic_growth_steps)
        super().__init__(learning_rate=0.0, name=name or "loss_scale_optimizer")
        # the inner optimizer's rate and step count are the rate and the count
        self._variables = []
        self._names.clear()
        self._learning_rate = None
        self._iterations = inner_optimizer.iterations
        self.step_counter = self.add_variable((), initializer="zeros", dtype=np.int64,
                                              name="step_counter")
        self.dynamic_scale = self.add_variable((), initializer=self.initial_scale,
                                               dtype=np.float32, name="dynamic_scale")
        self._unscaled_by_caller: set[int] = set()  # ids of get_unscaled_gradients' results

    # ---- what the inner optimizer owns ---------------------------------------------------
    @property
    def learning_rate(self) -> Tensor:
        return self.inner_optimizer.learning_rate

    @learning_rate.setter
    def learning_rate(self, learning_rate) -> None:
        self.inner_optimizer.learning_rate = learning_rate

    @property
    def variables(self) -> list[Variable]:
        """The scale state, then the inner optimizer's."""
        return [self.step_counter, self.dynamic_scale, *self.inner_optimizer.variables]

    def build(self, var_list) -> None:
        var_list = list(var_list)
        super().build(var_list)
        self.inner_optimizer.build(var_list)

    def to(self, device: str) -> LossScaleOptimizer:
        super().to(device)
        self.inner_optimizer.to(device)
        return self

    # ---- scaling ---------------------------------------------------------------------------
    def scale_loss(self, loss):
        """``loss * dynamic_scale``: differentiate this instead of ``loss``."""
        loss = ops.convert(loss)
        if self.dynamic_scale.device != loss.device:  # before the first apply builds it
            self.to(loss.device)
        return ops.multiply(loss, ops.cast(self.dynamic_scale, loss.dtype))

    def get_scaled_loss(self, loss):
        """TF2's name for ``scale_loss``."""
        return self.scale_loss(loss)

    def get_unscaled_gradients(self, grads) -> list:
        """TF2's step between ``tape.gradient`` and ``apply_gradients``: ``grads / scale``.
        The results are remembered, so ``apply`` takes them as already unscaled."""
        with _state.without_tapes():
            unscaled = self._unscale(grads)
        self._unscaled_by_caller = {id(g) for g in unscaled if g is not None}
        return unscaled

    def _unscale(self, grads) -> list:
        inverse = ops.divide(1.0, self.dynamic_scale)
        return [None if g is None else ops.multiply(g, ops.cast(inverse, ops.convert(g).dtype))
                for g in grads]

    def apply(self, grads, trainable_variables=None) -> None:
        """Unscale ``grads`` (computed from ``scale_loss``); if all are finite, let the
        inner optimizer update, else skip the step; then adjust the scale.

        Eagerly a skipped step costs one read of a flag; in a traced step (where values
        cannot be read) every update is computed and ``where(finite, new, old)`` keeps the
        old variables and optimizer state when a gradient was not finite."""
        grads = list(grads)
        variables = (self._trainable_variables if trainable_variables is None
                     else list(trainable_variables))
        if not self.built:
            self.build(variables)
        given = {id(g) for g in grads if g is not None}
        unscaled, self._unscaled_by_caller = self._unscaled_by_caller, set()
        with _state.without_tapes():
            if not given or not given <= unscaled:  # not get_unscaled_gradients' own
                grads = self._unscale(grads)
            finite = _all_finite([g for g in grads if g is not None])
        if _state.tracing.get() is None:
            if bool(finite):
                self.inner_optimizer.apply(grads, variables)
        else:
            state = [*variables, *self.inner_optimizer.variables]
            before = [ops.identity(v) for v in state]
            self.inner_optimizer.apply(grads, variables)
            with _state.without_tapes():
                for v, old in zip(state, before):
                    v.assign(ops.where(finite, v, old))
        with _state.without_tapes():
            self._update_scale(finite)

    def _update_scale(self, finite) -> None:
        """Finite: count the step, and double the scale after ``dynamic_growth_steps`` of
        them (the count restarts). Not finite: halve the scale, restart the count."""
        counter = ops.add(self.step_counter, 1)
        grow = ops.logical_and(finite, ops.greater_equal(counter, self.dynamic_growth_steps))
        scale = self.dynamic_scale
        self.dynamic_scale.assign(ops.where(
            finite, ops.where(grow, ops.multiply(scale, 2.0), scale), ops.multiply(scale, 0.5)))
        self.step_counter.assign(ops.where(ops.logical_and(finite, ops.logical_not(grow)),
                                           counter, ops.zeros_like(counter)))

    def get_config(self) -> dict:
        """The inner optimizer in ``serialize``'s form; ``optimizers.deserialize`` rebuilds
        it (``from_config`` takes it rebuilt or as that dict through ``deserialize``)."""
        inner = self.inner_optimizer
        return {"name": self.name,
                "inner_optimizer": {"class_name": type(inner).__name__,
                                    "config": inner.get_config()},
                "initial_scale": self.initial_scale,
                "dynamic_growth_steps": self.dynamic_growth_steps}

    @classmethod
    def from_config(cls, config: dict, custom_objects: dict | None = None):
        config = dict(config)
        inner = config.pop("inner_optimizer")
        if not isinstance(inner, Optimizer):
            raise TypeError("LossScaleOptimizer.from_config takes a built inner optimizer; "
                            "rebuild a serialized one with tape.optimizers.deserialize")
        return cls(inner, **config)


def overflow_is_expected(step):
    """``step(batch)`` without NumPy's overflow warnings: in a loss-scaled float16 step a
    gradient that overflows is the scale's business (the step is skipped and the scale
    halves), not news."""
    def quiet(batch):
        with np.errstate(over="ignore", invalid="ignore"):
            return step(batch)
    if hasattr(step, "explain"):  # a traced step says how it replays
        quiet.explain = step.explain
    return quiet


def _all_finite(grads) -> Tensor:
    """One boolean: every element of every gradient is finite."""
    flags = [ops.all(ops.isfinite(g)) for g in grads]
    finite = flags[0] if flags else ops.convert(True)
    for flag in flags[1:]:
        finite = ops.logical_and(finite, flag)
    return finite

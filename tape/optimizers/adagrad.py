"""Adagrad, as Keras 3."""

from __future__ import annotations

from .. import ops
from .base import Optimizer


class Adagrad(Optimizer):
    """Adagrad (Duchi et al., 2011): per-parameter rates shrink with the summed squares.

    Per step, with ``g`` the gradient and ``lr`` the learning rate::

        acc = acc + g**2                          (slot "accumulator", starts at
                                                   initial_accumulator_value)
        v = v - lr * g / sqrt(acc + epsilon)

    Args:
        learning_rate: Float, schedule or callable; defaults to 0.001.
        initial_accumulator_value: Starting value of the accumulators (>= 0).
        epsilon: Small constant for numerical stability (inside the square root, as Keras).
        **kwargs: ``weight_decay``, ``clipnorm``, ``clipvalue``, ``global_clipnorm``, ``name``
            (see ``Optimizer``).

    Example:
        >>> import tape
        >>> from tape import optimizers
        >>> w = tape.Variable([1.0], name="w")
        >>> opt = optimizers.Adagrad(learning_rate=0.1, initial_accumulator_value=0.0)
        >>> _ = opt.apply_gradients([(tape.tensor([3.0]), w)])
        >>> round(float(w.numpy()[0]), 4)  # 1 - 0.1 * 3 / sqrt(9)
        0.9
    """

    def __init__(self, learning_rate=0.001, initial_accumulator_value: float = 0.1,
                 epsilon: float = 1e-7, weight_decay=None, clipnorm=None, clipvalue=None,
                 global_clipnorm=None, name: str = "adagrad"):
        super().__init__(learning_rate, weight_decay=weight_decay, clipnorm=clipnorm,
                         clipvalue=clipvalue, global_clipnorm=global_clipnorm, name=name)
        if initial_accumulator_value < 0:
            raise ValueError("`initial_accumulator_value` must be >= 0. Received: "
                             f"initial_accumulator_value={initial_accumulator_value}")
        self.initial_accumulator_value = initial_accumulator_value
        self.epsilon = epsilon

    def build(self, var_list) -> None:
        if self.built:
            return
        super().build(var_list)
        self._accumulators = self.add_optimizer_variables(
            var_list, "accumulator", initializer=self.initial_accumulator_value)

    def update_step(self, gradient, variable, learning_rate) -> None:
        acc = self._accumulators[self._get_variable_index(variable)]
        acc.assign_add(ops.square(gradient))
        variable.assign_sub(learning_rate * gradient / ops.sqrt(acc + self.epsilon))

    def get_config(self) -> dict:
        return {**super().get_config(),
                "initial_accumulator_value": self.initial_accumulator_value,
                "epsilon": self.epsilon}

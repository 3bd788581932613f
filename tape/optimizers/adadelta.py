"""Adadelta, as Keras 3."""

from __future__ import annotations

from .. import ops
from .base import Optimizer


class Adadelta(Optimizer):
    """Adadelta (Zeiler, 2012, Algorithm 1) in Keras 3's form, scaled by the learning rate.

    Per step::

        acc_g = rho * acc_g + (1 - rho) * g**2                 (slot "accumulated_grad")
        delta = -sqrt(acc_d + epsilon) * g / sqrt(acc_g + epsilon)
        acc_d = rho * acc_d + (1 - rho) * delta**2             (slot "accumulated_delta_var")
        v = v + lr * delta

    Args:
        learning_rate: Float, schedule or callable; defaults to 0.001 (the paper's rule is
            ``learning_rate=1.0``).
        rho: Decay rate of both running averages.
        epsilon: Small constant for numerical stability (inside the square roots).
        **kwargs: ``weight_decay``, ``clipnorm``, ``clipvalue``, ``global_clipnorm``, ``name``
            (see ``Optimizer``).

    Example:
        >>> import tape
        >>> from tape import optimizers
        >>> w = tape.Variable([1.0], name="w")
        >>> opt = optimizers.Adadelta(learning_rate=1.0, epsilon=0.01)
        >>> _ = opt.apply_gradients([(tape.tensor([2.0]), w)])
        >>> round(float(w.numpy()[0]), 4)  # 1 - sqrt(0.01) * 2 / sqrt(0.05 * 4 + 0.01)
        0.5636
    """

    def __init__(self, learning_rate=0.001, rho: float = 0.95, epsilon: float = 1e-7,
                 weight_decay=None, clipnorm=None, clipvalue=None, global_clipnorm=None,
                 name: str = "adadelta"):
        super().__init__(learning_rate, weight_decay=weight_decay, clipnorm=clipnorm,
                         clipvalue=clipvalue, global_clipnorm=global_clipnorm, name=name)
        self.rho = rho
        self.epsilon = epsilon

    def build(self, var_list) -> None:
        if self.built:
            return
        super().build(var_list)
        self._accumulated_grads = self.add_optimizer_variables(var_list, "accumulated_grad")
        self._accumulated_delta_vars = self.add_optimizer_variables(
            var_list, "accumulated_delta_var")

    def update_step(self, gradient, variable, learning_rate) -> None:
        i = self._get_variable_index(variable)
        acc_g, acc_d = self._accumulated_grads[i], self._accumulated_delta_vars[i]
        rho = self.rho
        acc_g.assign(rho * acc_g + (1 - rho) * ops.square(gradient))
        delta = ops.negative(ops.sqrt(acc_d + self.epsilon) * gradient
                             / ops.sqrt(acc_g + self.epsilon))
        acc_d.assign(rho * acc_d + (1 - rho) * ops.square(delta))
        variable.assign_add(learning_rate * delta)

    def get_config(self) -> dict:
        return {**super().get_config(), "rho": self.rho, "epsilon": self.epsilon}

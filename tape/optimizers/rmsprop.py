"""RMSprop (plain, centered, with momentum), as Keras 3."""

from __future__ import annotations

from .. import ops
from .base import Optimizer


class RMSprop(Optimizer):
    """RMSprop (Hinton, lecture 6e) in Keras 3's form.

    Per step, with ``g`` the gradient and ``lr`` the learning rate::

        u = rho * u + (1 - rho) * g**2                            (slot "velocity")
        centered:  a = rho * a + (1 - rho) * g                    (slot "average_gradient")
                   increment = lr * g / sqrt(u - a**2 + epsilon)
        otherwise: increment = lr * g / sqrt(u + epsilon)
        momentum > 0:  m = momentum * m + increment; v = v - m    (slot "momentum")
        otherwise:     v = v - increment

    ``epsilon`` is added inside the square root, as Keras does.

    Args:
        learning_rate: Float, schedule or callable; defaults to 0.001.
        rho: Discounting factor of the gradient-square average.
        momentum: Momentum factor; 0 disables the momentum slot.
        epsilon: Small constant for numerical stability.
        centered: Normalise by an estimate of the gradient's variance instead of its
            uncentered second moment.
        **kwargs: ``weight_decay``, ``clipnorm``, ``clipvalue``, ``global_clipnorm``, ``name``
            (see ``Optimizer``).

    Example:
        >>> import tape
        >>> from tape import optimizers
        >>> w = tape.Variable([1.0], name="w")
        >>> opt = optimizers.RMSprop(learning_rate=0.01)
        >>> _ = opt.apply_gradients([(tape.tensor([2.0]), w)])
        >>> round(float(w.numpy()[0]), 4)  # 1 - 0.01 * 2 / sqrt(0.1 * 4)
        0.9684
    """

    def __init__(self, learning_rate=0.001, rho: float = 0.9, momentum: float = 0.0,
                 epsilon: float = 1e-7, centered: bool = False, weight_decay=None,
                 clipnorm=None, clipvalue=None, global_clipnorm=None, name: str = "rmsprop"):
        super().__init__(learning_rate, weight_decay=weight_decay, clipnorm=clipnorm,
                         clipvalue=clipvalue, global_clipnorm=global_clipnorm, name=name)
        self.rho = rho
        self.momentum = momentum
        self.epsilon = epsilon
        self.centered = centered

    def build(self, var_list) -> None:
        if self.built:
            return
        super().build(var_list)
        self._velocities = self.add_optimizer_variables(var_list, "velocity")
        self._momentums = []
        if self.momentum > 0:
            self._momentums = self.add_optimizer_variables(var_list, "momentum")
        self._average_gradients = []
        if self.centered:
            self._average_gradients = self.add_optimizer_variables(var_list, "average_gradient")

    def update_step(self, gradient, variable, learning_rate) -> None:
        i = self._get_variable_index(variable)
        rho = self.rho
        u = self._velocities[i]
        u.assign(rho * u + (1 - rho) * ops.square(gradient))
        if self.centered:
            a = self._average_gradients[i]
            a.assign(rho * a + (1 - rho) * gradient)
            denominator = u - ops.square(a) + self.epsilon
        else:
            denominator = u + self.epsilon
        increment = learning_rate * gradient / ops.sqrt(denominator)
        if self.momentum > 0:
            m = self._momentums[i]
            m.assign(self.momentum * m + increment)
            variable.assign_sub(m)
        else:
            variable.assign_sub(increment)

    def get_config(self) -> dict:
        return {**super().get_config(), "rho": self.rho, "momentum": self.momentum,
                "epsilon": self.epsilon, "centered": self.centered}

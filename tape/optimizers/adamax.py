"""Adamax (Adam with the infinity norm), as Keras 3."""

from __future__ import annotations

from .. import ops
from .base import MomentsOptimizer


class Adamax(MomentsOptimizer):
    """Adamax (Kingma & Ba, 2015, section 7.1) in Keras 3's form.

    Per step, with ``t = iterations + 1``::

        m = m + (g - m) * (1 - beta_1)                    (slot "momentum")
        u = maximum(beta_2 * u, abs(g))                   (slot "norm")
        v = v - lr * m / ((1 - beta_1**t) * (u + epsilon))

    Args:
        learning_rate: Float, schedule or callable; defaults to 0.001.
        beta_1: Decay rate of the first-moment estimate.
        beta_2: Decay rate of the exponentially weighted infinity norm.
        epsilon: Small constant for numerical stability.
        **kwargs: ``weight_decay``, ``clipnorm``, ``clipvalue``, ``global_clipnorm``, ``name``
            (see ``Optimizer``).

    Example:
        >>> import tape
        >>> from tape import optimizers
        >>> w = tape.Variable([1.0, -1.0], name="w")
        >>> opt = optimizers.Adamax(learning_rate=0.1)
        >>> _ = opt.apply_gradients([(tape.tensor([0.5, -2.0]), w)])
        >>> [round(x, 4) for x in w.numpy().tolist()]  # the first step is lr * sign(g)
        [0.9, -0.9]
        >>> [v.name for v in opt.variables][2:]
        ['adamax/momentum/w', 'adamax/norm/w']
    """

    def build(self, var_list) -> None:
        if self.built:
            return
        super().build(var_list)
        self._m, self._u = self.add_optimizer_variables(var_list, ["momentum", "norm"])

    def update_step(self, gradient, variable, learning_rate) -> None:
        i = self._get_variable_index(variable)
        m, u = self._m[i], self._u[i]
        t = ops.cast(self.iterations + 1, dtype=variable.dtype)
        beta_1_power = self.beta_1**t
        m.assign_add((gradient - m) * (1 - self.beta_1))
        u.assign(ops.maximum(u * self.beta_2, ops.abs(gradient)))
        variable.assign_sub(learning_rate * m / ((1 - beta_1_power) * (u + self.epsilon)))

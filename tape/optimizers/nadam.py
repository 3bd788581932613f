"""Nadam (Adam with Nesterov momentum), as Keras 3."""

from __future__ import annotations

from .. import ops
from .base import MomentsOptimizer


class Nadam(MomentsOptimizer):
    """Nadam (Dozat, 2016, "Incorporating Nesterov Momentum into Adam") in Keras 3's form.

    Per step, with ``t = iterations + 1`` and the momentum schedule
    ``mu(s) = beta_1 * (1 - 0.5 * 0.96**s)``::

        u_product = u_product * mu(t)                 (once per step; starts at 1)
        m = m + (g - m) * (1 - beta_1)                (slot "momentum")
        u = u + (g**2 - u) * (1 - beta_2)             (slot "velocity")
        m_hat = mu(t+1) * m / (1 - u_product * mu(t+1)) + (1 - mu(t)) * g / (1 - u_product)
        u_hat = u / (1 - beta_2**t)
        v = v - lr * m_hat / (sqrt(u_hat) + epsilon)

    ``u_product`` is optimizer state (the variable ``{name}/u_product``, in the dtype of the
    first variable), saved and restored with the slots.

    Args:
        learning_rate: Float, schedule or callable; defaults to 0.001.
        beta_1: Decay rate of the first-moment estimate.
        beta_2: Decay rate of the second-moment estimate.
        epsilon: Small constant for numerical stability (added after the square root).
        **kwargs: ``weight_decay``, ``clipnorm``, ``clipvalue``, ``global_clipnorm``, ``name``
            (see ``Optimizer``).

    Example:
        >>> import tape
        >>> from tape import optimizers
        >>> w = tape.Variable([1.0, -1.0], name="w")
        >>> opt = optimizers.Nadam(learning_rate=0.1)
        >>> _ = opt.apply_gradients([(tape.tensor([0.5, -2.0]), w)])
        >>> [round(x, 4) for x in w.numpy().tolist()]  # lr * (1 + 0.0628) * sign(g) at t = 1
        [0.8937, -0.8937]
        >>> [v.name for v in opt.variables]
        ['nadam/iteration', 'nadam/learning_rate', 'nadam/momentum/w', 'nadam/velocity/w', \
'nadam/u_product']
    """

    def build(self, var_list) -> None:
        if self.built:
            return
        var_list = list(var_list)
        super().build(var_list)
        self._momentums = self.add_optimizer_variables(var_list, "momentum")
        self._velocities = self.add_optimizer_variables(var_list, "velocity")
        first = var_list[0] if var_list else None
        self._u_product = self.add_variable(
            (), initializer="ones", dtype=first.dtype if first is not None else None,
            name="u_product", device=first.device if first is not None else "cpu")

    def _momentum_schedule(self, step):
        """``beta_1 * (1 - 0.5 * 0.96**step)`` for the 1-based ``step``, a float tensor. The
        Python constants take its dtype (``ops.cast(0.96, ...)`` would round to float32 first)."""
        return self.beta_1 * (1.0 - 0.5 * 0.96**step)

    def _backend_update_step(self, grads, variables, lr_by_dtype) -> None:
        u_product = self._u_product
        t = ops.cast(self.iterations + 1, dtype=u_product.dtype)
        u_product.assign(u_product * self._momentum_schedule(t))
        super()._backend_update_step(grads, variables, lr_by_dtype)

    def update_step(self, gradient, variable, learning_rate) -> None:
        dtype = variable.dtype
        t = ops.cast(self.iterations + 1, dtype=dtype)
        mu_t = self._momentum_schedule(t)
        mu_next = self._momentum_schedule(t + 1)
        u_product = ops.cast(self._u_product, dtype=dtype)
        i = self._get_variable_index(variable)
        m, u = self._momentums[i], self._velocities[i]
        m.assign_add((gradient - m) * (1 - self.beta_1))
        u.assign_add((ops.square(gradient) - u) * (1 - self.beta_2))
        m_hat = mu_next * m / (1 - u_product * mu_next) + (1 - mu_t) * gradient / (1 - u_product)
        u_hat = u / (1 - self.beta_2**t)
        variable.assign_sub(learning_rate * m_hat / (ops.sqrt(u_hat) + self.epsilon))

"""SGD: gradient descent with optional (Nesterov) momentum, as Keras 3."""

from __future__ import annotations

from ..ops import gpu
from .base import Optimizer
from .fused import replace


class SGD(Optimizer):
    """Stochastic gradient descent, with optional momentum and Nesterov momentum.

    Keras 3's rule, per step, with ``g`` the gradient and ``lr`` the learning rate::

        momentum == 0:   v = v - lr * g
        otherwise:       m = momentum * m - lr * g                (slot "momentum")
                         v = v + m                                  (nesterov=False)
                         v = v + momentum * m - lr * g              (nesterov=True)

    Args:
        learning_rate: Float, schedule or callable; defaults to 0.01.
        momentum: Float in ``[0, 1]`` that accelerates descent and dampens oscillation.
        nesterov: Whether to use Nesterov momentum.
        **kwargs: ``weight_decay``, ``clipnorm``, ``clipvalue``, ``global_clipnorm``, ``name``
            (see ``Optimizer``).

    Example:
        >>> import tape
        >>> from tape import optimizers
        >>> w = tape.Variable([1.0], name="w")
        >>> opt = optimizers.SGD(learning_rate=0.1, momentum=0.9)
        >>> for _ in range(2):
        ...     _ = opt.apply_gradients([(tape.tensor([1.0]), w)])
        >>> round(float(w.numpy()[0]), 4)  # 1 - 0.1 - (0.9 * 0.1 + 0.1)
        0.71
    """

    def __init__(self, learning_rate=0.01, momentum: float = 0.0, nesterov: bool = False,
                 weight_decay=None, clipnorm=None, clipvalue=None, global_clipnorm=None,
                 name: str = "SGD"):
        super().__init__(learning_rate, weight_decay=weight_decay, clipnorm=clipnorm,
                         clipvalue=clipvalue, global_clipnorm=global_clipnorm, name=name)
        if not isinstance(momentum, int | float) or not 0 <= momentum <= 1:
            raise ValueError(f"`momentum` must be a float between [0, 1]. "
                             f"Received: momentum={momentum!r}")
        self.momentum = momentum
        self.nesterov = nesterov

    def build(self, var_list) -> None:
        if self.built:
            return
        super().build(var_list)
        self.momentums = []
        if self.momentum != 0:
            self.momentums = self.add_optimizer_variables(var_list, "momentum")

    def update_step(self, gradient, variable, learning_rate) -> None:
        if self.momentum == 0:
            variable.assign_sub(gradient * learning_rate)
            return
        m = self.momentums[self._get_variable_index(variable)]
        m.assign(m * self.momentum - gradient * learning_rate)
        if self.nesterov:
            variable.assign_add(m * self.momentum - gradient * learning_rate)
        else:
            variable.assign_add(m)

    def _fused_update(self, grads, variables, lr, decays, runtime) -> None:
        """The whole step for ``variables`` (one dtype) in one kernel launch (GPU)."""
        momentums = [self.momentums[self._get_variable_index(v)] for v in variables] \
            if self.momentum != 0 else []
        params, new_momentums = gpu.sgd_update(
            [v._data for v in variables], grads, [m._data for m in momentums], lr, decays,
            self.momentum, self.nesterov, runtime=runtime)
        for v, p in zip(variables + momentums, params + new_momentums):
            replace(v, p)

    def get_config(self) -> dict:
        return {**super().get_config(), "momentum": self.momentum, "nesterov": self.nesterov}

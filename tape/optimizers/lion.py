"""Lion (evolved sign momentum), as Keras 3."""

from __future__ import annotations

from .. import ops
from .base import Optimizer


class Lion(Optimizer):
    """Lion (Chen et al., 2023, "Symbolic Discovery of Optimization Algorithms", Algorithm 2)
    in Keras 3's form: every step moves each weight by exactly ``lr`` (or not at all).

    Per step::

        v = v - lr * sign(beta_1 * m + (1 - beta_1) * g)
        m = beta_2 * m + (1 - beta_2) * g                       (slot "momentum")

    Args:
        learning_rate: Float, schedule or callable; defaults to 0.001 (Lion wants a rate
            3-10x smaller than AdamW's).
        beta_1: Interpolation between momentum and gradient for the update, in ``(0, 1]``.
        beta_2: Decay rate of the momentum.
        **kwargs: ``weight_decay``, ``clipnorm``, ``clipvalue``, ``global_clipnorm``, ``name``
            (see ``Optimizer``).

    Example:
        >>> import tape
        >>> from tape import optimizers
        >>> w = tape.Variable([1.0, -1.0, 0.5], name="w")
        >>> opt = optimizers.Lion(learning_rate=0.1)
        >>> _ = opt.apply_gradients([(tape.tensor([0.5, -2.0, 0.0]), w)])
        >>> [round(x, 4) for x in w.numpy().tolist()]  # lr * sign(g)
        [0.9, -0.9, 0.5]
    """

    def __init__(self, learning_rate=0.001, beta_1: float = 0.9, beta_2: float = 0.99,
                 weight_decay=None, clipnorm=None, clipvalue=None, global_clipnorm=None,
                 name: str = "lion"):
        super().__init__(learning_rate, weight_decay=weight_decay, clipnorm=clipnorm,
                         clipvalue=clipvalue, global_clipnorm=global_clipnorm, name=name)
        if not 0 < beta_1 <= 1:
            raise ValueError("Argument `beta_1` must be in the (0, 1] range. Otherwise, the "
                             f"optimizer degenerates to SignSGD. Received: beta_1={beta_1}.")
        self.beta_1 = beta_1
        self.beta_2 = beta_2

    def build(self, var_list) -> None:
        if self.built:
            return
        super().build(var_list)
        self._momentums = self.add_optimizer_variables(var_list, "momentum")

    def update_step(self, gradient, variable, learning_rate) -> None:
        m = self._momentums[self._get_variable_index(variable)]
        variable.assign_sub(learning_rate * ops.sign(m * self.beta_1
                                                     + gradient * (1 - self.beta_1)))
        m.assign(m * self.beta_2 + gradient * (1 - self.beta_2))

    def get_config(self) -> dict:
        return {**super().get_config(), "beta_1": self.beta_1, "beta_2": self.beta_2}

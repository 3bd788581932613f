"""Adam (with AMSGrad) and AdamW, as Keras 3."""

from __future__ import annotations

from .. import ops
from ..ops import gpu
from .base import Optimizer
from .fused import replace


class Adam(Optimizer):
    """Adam (Kingma & Ba, 2014) in Keras 3's form, with the optional AMSGrad variant.

    Per step, with ``t = iterations + 1`` (the 1-based number of this update)::

        m = m + (g - m) * (1 - beta_1)                          (slot "momentum")
        u = u + (g**2 - u) * (1 - beta_2)                       (slot "velocity")
        amsgrad:  u_hat = max(u_hat, u); use u_hat for u below  (slot "velocity_hat")
        alpha = lr * sqrt(1 - beta_2**t) / (1 - beta_1**t)
        v = v - m * alpha / (sqrt(u) + epsilon)

    ``epsilon`` is the paper's "epsilon hat": it is added after the bias correction is
    folded into ``alpha``, not to the bias-corrected second moment.

    Args:
        learning_rate: Float, schedule or callable; defaults to 0.001.
        beta_1: Decay rate of the first-moment estimate.
        beta_2: Decay rate of the second-moment estimate.
        epsilon: Small constant for numerical stability.
        amsgrad: Use the AMSGrad variant ("On the Convergence of Adam and Beyond").
        **kwargs: ``weight_decay``, ``clipnorm``, ``clipvalue``, ``global_clipnorm``, ``name``
            (see ``Optimizer``).

    Example:
        >>> import tape
        >>> from tape import optimizers
        >>> w = tape.Variable([1.0, -1.0], name="w")
        >>> opt = optimizers.Adam(learning_rate=0.1)
        >>> _ = opt.apply_gradients([(tape.tensor([0.5, -2.0]), w)])
        >>> [round(x, 4) for x in w.numpy().tolist()]  # the first step moves by ~lr * sign(g)
        [0.9, -0.9]
        >>> [v.name for v in opt.variables]
        ['adam/iteration', 'adam/learning_rate', 'adam/momentum/w', 'adam/velocity/w']
    """

    def __init__(self, learning_rate=0.001, beta_1: float = 0.9, beta_2: float = 0.999,
                 epsilon: float = 1e-7, amsgrad: bool = False, weight_decay=None, clipnorm=None,
                 clipvalue=None, global_clipnorm=None, name: str = "adam"):
        super().__init__(learning_rate, weight_decay=weight_decay, clipnorm=clipnorm,
                         clipvalue=clipvalue, global_clipnorm=global_clipnorm, name=name)
        self.beta_1 = beta_1
        self.beta_2 = beta_2
        self.epsilon = epsilon
        self.amsgrad = amsgrad
        self._alpha_cache = None

    def build(self, var_list) -> None:
        if self.built:
            return
        super().build(var_list)
        self._momentums, self._velocities = self.add_optimizer_variables(
            var_list, ["momentum", "velocity"])
        if self.amsgrad:
            self._velocity_hats = self.add_optimizer_variables(var_list, "velocity_hat")

    def update_step(self, gradient, variable, learning_rate) -> None:
        i = self._get_variable_index(variable)
        m, u = self._momentums[i], self._velocities[i]
        alpha = self._alpha(learning_rate)
        m.assign_add((gradient - m) * (1 - self.beta_1))
        u.assign_add((ops.square(gradient) - u) * (1 - self.beta_2))
        if self.amsgrad:
            u_hat = self._velocity_hats[i]
            u_hat.assign(ops.maximum(u_hat, u))
            u = u_hat
        variable.assign_sub(m * alpha / (ops.sqrt(u) + self.epsilon))

    def _fusable(self) -> bool:
        return not self.amsgrad  # the kernel has no velocity_hat slot

    def _fused_update(self, grads, variables, lr, decays, runtime) -> None:
        """The whole step for ``variables`` (one dtype) in one kernel launch (GPU); the
        iteration count and learning rate stay on the device."""
        index = [self._get_variable_index(v) for v in variables]
        ms = [self._momentums[i] for i in index]
        us = [self._velocities[i] for i in index]
        new = gpu.adam_update(
            [v._data for v in variables], grads, [m._data for m in ms], [u._data for u in us],
            lr, self.iterations._data, decays, self.beta_1, self.beta_2, self.epsilon,
            runtime=runtime)
        for group, arrays in zip((variables, ms, us), new):
            for v, a in zip(group, arrays):
                replace(v, a)

    def _alpha(self, learning_rate):
        """``lr * sqrt(1 - beta_2**t) / (1 - beta_1**t)``. It is the same for every variable
        of one step and dtype, so it is computed once per (step, learning-rate tensor)."""
        key = (learning_rate, self.iterations._version)
        cached = self._alpha_cache
        if cached is None or cached[0][0] is not key[0] or cached[0][1] != key[1]:
            t = ops.cast(self.iterations + 1, dtype=learning_rate.dtype)
            alpha = learning_rate * ops.sqrt(1 - self.beta_2**t) / (1 - self.beta_1**t)
            self._alpha_cache = cached = (key, alpha)
        return cached[1]

    def get_config(self) -> dict:
        return {**super().get_config(), "beta_1": self.beta_1, "beta_2": self.beta_2,
                "epsilon": self.epsilon, "amsgrad": self.amsgrad}


class AdamW(Adam):
    """Adam with decoupled weight decay (Loshchilov & Hutter, 2019), as Keras 3.

    Each step first decays, ``v = v - v * weight_decay * lr``, then applies the Adam rule
    (see ``Adam``) with the gradient that was computed before the decay. Variables can be
    exempted with ``exclude_from_weight_decay(var_list=..., var_names=[...])``.

    Args:
        learning_rate: Float, schedule or callable; defaults to 0.001.
        weight_decay: Decay rate; defaults to 0.004 (Keras' default).
        beta_1, beta_2, epsilon, amsgrad: as ``Adam``.
        **kwargs: ``clipnorm``, ``clipvalue``, ``global_clipnorm``, ``name``.

    Example:
        >>> import tape
        >>> from tape import optimizers
        >>> w = tape.Variable([10.0], name="w")
        >>> opt = optimizers.AdamW(learning_rate=0.1, weight_decay=0.5)
        >>> _ = opt.apply_gradients([(tape.tensor([1.0]), w)])
        >>> round(float(w.numpy()[0]), 4)  # 10 - 10 * 0.5 * 0.1, then Adam's ~0.1 step
        9.4
    """

    def __init__(self, learning_rate=0.001, weight_decay: float = 0.004, beta_1: float = 0.9,
                 beta_2: float = 0.999, epsilon: float = 1e-7, amsgrad: bool = False,
                 clipnorm=None, clipvalue=None, global_clipnorm=None, name: str = "adamw"):
        if weight_decay is None:
            raise ValueError("Argument `weight_decay` must be a float. Received: "
                             "weight_decay=None")
        super().__init__(learning_rate, beta_1=beta_1, beta_2=beta_2, epsilon=epsilon,
                         amsgrad=amsgrad, weight_decay=weight_decay, clipnorm=clipnorm,
                         clipvalue=clipvalue, global_clipnorm=global_clipnorm, name=name)

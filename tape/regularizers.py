"""Weight penalties, Keras 3 style: ``L1``, ``L2``, ``L1L2``; ``reg(weight)`` is a scalar Tensor
built with tape ops, so it is differentiable and a layer can add it to the loss.
"""

from __future__ import annotations

import math

from . import _config, ops
from .errors import names_user_line
from .ops.creation import beside
from .tensor import Tensor


def _check_factor(value, name: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or math.isnan(value) \
            or math.isinf(value) or value < 0:
        raise ValueError(f"Invalid value for argument {name}: expected a non-negative float. "
                         f"Received: {name}={value!r}")
    return float(value)


class Regularizer(_config.Configurable):
    """Base class: ``__call__(weight)`` returns a scalar penalty Tensor.

    Example:
        >>> import tape
        >>> from tape import regularizers
        >>> class MaxNorm(regularizers.Regularizer):
        ...     def __call__(self, weight):
        ...         return tape.max(tape.abs(weight))
        >>> MaxNorm()(tape.tensor([1.0, -3.0])).item()
        3.0
    """

    def __call__(self, weight) -> Tensor:
        weight = ops.convert(weight)
        with beside(weight):
            return ops.zeros((), dtype=weight.dtype)



class L1L2(Regularizer):
    """``l1 * sum(abs(w)) + l2 * sum(square(w))``.

    Example:
        >>> import tape
        >>> from tape import regularizers
        >>> regularizers.L1L2(l1=0.5, l2=0.25)(tape.tensor([1.0, -2.0])).item()
        2.75
    """

    def __init__(self, l1=0.0, l2=0.0):
        self.l1 = _check_factor(l1, "l1")
        self.l2 = _check_factor(l2, "l2")

    def __call__(self, weight) -> Tensor:
        weight = ops.convert(weight)
        with beside(weight):
            penalty = ops.zeros((), dtype=weight.dtype)
        if self.l1:
            penalty = ops.add(penalty, ops.multiply(ops.sum(ops.abs(weight)), self.l1))
        if self.l2:
            penalty = ops.add(penalty, ops.multiply(ops.sum(ops.square(weight)), self.l2))
        return penalty

    def get_config(self) -> dict:
        return {"l1": self.l1, "l2": self.l2}


class L1(L1L2):
    """``l1 * sum(abs(w))``.

    Example:
        >>> import tape
        >>> from tape import regularizers
        >>> regularizers.L1(0.1)(tape.tensor([1.0, -2.0])).item()
        0.30000001192092896
    """

    def __init__(self, l1=0.01):
        super().__init__(l1=l1)

    def get_config(self) -> dict:
        return {"l1": self.l1}


class L2(L1L2):
    """``l2 * sum(square(w))``.

    Example:
        >>> import tape
        >>> from tape import regularizers
        >>> regularizers.L2(0.5)(tape.tensor([1.0, -2.0])).item()
        2.5
    """

    def __init__(self, l2=0.01):
        super().__init__(l2=l2)

    def get_config(self) -> dict:
        return {"l2": self.l2}


# Keras' lowercase aliases: tape.regularizers.l2(1e-4) works as in keras.regularizers.
l1, l2, l1_l2 = L1, L2, L1L2

ALIASES = {"l1": L1, "l2": L2, "l1_l2": L1L2, "l1l2": L1L2, "L1": L1, "L2": L2, "L1L2": L1L2}


@names_user_line
def get(identifier):
    """Resolve a regularizer: ``'l1'``, ``'l2'``, ``'l1_l2'`` (Keras defaults), a config dict
    (``{'class_name', 'config'}``), a class or instance, or any callable ``f(weight)``.

    Example:
        >>> from tape import regularizers
        >>> regularizers.get("l2")
        L2(l2=0.01)
    """
    return _config.resolve(identifier, kind="regularizer", base=Regularizer, aliases=ALIASES)



"""``load_model``'s cap on the numbers that building layers may allocate: a config asking for
``units=10**7`` in a 5 KB file fails before allocating 120 MB (``add_weight`` charges each
new weight with ``charge``)."""

from __future__ import annotations

import contextlib
import math
from contextvars import ContextVar

# [numbers left, refuse(weight_name, shape)] while a budget is active
_budget: ContextVar[list | None] = ContextVar("tape_layers_weight_budget", default=None)


@contextlib.contextmanager
def weight_budget(numbers: int, refuse):
    """While layers are built inside, ``add_weight`` creates at most ``numbers`` numbers in
    all; the weight that would pass the cap raises ``refuse(weight_name, shape)`` before
    anything is allocated.

    Example:
        >>> from tape.layers import Dense
        >>> from tape.layers.weight_budget import weight_budget
        >>> try:
        ...     with weight_budget(10, lambda name, shape: ValueError(f"{shape} refused")):
        ...         Dense(4).build((None, 3))
        ... except ValueError as error:
        ...     print(str(error).split(" [at ")[0])
        (3, 4) refused
    """
    token = _budget.set([numbers, refuse])
    try:
        yield
    finally:
        _budget.reset(token)


def charge(name: str, shape: tuple) -> None:
    """Count a weight of ``shape`` against the active budget (if any); past the cap, raise
    the budget's refusal naming ``name``."""
    budget = _budget.get()
    if budget is not None:
        budget[0] -= math.prod(shape)
        if budget[0] < 0:
            raise budget[1](name, shape)

"""Tools for checking your own gradients and layers: ``check_gradients``, ``check_layer``,
hypothesis ``strategies`` and the differential ``fuzz``er of eager, traced and JAX runs
(both need hypothesis) and a JAX ``oracle`` (needs jax).
``pip install 'tape[test]'`` gets both.

Example:
    >>> import tape
    >>> from tape.testing import check_gradients
    >>> def f(x, w):
    ...     return tape.sum(tape.tanh(x @ w) ** 2, axis=0)
    >>> check_gradients(f, [[0.1, -0.3], [0.5, 0.2]], [[1.0], [2.0]], order=2)  # passes: None
"""

from __future__ import annotations

import importlib

from . import oracle
from .gradcheck import check_gradients
from .layers import check_layer

__all__ = ["check_gradients", "check_layer", "fuzz", "oracle", "strategies"]


def __getattr__(name: str):
    # strategies and fuzz import hypothesis, an optional dependency: load them on first use
    # only, so that `import tape` works without it (each raises the clear error).
    if name in ("strategies", "fuzz"):
        return importlib.import_module(f"{__name__}.{name}")
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")

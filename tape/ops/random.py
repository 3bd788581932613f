"""Random tensors from one global generator (``seed`` resets it) or a per-call ``seed``."""

from __future__ import annotations

import numpy as np

from .. import dtypes
from ..tensor import Tensor
from .creation import _float_or, _shape

_generator = np.random.default_rng()


def seed(value: int) -> None:
    """Reset the global generator, so what follows is reproducible.

    Example:
        >>> import tape
        >>> tape.random.seed(0); a = tape.random.normal((2,))
        >>> tape.random.seed(0); b = tape.random.normal((2,))
        >>> bool(tape.all(a == b))
        True
    """
    global _generator
    _generator = np.random.default_rng(value)


def _rng(seed_value):
    return _generator if seed_value is None else np.random.default_rng(seed_value)


def normal(shape, mean=0.0, stddev=1.0, dtype=None, seed=None) -> Tensor:
    """Samples from a normal distribution (float32 by default)."""
    values = _rng(seed).normal(mean, stddev, size=_shape(shape))
    return Tensor._wrap(values.astype(_float_or(dtype)))


def uniform(shape, minval=0.0, maxval=1.0, dtype=None, seed=None) -> Tensor:
    """Samples from ``[minval, maxval)`` (float32 by default)."""
    values = _rng(seed).uniform(minval, maxval, size=_shape(shape))
    return Tensor._wrap(values.astype(_float_or(dtype)))


def randint(low, high=None, shape=(), dtype="int64", seed=None) -> Tensor:
    """Integers from ``[low, high)`` (from ``[0, low)`` when ``high`` is omitted)."""
    if high is None:
        low, high = 0, low
    values = _rng(seed).integers(low, high, size=_shape(shape))
    return Tensor._wrap(values.astype(dtypes.as_dtype(dtype)))


def permutation(x, seed=None) -> Tensor:
    """A shuffled ``arange(x)`` for an int, or ``x`` shuffled along its first axis (the
    gradient flows back through the shuffle)."""
    if isinstance(x, int | np.integer):
        return Tensor._wrap(_rng(seed).permutation(int(x)))
    from .shape import getitem

    return getitem(x, _rng(seed).permutation(len(x)))

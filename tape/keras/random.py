"""``keras.random``: Keras 3's random functions over tape's random ops, and SeedGenerator.

``seed`` may be an int, None (tape's global stream: fresh draws, also at each replay of a
traced step) or a ``SeedGenerator`` (a new int seed per call, from its own stream).

Example:
    >>> from tape.keras import random
    >>> random.normal((2, 3), seed=1).shape
    (2, 3)
"""

from __future__ import annotations

import numpy as np

from .. import initializers
from .. import ops as _ops
from ..ops import random as _random
from ._reach import missing


class SeedGenerator:
    """A stream of seeds: ``SeedGenerator(42)`` gives the same sequence of draws each run,
    ``SeedGenerator()`` leaves each draw to tape's global stream (``tape.random.seed``).

    Example:
        >>> from tape.keras import random
        >>> a, b = random.SeedGenerator(7), random.SeedGenerator(7)
        >>> bool((random.uniform((3,), seed=a) == random.uniform((3,), seed=b)).numpy().all())
        True
    """

    def __init__(self, seed=None, name=None, **kwargs):
        self.initial_seed = seed
        self.name = name or "seed_generator"
        self._rng = None if seed is None else np.random.default_rng(int(seed))

    def next(self):
        """The next int seed, or None for the global stream."""
        return None if self._rng is None else int(self._rng.integers(0, 2**31 - 1))

    def get_config(self) -> dict:
        return {"seed": self.initial_seed}


def _seed(seed):
    return seed.next() if isinstance(seed, SeedGenerator) else seed


def normal(shape, mean=0.0, stddev=1.0, dtype=None, seed=None):
    """Samples from N(mean, stddev**2)."""
    return _random.normal(tuple(shape), mean, stddev, dtype=dtype, seed=_seed(seed))


def uniform(shape, minval=0.0, maxval=1.0, dtype=None, seed=None):
    """Samples from U[minval, maxval)."""
    return _random.uniform(tuple(shape), minval, maxval, dtype=dtype, seed=_seed(seed))


def randint(shape, minval, maxval, dtype="int32", seed=None):
    """Integers in [minval, maxval) (Keras' argument order: shape first)."""
    return _random.randint(minval, maxval, tuple(shape), dtype=dtype, seed=_seed(seed))


def truncated_normal(shape, mean=0.0, stddev=1.0, dtype=None, seed=None):
    """Normal samples redrawn until within two standard deviations of the mean."""
    init = initializers.TruncatedNormal(mean=mean, stddev=stddev, seed=_seed(seed))
    return init(tuple(shape), dtype or "float32")


def dropout(inputs, rate, noise_shape=None, seed=None):
    """Zero entries with probability ``rate`` and scale the rest by ``1 / (1 - rate)``."""
    if noise_shape is not None:
        raise missing("keras.random", "dropout", {"dropout": "noise_shape is not mapped"})
    return _random.dropout(inputs, rate, seed=_seed(seed))


def shuffle(x, axis=0, seed=None):
    """``x`` with its slices along ``axis`` in random order."""
    x = _ops.convert(x)
    return _ops.take(x, _random.permutation(x.shape[axis], seed=_seed(seed)), axis=axis)


def categorical(logits, num_samples, dtype="int32", seed=None):
    """``num_samples`` class draws per row of ``logits`` (Gumbel-max)."""
    logits = _ops.convert(logits)
    rows, classes = logits.shape
    u = uniform((rows, num_samples, classes), 1e-20, 1.0, seed=seed)
    gumbel = _ops.negative(_ops.log(_ops.negative(_ops.log(u))))
    draws = _ops.argmax(_ops.add(_ops.expand_dims(logits, 1), gumbel), axis=-1)
    return _ops.cast(draws, dtype)


def __getattr__(name):
    raise missing("keras.random", name)

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
    """A stream of random keys: ``SeedGenerator(42)`` walks the same sequence of draws in
    every run, ``SeedGenerator()`` draws from tape's global stream. Each use takes the next
    key, also at each replay of a traced step (the key is an op of the graph, as Keras keeps
    its seed state in a variable).

    Example:
        >>> from tape.keras import random
        >>> a, b = random.SeedGenerator(7), random.SeedGenerator(7)
        >>> bool((random.uniform((3,), seed=a) == random.uniform((3,), seed=b)).numpy().all())
        True
    """

    def __init__(self, seed=None, name=None, **kwargs):
        self.initial_seed = seed
        self.name = name or "seed_generator"
        self._streams = None if seed is None else _random.Streams()

    def next(self):
        """The key of the next draw (a ``tape.ops.random.random_key`` tensor)."""
        if self._streams is None:
            return _random.random_key()
        return _random.random_key(seed=int(self.initial_seed), streams=self._streams)

    def get_config(self) -> dict:
        return {"seed": self.initial_seed}


def _seed_and_key(seed) -> dict:
    """``seed``/``key`` arguments of tape's random functions for a Keras ``seed``: an int is
    fixed (the same draws at each call, as Keras), a SeedGenerator gives its next key."""
    if isinstance(seed, SeedGenerator):
        return {"key": seed.next()}
    return {"seed": seed}


def normal(shape, mean=0.0, stddev=1.0, dtype=None, seed=None):
    """Samples from N(mean, stddev**2)."""
    return _random.normal(tuple(shape), mean, stddev, dtype=dtype, **_seed_and_key(seed))


def uniform(shape, minval=0.0, maxval=1.0, dtype=None, seed=None):
    """Samples from U[minval, maxval)."""
    return _random.uniform(tuple(shape), minval, maxval, dtype=dtype, **_seed_and_key(seed))


def randint(shape, minval, maxval, dtype="int32", seed=None):
    """Integers in [minval, maxval) (Keras' argument order: shape first)."""
    return _random.randint(minval, maxval, tuple(shape), dtype=dtype, **_seed_and_key(seed))


def truncated_normal(shape, mean=0.0, stddev=1.0, dtype=None, seed=None):
    """Normal samples redrawn until within two standard deviations of the mean."""
    if isinstance(seed, SeedGenerator):  # an int seed for the host-side sampler
        seed = int(seed.next().numpy()[1]) + (seed.initial_seed or 0)
    init = initializers.TruncatedNormal(mean=mean, stddev=stddev, seed=seed)
    return init(tuple(shape), dtype or "float32")


def dropout(inputs, rate, noise_shape=None, seed=None):
    """Zero entries with probability ``rate`` and scale the rest by ``1 / (1 - rate)``."""
    if noise_shape is not None:
        raise missing("keras.random", "dropout", {"dropout": "noise_shape is not mapped"})
    key = _seed_and_key(seed)
    return _random.dropout(inputs, rate, seed=key.get("seed"), key=key.get("key"))


def shuffle(x, axis=0, seed=None):
    """``x`` with its slices along ``axis`` in random order."""
    x = _ops.moveaxis(_ops.convert(x), axis, 0)  # tape's permutation shuffles axis 0
    return _ops.moveaxis(_random.permutation(x, **_seed_and_key(seed)), 0, axis)


def categorical(logits, num_samples, dtype="int32", seed=None):
    """``num_samples`` class draws per row of ``logits`` (Gumbel-max)."""
    rows, classes = np.shape(logits)
    u = uniform((rows, num_samples, classes), 1e-20, 1.0, seed=seed)
    logits = _ops.convert(logits, like=u)  # host logits go where the draws are
    gumbel = _ops.negative(_ops.log(_ops.negative(_ops.log(u))))
    draws = _ops.argmax(_ops.add(_ops.expand_dims(logits, 1), gumbel), axis=-1)
    return _ops.cast(draws, dtype)


def __getattr__(name):
    raise missing("keras.random", name)

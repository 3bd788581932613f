"""A float64 model and data shared by the data-parallel tests."""

from __future__ import annotations

import numpy as np

import tape
from tape import layers, models


def data(samples: int = 40, seed: int = 0):
    rng = np.random.default_rng(seed)
    return rng.normal(size=(samples, 5)), rng.integers(0, 3, samples)


def mlp(units: int = 8) -> models.Sequential:
    """A float64 MLP whose weights are fixed numbers (the same on every rank and in the
    one-process reference), not draws."""
    model = models.Sequential([layers.Input((5,), dtype="float64"),
                               layers.Dense(units, activation="tanh", dtype="float64"),
                               layers.Dense(3, dtype="float64")])
    model.set_weights([np.random.default_rng(i).normal(size=v.shape)
                       for i, v in enumerate(model.weights)])
    return model


def loss():
    return tape.losses.SparseCategoricalCrossentropy(from_logits=True)


def max_difference(a: list, b: list) -> float:
    return max(float(np.abs(np.asarray(x) - np.asarray(y)).max()) for x, y in zip(a, b))

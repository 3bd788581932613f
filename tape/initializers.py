"""Weight initializers, Keras 3 style: ``init(shape, dtype)`` returns a Tensor; ``get()``
resolves Keras names ('glorot_uniform', 'he_normal', 'zeros'...).

Fans follow Keras: for a kernel of shape ``(..., in, out)`` the receptive field (the product
of the leading dimensions) multiplies both. A seeded initializer returns the same values at
every call; an unseeded one draws fresh values from ``tape.random``'s global generator, so
``tape.random.seed(n)`` makes a whole model's initialization reproducible.
"""

from __future__ import annotations

import math

import numpy as np
from scipy.special import ndtr, ndtri

from . import _config, dtypes, ops
from .errors import names_user_line
from .ops import random
from .tensor import Tensor

# The std of a standard normal truncated to [-2, 2]: dividing by it keeps the variance.
_TRUNCATED_STD = 0.87962566103423978


def compute_fans(shape) -> tuple[int, int]:
    """(fan_in, fan_out) of a weight shape, as Keras computes them.

    Example:
        >>> from tape import initializers
        >>> initializers.compute_fans((3, 3, 16, 32))
        (144, 288)
    """
    shape = tuple(int(d) for d in shape)
    if len(shape) < 1:
        return 1, 1
    if len(shape) == 1:
        return shape[0], shape[0]
    receptive_field = math.prod(shape[:-2])
    return shape[-2] * receptive_field, shape[-1] * receptive_field


def _float_dtype(dtype, who: str) -> np.dtype:
    dtype = dtypes.as_dtype(dtype or "float32")
    if not dtypes.is_float(dtype):
        raise ValueError(f"{who}: random initializers need a float dtype, got {dtype}")
    return dtype


class Initializer(_config.Configurable):
    """Base class: ``__call__(shape, dtype='float32')`` returns a Tensor of that shape.

    Example:
        >>> from tape import initializers
        >>> class Twos(initializers.Initializer):
        ...     def __call__(self, shape, dtype="float32"):
        ...         return initializers.Constant(2.0)(shape, dtype)
        >>> Twos()((2,)).numpy().tolist()
        [2.0, 2.0]
    """

    def __call__(self, shape, dtype="float32") -> Tensor:
        raise NotImplementedError(f"{type(self).__name__} must implement __call__")



class Constant(Initializer):
    """Every element equal to ``value``.

    Example:
        >>> from tape import initializers
        >>> initializers.Constant(0.5)((2, 2)).numpy().tolist()
        [[0.5, 0.5], [0.5, 0.5]]
    """

    def __init__(self, value=0.0):
        self.value = value

    def __call__(self, shape, dtype="float32") -> Tensor:
        return ops.full(tuple(shape), self.value, dtype=dtypes.as_dtype(dtype or "float32"))

    def get_config(self) -> dict:
        return {"value": self.value}


class Zeros(Constant):
    """All zeros."""

    def __init__(self):
        super().__init__(0.0)

    def get_config(self) -> dict:
        return {}


class Ones(Constant):
    """All ones."""

    def __init__(self):
        super().__init__(1.0)

    def get_config(self) -> dict:
        return {}


class RandomInitializer(Initializer):
    """Base of the random initializers: holds ``seed`` (an int, or None for the global
    generator of ``tape.random``)."""

    def __init__(self, seed: int | None = None):
        if seed is not None and not isinstance(seed, int | np.integer):
            raise ValueError(f"{type(self).__name__}: seed must be an int or None, got {seed!r}")
        self.seed = seed

    def get_config(self) -> dict:
        return {"seed": self.seed}


def _truncated_normal(shape, stddev, seed, dtype) -> np.ndarray:
    """Standard normal truncated to [-2, 2] (times ``stddev``), by inverting the CDF of a
    uniform draw: one draw, so a seed or ``tape.random.seed`` fixes it."""
    lo, hi = ndtr(-2.0), ndtr(2.0)
    u = random.uniform(shape, lo, hi, dtype=np.float64, seed=seed).numpy()
    return (np.clip(ndtri(u), -2.0, 2.0) * stddev).astype(dtype)


class RandomNormal(RandomInitializer):
    """Samples from ``N(mean, stddev**2)``.

    Example:
        >>> import tape
        >>> from tape import initializers
        >>> init = initializers.RandomNormal(stddev=1.0, seed=0)
        >>> bool(tape.all(init((3,)) == init((3,))))
        True
    """

    def __init__(self, mean=0.0, stddev=0.05, seed=None):
        super().__init__(seed)
        self.mean, self.stddev = mean, stddev

    def __call__(self, shape, dtype="float32") -> Tensor:
        dtype = _float_dtype(dtype, "RandomNormal")
        return random.normal(tuple(shape), self.mean, self.stddev, dtype=dtype, seed=self.seed)

    def get_config(self) -> dict:
        return {"mean": self.mean, "stddev": self.stddev, "seed": self.seed}


class TruncatedNormal(RandomNormal):
    """Samples from ``N(mean, stddev**2)`` truncated to two standard deviations."""

    def __call__(self, shape, dtype="float32") -> Tensor:
        dtype = _float_dtype(dtype, "TruncatedNormal")
        values = _truncated_normal(tuple(shape), self.stddev, self.seed, dtype) + self.mean
        return ops.tensor(values.astype(dtype))


class RandomUniform(RandomInitializer):
    """Samples from ``U[minval, maxval)``.

    Example:
        >>> import tape
        >>> from tape import initializers
        >>> w = initializers.RandomUniform(-1.0, 1.0, seed=1)((1000,))
        >>> bool(tape.all(w >= -1) and tape.all(w < 1))
        True
    """

    def __init__(self, minval=-0.05, maxval=0.05, seed=None):
        super().__init__(seed)
        self.minval, self.maxval = minval, maxval

    def __call__(self, shape, dtype="float32") -> Tensor:
        dtype = _float_dtype(dtype, "RandomUniform")
        return random.uniform(tuple(shape), self.minval, self.maxval, dtype=dtype, seed=self.seed)

    def get_config(self) -> dict:
        return {"minval": self.minval, "maxval": self.maxval, "seed": self.seed}


class VarianceScaling(RandomInitializer):
    """Samples with variance ``scale / fan`` (fan by ``mode``), the family behind Glorot, He
    and LeCun.

    Args:
        scale: Positive scaling factor.
        mode: ``'fan_in'``, ``'fan_out'`` or ``'fan_avg'``.
        distribution: ``'truncated_normal'``, ``'untruncated_normal'`` or ``'uniform'``.
        seed: An int for the same values at every call, or None.

    Example:
        >>> from tape import initializers
        >>> init = initializers.VarianceScaling(2.0, "fan_in", "uniform", seed=0)
        >>> float(abs(init((50, 10))).max()) <= (3 * 2.0 / 50) ** 0.5
        True
    """

    def __init__(self, scale=1.0, mode="fan_in", distribution="truncated_normal", seed=None):
        super().__init__(seed)
        if scale <= 0:
            raise ValueError(f"VarianceScaling: scale must be positive, got {scale!r}")
        if mode not in ("fan_in", "fan_out", "fan_avg"):
            raise ValueError("VarianceScaling: mode must be 'fan_in', 'fan_out' or 'fan_avg', "
                             f"got {mode!r}")
        distribution = distribution.lower()
        if distribution == "normal":
            distribution = "truncated_normal"
        if distribution not in ("truncated_normal", "untruncated_normal", "uniform"):
            raise ValueError("VarianceScaling: distribution must be 'truncated_normal', "
                             f"'untruncated_normal' or 'uniform', got {distribution!r}")
        self.scale, self.mode, self.distribution = scale, mode, distribution

    def __call__(self, shape, dtype="float32") -> Tensor:
        dtype = _float_dtype(dtype, type(self).__name__)
        shape = tuple(shape)
        fan_in, fan_out = compute_fans(shape)
        fan = {"fan_in": fan_in, "fan_out": fan_out, "fan_avg": (fan_in + fan_out) / 2}[self.mode]
        scale = self.scale / max(1.0, fan)
        if self.distribution == "truncated_normal":
            values = _truncated_normal(shape, math.sqrt(scale) / _TRUNCATED_STD, self.seed, dtype)
            return ops.tensor(values)
        if self.distribution == "untruncated_normal":
            return random.normal(shape, 0.0, math.sqrt(scale), dtype=dtype, seed=self.seed)
        limit = math.sqrt(3.0 * scale)
        return random.uniform(shape, -limit, limit, dtype=dtype, seed=self.seed)

    def get_config(self) -> dict:
        return {"scale": self.scale, "mode": self.mode, "distribution": self.distribution,
                "seed": self.seed}


def _variance_scaling(name, scale, mode, distribution, doc):
    def __init__(self, seed=None):
        VarianceScaling.__init__(self, scale, mode, distribution, seed)

    def get_config(self):
        return {"seed": self.seed}

    return type(name, (VarianceScaling,), {"__init__": __init__, "get_config": get_config,
                                           "__doc__": doc, "__module__": __name__})


GlorotUniform = _variance_scaling(
    "GlorotUniform", 1.0, "fan_avg", "uniform",
    "Uniform in ``[-limit, limit]``, ``limit = sqrt(6 / (fan_in + fan_out))`` (the default).")
GlorotNormal = _variance_scaling(
    "GlorotNormal", 1.0, "fan_avg", "truncated_normal",
    "Truncated normal with ``stddev = sqrt(2 / (fan_in + fan_out))``.")
HeNormal = _variance_scaling(
    "HeNormal", 2.0, "fan_in", "truncated_normal",
    "Truncated normal with ``stddev = sqrt(2 / fan_in)`` (for ReLU layers).")
HeUniform = _variance_scaling(
    "HeUniform", 2.0, "fan_in", "uniform",
    "Uniform in ``[-limit, limit]``, ``limit = sqrt(6 / fan_in)``.")
LecunNormal = _variance_scaling(
    "LecunNormal", 1.0, "fan_in", "truncated_normal",
    "Truncated normal with ``stddev = sqrt(1 / fan_in)`` (for SELU layers).")
LecunUniform = _variance_scaling(
    "LecunUniform", 1.0, "fan_in", "uniform",
    "Uniform in ``[-limit, limit]``, ``limit = sqrt(3 / fan_in)``.")


class Orthogonal(RandomInitializer):
    """A (semi-)orthogonal matrix times ``gain``, from the QR decomposition of a normal draw;
    shapes of rank > 2 are flattened to ``(prod(shape[:-1]), shape[-1])``.

    Example:
        >>> import numpy as np
        >>> from tape import initializers
        >>> q = initializers.Orthogonal(seed=0)((4, 4), dtype="float64").numpy()
        >>> bool(np.allclose(q.T @ q, np.eye(4)))
        True
    """

    def __init__(self, gain=1.0, seed=None):
        super().__init__(seed)
        self.gain = gain

    def __call__(self, shape, dtype="float32") -> Tensor:
        dtype = _float_dtype(dtype, "Orthogonal")
        shape = tuple(shape)
        if len(shape) < 2:
            raise ValueError(f"Orthogonal: needs a shape of rank >= 2, got {shape}")
        rows, cols = math.prod(shape[:-1]), shape[-1]
        a = random.normal((max(rows, cols), min(rows, cols)), dtype=np.float64,
                          seed=self.seed).numpy()
        q, r = np.linalg.qr(a)
        q = q * np.sign(np.diag(r))  # a unique, uniformly distributed Q
        if rows < cols:
            q = q.T
        return ops.tensor((self.gain * q).reshape(shape).astype(dtype))

    def get_config(self) -> dict:
        return {"gain": self.gain, "seed": self.seed}


ALIASES = {
    "constant": Constant, "zeros": Zeros, "zero": Zeros, "ones": Ones, "one": Ones,
    "random_normal": RandomNormal, "normal": RandomNormal, "truncated_normal": TruncatedNormal,
    "random_uniform": RandomUniform, "uniform": RandomUniform,
    "variance_scaling": VarianceScaling, "glorot_uniform": GlorotUniform,
    "glorot_normal": GlorotNormal, "he_normal": HeNormal, "he_uniform": HeUniform,
    "lecun_normal": LecunNormal, "lecun_uniform": LecunUniform, "orthogonal": Orthogonal,
}
ALIASES.update({cls.__name__: cls for cls in set(ALIASES.values())})


@names_user_line
def get(identifier):
    """Resolve an initializer: a Keras name, a config dict (``{'class_name', 'config'}``),
    a class or instance, or any callable ``f(shape, dtype)``.

    Example:
        >>> from tape import initializers
        >>> initializers.get("he_normal")
        HeNormal(seed=None)
    """
    return _config.resolve(identifier, kind="initializer", base=Initializer, aliases=ALIASES)



"""Regularization noise that is active only while training (GaussianNoise, and the
SpatialDropouts, which drop whole channels through Dropout's ``noise_shape``), and
Rescaling, the always-on ``inputs * scale + offset`` of image preprocessing."""

from __future__ import annotations

import numbers

import numpy as np

from .. import dtypes, ops
from ..ops import random
from .base import InputSpec, Layer
from .convolutional import data_format_arg
from .core import Dropout, next_key

__all__ = ["GaussianNoise", "Rescaling", "SpatialDropout1D", "SpatialDropout2D"]


class GaussianNoise(Layer):
    """While training, adds zero-mean normal noise of standard deviation ``stddev``; the
    identity at inference.

    Args:
        stddev: Standard deviation of the noise (>= 0).
        seed: An int for a reproducible sequence of draws (fresh noise at every call), or
            None for ``tape.random``'s global generator.

    Example:
        >>> import tape
        >>> from tape.layers import GaussianNoise
        >>> layer = GaussianNoise(0.1, seed=0)
        >>> layer(tape.ones((2,))).numpy().tolist()  # inference: unchanged
        [1.0, 1.0]
        >>> noisy = layer(tape.ones((10000,)), training=True)
        >>> round(float(tape.std(noisy).numpy()), 1)
        0.1
    """

    supports_masking = True

    def __init__(self, stddev, seed=None, **kwargs):
        super().__init__(**kwargs)
        if isinstance(stddev, bool) or not isinstance(stddev, numbers.Real) or not (
                0 <= stddev < float("inf")):
            raise ValueError("GaussianNoise: stddev must be a finite number >= 0. Received: "
                             f"stddev={stddev!r}")
        self.stddev = float(stddev)
        self.seed = seed
        self._streams = None if seed is None else random.Streams()
        self.built = True

    def call(self, inputs, training=None):
        if not training or self.stddev == 0:
            return inputs
        inputs = ops.convert(inputs)
        # Drawn on the host from a host key (as tape.random draws), then moved beside the
        # inputs: a seed gives the same noise on every device.
        noise = random._normal(next_key(self, "cpu"), shape=inputs.shape, dtype=inputs.dtype,
                               stddev=self.stddev, device=inputs.device)
        return ops.add(inputs, noise)

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self) -> dict:
        return {**super().get_config(), "stddev": self.stddev, "seed": self.seed}


class SpatialDropout1D(Dropout):
    """Dropout of whole feature channels of ``(batch, steps, channels)``: one keep or drop
    per example and channel, for every step (``Dropout`` with ``noise_shape=(batch, 1,
    channels)``); the identity at inference.

    Example:
        >>> import tape
        >>> from tape.layers import SpatialDropout1D
        >>> y = SpatialDropout1D(0.5, seed=0)(tape.ones((1, 3, 4)), training=True).numpy()
        >>> bool((y == y[:, :1, :]).all())  # each channel kept or dropped at every step
        True
    """

    def __init__(self, rate, seed=None, **kwargs):
        super().__init__(rate, noise_shape=(None, 1, None), seed=seed, **kwargs)
        self.input_spec = InputSpec(ndim=3)

    def get_config(self) -> dict:
        config = super().get_config()
        del config["noise_shape"]
        return config


class SpatialDropout2D(Dropout):
    """Dropout of whole feature maps of images: one keep or drop per example and channel,
    for every pixel; the identity at inference.

    Args:
        rate: Fraction of channels to drop, in [0, 1].
        data_format: ``'channels_last'`` (default) or ``'channels_first'``.
        seed: As for ``Dropout``.

    Example:
        >>> import tape
        >>> from tape.layers import SpatialDropout2D
        >>> y = SpatialDropout2D(0.5, seed=0)(tape.ones((1, 2, 2, 8)), training=True).numpy()
        >>> bool((y == y[:, :1, :1, :]).all())
        True
    """

    def __init__(self, rate, data_format=None, seed=None, **kwargs):
        data_format = data_format_arg(data_format, "SpatialDropout2D")
        noise_shape = (None, 1, 1, None) if data_format == "channels_last" else (
            None, None, 1, 1)
        super().__init__(rate, noise_shape=noise_shape, seed=seed, **kwargs)
        self.data_format = data_format
        self.input_spec = InputSpec(ndim=4)

    def get_config(self) -> dict:
        config = super().get_config()
        del config["noise_shape"]
        return {**config, "data_format": self.data_format}


def _number_or_numbers(value, name: str):
    """A float, or a list of floats (one per channel, broadcast on the last axis)."""
    if isinstance(value, numbers.Real) and not isinstance(value, bool):
        return float(value)
    try:
        values = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError):
        values = None
    if values is None or values.ndim != 1 or not len(values):
        raise ValueError(f"Rescaling: {name} must be a number or a list of numbers (one per "
                         f"channel). Received: {name}={value!r}")
    return values.tolist()


class Rescaling(Layer):
    """``inputs * scale + offset``, in the layer's dtype (integer images become floats), in
    training and at inference alike.

    Args:
        scale: A number, or a list of numbers broadcast along the last axis.
        offset: The same, added after scaling.

    Example:
        >>> import tape
        >>> from tape.layers import Rescaling
        >>> Rescaling(1 / 127.5, offset=-1)(tape.tensor([[0, 255]], dtype="uint8")).numpy()
        array([[-1.,  1.]], dtype=float32)
    """

    def __init__(self, scale, offset=0.0, **kwargs):
        super().__init__(**kwargs)
        self.scale = _number_or_numbers(scale, "scale")
        self.offset = _number_or_numbers(offset, "offset")
        self.built = True

    def call(self, inputs):
        x = ops.convert(inputs)
        if x.dtype != dtypes.as_dtype(self.compute_dtype):
            x = ops.cast(x, self.compute_dtype)
        return ops.add(ops.multiply(x, self._constant(self.scale, x)),
                       self._constant(self.offset, x))

    @staticmethod
    def _constant(value, x):
        if isinstance(value, float):
            return value
        return ops.convert(np.asarray(value, dtype=x.dtype), like=x)

    def compute_output_shape(self, input_shape):
        return input_shape

    def compute_output_spec(self, input_shape, input_dtypes):
        return self.compute_output_shape(input_shape), [dtypes.as_dtype(self.compute_dtype)]

    def get_config(self) -> dict:
        return {**super().get_config(), "scale": self.scale, "offset": self.offset}

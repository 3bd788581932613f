"""Shape layers with Keras 3's arguments: ZeroPadding1D/2D, Cropping1D/2D, UpSampling1D/2D
(nearest), RepeatVector, Permute and Identity. Each is one or two shape ops (pad, slicing,
repeat, transpose), so it is differentiable and traceable like any op, for any batch size."""

from __future__ import annotations

import numbers

from .. import ops
from ..errors import user_line
from .base import InputSpec, Layer
from .convolutional import data_format_arg, spatial_axes

__all__ = ["Cropping1D", "Cropping2D", "Identity", "Permute", "RepeatVector", "UpSampling1D",
           "UpSampling2D", "ZeroPadding1D", "ZeroPadding2D"]


def _non_negative_int(value) -> bool:
    return (not isinstance(value, bool) and isinstance(value, numbers.Integral)
            and value >= 0)


def _pair_per_axis(value, rank: int, name: str, layer: str) -> tuple:
    """``((before, after),) * rank`` from an int (all sides), ``rank`` ints (symmetric per
    axis; for rank 1 the pair ``(before, after)``) or ``rank`` pairs, all non-negative."""
    def bad():
        return ValueError(f"{layer}: {name} must be a non-negative int, {rank} non-negative "
                          f"ints{' (before, after)' if rank == 1 else ''} or {rank} pairs of "
                          f"them. Received: {name}={value!r}")

    if _non_negative_int(value):
        pairs = [(value, value)] * rank
    elif isinstance(value, list | tuple) and rank == 1 and len(value) == 2 and all(
            _non_negative_int(v) for v in value):
        pairs = [tuple(value)]
    elif isinstance(value, list | tuple) and len(value) == rank:
        pairs = []
        for item in value:
            if _non_negative_int(item):
                pairs.append((item, item))
            elif isinstance(item, list | tuple) and len(item) == 2 and all(
                    _non_negative_int(v) for v in item):
                pairs.append(tuple(item))
            else:
                raise bad()
    else:
        raise bad()
    return tuple((int(a), int(b)) for a, b in pairs)


def _positive_ints(value, rank: int, name: str, layer: str) -> tuple[int, ...]:
    items = [value] * rank if isinstance(value, numbers.Integral) else value
    if not isinstance(items, list | tuple) or len(items) != rank or any(
            isinstance(v, bool) or not isinstance(v, numbers.Integral) or v < 1 for v in items):
        raise ValueError(f"{layer}: {name} must be a positive int or {rank} positive ints. "
                         f"Received: {name}={value!r}")
    return tuple(int(v) for v in items)


class _SpatialLayer(Layer):
    """A layer acting on the ``rank`` spatial axes of ``(batch, *spatial, channels)`` (or
    channels first): the axes it touches and the input rank it checks."""

    rank = 1

    def __init__(self, data_format=None, **kwargs):
        super().__init__(**kwargs)
        self.data_format = data_format_arg(data_format, type(self).__name__)
        self.axes = spatial_axes(self.rank, self.data_format)
        self.input_spec = InputSpec(ndim=self.rank + 2)
        self.built = True

    def get_config(self) -> dict:
        config = super().get_config()
        if self.rank > 1:  # Keras' 1D layers have no data_format argument
            config["data_format"] = self.data_format
        return config


class _ZeroPadding(_SpatialLayer):
    def __init__(self, padding, data_format=None, **kwargs):
        super().__init__(data_format, **kwargs)
        self._pairs = _pair_per_axis(padding, self.rank, "padding", type(self).__name__)
        self.padding = self._pairs[0] if self.rank == 1 else self._pairs

    def call(self, inputs):
        inputs = ops.convert(inputs)
        widths = [(0, 0)] * inputs.ndim
        for axis, pair in zip(self.axes, self._pairs, strict=True):
            widths[axis] = pair
        return ops.pad(inputs, widths)

    def compute_output_shape(self, input_shape):
        shape = list(input_shape)
        for axis, (before, after) in zip(self.axes, self._pairs, strict=True):
            shape[axis] = None if shape[axis] is None else shape[axis] + before + after
        return tuple(shape)

    def get_config(self) -> dict:
        return {**super().get_config(), "padding": self.padding}


class ZeroPadding1D(_ZeroPadding):
    """Zeros before and after the time axis of ``(batch, steps, features)``.

    Args:
        padding: An int (both sides) or ``(before, after)``.

    Example:
        >>> import tape
        >>> from tape.layers import ZeroPadding1D
        >>> ZeroPadding1D((1, 2))(tape.ones((1, 2, 1))).numpy()[0, :, 0].tolist()
        [0.0, 1.0, 1.0, 0.0, 0.0]
    """

    rank = 1

    def __init__(self, padding=1, **kwargs):
        super().__init__(padding, **kwargs)


class ZeroPadding2D(_ZeroPadding):
    """Zeros around the height and width of images.

    Args:
        padding: An int (every side), ``(symmetric_height, symmetric_width)``, or
            ``((top, bottom), (left, right))``.
        data_format: ``'channels_last'`` (default) or ``'channels_first'``.

    Example:
        >>> import tape
        >>> from tape.layers import ZeroPadding2D
        >>> ZeroPadding2D(((1, 0), (0, 2)))(tape.ones((1, 2, 2, 3))).shape
        (1, 3, 4, 3)
    """

    rank = 2

    def __init__(self, padding=(1, 1), data_format=None, **kwargs):
        super().__init__(padding, data_format, **kwargs)


class _Cropping(_SpatialLayer):
    def __init__(self, cropping, data_format=None, **kwargs):
        super().__init__(data_format, **kwargs)
        self._pairs = _pair_per_axis(cropping, self.rank, "cropping", type(self).__name__)
        self.cropping = self._pairs[0] if self.rank == 1 else self._pairs

    def call(self, inputs):
        inputs = ops.convert(inputs)
        self._check_fits(inputs.shape)
        index = [slice(None)] * inputs.ndim
        for axis, (before, after) in zip(self.axes, self._pairs, strict=True):
            index[axis] = slice(before, inputs.shape[axis] - after)
        return ops.getitem(inputs, tuple(index))

    def compute_output_shape(self, input_shape):
        self._check_fits(input_shape)
        shape = list(input_shape)
        for axis, (before, after) in zip(self.axes, self._pairs, strict=True):
            shape[axis] = None if shape[axis] is None else shape[axis] - before - after
        return tuple(shape)

    def _check_fits(self, shape) -> None:
        for axis, (before, after) in zip(self.axes, self._pairs, strict=True):
            if shape[axis] is not None and before + after >= shape[axis]:
                raise ValueError(
                    f"{type(self).__name__} '{self.name}': cropping={self.cropping} removes "
                    f"{before + after} of the {shape[axis]} entries of axis {axis} (inputs of "
                    f"shape {tuple(shape)}); it must leave at least one [at {user_line()}]")

    def get_config(self) -> dict:
        return {**super().get_config(), "cropping": self.cropping}


class Cropping1D(_Cropping):
    """Removes steps from the start and end of the time axis of ``(batch, steps, features)``.

    Args:
        cropping: An int (both ends) or ``(start, end)``.

    Example:
        >>> import tape
        >>> from tape.layers import Cropping1D
        >>> Cropping1D((1, 2))(tape.arange(5.0).reshape((1, 5, 1))).numpy()[0, :, 0].tolist()
        [1.0, 2.0]
    """

    rank = 1

    def __init__(self, cropping=(1, 1), **kwargs):
        super().__init__(cropping, **kwargs)


class Cropping2D(_Cropping):
    """Removes rows and columns at the borders of images.

    Args:
        cropping: An int (every side), ``(symmetric_height, symmetric_width)``, or
            ``((top, bottom), (left, right))``.
        data_format: ``'channels_last'`` (default) or ``'channels_first'``.

    Example:
        >>> import tape
        >>> from tape.layers import Cropping2D
        >>> Cropping2D(((1, 0), (1, 1)))(tape.ones((1, 4, 5, 3))).shape
        (1, 3, 3, 3)
    """

    rank = 2

    def __init__(self, cropping=((0, 0), (0, 0)), data_format=None, **kwargs):
        super().__init__(cropping, data_format, **kwargs)


class UpSampling1D(_SpatialLayer):
    """Repeats each step of ``(batch, steps, features)`` ``size`` times.

    Example:
        >>> import tape
        >>> from tape.layers import UpSampling1D
        >>> UpSampling1D(2)(tape.arange(2.0).reshape((1, 2, 1))).numpy()[0, :, 0].tolist()
        [0.0, 0.0, 1.0, 1.0]
    """

    rank = 1

    def __init__(self, size=2, **kwargs):
        super().__init__(**kwargs)
        self.size = _positive_ints(size, 1, "size", "UpSampling1D")[0]
        self._sizes = (self.size,)

    def call(self, inputs):
        y = ops.convert(inputs)
        for axis, size in zip(self.axes, self._sizes, strict=True):
            if size > 1:
                y = ops.repeat(y, size, axis=axis)
        return y

    def compute_output_shape(self, input_shape):
        shape = list(input_shape)
        for axis, size in zip(self.axes, self._sizes, strict=True):
            shape[axis] = None if shape[axis] is None else shape[axis] * size
        return tuple(shape)

    def get_config(self) -> dict:
        return {**super().get_config(), "size": self.size}


_INTERPOLATIONS = ("nearest", "bilinear", "bicubic", "lanczos3", "lanczos5", "area")


class UpSampling2D(UpSampling1D):
    """Repeats each row ``size[0]`` times and each column ``size[1]`` times (nearest
    neighbour).

    Args:
        size: An int or ``(rows, columns)``.
        data_format: ``'channels_last'`` (default) or ``'channels_first'``.
        interpolation: ``'nearest'`` only; Keras' other modes raise NotImplementedError.

    Example:
        >>> import tape
        >>> from tape.layers import UpSampling2D
        >>> UpSampling2D((1, 2))(tape.tensor([[[[1.0], [2.0]]]]))[0, :, :, 0].numpy().tolist()
        [[1.0, 1.0, 2.0, 2.0]]
    """

    rank = 2

    def __init__(self, size=(2, 2), data_format=None, interpolation="nearest", **kwargs):
        _SpatialLayer.__init__(self, data_format, **kwargs)
        self.size = self._sizes = _positive_ints(size, 2, "size", "UpSampling2D")
        if interpolation not in _INTERPOLATIONS:
            raise ValueError(f"UpSampling2D: interpolation must be one of {_INTERPOLATIONS}. "
                             f"Received: interpolation={interpolation!r}")
        if interpolation != "nearest":
            raise NotImplementedError(f"UpSampling2D: only interpolation='nearest' is "
                                      f"implemented. Received: interpolation={interpolation!r}")
        self.interpolation = interpolation

    def get_config(self) -> dict:
        return {**super().get_config(), "interpolation": self.interpolation}


class RepeatVector(Layer):
    """Repeats a ``(batch, features)`` input ``n`` times: ``(batch, n, features)``.

    Example:
        >>> import tape
        >>> from tape.layers import RepeatVector
        >>> RepeatVector(3)(tape.tensor([[1.0, 2.0]])).numpy().tolist()
        [[[1.0, 2.0], [1.0, 2.0], [1.0, 2.0]]]
    """

    def __init__(self, n, **kwargs):
        super().__init__(**kwargs)
        self.n = _positive_ints(n, 1, "n", "RepeatVector")[0]
        self.input_spec = InputSpec(ndim=2)
        self.built = True

    def call(self, inputs):
        return ops.repeat(ops.expand_dims(inputs, 1), self.n, axis=1)

    def compute_output_shape(self, input_shape):
        return (input_shape[0], self.n, input_shape[1])

    def get_config(self) -> dict:
        return {**super().get_config(), "n": self.n}


class Permute(Layer):
    """Permutes the axes of each example: ``dims`` is a permutation of ``1..n`` (the batch
    axis 0 stays first), e.g. ``(2, 1)`` swaps the two axes of ``(batch, a, b)``.

    Example:
        >>> import tape
        >>> from tape.layers import Permute
        >>> Permute((2, 1))(tape.ones((4, 3, 5))).shape
        (4, 5, 3)
    """

    def __init__(self, dims, **kwargs):
        super().__init__(**kwargs)
        try:
            items = tuple(dims)
        except TypeError:
            items = None
        if items is None or any(isinstance(d, bool) or not isinstance(d, numbers.Integral)
                                for d in items) or sorted(items) != list(
                range(1, len(items) + 1)):
            raise ValueError("Permute: dims must be a permutation of 1..n (1-based: the batch "
                             f"axis 0 stays first). Received: dims={dims!r}")
        self.dims = tuple(int(d) for d in items)
        self.input_spec = InputSpec(ndim=len(self.dims) + 1)
        self.built = True

    def call(self, inputs):
        return ops.transpose(inputs, (0, *self.dims))

    def compute_output_shape(self, input_shape):
        return (input_shape[0], *(input_shape[d] for d in self.dims))

    def get_config(self) -> dict:
        return {**super().get_config(), "dims": self.dims}


class Identity(Layer):
    """Returns its inputs unchanged (any structure of tensors); a placeholder layer.

    Example:
        >>> import tape
        >>> from tape.layers import Identity
        >>> x = tape.ones((2, 3))
        >>> Identity()(x) is x
        True
    """

    supports_masking = True

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.built = True

    def call(self, inputs):
        return inputs

    def compute_output_shape(self, input_shape):
        return input_shape


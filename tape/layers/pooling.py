"""Pooling layers with Keras 3's arguments: MaxPooling1D/2D, AveragePooling1D/2D (on the
pooling primitives of ``tape.ops.pool``) and the global poolings (means and maxima over the
spatial axes)."""

from __future__ import annotations

from .. import ops
from ..errors import ShapeError, user_line
from ..ops import pool as pool_ops
from ..ops._windows import spatial_tuple
from .base import InputSpec, Layer
from .convolutional import (
    data_format_arg,
    from_channels_last,
    spatial_axes,
    to_channels_last,
    window_output_length,
)


class Pooling(Layer):
    """Max or average pooling over ``rank`` spatial axes (the parent of the pooling layers).

    Args:
        pool_size: Window size, an int or one int per spatial axis.
        strides: An int or one per axis; None (default) is ``pool_size``.
        padding: ``'valid'`` or ``'same'`` (TF's: average pooling divides each window by
            the number of real elements it holds; padded positions never win a max).
        data_format: ``'channels_last'`` (default) or ``'channels_first'``.
    """

    rank = 2
    pooling_type = "MAX"

    def __init__(self, pool_size=2, strides=None, padding="valid", data_format=None,
                 **kwargs):
        super().__init__(**kwargs)
        cls = type(self).__name__
        self.pool_size = spatial_tuple(pool_size, self.rank, "pool_size", cls)
        self.strides = (self.pool_size if strides is None
                        else spatial_tuple(strides, self.rank, "strides", cls))
        padding = padding.lower() if isinstance(padding, str) else padding
        if padding not in ("valid", "same"):
            raise ValueError(f"{cls}: padding must be 'valid' or 'same'. Received: "
                             f"padding={padding!r}")
        self.padding = padding
        self.data_format = data_format_arg(data_format, cls)
        self.input_spec = InputSpec(ndim=self.rank + 2)
        self.built = True

    def call(self, inputs):
        x = to_channels_last(inputs, self.data_format)
        try:
            y = pool_ops.pool(x, self.pool_size, self.pooling_type, self.strides, self.padding)
        except ShapeError as e:
            raise ShapeError(f"Layer '{self.name}' ({type(self).__name__}): {e}") from e
        return from_channels_last(y, self.data_format)

    def compute_output_shape(self, input_shape):
        shape = list(input_shape)
        for axis, i in enumerate(spatial_axes(self.rank, self.data_format)):
            shape[i] = window_output_length(input_shape[i], self.pool_size[axis],
                                            self.strides[axis], self.padding)
            if shape[i] == 0:
                raise ShapeError(
                    f"Layer '{self.name}' ({type(self).__name__}): the pooling window "
                    f"{self.pool_size} (padding '{self.padding}') does not fit inputs of "
                    f"shape {tuple(input_shape)} [at {user_line()}]")
        return tuple(shape)

    def get_config(self) -> dict:
        return {**super().get_config(), "pool_size": self.pool_size, "strides": self.strides,
                "padding": self.padding, "data_format": self.data_format}


class MaxPooling1D(Pooling):
    """The maximum of each window of ``(batch, steps, channels)``; see ``Pooling``.

    Example:
        >>> import tape
        >>> from tape.layers import MaxPooling1D
        >>> MaxPooling1D(2)(tape.reshape(tape.arange(6.0), (1, 6, 1))).numpy().ravel().tolist()
        [1.0, 3.0, 5.0]
    """

    rank = 1


class MaxPooling2D(Pooling):
    """The maximum of each window of ``(batch, height, width, channels)``; the gradient
    goes to the first maximum of each window (row-major). See ``Pooling``.

    Example:
        >>> import tape
        >>> from tape.layers import MaxPooling2D
        >>> MaxPooling2D()(tape.ones((2, 8, 8, 3))).shape
        (2, 4, 4, 3)
    """


class AveragePooling1D(Pooling):
    """The mean of each window of ``(batch, steps, channels)``; see ``Pooling``.

    Example:
        >>> import tape
        >>> from tape.layers import AveragePooling1D
        >>> x = tape.reshape(tape.arange(6.0), (1, 6, 1))
        >>> AveragePooling1D(2)(x).numpy().ravel().tolist()
        [0.5, 2.5, 4.5]
    """

    rank = 1
    pooling_type = "AVG"


class AveragePooling2D(Pooling):
    """The mean of each window of ``(batch, height, width, channels)``; see ``Pooling``.

    Example:
        >>> import tape
        >>> from tape.layers import AveragePooling2D
        >>> AveragePooling2D(3, strides=1, padding="same")(tape.ones((1, 4, 4, 2))).shape
        (1, 4, 4, 2)
    """

    pooling_type = "AVG"


class GlobalPooling(Layer):
    """The mean or maximum over all spatial axes (the parent of the global poolings).

    Args:
        data_format: ``'channels_last'`` (default) or ``'channels_first'``.
        keepdims: Keep the spatial axes (with length 1).
    """

    rank = 2
    reduce = staticmethod(ops.mean)

    def __init__(self, data_format=None, keepdims=False, **kwargs):
        super().__init__(**kwargs)
        self.data_format = data_format_arg(data_format, type(self).__name__)
        self.keepdims = bool(keepdims)
        self.input_spec = InputSpec(ndim=self.rank + 2)
        self.built = True

    def call(self, inputs):
        axes = spatial_axes(self.rank, self.data_format)
        return self.reduce(inputs, axis=axes, keepdims=self.keepdims)

    def compute_output_shape(self, input_shape):
        axes = spatial_axes(self.rank, self.data_format)
        if self.keepdims:
            return tuple(1 if i in axes else d for i, d in enumerate(input_shape))
        return tuple(d for i, d in enumerate(input_shape) if i not in axes)

    def get_config(self) -> dict:
        return {**super().get_config(), "data_format": self.data_format,
                "keepdims": self.keepdims}


class GlobalAveragePooling1D(GlobalPooling):
    """The mean over the steps of ``(batch, steps, channels)``: ``(batch, channels)``.

    Example:
        >>> import tape
        >>> from tape.layers import GlobalAveragePooling1D
        >>> GlobalAveragePooling1D()(tape.ones((2, 5, 3))).shape
        (2, 3)
    """

    rank = 1


class GlobalAveragePooling2D(GlobalPooling):
    """The mean over height and width of ``(batch, h, w, channels)``: ``(batch, channels)``.

    Example:
        >>> import tape
        >>> from tape.layers import GlobalAveragePooling2D
        >>> GlobalAveragePooling2D(keepdims=True)(tape.ones((2, 4, 4, 3))).shape
        (2, 1, 1, 3)
    """


class GlobalMaxPooling1D(GlobalPooling):
    """The maximum over the steps of ``(batch, steps, channels)`` (ties share the
    gradient, as ``tape.max`` does).

    Example:
        >>> import tape
        >>> from tape.layers import GlobalMaxPooling1D
        >>> x = tape.reshape(tape.arange(6.0), (1, 3, 2))
        >>> GlobalMaxPooling1D()(x).numpy().tolist()
        [[4.0, 5.0]]
    """

    rank = 1
    reduce = staticmethod(ops.max)


class GlobalMaxPooling2D(GlobalPooling):
    """The maximum over height and width of ``(batch, h, w, channels)``.

    Example:
        >>> import tape
        >>> from tape.layers import GlobalMaxPooling2D
        >>> GlobalMaxPooling2D()(tape.ones((2, 4, 4, 3))).shape
        (2, 3)
    """

    reduce = staticmethod(ops.max)

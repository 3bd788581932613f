"""Convolution layers with Keras 3's arguments: Conv1D, Conv2D, DepthwiseConv2D,
Conv2DTranspose, on the convolution primitives of ``tape.ops.conv`` (channels-last by
default; ``data_format='channels_first'`` moves the channel axis around the computation)."""

from __future__ import annotations

from .. import activations, initializers, ops, regularizers
from ..errors import ShapeError, user_line
from ..ops import conv as conv_ops
from ..ops._windows import spatial_tuple
from .base import InputSpec, Layer
from .core import _positive_int, kernel_layer_config


def data_format_arg(value, layer: str) -> str:
    """``None`` (channels_last), ``'channels_last'`` or ``'channels_first'``."""
    if value not in (None, "channels_last", "channels_first"):
        raise ValueError(f"{layer}: data_format must be 'channels_last' or 'channels_first'. "
                         f"Received: data_format={value!r}")
    return value or "channels_last"


def to_channels_last(x, data_format: str):
    return ops.moveaxis(x, 1, -1) if data_format == "channels_first" else x


def from_channels_last(y, data_format: str):
    return ops.moveaxis(y, -1, 1) if data_format == "channels_first" else y


def spatial_axes(rank: int, data_format: str) -> tuple[int, ...]:
    start = 2 if data_format == "channels_first" else 1
    return tuple(range(start, start + rank))


def window_output_length(n, span: int, stride: int, padding: str):
    """Positions a window of ``span`` takes along ``n`` (None stays None)."""
    if n is None:
        return None
    if padding in ("same", "causal"):
        return -(-n // stride)
    return (n - span) // stride + 1 if n >= span else 0


class BaseConv(Layer):
    """The shared part of the convolution layers: arguments, weights, the channel check,
    activation and bias; subclasses say how the kernel is shaped and applied."""

    rank = 2
    paddings = ("valid", "same")

    def __init__(self, filters, kernel_size, strides=1, padding="valid", data_format=None,
                 dilation_rate=1, activation=None, use_bias=True,
                 kernel_initializer="glorot_uniform", bias_initializer="zeros",
                 kernel_regularizer=None, bias_regularizer=None, **kwargs):
        super().__init__(**kwargs)
        cls, rank = type(self).__name__, self.rank
        self.filters = None if filters is None else _positive_int(filters, "filters", cls)
        self.kernel_size = spatial_tuple(kernel_size, rank, "kernel_size", cls)
        self.strides = spatial_tuple(strides, rank, "strides", cls)
        self.dilation_rate = spatial_tuple(dilation_rate, rank, "dilation_rate", cls)
        padding = padding.lower() if isinstance(padding, str) else padding
        if padding not in self.paddings:
            raise ValueError(f"{cls}: padding must be one of {self.paddings}. Received: "
                             f"padding={padding!r}")
        self.padding = padding
        if max(self.strides) > 1 and max(self.dilation_rate) > 1:
            raise ValueError(f"{cls}: strides > 1 are not supported together with "
                             f"dilation_rate > 1 (as in Keras). Received: "
                             f"strides={self.strides} and dilation_rate={self.dilation_rate}")
        self.data_format = data_format_arg(data_format, cls)
        self.channel_axis = -1 if self.data_format == "channels_last" else 1
        self.activation = activations.get(activation)
        self.use_bias = bool(use_bias)
        self.kernel_initializer = initializers.get(kernel_initializer)
        self.bias_initializer = initializers.get(bias_initializer)
        self.kernel_regularizer = regularizers.get(kernel_regularizer)
        self.bias_regularizer = regularizers.get(bias_regularizer)
        self.input_spec = InputSpec(ndim=rank + 2)

    # ---- the part subclasses fill --------------------------------------------------------
    def kernel_shape(self, channels: int) -> tuple:
        raise NotImplementedError

    def output_channels(self, channels: int) -> int:
        return self.filters

    def convolve(self, x):
        """``x`` channels-last, through the kernel (no bias, no activation)."""
        raise NotImplementedError

    def output_length(self, n, axis: int):
        span = (self.kernel_size[axis] - 1) * self.dilation_rate[axis] + 1
        return window_output_length(n, span, self.strides[axis], self.padding)

    # ---- Layer ---------------------------------------------------------------------------
    def build(self, input_shape):
        channels = input_shape[self.channel_axis]
        if channels is None:
            raise ValueError(f"{type(self).__name__} layer '{self.name}': the channel "
                             f"dimension of the inputs must be known. Received: "
                             f"input_shape={input_shape}")
        self.kernel = self.add_weight("kernel", self.kernel_shape(channels),
                                      self.kernel_initializer, self.kernel_regularizer)
        self.bias = None
        if self.use_bias:
            self.bias = self.add_weight("bias", (self.output_channels(channels),),
                                        self.bias_initializer, self.bias_regularizer)
        self.input_spec = InputSpec(ndim=self.rank + 2, axes={self.channel_axis: channels})
        self.built = True

    def call(self, inputs):
        x = to_channels_last(inputs, self.data_format)
        try:
            y = self.convolve(x)
        except ShapeError as e:
            raise ShapeError(f"Layer '{self.name}' ({type(self).__name__}): {e}") from e
        if self.bias is not None:
            y = ops.add(y, self.bias)
        return from_channels_last(self.activation(y), self.data_format)

    def compute_output_shape(self, input_shape):
        shape = list(input_shape)
        for axis, i in enumerate(spatial_axes(self.rank, self.data_format)):
            shape[i] = self.output_length(input_shape[i], axis)
            if shape[i] == 0:
                raise ShapeError(
                    f"Layer '{self.name}' ({type(self).__name__}): the kernel of size "
                    f"{self.kernel_size} (dilation_rate {self.dilation_rate}, padding "
                    f"'{self.padding}') does not fit inputs of shape {tuple(input_shape)} "
                    f"[at {user_line()}]")
        channels = input_shape[self.channel_axis]
        shape[self.channel_axis] = None if channels is None else self.output_channels(channels)
        return tuple(shape)

    def get_config(self) -> dict:
        return {**super().get_config(), "filters": self.filters,
                "kernel_size": self.kernel_size, "strides": self.strides,
                "padding": self.padding, "data_format": self.data_format,
                "dilation_rate": self.dilation_rate, **kernel_layer_config(self)}


class Conv(BaseConv):
    """N-d convolution with ``groups`` (the parent of Conv1D and Conv2D)."""

    def __init__(self, filters, kernel_size, strides=1, padding="valid", data_format=None,
                 dilation_rate=1, groups=1, **kwargs):
        super().__init__(filters, kernel_size, strides, padding, data_format, dilation_rate,
                         **kwargs)
        self.groups = _positive_int(groups, "groups", type(self).__name__)
        if self.filters % self.groups:
            raise ValueError(f"{type(self).__name__}: the number of filters must be evenly "
                             f"divisible by the number of groups. Received: groups="
                             f"{self.groups}, filters={self.filters}")

    def kernel_shape(self, channels):
        if channels % self.groups:
            raise ValueError(
                f"{type(self).__name__} layer '{self.name}': the number of input channels "
                f"must be evenly divisible by the number of groups. Received groups="
                f"{self.groups}, but the input has {channels} channels")
        return (*self.kernel_size, channels // self.groups, self.filters)

    def convolve(self, x):
        padding = self.padding
        if padding == "causal":  # the window ends at its output position: pad on the left
            padding = (((self.kernel_size[0] - 1) * self.dilation_rate[0], 0),)
        return conv_ops.convolution(x, self.kernel, self.strides, padding, self.dilation_rate)

    def get_config(self) -> dict:
        return {**super().get_config(), "groups": self.groups}


class Conv1D(Conv):
    """1-D convolution over ``(batch, steps, channels)``; ``padding='causal'`` pads on the
    left so that output ``t`` sees inputs up to ``t`` only.

    Args:
        filters: Output channels.
        kernel_size, strides, dilation_rate: An int (or a 1-tuple).
        padding: ``'valid'``, ``'same'`` (TF's) or ``'causal'``.
        groups: Split the channels into this many independent convolutions.
        activation, use_bias, kernel_initializer, bias_initializer, kernel_regularizer,
        bias_regularizer, data_format, **kwargs: As in ``Conv2D``.

    Example:
        >>> import tape
        >>> from tape.layers import Conv1D
        >>> Conv1D(4, 3, padding="causal")(tape.ones((2, 10, 3))).shape
        (2, 10, 4)
    """

    rank = 1
    paddings = ("valid", "same", "causal")


class Conv2D(Conv):
    """2-D convolution over ``(batch, height, width, channels)``: ``activation(conv(inputs,
    kernel) + bias)`` with a kernel ``(*kernel_size, channels // groups, filters)``.

    Args:
        filters: Output channels.
        kernel_size: An int or (height, width).
        strides: An int or a pair (strides > 1 together with dilation_rate > 1 is an error,
            as in Keras).
        padding: ``'valid'`` or ``'same'`` (TF's: ``ceil(n / stride)`` outputs, the extra
            padding after).
        data_format: ``'channels_last'`` (default) or ``'channels_first'``.
        dilation_rate: An int or a pair.
        groups: Split the channels into this many independent convolutions (``filters``
            and the input channels must divide by it).
        activation: Name or callable; None is linear.
        use_bias: Whether to add a bias.
        kernel_initializer, bias_initializer: Anything ``tape.initializers.get`` takes.
        kernel_regularizer, bias_regularizer: Anything ``tape.regularizers.get`` takes.
        **kwargs: ``Layer`` arguments (name, dtype, input_shape, activity_regularizer...).

    Example:
        >>> import tape
        >>> from tape.layers import Conv2D
        >>> layer = Conv2D(16, 3, padding="same", activation="relu")
        >>> layer(tape.ones((2, 8, 8, 1))).shape, layer.kernel.shape
        ((2, 8, 8, 16), (3, 3, 1, 16))
    """

    rank = 2


class DepthwiseConv2D(BaseConv):
    """Each input channel convolved with its own ``depth_multiplier`` filters: the kernel
    is ``(*kernel_size, channels, depth_multiplier)`` and there are ``channels *
    depth_multiplier`` outputs (output ``c * depth_multiplier + m`` from input ``c``).

    Args:
        kernel_size, strides, padding, data_format, dilation_rate, activation, use_bias,
        bias_initializer, bias_regularizer: As in ``Conv2D``.
        depth_multiplier: Filters per input channel.
        depthwise_initializer, depthwise_regularizer: For the kernel.

    Example:
        >>> import tape
        >>> from tape.layers import DepthwiseConv2D
        >>> DepthwiseConv2D(3, depth_multiplier=2)(tape.ones((1, 5, 5, 4))).shape
        (1, 3, 3, 8)
    """

    def __init__(self, kernel_size, strides=1, padding="valid", depth_multiplier=1,
                 data_format=None, dilation_rate=1, activation=None, use_bias=True,
                 depthwise_initializer="glorot_uniform", bias_initializer="zeros",
                 depthwise_regularizer=None, bias_regularizer=None, **kwargs):
        super().__init__(None, kernel_size, strides, padding, data_format, dilation_rate,
                         activation, use_bias, depthwise_initializer, bias_initializer,
                         depthwise_regularizer, bias_regularizer, **kwargs)
        self.depth_multiplier = _positive_int(depth_multiplier, "depth_multiplier",
                                              "DepthwiseConv2D")

    def kernel_shape(self, channels):
        return (*self.kernel_size, channels, self.depth_multiplier)

    def output_channels(self, channels):
        return channels * self.depth_multiplier

    def convolve(self, x):
        return conv_ops.depthwise_conv2d(x, self.kernel, self.strides, self.padding,
                                         self.dilation_rate)

    def get_config(self) -> dict:
        config = super().get_config()
        for old, new in (("kernel_initializer", "depthwise_initializer"),
                         ("kernel_regularizer", "depthwise_regularizer")):
            config[new] = config.pop(old)
        del config["filters"]
        return {**config, "depth_multiplier": self.depth_multiplier}


class Conv2DTranspose(BaseConv):
    """Transposed 2-D convolution (the gradient of ``Conv2D`` with respect to its input),
    for upsampling: the kernel is ``(*kernel_size, filters, channels)`` and the output size
    follows Keras (``n * stride`` for 'same'; ``n * stride + max(span - stride, 0)`` for
    'valid'; ``(n - 1) * stride + span - 2 * pad + output_padding`` when that is given).

    Args:
        filters, kernel_size, strides, padding, data_format, dilation_rate, activation,
        use_bias, kernel_initializer, bias_initializer, kernel_regularizer,
        bias_regularizer: As in ``Conv2D``.
        output_padding: None, an int or a pair, each smaller than its stride.

    Example:
        >>> import tape
        >>> from tape.layers import Conv2DTranspose
        >>> Conv2DTranspose(3, 3, strides=2, padding="same")(tape.ones((1, 4, 4, 8))).shape
        (1, 8, 8, 3)
    """

    def __init__(self, filters, kernel_size, strides=1, padding="valid", output_padding=None,
                 data_format=None, dilation_rate=1, **kwargs):
        super().__init__(filters, kernel_size, strides, padding, data_format, dilation_rate,
                         **kwargs)
        self.output_padding = None
        if output_padding is not None:
            self.output_padding = conv_ops.output_padding_tuple(
                "Conv2DTranspose", output_padding, 2, self.strides)

    def kernel_shape(self, channels):
        return (*self.kernel_size, self.filters, channels)

    def convolve(self, x):
        return conv_ops.conv2d_transpose(x, self.kernel, None, self.strides, self.padding,
                                         self.output_padding, self.dilation_rate)

    def output_length(self, n, axis):
        if n is None:
            return None
        extra = None if self.output_padding is None else self.output_padding[axis]
        return conv_ops.transpose_output_size(n, self.kernel_size[axis], self.strides[axis],
                                              self.padding, extra, self.dilation_rate[axis])

    def get_config(self) -> dict:
        return {**super().get_config(), "output_padding": self.output_padding}

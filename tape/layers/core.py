"""Core layers: Dense, Activation, Dropout, Flatten, Reshape, Lambda."""

from __future__ import annotations

import inspect
import math

import numpy as np

from .. import activations, initializers, ops, regularizers
from ..ops import random
from ..ops.creation import beside
from ._nest import serialize_object
from .base import InputSpec, Layer


def _positive_int(value, name: str, layer: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int | np.integer) or value <= 0:
        raise ValueError(f"{layer}: {name} must be a positive integer. Received: "
                         f"{name}={value!r}")
    return int(value)


# Activations whose bias add fuses into them (tape.ops.bias_act). Not sigmoid nor softmax:
# their outputs remember their logits for a stable crossentropy (tape.activations).
_FUSED_ACTIVATIONS = {activations.relu: "relu", activations.gelu: "gelu",
                      activations.silu: "silu", activations.tanh: "tanh"}


class Dense(Layer):
    """``activation(inputs @ kernel + bias)``, on the last axis of inputs of any rank >= 2.

    Args:
        units: Output size.
        activation: Name (``tape.activations.get``) or callable; None is linear.
        use_bias: Whether to add a bias.
        kernel_initializer, bias_initializer: Anything ``tape.initializers.get`` takes.
        kernel_regularizer, bias_regularizer: Anything ``tape.regularizers.get`` takes.
        **kwargs: ``Layer`` arguments (name, dtype, input_shape, activity_regularizer...).

    Example:
        >>> import tape
        >>> from tape.layers import Dense
        >>> layer = Dense(3, activation="relu")
        >>> layer(tape.ones((2, 5))).shape, [w.shape for w in layer.weights]
        ((2, 3), [(5, 3), (3,)])
    """

    def __init__(self, units, activation=None, use_bias=True,
                 kernel_initializer="glorot_uniform", bias_initializer="zeros",
                 kernel_regularizer=None, bias_regularizer=None, **kwargs):
        super().__init__(**kwargs)
        self.units = _positive_int(units, "units", "Dense")
        self.activation = activations.get(activation)
        self.use_bias = bool(use_bias)
        self.kernel_initializer = initializers.get(kernel_initializer)
        self.bias_initializer = initializers.get(bias_initializer)
        self.kernel_regularizer = regularizers.get(kernel_regularizer)
        self.bias_regularizer = regularizers.get(bias_regularizer)
        self.input_spec = InputSpec(min_ndim=2)

    def build(self, input_shape):
        input_dim = input_shape[-1]
        if input_dim is None:
            raise ValueError(f"Dense layer '{self.name}': the last dimension of the inputs "
                             f"must be known. Received: input_shape={input_shape}")
        self.kernel = self.add_weight("kernel", (input_dim, self.units),
                                      self.kernel_initializer, self.kernel_regularizer)
        self.bias = None
        if self.use_bias:
            self.bias = self.add_weight("bias", (self.units,), self.bias_initializer,
                                        self.bias_regularizer)
        self.input_spec = InputSpec(min_ndim=2, axes={-1: input_dim})
        self.built = True

    def call(self, inputs):
        out = ops.matmul(inputs, self.kernel)
        if self.bias is None:
            return self.activation(out)
        fused = _FUSED_ACTIVATIONS.get(self.activation)
        if fused is not None:  # one op: one GPU kernel forward and one backward
            return ops.bias_act(out, self.bias, activation=fused)
        return self.activation(ops.add(out, self.bias))

    def compute_output_shape(self, input_shape):
        return (*tuple(input_shape)[:-1], self.units)

    def get_config(self) -> dict:
        return {**super().get_config(), "units": self.units, **kernel_layer_config(self)}


def kernel_layer_config(layer) -> dict:
    """The config entries every kernel-and-bias layer (Dense, the convolutions) shares."""
    return {"activation": activations.serialize(layer.activation), "use_bias": layer.use_bias,
            "kernel_initializer": serialize_object(layer.kernel_initializer),
            "bias_initializer": serialize_object(layer.bias_initializer),
            "kernel_regularizer": serialize_object(layer.kernel_regularizer),
            "bias_regularizer": serialize_object(layer.bias_regularizer)}


class Activation(Layer):
    """Applies an activation function (a name from ``tape.activations`` or a callable).

    Example:
        >>> import tape
        >>> from tape.layers import Activation
        >>> Activation("relu")(tape.tensor([[-1.0, 2.0]])).numpy().tolist()
        [[0.0, 2.0]]
    """

    def __init__(self, activation, **kwargs):
        super().__init__(**kwargs)
        self.activation = activations.get(activation)
        self.built = True

    def call(self, inputs):
        return self.activation(inputs)

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self) -> dict:
        return {**super().get_config(), "activation": activations.serialize(self.activation)}


class Dropout(Layer):
    """While training, zeroes a random ``rate`` of the inputs and scales the rest by
    ``1 / (1 - rate)`` (inverted dropout); the identity at inference.

    Args:
        rate: Fraction to drop, in [0, 1].
        noise_shape: Shape of the keep mask, broadcast over the input (None entries take
            the input's size), e.g. ``(None, 1, None)`` drops whole timesteps' features alike.
        seed: An int for a reproducible sequence of masks (a fresh mask at every call), or
            None for ``tape.random``'s global generator (``tape.random.seed``).

    Example:
        >>> import tape
        >>> from tape.layers import Dropout
        >>> layer = Dropout(0.5, seed=0)
        >>> layer(tape.ones((2, 2))).numpy().tolist()  # inference: unchanged
        [[1.0, 1.0], [1.0, 1.0]]
        >>> sorted(set(layer(tape.ones((100,)), training=True).numpy().tolist()))
        [0.0, 2.0]
    """

    def __init__(self, rate, noise_shape=None, seed=None, **kwargs):
        super().__init__(**kwargs)
        if isinstance(rate, bool) or not isinstance(rate, int | float) or not 0 <= rate <= 1:
            raise ValueError(f"Dropout: rate must be a number in [0, 1]. Received: rate={rate!r}")
        self.rate = float(rate)
        self.noise_shape = None if noise_shape is None else tuple(noise_shape)
        self.seed = seed
        self._streams = None if seed is None else random.Streams()
        self.built = True

    def call(self, inputs, training=None):
        if not training or self.rate == 0:
            return inputs
        inputs = ops.convert(inputs)
        if self.rate == 1:
            return ops.multiply(inputs, 0)
        shape = inputs.shape
        if self.noise_shape is not None:
            shape = tuple(s if n is None else n
                          for n, s in zip(self.noise_shape, inputs.shape, strict=True))
        key = next_key(self, inputs.device)
        if shape == inputs.shape:
            return random.dropout(inputs, self.rate, key=key)
        with beside(inputs):
            ones = ops.ones(shape, dtype=inputs.dtype)
        mask = random.dropout(ones, self.rate, key=key)
        return ops.multiply(inputs, mask)

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self) -> dict:
        return {**super().get_config(), "rate": self.rate, "noise_shape": self.noise_shape,
                "seed": self.seed}


def next_key(layer, device):
    """The next random key of a layer with ``seed`` and ``_streams`` (Dropout, the noise
    layers). A seeded layer walks its seed's own streams: reproducible, and fresh numbers
    at every call (at every replay of a traced step too, since the key is a graph op)."""
    if layer.seed is None:
        return random.random_key(device=device, per_replica=True)
    return random.random_key(seed=int(layer.seed), streams=layer._streams, device=device,
                             per_replica=True)


class Flatten(Layer):
    """Flattens every axis but the batch: ``(batch, d1, d2...)`` -> ``(batch, d1*d2*...)``.

    Args:
        data_format: ``'channels_last'`` (default) or ``'channels_first'`` (moves the channel
            axis last first, so the order matches a channels-last model).

    Example:
        >>> import tape
        >>> from tape.layers import Flatten
        >>> Flatten()(tape.ones((2, 3, 4))).shape
        (2, 12)
    """

    def __init__(self, data_format=None, **kwargs):
        super().__init__(**kwargs)
        if data_format not in (None, "channels_last", "channels_first"):
            raise ValueError("Flatten: data_format must be 'channels_last' or 'channels_first'. "
                             f"Received: data_format={data_format!r}")
        self.data_format = data_format or "channels_last"
        self.built = True

    def call(self, inputs):
        inputs = ops.convert(inputs)
        if self.data_format == "channels_first" and inputs.ndim > 2:
            inputs = ops.transpose(inputs, (0, *range(2, inputs.ndim), 1))
        features = math.prod(inputs.shape[1:])
        if inputs.size == 0 or features == 0:
            return ops.reshape(inputs, (inputs.shape[0], features))
        # -1 for the batch: a graph traced with input_signature serves any batch size
        return ops.reshape(inputs, (-1, features))

    def compute_output_shape(self, input_shape):
        rest = tuple(input_shape)[1:]
        size = None if None in rest else math.prod(rest)
        return (input_shape[0], size)

    def get_config(self) -> dict:
        return {**super().get_config(), "data_format": self.data_format}


class Reshape(Layer):
    """Reshapes each example to ``target_shape`` (the batch axis is kept; one entry may be -1).

    Example:
        >>> import tape
        >>> from tape.layers import Reshape
        >>> Reshape((3, -1))(tape.ones((2, 12))).shape
        (2, 3, 4)
    """

    def __init__(self, target_shape, **kwargs):
        super().__init__(**kwargs)
        self.target_shape = tuple(int(d) for d in target_shape)
        if sum(d == -1 for d in self.target_shape) > 1 or any(
                d < -1 or d == 0 for d in self.target_shape):
            raise ValueError("Reshape: target_shape must hold positive sizes and at most one "
                             f"-1. Received: target_shape={target_shape!r}")
        self.built = True

    def call(self, inputs):
        inputs = ops.convert(inputs)
        target = self._resolve(inputs.shape[1:])
        if inputs.size == 0:
            return ops.reshape(inputs, (inputs.shape[0], *target))
        return ops.reshape(inputs, (-1, *target))  # -1: any batch size at replay

    def compute_output_shape(self, input_shape):
        rest = tuple(input_shape)[1:]
        if None in rest:
            return (input_shape[0], *(None if d == -1 else d for d in self.target_shape))
        return (input_shape[0], *self._resolve(rest))

    def _resolve(self, example_shape) -> tuple:
        size = math.prod(example_shape)
        known = math.prod(d for d in self.target_shape if d != -1)
        target = self.target_shape
        if -1 in target and known and size % known == 0:
            target = tuple(size // known if d == -1 else d for d in target)
        if math.prod(target) != size:
            raise ValueError(f"Reshape layer '{self.name}': cannot reshape examples of shape "
                             f"{tuple(example_shape)} ({size} values) to {self.target_shape}")
        return target

    def get_config(self) -> dict:
        return {**super().get_config(), "target_shape": self.target_shape}


class Lambda(Layer):
    """Wraps a function of tensors as a layer (it must not create weights).

    Args:
        function: ``function(inputs, **arguments)``; it receives ``training`` too if it has
            a parameter of that name.
        output_shape: The output shape without the batch axis, or a callable from input
            shape to output shape; by default it is found by running ``function`` on zeros.
        arguments: Extra keyword arguments for ``function``.

    ``get_config`` holds the function object itself: it round-trips in a process, but is
    not serializable to a file (code is never pickled).

    Example:
        >>> import tape
        >>> from tape.layers import Lambda
        >>> Lambda(lambda x: x * 2)(tape.tensor([[1.0, 2.0]])).numpy().tolist()
        [[2.0, 4.0]]
    """

    def __init__(self, function, output_shape=None, arguments=None, **kwargs):
        super().__init__(**kwargs)
        if not callable(function):
            raise ValueError(f"Lambda: function must be callable. Received: {function!r}")
        self.function = function
        self.output_shape_arg = output_shape
        self.arguments = dict(arguments or {})
        try:
            self._fn_takes_training = "training" in inspect.signature(function).parameters
        except (TypeError, ValueError):  # builtins without a signature
            self._fn_takes_training = False
        self.built = True

    def call(self, inputs, training=None):
        kwargs = dict(self.arguments)
        if self._fn_takes_training:
            kwargs["training"] = training
        return self.function(inputs, **kwargs)

    def compute_output_spec(self, input_shape, input_dtypes):
        if self.output_shape_arg is None:  # run the function: its output dtype may differ
            return self._probe(input_shape, input_dtypes)
        return super().compute_output_spec(input_shape, input_dtypes)

    def compute_output_shape(self, input_shape):
        if self.output_shape_arg is None:
            return super().compute_output_shape(input_shape)
        if callable(self.output_shape_arg):
            return self.output_shape_arg(input_shape)
        batch = input_shape[0] if isinstance(input_shape, tuple) else input_shape[0][0]
        return (batch, *self.output_shape_arg)

    def get_config(self) -> dict:
        return {**super().get_config(), "function": self.function,
                "output_shape": self.output_shape_arg, "arguments": self.arguments}

"""Activation layers with arguments (Keras' ReLU, LeakyReLU, ELU, Softmax) and PReLU, whose
negative slope is a trained weight. ``Activation(name)`` in ``core`` covers the plain ones."""

from __future__ import annotations

import numbers

import numpy as np

from .. import activations, initializers, nn, ops, regularizers
from ._nest import serialize_object
from .base import InputSpec, Layer


def _non_negative(value, name: str, layer: str, allow_none: bool = False):
    if value is None and allow_none:
        return None
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not value >= 0:
        raise ValueError(f"{layer}: {name} must be a non-negative number"
                         f"{' or None' if allow_none else ''}. Received: {name}={value!r}")
    return float(value)


class ReLU(Layer):
    """Rectified linear unit with Keras' options: ``max_value`` where ``x >= max_value``,
    ``x`` where ``threshold <= x < max_value``, ``negative_slope * (x - threshold)`` below.

    Args:
        max_value: Upper bound of the output (None: unbounded; 6.0 gives ReLU6).
        negative_slope: Slope below the threshold (0: the plain ReLU).
        threshold: Where the unit turns on.

    Example:
        >>> import tape
        >>> from tape.layers import ReLU
        >>> ReLU(max_value=6.0)(tape.tensor([-1.0, 3.0, 9.0])).numpy().tolist()
        [0.0, 3.0, 6.0]
        >>> ReLU(negative_slope=0.5, threshold=1.0)(tape.tensor([-1.0, 3.0])).numpy().tolist()
        [-1.0, 3.0]
    """

    supports_masking = True

    def __init__(self, max_value=None, negative_slope=0.0, threshold=0.0, **kwargs):
        super().__init__(**kwargs)
        self.max_value = _non_negative(max_value, "max_value", "ReLU", allow_none=True)
        self.negative_slope = _non_negative(negative_slope, "negative_slope", "ReLU")
        self.threshold = _non_negative(threshold, "threshold", "ReLU")
        self.built = True

    def call(self, inputs):
        x = ops.convert(inputs)
        if self.negative_slope == 0 and self.threshold == 0:
            y = nn.relu(x)
        else:
            below = ops.multiply(ops.subtract(x, self.threshold), self.negative_slope)
            y = ops.where(ops.greater_equal(x, self.threshold), x, below)
        if self.max_value is None:
            return y
        # A where, not minimum: the gradient is 0 from max_value on (TF's Relu6Grad), never
        # the half that minimum gives at a tie.
        return ops.where(ops.less(x, self.max_value), y, self.max_value)

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self) -> dict:
        return {**super().get_config(), "max_value": self.max_value,
                "negative_slope": self.negative_slope, "threshold": self.threshold}


class LeakyReLU(Layer):
    """``x`` where positive, ``negative_slope * x`` elsewhere (Keras' default slope 0.3).

    Args:
        negative_slope: Slope of the negative part (Keras 3's name; Keras 2's ``alpha=`` is
            accepted too and means the same).

    Example:
        >>> import tape
        >>> from tape.layers import LeakyReLU
        >>> LeakyReLU()(tape.tensor([-1.0, 2.0]))
        Tensor([-0.3,  2. ], dtype=float32, device=cpu)
    """

    supports_masking = True

    def __init__(self, negative_slope=0.3, **kwargs):
        if "alpha" in kwargs:
            negative_slope = kwargs.pop("alpha")
        super().__init__(**kwargs)
        self.negative_slope = _non_negative(negative_slope, "negative_slope", "LeakyReLU")
        self.built = True

    def call(self, inputs):
        return nn.leaky_relu(inputs, self.negative_slope)

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self) -> dict:
        return {**super().get_config(), "negative_slope": self.negative_slope}


class ELU(Layer):
    """``x`` where positive, ``alpha * (exp(x) - 1)`` elsewhere.

    Example:
        >>> import tape
        >>> from tape.layers import ELU
        >>> [round(v, 4) for v in ELU(alpha=2.0)(tape.tensor([-1.0, 2.0])).numpy().tolist()]
        [-1.2642, 2.0]
    """

    supports_masking = True

    def __init__(self, alpha=1.0, **kwargs):
        super().__init__(**kwargs)
        if isinstance(alpha, bool) or not isinstance(alpha, numbers.Real):
            raise ValueError(f"ELU: alpha must be a number. Received: alpha={alpha!r}")
        self.alpha = float(alpha)
        self.built = True

    def call(self, inputs):
        return nn.elu(inputs, self.alpha)

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self) -> dict:
        return {**super().get_config(), "alpha": self.alpha}


class Softmax(Layer):
    """Softmax along ``axis`` (an int or a tuple of ints). Called with a boolean ``mask``
    (broadcastable to the inputs; False = left out), masked entries get probability 0.

    The output remembers its logits, so a crossentropy loss on it is computed stably, as
    for ``Activation('softmax')``.

    Example:
        >>> import tape
        >>> from tape.layers import Softmax
        >>> Softmax()(tape.tensor([[0.0, 0.0]])).numpy().tolist()
        [[0.5, 0.5]]
        >>> mask = tape.tensor([[True, True, False]])
        >>> Softmax()(tape.tensor([[0.0, 0.0, 5.0]]), mask=mask).numpy().tolist()
        [[0.5, 0.5, 0.0]]
    """

    supports_masking = True

    def __init__(self, axis=-1, **kwargs):
        super().__init__(**kwargs)
        if isinstance(axis, list | tuple):
            axis = tuple(int(a) for a in axis)
        elif isinstance(axis, bool) or not isinstance(axis, numbers.Integral):
            raise ValueError(f"Softmax: axis must be an int or a tuple of ints. Received: "
                             f"axis={axis!r}")
        else:
            axis = int(axis)
        self.axis = axis

    def call(self, inputs, mask=None):
        x = ops.convert(inputs)
        if mask is None:
            return activations.softmax(x, axis=self.axis)
        mask = ops.convert(mask, like=x)
        if mask.dtype != bool:
            mask = ops.not_equal(mask, 0)
        # Masked logits get the dtype's lowest value: their exp is 0 unless a whole row is
        # masked, and such a row's output is all zeros after the last where.
        lowest = float(np.finfo(x.dtype).min / 2)  # /2: no inf in x - max
        probs = nn.softmax(ops.where(mask, x, lowest), axis=self.axis)
        return ops.where(mask, probs, 0.0)

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self) -> dict:
        return {**super().get_config(), "axis": self.axis}


class PReLU(Layer):
    """Parametric ReLU: ``x`` where positive, ``alpha * x`` elsewhere, with ``alpha`` a
    trained weight of the shape of one example (Keras' layout), shared along
    ``shared_axes``.

    Args:
        alpha_initializer: Anything ``tape.initializers.get`` takes (default zeros).
        alpha_regularizer: Anything ``tape.regularizers.get`` takes.
        shared_axes: Axes (1-based, the batch is 0) along which alpha is one value, e.g.
            ``[1, 2]`` for images ``(batch, height, width, channels)``: one alpha per channel.

    Example:
        >>> import tape
        >>> from tape.layers import PReLU
        >>> layer = PReLU(alpha_initializer=tape.initializers.Constant(0.5), shared_axes=[1])
        >>> layer(tape.tensor([[[-2.0, 2.0], [-1.0, 1.0]]])).numpy().tolist()
        [[[-1.0, 2.0], [-0.5, 1.0]]]
        >>> layer.alpha.shape
        (1, 2)
    """

    def __init__(self, alpha_initializer="zeros", alpha_regularizer=None, shared_axes=None,
                 **kwargs):
        super().__init__(**kwargs)
        self.alpha_initializer = initializers.get(alpha_initializer)
        self.alpha_regularizer = regularizers.get(alpha_regularizer)
        if shared_axes is None:
            self.shared_axes = None
        else:
            axes = [shared_axes] if isinstance(shared_axes, numbers.Integral) else shared_axes
            if any(isinstance(a, bool) or not isinstance(a, numbers.Integral) or a < 1
                   for a in axes):
                raise ValueError("PReLU: shared_axes must be axes >= 1 (0 is the batch). "
                                 f"Received: shared_axes={shared_axes!r}")
            self.shared_axes = tuple(int(a) for a in axes)

    def build(self, input_shape):
        ndim = len(input_shape)
        shared = set(self.shared_axes or ())
        if shared and max(shared) >= ndim:
            raise ValueError(f"PReLU '{self.name}': shared_axes {self.shared_axes} do not fit "
                             f"inputs of shape {tuple(input_shape)}")
        param_shape = tuple(1 if axis in shared else input_shape[axis]
                            for axis in range(1, ndim))
        if None in param_shape:
            raise ValueError(f"PReLU '{self.name}': every axis of the inputs that is not in "
                             f"shared_axes must have a known size. Received: input_shape="
                             f"{tuple(input_shape)}, shared_axes={self.shared_axes}")
        self.alpha = self.add_weight("alpha", param_shape, self.alpha_initializer,
                                     self.alpha_regularizer)
        self.input_spec = InputSpec(ndim=ndim, axes={axis: input_shape[axis]
                                                     for axis in range(1, ndim)
                                                     if axis not in shared})
        self.built = True

    def call(self, inputs):
        x = ops.convert(inputs)
        return ops.where(ops.greater(x, 0), x, ops.multiply(x, self.alpha))

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self) -> dict:
        return {**super().get_config(),
                "alpha_initializer": serialize_object(self.alpha_initializer),
                "alpha_regularizer": serialize_object(self.alpha_regularizer),
                "shared_axes": None if self.shared_axes is None else list(self.shared_axes)}

"""Normalization layers: BatchNormalization (batch statistics while training, moving ones at
inference) and LayerNormalization (per-example statistics), on ``tape.nn``'s functional forms."""

from __future__ import annotations

from .. import dtypes, initializers, nn, ops, regularizers
from ..errors import ShapeError, user_line
from ..ops._helpers import normalize_axes
from ._nest import serialize_object
from .base import InputSpec, Layer
from .call_inputs import cast_float


def _axes_for(layer: Layer, axis, input_shape) -> tuple:
    """``axis`` (an int or a list) as sorted non-negative axes of ``input_shape``, with known
    sizes; errors name the layer."""
    try:
        axes = normalize_axes(axis, len(input_shape))
    except ValueError as error:
        raise ShapeError(f"{type(layer).__name__} layer '{layer.name}': axis={axis!r} does not "
                         f"fit inputs of shape {tuple(input_shape)} ({error}) "
                         f"[at {user_line()}]") from None
    if 0 in axes and len(input_shape) > 1:
        raise ShapeError(f"{type(layer).__name__} layer '{layer.name}': axis={axis!r} includes "
                         f"the batch axis 0 of inputs of shape {tuple(input_shape)} "
                         f"[at {user_line()}]")
    unknown = [a for a in axes if input_shape[a] is None]
    if unknown:
        raise ValueError(f"{type(layer).__name__} layer '{layer.name}': axis {unknown} of the "
                         f"inputs must have a known size. Received: input_shape="
                         f"{tuple(input_shape)}")
    return axes


class _Normalization(Layer):
    """Shared arguments and weights of the two normalization layers."""

    supports_masking = True  # the mask passes through unchanged

    def __init__(self, axis, epsilon, center, scale, beta_initializer, gamma_initializer,
                 beta_regularizer, gamma_regularizer, **kwargs):
        super().__init__(**kwargs)
        self.axis = list(axis) if isinstance(axis, list | tuple) else int(axis)
        self.epsilon = float(epsilon)
        self.center, self.scale = bool(center), bool(scale)
        self.beta_initializer = initializers.get(beta_initializer)
        self.gamma_initializer = initializers.get(gamma_initializer)
        self.beta_regularizer = regularizers.get(beta_regularizer)
        self.gamma_regularizer = regularizers.get(gamma_regularizer)

    def _build_affine(self, input_shape) -> None:
        ndim = len(input_shape)
        self._axes = _axes_for(self, self.axis, input_shape)
        self._param_shape = tuple(input_shape[a] for a in self._axes)
        # The weights' shape broadcast against the inputs (None: they already broadcast).
        broadcast = tuple(input_shape[a] if a in self._axes else 1 for a in range(ndim))
        last = self._axes == tuple(range(ndim - len(self._axes), ndim))
        self._broadcast_shape = None if last else broadcast
        self.gamma = self.add_weight("gamma", self._param_shape, self.gamma_initializer,
                                     self.gamma_regularizer, autocast=False) if self.scale else None
        self.beta = self.add_weight("beta", self._param_shape, self.beta_initializer,
                                    self.beta_regularizer, autocast=False) if self.center else None

    @staticmethod
    def _float32_input(inputs):
        """The inputs, cast up to float32 when they are float16/bfloat16: under a mixed
        policy the statistics and the normalization run in float32 (as in Keras), and the
        result goes back to the compute dtype (``_in_compute_dtype``)."""
        x = ops.convert(inputs)
        return ops.cast(x, "float32") if dtypes.is_low_precision(x.dtype) else x

    def _in_compute_dtype(self, y):
        return cast_float(y, self.compute_dtype)

    def _broadcast(self, t):
        if t is None or self._broadcast_shape is None:
            return t
        return ops.reshape(t, self._broadcast_shape)

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self) -> dict:
        return {**super().get_config(), "axis": self.axis, "epsilon": self.epsilon,
                "center": self.center, "scale": self.scale,
                "beta_initializer": serialize_object(self.beta_initializer),
                "gamma_initializer": serialize_object(self.gamma_initializer),
                "beta_regularizer": serialize_object(self.beta_regularizer),
                "gamma_regularizer": serialize_object(self.gamma_regularizer)}


class BatchNormalization(_Normalization):
    """Normalizes over the batch (and every axis but ``axis``), as Keras does.

    While training (``training=True`` and the layer trainable) it uses the batch's mean and
    (biased) variance, and updates the non-trainable ``moving_mean``/``moving_variance`` with
    ``moving = moving * momentum + batch * (1 - momentum)`` through ``Variable.assign``. At
    inference it uses the moving statistics. Then ``gamma * x_hat + beta``.

    Args:
        axis: The feature axis (or list of axes) that keeps its own statistics; default -1.
        momentum: Of the moving averages (default 0.99).
        epsilon: Added to the variance (default 1e-3).
        center, scale: Whether to learn ``beta`` and ``gamma``.
        beta_initializer, gamma_initializer, moving_mean_initializer,
        moving_variance_initializer, beta_regularizer, gamma_regularizer: As in Keras.

    Call arguments: ``inputs``, ``training``, and ``mask`` (``inputs.shape[:-1]``, from an
    ``Embedding(mask_zero=True)``): masked positions do not count in the batch statistics.

    Example:
        >>> import tape
        >>> from tape.layers import BatchNormalization
        >>> layer = BatchNormalization(momentum=0.5)
        >>> x = tape.tensor([[0.0, 2.0], [2.0, 6.0]])
        >>> layer(x, training=True).numpy().astype(float).round(4).tolist()
        [[-0.9995, -0.9999], [0.9995, 0.9999]]
        >>> layer.moving_mean.numpy().tolist(), layer.moving_variance.numpy().tolist()
        ([0.5, 2.0], [1.0, 2.5])
    """

    def __init__(self, axis=-1, momentum=0.99, epsilon=1e-3, center=True, scale=True,
                 beta_initializer="zeros", gamma_initializer="ones",
                 moving_mean_initializer="zeros", moving_variance_initializer="ones",
                 beta_regularizer=None, gamma_regularizer=None, **kwargs):
        super().__init__(axis, epsilon, center, scale, beta_initializer, gamma_initializer,
                         beta_regularizer, gamma_regularizer, **kwargs)
        self.momentum = float(momentum)
        self.moving_mean_initializer = initializers.get(moving_mean_initializer)
        self.moving_variance_initializer = initializers.get(moving_variance_initializer)

    def build(self, input_shape):
        self._build_affine(input_shape)
        self.moving_mean = self.add_weight("moving_mean", self._param_shape,
                                           self.moving_mean_initializer, trainable=False,
                                           autocast=False)
        self.moving_variance = self.add_weight("moving_variance", self._param_shape,
                                               self.moving_variance_initializer, trainable=False,
                                               autocast=False)
        self._reduction_axes = tuple(a for a in range(len(input_shape)) if a not in self._axes)
        self.input_spec = InputSpec(ndim=len(input_shape),
                                    axes={a: input_shape[a] for a in self._axes})
        self.built = True

    def call(self, inputs, training=None, mask=None):
        x = self._float32_input(inputs)
        if training and self.trainable:
            mean, variance = self._batch_moments(x, mask)
            self._update_moving_averages(mean, variance)
            mean, variance = self._broadcast(mean), self._broadcast(variance)
        else:
            mean = self._broadcast(self.moving_mean)
            variance = self._broadcast(self.moving_variance)
        return self._in_compute_dtype(nn.batch_norm(
            x, mean, variance, self._broadcast(self.beta), self._broadcast(self.gamma),
            self.epsilon))

    def _batch_moments(self, x, mask):
        """Mean and variance over the reduction axes, of shape ``_param_shape``."""
        if mask is None:
            mean, variance = nn.moments(x, self._reduction_axes, keepdims=True)
        else:
            mask = ops.convert(mask, like=x)
            if tuple(mask.shape) != tuple(x.shape[:-1]):
                raise ShapeError(f"BatchNormalization layer '{self.name}': a mask of shape "
                                 f"{mask.shape} does not fit inputs of shape {x.shape} (expected "
                                 f"{x.shape[:-1]}) [at {user_line()}]")
            weights = ops.expand_dims(ops.cast(mask, x.dtype), -1)
            axes = self._reduction_axes
            count = ops.maximum(ops.sum(weights, axis=axes, keepdims=True), 1.0)
            mean = ops.divide(ops.sum(ops.multiply(x, weights), axis=axes, keepdims=True), count)
            variance = ops.divide(ops.sum(ops.multiply(ops.square(ops.subtract(x, mean)),
                                                       weights), axis=axes, keepdims=True), count)
        return ops.reshape(mean, self._param_shape), ops.reshape(variance, self._param_shape)

    def _update_moving_averages(self, mean, variance) -> None:
        m = self.momentum
        for moving, batch in ((self.moving_mean, mean), (self.moving_variance, variance)):
            batch = ops.stop_gradient(ops.cast(batch, moving.dtype))
            moving.assign(ops.add(ops.multiply(moving, m), ops.multiply(batch, 1.0 - m)))

    def get_config(self) -> dict:
        return {**super().get_config(), "momentum": self.momentum,
                "moving_mean_initializer": serialize_object(self.moving_mean_initializer),
                "moving_variance_initializer": serialize_object(
                    self.moving_variance_initializer)}


class LayerNormalization(_Normalization):
    """Normalizes each example over ``axis`` (default the last), then ``gamma * x_hat + beta``
    (weights of the shape of those axes). Over the last axis alone it runs the ``layer_norm``
    primitive (one op, with a GPU kernel); over other axes it is composed from ``moments``.

    Args:
        axis: An int or a list of ints, never the batch axis 0.
        epsilon: Added to the variance (default 1e-3).
        center, scale, beta_initializer, gamma_initializer, beta_regularizer,
        gamma_regularizer: As in Keras.

    Example:
        >>> import tape
        >>> from tape.layers import LayerNormalization
        >>> y = LayerNormalization(epsilon=0.0)(tape.tensor([[1.0, 2.0, 3.0]]))
        >>> [round(v, 4) for v in y.numpy()[0].tolist()]
        [-1.2247, 0.0, 1.2247]
    """

    def __init__(self, axis=-1, epsilon=1e-3, center=True, scale=True,
                 beta_initializer="zeros", gamma_initializer="ones", beta_regularizer=None,
                 gamma_regularizer=None, **kwargs):
        super().__init__(axis, epsilon, center, scale, beta_initializer, gamma_initializer,
                         beta_regularizer, gamma_regularizer, **kwargs)

    def build(self, input_shape):
        self._build_affine(input_shape)
        ndim = len(input_shape)
        sizes = {a - ndim: input_shape[a] for a in self._axes}
        self.input_spec = (InputSpec(min_ndim=1, axes=sizes) if self._axes == (ndim - 1,)
                           else InputSpec(ndim=ndim, axes=sizes))
        self.built = True

    def call(self, inputs):
        x = self._float32_input(inputs)
        axes = self._axes if self._broadcast_shape is not None else tuple(
            range(x.ndim - len(self._axes), x.ndim))
        return self._in_compute_dtype(nn.layer_norm(
            x, self._broadcast(self.gamma), self._broadcast(self.beta), axis=axes,
            epsilon=self.epsilon))

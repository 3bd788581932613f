"""The recurrent cells, one time step each: SimpleRNNCell, LSTMCell, GRUCell, in Keras' weight
layouts and gate orders (LSTM i, f, c, o; GRU z, r, h), with Keras' dropout on the inputs and
the recurrent state (one mask per sequence). ``tape.layers.RNN`` runs a cell over time."""

from __future__ import annotations

from .. import activations, initializers, ops, regularizers
from ..errors import ShapeError, user_line
from ..ops import random
from ._nest import serialize_object
from .base import InputSpec, Layer
from .core import _positive_int


class _Cell(Layer):
    """Shared arguments, weights and state checks of the built-in cells. ``gates`` is how many
    ``units``-wide blocks the kernels hold (1 SimpleRNN, 4 LSTM, 3 GRU)."""

    gates = 1

    def __init__(self, units, activation="tanh", use_bias=True,
                 kernel_initializer="glorot_uniform", recurrent_initializer="orthogonal",
                 bias_initializer="zeros", kernel_regularizer=None, recurrent_regularizer=None,
                 bias_regularizer=None, dropout=0.0, recurrent_dropout=0.0, seed=None,
                 **kwargs):
        super().__init__(**kwargs)
        self.units = _positive_int(units, "units", type(self).__name__)
        for what, rate in (("dropout", dropout), ("recurrent_dropout", recurrent_dropout)):
            if isinstance(rate, bool) or not isinstance(rate, int | float) or not 0 <= rate < 1:
                raise ValueError(f"{type(self).__name__}: {what} must be a number in [0, 1). "
                                 f"Received: {what}={rate!r}")
        self.dropout, self.recurrent_dropout = float(dropout), float(recurrent_dropout)
        self.seed = seed
        # A seeded cell walks its seed's own streams: reproducible, yet fresh masks for each
        # sequence (at every replay of a traced step too: the key is a graph op).
        self._streams = None if seed is None else random.Streams()
        self._dropout_masks: dict = {}
        self.activation = activations.get(activation)
        self.use_bias = bool(use_bias)
        self.kernel_initializer = initializers.get(kernel_initializer)
        self.recurrent_initializer = initializers.get(recurrent_initializer)
        self.bias_initializer = initializers.get(bias_initializer)
        self.kernel_regularizer = regularizers.get(kernel_regularizer)
        self.recurrent_regularizer = regularizers.get(recurrent_regularizer)
        self.bias_regularizer = regularizers.get(bias_regularizer)
        self.input_spec = InputSpec(ndim=2)

    @property
    def state_size(self) -> list[int]:
        return [self.units]

    @property
    def output_size(self) -> int:
        return self.units

    def build(self, input_shape):
        input_dim = input_shape[-1]
        if input_dim is None:
            raise ValueError(f"{type(self).__name__} '{self.name}': the feature size of the "
                             f"inputs must be known. Received: input_shape={input_shape}")
        width = self.gates * self.units
        self.kernel = self.add_weight("kernel", (input_dim, width), self.kernel_initializer,
                                      self.kernel_regularizer)
        self.recurrent_kernel = self.add_weight("recurrent_kernel", (self.units, width),
                                                self.recurrent_initializer,
                                                self.recurrent_regularizer)
        self.bias = None
        if self.use_bias:
            self.bias = self.add_weight("bias", self._bias_shape(), self._bias_initializer(),
                                        self.bias_regularizer)
        self.input_spec = InputSpec(ndim=2, axes={-1: input_dim})
        self.built = True

    def _bias_shape(self) -> tuple:
        return (self.gates * self.units,)

    def _bias_initializer(self):
        return self.bias_initializer

    def get_initial_state(self, batch_size: int, dtype=None) -> list:
        """Zeros, one tensor ``(batch_size, size)`` per entry of ``state_size``."""
        dtype = dtype or self.compute_dtype
        return [ops.zeros((batch_size, n), dtype=dtype) for n in self.state_size]

    def _states(self, inputs, states) -> list:
        """``states`` as a list, checked against ``state_size`` (errors name the cell)."""
        states = list(states) if isinstance(states, list | tuple) else [states]
        sizes = self.state_size
        shapes = [tuple(getattr(s, "shape", ())) for s in states]
        batch = inputs.shape[0]
        if len(states) != len(sizes) or any(
                shape != (batch, n) for shape, n in zip(shapes, sizes, strict=True)):
            raise ShapeError(f"{type(self).__name__} '{self.name}': expected {len(sizes)} "
                             f"state(s) of shape {[(batch, n) for n in sizes]} for inputs of "
                             f"shape {inputs.shape}, received shapes {shapes} [at {user_line()}]")
        return states

    def _dropped(self, x, which: str, training):
        """``x`` times this cell's dropout mask for ``which`` ('inputs' or 'state') while
        training. A mask is drawn once and reused at every step until
        ``reset_dropout_mask`` (RNN calls it before each sequence), as in Keras."""
        rate = self.dropout if which == "inputs" else self.recurrent_dropout
        if not training or rate == 0:
            return x
        mask = self._dropout_masks.get(which)
        if mask is None or mask.shape != x.shape:
            key = (random.random_key() if self.seed is None else
                   random.random_key(seed=int(self.seed), streams=self._streams))
            mask = random.dropout(ops.ones_like(x), rate, key=key)
            self._dropout_masks[which] = mask
        return ops.multiply(x, mask)

    def reset_dropout_mask(self) -> None:
        """Draw fresh dropout masks at the next step (called by RNN before each sequence)."""
        self._dropout_masks = {}

    def _linear(self, x, kernel, bias=None):
        out = ops.matmul(x, kernel)
        return out if bias is None else ops.add(out, bias)

    def get_config(self) -> dict:
        return {**super().get_config(), "units": self.units,
                "activation": activations.serialize(self.activation), "use_bias": self.use_bias,
                "kernel_initializer": serialize_object(self.kernel_initializer),
                "recurrent_initializer": serialize_object(self.recurrent_initializer),
                "bias_initializer": serialize_object(self.bias_initializer),
                "kernel_regularizer": serialize_object(self.kernel_regularizer),
                "recurrent_regularizer": serialize_object(self.recurrent_regularizer),
                "bias_regularizer": serialize_object(self.bias_regularizer),
                "dropout": self.dropout, "recurrent_dropout": self.recurrent_dropout,
                "seed": self.seed}


class SimpleRNNCell(_Cell):
    """One step of a fully connected RNN: ``h = activation(x @ kernel + h_prev @
    recurrent_kernel + bias)``; the output is ``h``.

    Call: ``cell(inputs, states)`` with ``inputs (batch, features)`` and ``states`` a list
    ``[h]`` (or the tensor ``h``); returns ``(output, new_states)`` in the same form.

    Example:
        >>> import tape
        >>> from tape.layers import SimpleRNNCell
        >>> cell = SimpleRNNCell(3)
        >>> out, [h] = cell(tape.ones((2, 4)), cell.get_initial_state(2))
        >>> out.shape, h is out
        ((2, 3), True)
    """

    def call(self, inputs, states, training=None):
        (h_prev,) = self._states(inputs, states)
        x = self._dropped(inputs, "inputs", training)
        h_in = self._dropped(h_prev, "state", training)
        h = self.activation(ops.add(self._linear(x, self.kernel, self.bias),
                                    ops.matmul(h_in, self.recurrent_kernel)))
        return h, ([h] if isinstance(states, list | tuple) else h)


class LSTMCell(_Cell):
    """One LSTM step, Keras' layout: ``kernel (features, 4 * units)``, ``recurrent_kernel
    (units, 4 * units)``, ``bias (4 * units,)`` with the gates in the order input, forget,
    cell, output::

        i, f, c_hat, o = split(x @ kernel + h_prev @ recurrent_kernel + bias, 4)
        c = sigma(f) * c_prev + sigma(i) * act(c_hat);  h = sigma(o) * act(c)

    Args:
        units, activation (tanh), recurrent_activation (sigmoid, ``sigma`` above), use_bias,
        kernel/recurrent/bias initializers and regularizers: As in Keras.
        unit_forget_bias: Start the forget gate's bias at 1 (Keras' default True).

    Call: ``cell(inputs, [h, c])`` returns ``(h, [h, c])``.

    Example:
        >>> import tape
        >>> from tape.layers import LSTMCell
        >>> cell = LSTMCell(3)
        >>> h, (h2, c) = cell(tape.ones((2, 4)), cell.get_initial_state(2))
        >>> h.shape, c.shape, cell.bias.numpy().tolist()[3:6]
        ((2, 3), (2, 3), [1.0, 1.0, 1.0])
    """

    gates = 4

    def __init__(self, units, activation="tanh", recurrent_activation="sigmoid",
                 use_bias=True, kernel_initializer="glorot_uniform",
                 recurrent_initializer="orthogonal", bias_initializer="zeros",
                 unit_forget_bias=True, kernel_regularizer=None, recurrent_regularizer=None,
                 bias_regularizer=None, **kwargs):
        super().__init__(units, activation, use_bias, kernel_initializer,
                         recurrent_initializer, bias_initializer, kernel_regularizer,
                         recurrent_regularizer, bias_regularizer, **kwargs)
        self.recurrent_activation = activations.get(recurrent_activation)
        self.unit_forget_bias = bool(unit_forget_bias)

    @property
    def state_size(self) -> list[int]:
        return [self.units, self.units]

    def _bias_initializer(self):
        if not self.unit_forget_bias:
            return self.bias_initializer
        base, units = self.bias_initializer, self.units

        def forget_gate_at_one(shape, dtype):
            return ops.concatenate([base((units,), dtype), ops.ones((units,), dtype=dtype),
                                    base((2 * units,), dtype)])

        return forget_gate_at_one

    def call(self, inputs, states, training=None):
        h_prev, c_prev = self._states(inputs, states)
        x = self._dropped(inputs, "inputs", training)
        z = ops.add(self._linear(x, self.kernel, self.bias),
                    ops.matmul(self._dropped(h_prev, "state", training), self.recurrent_kernel))
        z_i, z_f, z_c, z_o = ops.split(z, 4, axis=-1)
        act, gate = self.activation, self.recurrent_activation
        c = ops.add(ops.multiply(gate(z_f), c_prev), ops.multiply(gate(z_i), act(z_c)))
        h = ops.multiply(gate(z_o), act(c))
        return h, [h, c]

    def get_config(self) -> dict:
        return {**super().get_config(),
                "recurrent_activation": activations.serialize(self.recurrent_activation),
                "unit_forget_bias": self.unit_forget_bias}


class GRUCell(_Cell):
    """One GRU step, Keras' layout: ``kernel (features, 3 * units)`` and ``recurrent_kernel
    (units, 3 * units)`` with the gates in the order update ``z``, reset ``r``, candidate
    ``h``; ``h = z * h_prev + (1 - z) * h_cand``.

    With ``reset_after=True`` (default, cuDNN's form) the bias is ``(2, 3 * units)`` (input
    and recurrent biases) and the reset gate multiplies ``h_prev @ recurrent_kernel_h +
    bias_h``; with False the bias is ``(3 * units,)`` and the reset gate multiplies ``h_prev``
    before the recurrent product.

    Example:
        >>> import tape
        >>> from tape.layers import GRUCell
        >>> cell = GRUCell(3)
        >>> h, [h2] = cell(tape.ones((2, 4)), cell.get_initial_state(2))
        >>> h.shape, cell.bias.shape
        ((2, 3), (2, 9))
    """

    gates = 3

    def __init__(self, units, activation="tanh", recurrent_activation="sigmoid",
                 use_bias=True, kernel_initializer="glorot_uniform",
                 recurrent_initializer="orthogonal", bias_initializer="zeros",
                 kernel_regularizer=None, recurrent_regularizer=None, bias_regularizer=None,
                 reset_after=True, **kwargs):
        super().__init__(units, activation, use_bias, kernel_initializer,
                         recurrent_initializer, bias_initializer, kernel_regularizer,
                         recurrent_regularizer, bias_regularizer, **kwargs)
        self.recurrent_activation = activations.get(recurrent_activation)
        self.reset_after = bool(reset_after)

    def _bias_shape(self) -> tuple:
        return (2, 3 * self.units) if self.reset_after else (3 * self.units,)

    def call(self, inputs, states, training=None):
        (h_prev,) = self._states(inputs, states)
        u = self.units
        x = self._dropped(inputs, "inputs", training)
        h_in = self._dropped(h_prev, "state", training)  # dropped in the products only
        input_bias = recurrent_bias = None
        if self.bias is not None:
            if self.reset_after:
                input_bias, recurrent_bias = self.bias[0], self.bias[1]
            else:
                input_bias = self.bias
        x_z, x_r, x_h = ops.split(self._linear(x, self.kernel, input_bias), 3, axis=-1)
        gate = self.recurrent_activation
        if self.reset_after:
            inner = self._linear(h_in, self.recurrent_kernel, recurrent_bias)
            rec_z, rec_r, rec_h = ops.split(inner, 3, axis=-1)
            z, r = gate(ops.add(x_z, rec_z)), gate(ops.add(x_r, rec_r))
            rec_h = ops.multiply(r, rec_h)
        else:
            kernel_zr = self.recurrent_kernel[:, :2 * u]
            rec_z, rec_r = ops.split(ops.matmul(h_in, kernel_zr), 2, axis=-1)
            z, r = gate(ops.add(x_z, rec_z)), gate(ops.add(x_r, rec_r))
            rec_h = ops.matmul(ops.multiply(r, h_in), self.recurrent_kernel[:, 2 * u:])
        candidate = self.activation(ops.add(x_h, rec_h))
        h = ops.add(ops.multiply(z, h_prev), ops.multiply(ops.subtract(1.0, z), candidate))
        return h, ([h] if isinstance(states, list | tuple) else h)

    def get_config(self) -> dict:
        return {**super().get_config(),
                "recurrent_activation": activations.serialize(self.recurrent_activation),
                "reset_after": self.reset_after}

"""Recurrent layers: the generic ``RNN(cell)`` that runs a cell (``recurrent_cells``) over
time, SimpleRNN/LSTM/GRU, Bidirectional, and TimeDistributed (any layer applied at every step).

The time loop is a Python loop over op-table calls: eager, recorded by tapes, and unrolled when
traced. Keras' weight layouts and gate orders are kept, so weights port from Keras with
``set_weights``. A masked step keeps the previous state (and output), chosen with
``tape.where``.
"""

from __future__ import annotations

from .. import ops
from ..errors import ShapeError, user_line
from ..ops.creation import beside
from ._nest import to_snake_case, unique_name
from .base import InputSpec, Layer
from .recurrent_cells import GRUCell, LSTMCell, SimpleRNNCell

__all__ = ["RNN", "SimpleRNN", "LSTM", "GRU", "Bidirectional", "TimeDistributed", "SimpleRNNCell",
           "LSTMCell", "GRUCell"]

# ---- the time loop ----------------------------------------------------------------------------


class RNN(Layer):
    """Runs ``cell`` over the time axis of inputs ``(batch, time, features)``.

    A cell is any layer with ``state_size`` (an int or list of ints) and
    ``call(inputs, states[, training])`` returning ``(output, new_states)``; ``get_initial_state``
    and ``output_size`` are used when present.

    Args:
        cell: The cell (a layer); its weights are this layer's weights.
        return_sequences: Return every step's output ``(batch, time, units)``, not only the
            last ``(batch, units)``.
        return_state: Also return the final states: ``[output, *states]``.
        go_backwards: Process the sequence in reverse (a returned sequence stays reversed,
            as in Keras).
        unroll: Accepted for Keras compatibility; the loop is always a Python loop.
        zero_output_for_mask: Masked steps of a returned sequence are zeros instead of the
            previous output (Bidirectional sets this when it returns sequences).

    Call arguments: ``sequences``, ``initial_state`` (a list of ``(batch, size)`` tensors),
    ``mask`` (bool ``(batch, time)``, or propagated from ``Embedding(mask_zero=True)``),
    ``training``. A masked step leaves the states unchanged.

    Example:
        >>> import tape
        >>> from tape.layers import RNN, LSTMCell
        >>> layer = RNN(LSTMCell(4), return_sequences=True, return_state=True)
        >>> seq, h, c = layer(tape.ones((2, 5, 3)))
        >>> seq.shape, h.shape, c.shape
        ((2, 5, 4), (2, 4), (2, 4))
    """

    supports_masking = True

    def __init__(self, cell, return_sequences=False, return_state=False, go_backwards=False,
                 stateful=False, unroll=False, zero_output_for_mask=False, **kwargs):
        if kwargs.get("dtype") is None and isinstance(cell, Layer):
            kwargs["dtype"] = cell.dtype_policy  # inputs go to the cell's compute dtype
        super().__init__(**kwargs)
        if isinstance(cell, list | tuple) or not isinstance(cell, Layer) or not hasattr(
                cell, "state_size"):
            raise ValueError(f"RNN layer '{self.name}': cell must be one Layer with a "
                             f"state_size (stack cells as several RNN layers). Received: "
                             f"cell={cell!r}")
        if stateful:
            raise ValueError(f"RNN layer '{self.name}': stateful=True is not supported; pass "
                             "the last call's states as initial_state instead")
        self.cell = cell
        self.return_sequences = bool(return_sequences)
        self.return_state = bool(return_state)
        self.go_backwards = bool(go_backwards)
        self.unroll = bool(unroll)
        self.zero_output_for_mask = bool(zero_output_for_mask)
        self.input_spec = InputSpec(ndim=3)
        if not self.trainable:
            self.trainable = False  # reaches the cell, so its weights are created frozen

    # ---- shapes and states ------------------------------------------------------------
    def _state_sizes(self) -> list[int]:
        size = self.cell.state_size
        return [int(s) for s in size] if isinstance(size, list | tuple) else [int(size)]

    def _output_size(self) -> int:
        return int(getattr(self.cell, "output_size", self._state_sizes()[0]))

    def build(self, input_shape):
        features = input_shape[-1]
        if features is None:
            raise ValueError(f"RNN layer '{self.name}': the feature size (last axis) of the "
                             f"inputs must be known. Received: input_shape={input_shape}")
        if not self.cell.built:
            self.cell._maybe_build((input_shape[0], features))
        self.input_spec = InputSpec(ndim=3, axes={-1: features})
        self.built = True

    def compute_output_shape(self, input_shape):
        batch, steps = input_shape[0], input_shape[1]
        units = self._output_size()
        out = (batch, steps, units) if self.return_sequences else (batch, units)
        if self.return_state:
            return [out] + [(batch, n) for n in self._state_sizes()]
        return out

    def compute_mask(self, inputs, mask=None):
        if isinstance(mask, list | tuple):
            mask = mask[0]
        out = mask if self.return_sequences else None
        return [out] + [None] * len(self._state_sizes()) if self.return_state else out

    def _initial_states(self, initial_state, x) -> list:
        batch = x.shape[0]
        sizes = self._state_sizes()
        if initial_state is None:
            with beside(x):  # zero states where the sequence is
                if hasattr(self.cell, "get_initial_state"):
                    return list(self.cell.get_initial_state(batch, dtype=x.dtype))
                return [ops.zeros((batch, n), dtype=x.dtype) for n in sizes]
        states = list(initial_state) if isinstance(initial_state, list | tuple) else [
            initial_state]
        states = [ops.convert(s, like=x) for s in states]
        shapes = [tuple(s.shape) for s in states]
        if shapes != [(batch, n) for n in sizes]:
            raise ShapeError(f"{type(self).__name__} layer '{self.name}': initial_state must be "
                             f"{len(sizes)} tensor(s) of shape {[(batch, n) for n in sizes]} "
                             f"for inputs of shape {x.shape}, received shapes {shapes} "
                             f"[at {user_line()}]")
        return [ops.cast(s, x.dtype) if s.dtype != x.dtype else s for s in states]

    def _checked_mask(self, mask, x):
        if isinstance(mask, list | tuple):
            mask = mask[0]
        if mask is None:
            return None
        mask = ops.convert(mask, like=x)
        if tuple(mask.shape) != tuple(x.shape[:2]):
            raise ShapeError(f"{type(self).__name__} layer '{self.name}': a mask of shape "
                             f"{mask.shape} does not fit inputs of shape {x.shape} (expected "
                             f"(batch, time) = {x.shape[:2]}) [at {user_line()}]")
        return mask if mask.dtype == bool else ops.not_equal(mask, 0)

    # ---- the loop ---------------------------------------------------------------------
    def call(self, sequences, initial_state=None, mask=None, training=None):
        x = ops.convert(sequences)
        if x.shape[1] == 0:
            raise ShapeError(f"{type(self).__name__} layer '{self.name}': inputs of shape "
                             f"{x.shape} have no timesteps [at {user_line()}]")
        states = self._initial_states(initial_state, x)
        mask = self._checked_mask(mask, x)
        if self.go_backwards:
            x = ops.flip(x, axis=1)
            mask = None if mask is None else ops.flip(mask, axis=1)
        cell_kwargs = {"training": training} if self.cell._call_takes_training() else {}
        if hasattr(self.cell, "reset_dropout_mask"):
            self.cell.reset_dropout_mask()
        single_state = not isinstance(self.cell.state_size, list | tuple)
        outputs, last = [], None
        for t in range(x.shape[1]):
            step_states = states[0] if single_state else states
            out, new_states = self.cell.call(x[:, t], step_states, **cell_kwargs)
            new_states = list(new_states) if isinstance(new_states, list | tuple) else [
                new_states]
            if mask is None:
                last = seq_out = out
            else:
                keep = ops.expand_dims(mask[:, t], -1)
                new_states = [ops.where(keep, n, s) for n, s in zip(new_states, states,
                                                                    strict=True)]
                last = ops.where(keep, out, 0.0 if last is None else last)
                seq_out = ops.where(keep, out, 0.0) if self.zero_output_for_mask else last
            states = new_states
            if self.return_sequences:
                outputs.append(seq_out)
        output = ops.stack(outputs, axis=1) if self.return_sequences else last
        return [output, *states] if self.return_state else output

    def get_config(self) -> dict:
        from . import serialize  # deferred: tape.layers imports this module

        return {**super().get_config(), "cell": serialize(self.cell), **self._loop_config()}

    def _loop_config(self) -> dict:
        return {"return_sequences": self.return_sequences, "return_state": self.return_state,
                "go_backwards": self.go_backwards, "unroll": self.unroll,
                "zero_output_for_mask": self.zero_output_for_mask}

    @classmethod
    def from_config(cls, config: dict):
        from . import deserialize

        config = dict(config)
        config["cell"] = deserialize(config["cell"])
        return cls(**config)


class _CellRNN(RNN):
    """An RNN that makes its own cell from the cell's arguments (SimpleRNN, LSTM, GRU); its
    config is the cell's arguments plus the loop's, as in Keras."""

    cell_class = SimpleRNNCell

    def __init__(self, units, return_sequences=False, return_state=False, go_backwards=False,
                 stateful=False, unroll=False, zero_output_for_mask=False, name=None,
                 trainable=True, dtype=None, input_shape=None, input_dim=None,
                 activity_regularizer=None, batch_size=None, batch_input_shape=None,
                 **cell_kwargs):
        name = name or unique_name(to_snake_case(type(self).__name__))
        cell_name = f"{name}/{to_snake_case(self.cell_class.__name__)}"
        cell = self.cell_class(units, name=cell_name, trainable=trainable, dtype=dtype,
                               **cell_kwargs)
        super().__init__(cell, return_sequences, return_state, go_backwards, stateful, unroll,
                         zero_output_for_mask, name=name, trainable=trainable, dtype=dtype,
                         input_shape=input_shape, input_dim=input_dim,
                         activity_regularizer=activity_regularizer, batch_size=batch_size,
                         batch_input_shape=batch_input_shape)

    def __getattr__(self, name):
        # units, activation, kernel... read through to the cell, as Keras' LSTM.units does.
        if name != "cell" and "cell" in vars(self):
            return getattr(self.cell, name)
        raise AttributeError(f"{type(self).__name__} has no attribute {name!r}")

    def get_config(self) -> dict:
        cell_config = self.cell.get_config()
        for key in ("name", "trainable", "dtype"):
            cell_config.pop(key, None)
        return {**Layer.get_config(self), **cell_config, **self._loop_config()}

    @classmethod
    def from_config(cls, config: dict):
        return cls(**config)


class SimpleRNN(_CellRNN):
    """A fully connected RNN over ``(batch, time, features)``: ``SimpleRNNCell`` in ``RNN``.

    Example:
        >>> import tape
        >>> from tape.layers import SimpleRNN
        >>> SimpleRNN(4)(tape.ones((2, 5, 3))).shape
        (2, 4)
    """

    cell_class = SimpleRNNCell


class LSTM(_CellRNN):
    """Long short-term memory over ``(batch, time, features)``: ``LSTMCell`` in ``RNN``; takes
    the cell's arguments (units, activation, recurrent_activation, unit_forget_bias...) and
    the loop's (return_sequences, return_state, go_backwards...).

    Example:
        >>> import tape
        >>> from tape.layers import LSTM
        >>> layer = LSTM(4, return_state=True, name="enc")
        >>> out, h, c = layer(tape.ones((2, 5, 3)))
        >>> out.shape, [w.name for w in layer.weights]  # doctest: +NORMALIZE_WHITESPACE
        ((2, 4), ['enc/lstm_cell/kernel', 'enc/lstm_cell/recurrent_kernel',
                  'enc/lstm_cell/bias'])
    """

    cell_class = LSTMCell


class GRU(_CellRNN):
    """Gated recurrent unit over ``(batch, time, features)``: ``GRUCell`` in ``RNN``
    (``reset_after=True`` by default, as Keras).

    Example:
        >>> import tape
        >>> from tape.layers import GRU
        >>> GRU(4, return_sequences=True)(tape.ones((2, 5, 3))).shape
        (2, 5, 4)
    """

    cell_class = GRUCell


# ---- Bidirectional ----------------------------------------------------------------------------

_MERGE_MODES = ("concat", "sum", "mul", "ave", None)


class Bidirectional(Layer):
    """Runs an RNN layer forwards and a copy of it backwards, and merges the two outputs.

    Args:
        layer: An RNN layer (``LSTM(8, return_sequences=True)``...). A fresh copy of it, made
            from its config, runs forwards (``forward_<name>``), and another with
            ``go_backwards`` flipped runs backwards (``backward_<name>``).
        merge_mode: ``'concat'`` (default), ``'sum'``, ``'mul'``, ``'ave'``, or None for the
            list ``[forward, backward]``.
        backward_layer: Your own backward layer instead (same return_sequences and
            return_state as ``layer``, the opposite go_backwards).

    The backward sequence is flipped back to the input's time order before merging. With
    ``return_state`` the result is ``[output, *forward_states, *backward_states]``; an
    ``initial_state`` list is split the same way.

    Example:
        >>> import tape
        >>> from tape.layers import LSTM, Bidirectional
        >>> layer = Bidirectional(LSTM(4, return_sequences=True))
        >>> layer(tape.ones((2, 5, 3))).shape
        (2, 5, 8)
    """

    supports_masking = True

    def __init__(self, layer, merge_mode="concat", backward_layer=None, **kwargs):
        if kwargs.get("dtype") is None and isinstance(layer, Layer):
            kwargs["dtype"] = layer.dtype_policy
        super().__init__(**kwargs)
        from . import deserialize, serialize

        if not isinstance(layer, Layer) or not all(hasattr(layer, a) for a in (
                "go_backwards", "return_sequences", "return_state")):
            raise ValueError(f"Bidirectional '{self.name}': layer must be an RNN layer (with "
                             f"go_backwards, return_sequences and return_state). Received: "
                             f"layer={layer!r}")
        if merge_mode not in _MERGE_MODES:
            raise ValueError(f"Bidirectional '{self.name}': merge_mode must be one of "
                             f"{_MERGE_MODES}. Received: merge_mode={merge_mode!r}")
        base = layer.name.removeprefix("forward_").removeprefix("backward_")
        # The copies are rebuilt from configs: the classes in use (a user's cell too) are known.
        classes = {type(sub).__name__: type(sub) for sub in layer._flatten_layers()}
        config = serialize(layer)
        config["config"]["name"] = f"forward_{base}"
        self.forward_layer = deserialize(config, classes)
        if backward_layer is None:
            config = serialize(layer)
            config["config"].update(name=f"backward_{base}", go_backwards=not layer.go_backwards)
            self.backward_layer = deserialize(config, classes)
            self._custom_backward = False
        else:
            for attr in ("return_sequences", "return_state"):
                if getattr(backward_layer, attr) != getattr(layer, attr):
                    raise ValueError(f"Bidirectional '{self.name}': backward_layer.{attr} must "
                                     f"equal layer.{attr} ({getattr(layer, attr)})")
            if backward_layer.go_backwards == layer.go_backwards:
                raise ValueError(f"Bidirectional '{self.name}': backward_layer.go_backwards "
                                 "must be the opposite of layer.go_backwards")
            self.backward_layer = backward_layer
            self._custom_backward = True
        self.merge_mode = merge_mode
        self.return_sequences = layer.return_sequences
        self.return_state = layer.return_state
        for sub in (self.forward_layer, self.backward_layer):
            if hasattr(sub, "zero_output_for_mask"):
                sub.zero_output_for_mask = self.return_sequences
        self.input_spec = InputSpec(ndim=3)
        if not self.trainable:
            self.trainable = False

    def build(self, input_shape):
        self.forward_layer._maybe_build(input_shape)
        self.backward_layer._maybe_build(input_shape)
        self.input_spec = InputSpec(ndim=3, axes={-1: input_shape[-1]})
        self.built = True

    def call(self, sequences, initial_state=None, mask=None, training=None):
        forward_state = backward_state = None
        if initial_state is not None:
            states = list(initial_state)
            if len(states) % 2:
                raise ShapeError(f"Bidirectional '{self.name}': initial_state must hold the "
                                 f"forward then the backward states (an even count), received "
                                 f"{len(states)} [at {user_line()}]")
            forward_state, backward_state = states[:len(states) // 2], states[len(states) // 2:]
        y = self.forward_layer(sequences, initial_state=forward_state, mask=mask,
                               training=training)
        y_rev = self.backward_layer(sequences, initial_state=backward_state, mask=mask,
                                    training=training)
        states = []
        if self.return_state:
            states = list(y[1:]) + list(y_rev[1:])
            y, y_rev = y[0], y_rev[0]
        if self.return_sequences:
            y_rev = ops.flip(y_rev, axis=1)
        output = self._merge(y, y_rev)
        if self.return_state:
            return (output if isinstance(output, list) else [output]) + states
        return output

    def _merge(self, y, y_rev):
        if self.merge_mode == "concat":
            return ops.concatenate([y, y_rev], axis=-1)
        if self.merge_mode == "sum":
            return ops.add(y, y_rev)
        if self.merge_mode == "ave":
            return ops.multiply(ops.add(y, y_rev), 0.5)
        if self.merge_mode == "mul":
            return ops.multiply(y, y_rev)
        return [y, y_rev]

    def compute_output_shape(self, input_shape):
        shape = self.forward_layer.compute_output_shape(input_shape)
        states = []
        if self.return_state:
            states = list(shape[1:]) * 2
            shape = shape[0]
        if self.merge_mode == "concat":
            shape = (*shape[:-1], shape[-1] * 2)
        outputs = [shape, shape] if self.merge_mode is None else [shape]
        return outputs + states if self.return_state or self.merge_mode is None else shape

    def compute_mask(self, inputs, mask=None):
        if isinstance(mask, list | tuple):
            mask = mask[0]
        out = mask if self.return_sequences else None
        outputs = [out, out] if self.merge_mode is None else [out]
        if self.return_state:
            n = len(self.forward_layer._state_sizes()) if hasattr(
                self.forward_layer, "_state_sizes") else 1
            return outputs + [None] * (2 * n)
        return outputs if self.merge_mode is None else out

    def get_config(self) -> dict:
        from . import serialize

        config = {**super().get_config(), "layer": serialize(self.forward_layer),
                  "merge_mode": self.merge_mode}
        if self._custom_backward:
            config["backward_layer"] = serialize(self.backward_layer)
        return config

    @classmethod
    def from_config(cls, config: dict):
        from . import deserialize

        config = dict(config)
        config["layer"] = deserialize(config["layer"])
        if config.get("backward_layer") is not None:
            config["backward_layer"] = deserialize(config["backward_layer"])
        return cls(**config)


# ---- TimeDistributed --------------------------------------------------------------------------


class TimeDistributed(Layer):
    """Applies ``layer`` to every time step of ``(batch, time, ...)`` inputs: the time axis is
    folded into the batch, ``layer`` runs once on ``(batch * time, ...)``, and the result is
    unfolded to ``(batch, time, ...)``. Every step shares ``layer``'s weights.

    Args:
        layer: Any layer of one tensor (Dense, Conv2D, a Sequential model...).

    The inputs' time mask, if any, passes on to the outputs; ``layer`` itself gets no mask.

    Example:
        >>> import tape
        >>> from tape.layers import Dense, TimeDistributed
        >>> layer = TimeDistributed(Dense(4))
        >>> layer(tape.ones((2, 5, 3))).shape, [w.shape for w in layer.weights]
        ((2, 5, 4), [(3, 4), (4,)])
    """

    supports_masking = True

    def __init__(self, layer, **kwargs):
        if kwargs.get("dtype") is None and isinstance(layer, Layer):
            kwargs["dtype"] = layer.dtype_policy
        super().__init__(**kwargs)
        if not isinstance(layer, Layer):
            raise ValueError(f"TimeDistributed '{self.name}': layer must be a Layer. Received: "
                             f"layer={layer!r}")
        self.layer = layer
        self.input_spec = InputSpec(min_ndim=3)

    def build(self, input_shape):
        self.layer._maybe_build((None, *input_shape[2:]))
        self.built = True

    def call(self, inputs, training=None):
        x = ops.convert(inputs)
        batch, steps = x.shape[:2]
        # -1 for the batch (as Flatten does): a graph traced with an input_signature serves any
        # batch size. A reshape of an empty tensor needs the sizes spelled out.
        folded = ops.reshape(x, (batch * steps if x.size == 0 else -1, *x.shape[2:]))
        y = ops.convert(self.layer(folded, training=training))
        return ops.reshape(y, (batch if y.size == 0 else -1, steps, *y.shape[1:]))

    def compute_output_spec(self, input_shape, input_dtypes):
        batch, steps = input_shape[:2]
        folded = None if batch is None or steps is None else batch * steps
        shape, out_dtypes = self.layer.compute_output_spec((folded, *input_shape[2:]),
                                                           input_dtypes)
        if not isinstance(shape, tuple) or any(isinstance(s, tuple | list) for s in shape):
            raise ValueError(f"TimeDistributed '{self.name}': layer '{self.layer.name}' must "
                             f"return one tensor; it returns shapes {shape}")
        return (batch, steps, *shape[1:]), out_dtypes

    def compute_output_shape(self, input_shape):
        return self.compute_output_spec(input_shape, [self.compute_dtype])[0]

    def get_config(self) -> dict:
        from . import serialize

        return {**super().get_config(), "layer": serialize(self.layer)}

    @classmethod
    def from_config(cls, config: dict):
        from . import deserialize

        return cls(**{**config, "layer": deserialize(config["layer"])})

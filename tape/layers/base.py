"""Layer, the Keras 3 template: ``build`` creates weights, ``call`` computes, and ``__call__``
does the bookkeeping around them (lazy build, input checks, the training flag, losses, and
symbolic calls for the functional API, which live in ``input_layer``)."""

from __future__ import annotations

import inspect
import weakref
from contextvars import ContextVar

import numpy as np

from .. import _state, backend, dtypes, initializers, mixed_precision, ops, regularizers
from ..errors import names_user_line
from ..tensor import PLAIN_TENSOR_TYPES, AutocastVariable, Tensor, Variable
from . import weight_budget
from ._nest import (
    flatten,
    flatten_shapes,
    instances_in,
    is_shape,
    map_shapes,
    map_structure,
    serialize_object,
    to_snake_case,
    unique_name,
)
from .call_inputs import build_device, cast_float, is_symbolic, shape_for_build
from .input_spec import InputSpec  # noqa: F401 - layers import it from here
from .masks import attach_masks, get_mask
from .symbolic import KerasTensor, symbolic_call

# Layer-private call state (nothing outside tape.layers reads it, so it is not in _state):
# whether a Layer.__call__ is running (the outermost one clears the last call's losses), and
# whether compute_output_shape is probing a layer on zeros (then no loss is recorded).
_in_call: ContextVar[bool] = ContextVar("tape_layers_in_call", default=False)
_probing: ContextVar[bool] = ContextVar("tape_layers_probing", default=False)
_takes_training: dict[type, bool] = {}
_takes_mask: dict[type, bool] = {}
# The layers holding losses of their last call (add_loss): an outermost call clears those
# below it, and walks its sublayers for that only while there are any.
_with_call_losses: weakref.WeakValueDictionary = weakref.WeakValueDictionary()  # id -> layer

class Layer:
    """Base class of all layers: subclasses fill ``build(input_shape)`` and ``call(inputs)``.

    ``__call__`` builds the layer from its first input's shape, converts NumPy inputs to
    Tensors (and float inputs to the layer's dtype), checks ``input_spec``, passes
    ``training`` (the explicit argument, else the ``tape._state.training`` context, which it
    also sets for sublayers), records the activity regularizer's loss, and, when given
    ``KerasTensor``s, returns symbolic outputs for the functional API. Sublayers and Variables
    held in attributes (or in lists/tuples/dicts there) are tracked by ``weights``, ``losses``
    and the ``trainable`` switch.

    Args:
        name: Unique by default (``my_layer``, ``my_layer_1``... from the class name).
        trainable: False freezes every weight (tapes stop watching them).
        dtype: The layer's dtype policy (``tape.mixed_precision``): a dtype name, which the
            weights are stored in and float inputs cast to, or ``'mixed_bfloat16'`` /
            ``'mixed_float16'`` (compute in the low dtype, float32 weights cast on read).
            Default: the global policy (float32 unless ``set_global_policy`` changed it).
        input_shape: Shape of one example (no batch), for a model's first layer
            (``input_dim=n`` is short for ``input_shape=(n,)``).
        activity_regularizer: Penalty on the outputs (divided by the batch size).

    Example:
        >>> import tape
        >>> from tape.layers import Layer
        >>> class Scale(Layer):
        ...     def build(self, input_shape):
        ...         self.w = self.add_weight("w", (input_shape[-1],), initializer="ones")
        ...     def call(self, x):
        ...         return x * self.w
        >>> layer = Scale()
        >>> layer(tape.ones((2, 3))).shape, [w.shape for w in layer.weights]
        ((2, 3), [(3,)])
    """

    is_input_layer = False  # InputLayer: its symbolic Node starts a graph

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        if "__init__" in cls.__dict__:  # a constructor's errors name the user's line
            cls.__init__ = names_user_line(cls.__init__)

    @names_user_line
    def __init__(self, name: str | None = None, trainable: bool = True, dtype=None,
                 input_shape=None, input_dim: int | None = None, activity_regularizer=None,
                 **kwargs):
        batch_size = kwargs.pop("batch_size", None)
        batch_input_shape = kwargs.pop("batch_input_shape", None)
        if kwargs:
            raise TypeError(f"Unrecognized keyword arguments passed to {type(self).__name__}: "
                            f"{kwargs}")
        self.name = name or unique_name(to_snake_case(type(self).__name__))
        self._dtype_policy = mixed_precision.get(dtype)
        self._trainable = bool(trainable)
        self.built = False
        self.input_spec = None
        self.activity_regularizer = regularizers.get(activity_regularizer)
        self._own_weights: list[Variable] = []  # add_weight order
        self._declared_trainable: dict[int, bool] = {}  # id(variable) -> add_weight's flag
        self._regularized: list = []  # (variable, regularizer)
        self._call_losses: list[Tensor] = []
        self._loss_fns: list = []
        self._inbound_nodes: list = []  # input_layer.Node per symbolic call
        self._input_shape = self._output_shape = None
        if input_dim is not None and input_shape is None:
            input_shape = (input_dim,)
        if batch_input_shape is None and input_shape is not None:
            batch_input_shape = (batch_size, *tuple(input_shape))
        self._batch_input_shape = None if batch_input_shape is None else tuple(batch_input_shape)

    # ---- the template ------------------------------------------------------------------
    def build(self, input_shape) -> None:
        """Create the weights for ``input_shape`` (a list of shapes for several inputs); a
        manual build should end with ``super().build(input_shape)`` (no second build)."""
        self.built = True

    def call(self, inputs, *args, **kwargs):
        """The computation. Accept ``training=None`` to receive the training flag."""
        raise NotImplementedError(f"Layer {type(self).__name__} does not implement call()")

    def __call__(self, inputs, *args, training=None, **kwargs):
        if "_own_weights" not in vars(self):
            raise RuntimeError(f"{type(self).__name__}.__init__ must call super().__init__()")
        if type(inputs) in PLAIN_TENSOR_TYPES:  # the common call: one tensor, nothing to walk
            inputs = self._cast_input(inputs)
            shapes = inputs._data.shape
        else:
            if any(is_symbolic(x) for x in flatten(inputs)):
                return symbolic_call(self, inputs, args, training, kwargs)
            inputs = map_structure(self._convert_input, inputs)
            shapes = map_structure(shape_for_build, inputs)
        if args and self._dtype_policy.is_mixed:  # e.g. attention's value: as Keras 3 does
            args = tuple(map_structure(self._convert_input, a) for a in args)
        if not self.built:
            with build_device(inputs):
                self._maybe_build(shapes)
        self._check_input_spec(shapes)
        if training is None:
            training = _state.training.get()
        if not _in_call.get() and _with_call_losses and not _probing.get():
            for layer in self._flatten_layers():
                if layer._call_losses:
                    layer._call_losses = []
                    _with_call_losses.pop(id(layer), None)
        if self._call_takes_training():
            kwargs["training"] = training
        mask = kwargs.get("mask")
        if mask is None:
            mask = map_structure(get_mask, inputs)
            if all(m is None for m in flatten(mask)):
                mask = None
            elif self._call_takes_mask():
                kwargs["mask"] = mask
        autocast = self._dtype_policy.autocast_dtype
        token = None if _state.autocast.get() is autocast else _state.autocast.set(autocast)
        training_token = _state.training.set(bool(training))
        in_call_token = _in_call.set(True)
        try:
            outputs = self.call(inputs, *args, **kwargs)
        finally:
            _in_call.reset(in_call_token)
            _state.training.reset(training_token)
            if token is not None:  # a mixed layer's call, or a float32 one inside it
                _state.autocast.reset(token)
        if self.supports_masking:
            attach_masks(outputs, self.compute_mask(inputs, mask))
        if self.activity_regularizer is not None:
            for out in flatten(outputs):
                if isinstance(out, Tensor):
                    loss = self.activity_regularizer(out)
                    self.add_loss(loss / out.shape[0] if out.ndim and out.shape[0] else loss)
        if self._output_shape is None:
            # A layer only ever called eagerly reports its first call's shapes; one built on
            # Inputs keeps the graph's (None, ...) shapes, whatever batch comes later.
            self._input_shape = shapes
            self._output_shape = map_structure(lambda y: tuple(getattr(y, "shape", ())),
                                               outputs)
        return outputs

    # Whether __call__ attaches ``compute_mask``'s result to the outputs (Keras' flag).
    supports_masking = False

    def compute_mask(self, inputs, mask=None):
        """The mask of the outputs, given the inputs' ``mask``; this default passes it on.
        Only called for layers with ``supports_masking``; a layer whose ``call`` takes a
        ``mask`` argument receives the inputs' masks there."""
        return mask

    def compute_output_shape(self, input_shape):
        """The output shape for ``input_shape``. This default runs ``call`` on zeros (unknown
        sizes set to 2, then 3; output sizes that differ are unknown: None). Layers override
        it to answer without computing."""
        shapes, _ = self._probe(input_shape,
                                map_shapes(lambda s: self.compute_dtype, input_shape))
        return shapes

    def _symbolic_output_spec(self, input_shape, input_dtypes, args, kwargs):
        """Output shapes and dtypes for a symbolic call. ``layer(a, b)`` of a layer that
        states no output shape: Keras builds from the first argument and runs call on all
        of them, so the call is probed; otherwise ``compute_output_spec``."""
        others = [x for x in flatten([list(args), kwargs]) if isinstance(x, KerasTensor)]
        if (others and type(self).compute_output_shape is Layer.compute_output_shape
                and type(self).compute_output_spec is Layer.compute_output_spec):
            return self._probe(input_shape, input_dtypes, args, kwargs)
        return self.compute_output_spec(input_shape, input_dtypes)

    def compute_output_spec(self, input_shape, input_dtypes):
        """(output shapes, flat list of output dtypes) for symbolic calls: from
        ``compute_output_shape`` when the layer overrides it (outputs take the first input's
        dtype), else from running ``call`` on zeros."""
        if type(self).compute_output_shape is Layer.compute_output_shape:
            return self._probe(input_shape, input_dtypes)
        shapes = self.compute_output_shape(input_shape)
        count = 1 if is_shape(shapes) else len(flatten_shapes(shapes))
        return shapes, [flatten(input_dtypes)[0]] * count

    # ---- weights -----------------------------------------------------------------------
    @names_user_line
    def add_weight(self, name: str | None = None, shape=None, initializer=None,
                   regularizer=None, trainable: bool = True, dtype=None, **kwargs) -> Variable:
        """A Variable named ``f"{layer.name}/{name}"``, tracked in ``weights``.

        ``initializer`` is anything ``tape.initializers.get`` takes (default glorot_uniform
        for floats, zeros otherwise); ``regularizer`` anything ``tape.regularizers.get``
        takes: its penalty is in ``losses`` (computed from the current value on each read).
        As in Keras 3, ``name`` may be left out (``variable``, ``variable_1``... per layer),
        and a shape given first positionally is Keras 3's order ``(shape, initializer)``.
        Under a mixed policy a float weight is stored in float32 and, with ``autocast``
        (default True), read in the compute dtype inside the layer's call.
        ``aggregation`` is accepted and ignored; ``constraint`` is refused.
        """
        if name is not None and not isinstance(name, str):
            if not isinstance(name, tuple | list | int):
                raise TypeError(f"add_weight on layer '{self.name}': name must be a string. "
                                f"Received: name={name!r}")
            name, shape, initializer = None, name, shape if initializer is None else initializer
        if kwargs.get("constraint") is not None:
            raise NotImplementedError(f"add_weight on layer '{self.name}': weight constraints "
                                      "are not implemented")
        unknown = set(kwargs) - {"constraint", "autocast", "aggregation", "synchronization",
                                 "use_resource"}
        if unknown:
            raise TypeError(f"add_weight got unexpected keyword arguments {sorted(unknown)}")
        if name is None:
            count = sum(v.name.split("/")[-1].split("_")[0] == "variable"
                        for v in self._own_weights)
            name = "variable" if count == 0 else f"variable_{count}"
        shape = () if shape is None else (shape,) if isinstance(shape, int) else shape
        dtype = dtypes.as_dtype(dtype or self.dtype)
        shape = tuple(int(d) for d in shape)
        weight_budget.charge(f"{self.name}/{name}", shape)  # before anything is allocated
        if initializer is None:
            initializer = "glorot_uniform" if dtypes.is_float(dtype) else "zeros"
        init = initializers.get(initializer)
        with _state.init_scope():  # an initial value is state, never part of a trace
            value = init(shape, dtype)
        declared = bool(trainable)
        kind = Variable
        if kwargs.get("autocast", True) and self._dtype_policy.is_mixed \
                and dtypes.is_float(dtype):
            kind = AutocastVariable  # read in the compute dtype inside the call
        var = kind(value, trainable=declared and self._trainable, name=f"{self.name}/{name}",
                   dtype=dtype)
        var.move_to(backend.default_device())  # inside `with tape.device(...)`
        self._own_weights.append(var)
        self._declared_trainable[id(var)] = declared
        regularizer = regularizers.get(regularizer)
        if regularizer is not None:
            self._regularized.append((var, regularizer))
        return var

    @property
    def weights(self) -> list[Variable]:
        """All weights: own ones in creation order, then sublayers' (attributes and lists)."""
        seen, out = set(), []
        for _, variables in self._layers_and_variables():
            for var in variables:
                if id(var) not in seen:
                    seen.add(id(var))
                    out.append(var)
        return out

    variables = weights

    @property
    def trainable_weights(self) -> list[Variable]:
        return [v for v in self.weights if v.trainable]

    @property
    def non_trainable_weights(self) -> list[Variable]:
        return [v for v in self.weights if not v.trainable]

    trainable_variables, non_trainable_variables = trainable_weights, non_trainable_weights

    @property
    def trainable(self) -> bool:
        return self._trainable

    @trainable.setter
    def trainable(self, value: bool) -> None:
        """Freeze (False) or unfreeze this layer and all its sublayers; a weight created with
        ``trainable=False`` stays non-trainable."""
        self._trainable = bool(value)
        variables, layers = self._direct_children()
        for var in variables:
            declared = self._declared_trainable.setdefault(id(var), var.trainable)
            var.trainable = declared and self._trainable
        for layer in layers:
            layer.trainable = value

    def get_weights(self) -> list[np.ndarray]:
        """Copies of the weights' values, in ``weights`` order."""
        return [np.array(v.numpy()) for v in self.weights]

    @names_user_line
    def set_weights(self, weights) -> None:
        """Assign ``weights`` (arrays in ``weights`` order); all shapes are checked first."""
        params = self.weights
        if len(weights) != len(params):
            raise ValueError(f"set_weights on layer '{self.name}': expected {len(params)} "
                             f"weights {[v.name for v in params]}, received {len(weights)}")
        values = [np.asarray(w) for w in weights]
        for var, value in zip(params, values, strict=True):
            if value.shape != var.shape:
                raise ValueError(f"set_weights on layer '{self.name}': weight '{var.name}' has "
                                 f"shape {var.shape}, received an array of shape {value.shape}")
        for var, value in zip(params, values, strict=True):
            var.assign(value)

    def to(self, device: str) -> Layer:
        """Move this layer's weights (sublayers' included) to ``device`` ('cpu', 'gpu',
        'gpu:N') in place, and return the layer. A model's ``to`` also moves its optimizer
        and metric state. A GPU where there is none raises DeviceUnavailableError.

        Example:
            >>> import tape
            >>> from tape.layers import Dense
            >>> layer = Dense(2)
            >>> _ = layer(tape.ones((1, 3)))
            >>> [w.device for w in layer.to("cpu").weights]
            ['cpu', 'cpu']
        """
        device = backend.parse_device(device)
        for var in self.weights:
            var.move_to(device)
        return self

    def count_params(self) -> int:
        return sum(int(v.size) for v in self.weights)

    # ---- losses ------------------------------------------------------------------------
    def add_loss(self, loss) -> None:
        """Add a scalar loss: a tensor (kept until this layer's next outermost call) or a
        zero-argument callable (evaluated each time ``losses`` is read)."""
        if _probing.get():
            return
        if callable(loss) and not isinstance(loss, Tensor):
            self._loss_fns.append(loss)
        else:
            self._call_losses.append(ops.convert(loss))
            _with_call_losses[id(self)] = self  # by id: a layer class may define __eq__

    @property
    def losses(self) -> list[Tensor]:
        """Losses of the last call (``add_loss``, activity regularizers), callable losses, and
        regularizer penalties of trainable weights from their current values; sublayers
        included."""
        out = []
        for layer in self._flatten_layers():
            out.extend(layer._call_losses)
            out.extend(ops.convert(fn()) for fn in layer._loss_fns)
            out.extend(reg(var) for var, reg in layer._regularized if var.trainable)
        return out

    # ---- configuration and shapes ------------------------------------------------------
    def get_config(self) -> dict:
        """The constructor arguments; ``type(layer).from_config(config)`` rebuilds the layer."""
        config = {"name": self.name, "trainable": self.trainable,
                  "dtype": self._dtype_policy.name}
        if self._batch_input_shape is not None:
            config["batch_input_shape"] = self._batch_input_shape
        if self.activity_regularizer is not None:
            config["activity_regularizer"] = serialize_object(self.activity_regularizer)
        return config

    @classmethod
    def from_config(cls, config: dict):
        return cls(**config)

    # ---- dtype policy (tape.mixed_precision) -------------------------------------------
    @property
    def dtype_policy(self) -> mixed_precision.DTypePolicy:
        return self._dtype_policy

    @dtype_policy.setter
    def dtype_policy(self, policy) -> None:
        self._dtype_policy = mixed_precision.get(policy)

    @property
    def dtype(self) -> str:
        """The weights' dtype (Keras 3: ``dtype_policy.variable_dtype``); setting it sets
        the policy (before the layer is built)."""
        return self._dtype_policy.variable_dtype

    @dtype.setter
    def dtype(self, dtype) -> None:
        self._dtype_policy = mixed_precision.get(dtype)

    @property
    def compute_dtype(self) -> str:
        """The dtype the layer computes in and casts float inputs to."""
        return self._dtype_policy.compute_dtype

    @property
    def variable_dtype(self) -> str:
        return self._dtype_policy.variable_dtype

    @property
    def batch_input_shape(self) -> tuple | None:
        """``(batch_size, *input_shape)`` from the constructor, or None (for Sequential)."""
        return self._batch_input_shape

    @property
    def input(self):
        """The symbolic input(s) of this layer's one call on KerasTensors (Keras' ``input``)."""
        node = self._single_node("input")
        return node.output_structure if node.is_input else node.arguments

    @property
    def output(self):
        """The symbolic output(s) of this layer's one call on KerasTensors, for building a
        model from another's layers (``keras.Model(m.inputs, [la.output for la in ...])``).

        Example:
            >>> from tape import layers
            >>> dense = layers.Dense(2)
            >>> dense(layers.Input((3,))) is dense.output
            True
        """
        return self._single_node("output").output_structure

    def _single_node(self, what: str):
        nodes = self._inbound_nodes
        if len(nodes) != 1:
            calls = "never been called" if not nodes else f"been called {len(nodes)} times"
            raise AttributeError(f"Layer '{self.name}' has {calls} on symbolic inputs, so it "
                                 f"has no single {what}; use the tensors each call returned")
        return nodes[0]

    @property
    def input_shape(self):
        return self._shape_seen(self._input_shape, "input")

    @property
    def output_shape(self):
        return self._shape_seen(self._output_shape, "output")

    def __repr__(self) -> str:
        return f"<{type(self).__name__} name={self.name!r} built={self.built}>"

    # ---- internals ---------------------------------------------------------------------
    def _shape_seen(self, shape, what: str):
        if shape is None:
            raise AttributeError(f"Layer '{self.name}' has never been called, so it has no "
                                 f"{what} shape")
        return shape

    def _convert_input(self, x):
        if isinstance(x, np.ndarray | np.generic):  # host data goes where the weights are
            x = ops.convert(x)
            if backend.gpu_seen() or backend.default_device() != backend.CPU:
                device = self._weights_device() or backend.default_device()
                if device != backend.CPU:
                    x = x.to(device)
        return self._cast_input(x)

    def _cast_input(self, x):
        """A float input in the layer's compute dtype."""
        return cast_float(x, self._dtype_policy.compute_dtype)

    def _maybe_build(self, shapes) -> None:
        if not self.built:
            self._check_input_spec(shapes)
            self.build(shapes)
            self.built = True

    def _check_input_spec(self, shapes) -> None:
        if self.input_spec is None:
            return
        specs = [self.input_spec] if isinstance(self.input_spec, InputSpec) else self.input_spec
        shapes = [shapes] if is_shape(shapes) else flatten_shapes(shapes)
        for index, (spec, shape) in enumerate(zip(specs or [], shapes, strict=False)):
            if spec is not None and shape is not None:
                spec.check(tuple(shape), self, index)

    def _call_takes_training(self) -> bool:
        cls = type(self)
        if cls not in _takes_training:
            _takes_training[cls] = "training" in inspect.signature(self.call).parameters
        return _takes_training[cls]

    def _call_takes_mask(self) -> bool:
        cls = type(self)
        if cls not in _takes_mask:
            _takes_mask[cls] = "mask" in inspect.signature(self.call).parameters
        return _takes_mask[cls]

    def _direct_children(self) -> tuple[list[Variable], list[Layer]]:
        """Variables and sublayers held in attributes (or lists/tuples/dicts of them)."""
        found = instances_in(vars(self).values(), (Layer, Variable))
        return ([x for x in found if isinstance(x, Variable)],
                [x for x in found if isinstance(x, Layer)])

    def _weights_device(self) -> str | None:
        """The device of the first weight found depth first, or None before any exists."""
        seen, stack = set(), [self]
        while stack:
            layer = stack.pop()
            if id(layer) in seen:
                continue
            seen.add(id(layer))
            if layer._own_weights:
                return layer._own_weights[0].device
            variables, children = layer._direct_children()
            if variables:
                return variables[0].device
            stack.extend(reversed(children))
        return None

    def _flatten_layers(self) -> list[Layer]:
        """This layer and every sublayer below it, depth first, each once."""
        return [layer for layer, _ in self._layers_and_variables()]

    def _layers_and_variables(self) -> list[tuple[Layer, list[Variable]]]:
        """(layer, the variables it holds itself) for this layer and every sublayer below
        it, depth first, each once (one scan of each layer's attributes)."""
        seen, out, stack = set(), [], [self]
        while stack:
            layer = stack.pop()
            if id(layer) in seen:
                continue
            seen.add(id(layer))
            variables, children = layer._direct_children()
            out.append((layer, variables))
            stack.extend(reversed(children))
        return out

    def _probe(self, input_shape, input_dtypes, args=(), call_kwargs=None):
        """(output shapes, flat output dtypes) from running ``call`` on zeros, twice. Symbolic
        tensors among the other arguments (``layer(a, b)``) are zeros too."""
        self._maybe_build(input_shape)
        kwargs = {"training": False} if self._call_takes_training() else {}
        runs = []
        for size in (2, 3):
            def zeros(shape, dtype, n=size):
                return ops.zeros(tuple(n if d is None else d for d in shape), dtype=dtype)

            def fill(x, n=size):
                return zeros(x.shape, x.dtype, n) if is_symbolic(x) else x

            inputs = map_shapes(zeros, input_shape, input_dtypes)
            more = map_structure(fill, list(args))
            extra = {**map_structure(fill, dict(call_kwargs or {})), **kwargs}
            with _state.using(_probing, True), _state.using(_state.training, False), \
                    _state.without_tapes():
                runs.append(self.call(inputs, *more, **extra))
        shapes = map_structure(lambda a, b: tuple(
            d if d == e else None for d, e in zip(a.shape, b.shape, strict=True)), *runs)
        return shapes, [y.dtype for y in flatten(runs[0])]


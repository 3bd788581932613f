"""Models: ``Model(Trainer, Layer)`` (functional ``Model(inputs, outputs)`` and subclassing),
``Sequential``, ``summary``, configs, and ``save``/``load_model``.

Example:
    >>> import numpy as np
    >>> from tape.layers import Dense, Input
    >>> from tape.models import Model, Sequential
    >>> x = Input(shape=(4,))
    >>> model = Model(x, Dense(2)(Dense(8, activation="relu")(x)))
    >>> model.predict(np.zeros((3, 4)), verbose=0).shape
    (3, 2)
    >>> Sequential([Dense(1)]).count_params()
    0
"""

from __future__ import annotations

import numpy as np

from . import _state, backend, ops, saving
from . import layers as layers_module
from .errors import names_user_line
from .layers import InputLayer, KerasTensor, Layer, nodes_in_order
from .layers._nest import flatten, map_shapes, map_structure
from .layers.call_inputs import cast_float
from .training import Trainer

__all__ = ["Model", "Sequential", "load_model"]


class Model(Trainer, Layer):
    """A layer that trains: ``Model(inputs, outputs)`` on ``tape.layers.Input`` tensors, or a
    subclass that creates layers in ``__init__`` and implements ``call``.

    Example:
        >>> import tape
        >>> from tape.layers import Dense
        >>> class MLP(Model):
        ...     def __init__(self):
        ...         super().__init__()
        ...         self.hidden, self.out = Dense(8, activation="relu"), Dense(1)
        ...     def call(self, x):
        ...         return self.out(self.hidden(x))
        >>> MLP()(tape.ones((2, 3))).shape
        (2, 1)
    """

    def __init__(self, *args, **kwargs):
        inputs = kwargs.pop("inputs", args[0] if args else None)
        outputs = kwargs.pop("outputs", args[1] if len(args) > 1 else None)
        if len(args) > 2:
            raise TypeError("Model(inputs, outputs, name=...) takes at most two positional "
                            "arguments")
        Layer.__init__(self, **kwargs)
        Trainer.__init__(self)
        self._building = False
        self._functional = inputs is not None or outputs is not None
        if self._functional:
            self._init_functional(inputs, outputs)

    # ---- functional ------------------------------------------------------------------
    def _init_functional(self, inputs, outputs) -> None:
        if inputs is None or outputs is None:
            raise ValueError("A functional Model needs both inputs and outputs")
        for what, structure in (("inputs", inputs), ("outputs", outputs)):
            for t in flatten(structure):
                if not isinstance(t, KerasTensor):
                    raise TypeError(f"Model {what} must be KerasTensors (from "
                                    f"tape.layers.Input and layer calls), got {t!r}")
        self.inputs, self.outputs = inputs, outputs
        self._input_tensors, self._output_tensors = flatten(inputs), flatten(outputs)
        nodes = nodes_in_order(outputs)
        known = {id(t) for t in self._input_tensors}
        for node in nodes:
            if node.is_input:
                if id(node.outputs[0]) not in known:
                    raise ValueError(f"The outputs depend on input '{node.outputs[0].name}', "
                                     f"which is not among the model's inputs "
                                     f"{[t.name for t in self._input_tensors]}")
        self._nodes = nodes
        seen, layer_list = set(), []
        for t in self._input_tensors:  # inputs first, in the given order
            seen.add(id(t.node.layer))
            layer_list.append(t.node.layer)
        for node in nodes:
            if id(node.layer) not in seen:
                seen.add(id(node.layer))
                layer_list.append(node.layer)
        self._layers = layer_list
        if isinstance(outputs, dict):  # named outputs: the keys name losses and metrics
            self.output_names = list(outputs)
        else:
            self.output_names = _unique([t.node.layer.name for t in self._output_tensors])
        self.input_names = [t.name for t in self._input_tensors]
        self.built = True
        self._input_shape = map_structure(lambda t: t.shape, inputs)
        self._output_shape = map_structure(lambda t: t.shape, outputs)

    def _run_graph(self, inputs):
        flat = [cast_float(x, t.dtype) for t, x in zip(self._input_tensors,
                                                        self._match_inputs(inputs))]
        values = {id(t): x for t, x in zip(self._input_tensors, flat)}
        for node in self._nodes:
            if node.is_input:
                continue
            for t, value in zip(node.outputs, node.run(values), strict=True):
                values[id(t)] = value
        return map_structure(lambda t: values[id(t)], self.outputs)

    def _match_inputs(self, inputs) -> list:
        if isinstance(inputs, dict):
            missing = [n for n in self.input_names if n not in inputs]
            if missing:
                raise ValueError(f"Model '{self.name}' is missing inputs {missing}; it takes "
                                 f"{self.input_names}, got {sorted(inputs)}")
            flat = [inputs[n] for n in self.input_names]
        else:
            flat = flatten(inputs)
        if len(flat) != len(self._input_tensors):
            raise ValueError(f"Model '{self.name}' expects {len(self._input_tensors)} inputs "
                             f"{self.input_names}, but was called on {len(flat)}")
        for t, x in zip(self._input_tensors, flat):
            shape = tuple(x.shape) if hasattr(x, "shape") else np.shape(x)
            if len(shape) != len(t.shape) or any(
                    d is not None and d != s for d, s in zip(t.shape, shape)):
                raise ValueError(f"Input '{t.name}' of model '{self.name}' is incompatible: "
                                 f"expected shape {t.shape}, got {shape}")
        return flat

    # ---- Layer interface -------------------------------------------------------------
    def _cast_input(self, x):
        # A functional model's inputs take their Inputs' dtypes (in _run_graph), as Keras
        # does; a subclassed model's take its own.
        return x if self._functional else Layer._cast_input(self, x)

    def __call__(self, inputs, *args, **kwargs):
        if getattr(self, "_functional", False) and isinstance(inputs, dict):
            # Named inputs become the list in input order (the layers' shape checks expect
            # lists, and a missing or unknown name is worth its own message).
            missing = [n for n in self.input_names if n not in inputs]
            if missing:
                raise ValueError(f"Model '{self.name}' is missing inputs {missing}; it takes "
                                 f"{self.input_names}, got {sorted(inputs)}")
            inputs = [inputs[n] for n in self.input_names]
        return Layer.__call__(self, inputs, *args, **kwargs)

    def call(self, inputs, training=None):
        if self._functional:
            return self._run_graph(inputs)
        raise NotImplementedError(f"Model subclass {type(self).__name__} must implement "
                                  "call(inputs), or build the model functionally with "
                                  "Model(inputs, outputs)")

    def build(self, input_shape=None) -> None:
        """A subclassed model creates its weights by running ``call`` once on zeros of
        ``input_shape`` (unknown sizes as 1), so ``summary`` works before any data."""
        if not self._functional and isinstance(input_shape, list | tuple) and not self._building:
            def zeros(shape):
                return ops.zeros(tuple(1 if d is None else int(d) for d in shape))

            kwargs = {"training": False} if self._call_takes_training() else {}
            self._building = True
            try:
                with _state.without_tapes():
                    self.call(map_shapes(zeros, input_shape), **kwargs)
            finally:
                self._building = False
        self.built = True

    def compute_output_shape(self, input_shape):
        if self._functional:
            return map_structure(lambda t: t.shape, self.outputs)
        return Layer.compute_output_shape(self, input_shape)

    @property
    def input(self):
        """The model's symbolic inputs (functional or built Sequential), as Keras."""
        inputs = getattr(self, "inputs", None)
        return inputs if inputs is not None else Layer.input.fget(self)

    @property
    def output(self):
        """The model's symbolic outputs (functional or built Sequential), as Keras."""
        outputs = getattr(self, "outputs", None)
        return outputs if outputs is not None else Layer.output.fget(self)

    @property
    def layers(self) -> list[Layer]:
        """The model's layers (functional: inputs first, then in call order)."""
        if self._functional or isinstance(self, Sequential):
            return list(self._layers)
        return [layer for layer in self._direct_children()[1]]

    @names_user_line
    def get_layer(self, name: str | None = None, index: int | None = None) -> Layer:
        if index is not None:
            return self.layers[index]
        for layer in self.layers:
            if layer.name == name:
                return layer
        raise ValueError(f"No such layer: {name!r}; layers: {[la.name for la in self.layers]}")

    def _output_shapes(self):
        """Shapes of the outputs in order, when known (the sparse-label check uses them)."""
        if self._functional:
            return [t.shape for t in self._output_tensors]
        return None

    # ---- config ------------------------------------------------------------------------
    def get_config(self) -> dict:
        if not self._functional:
            raise NotImplementedError(
                f"{type(self).__name__} is a subclassed model: implement get_config() (and "
                "from_config) to save its architecture, or use save_weights/load_weights")
        node_key = {}
        layer_configs = []
        for layer in self._layers:
            entry = {**layers_module.serialize(layer), "name": layer.name, "inbound_nodes": []}
            layer_configs.append(entry)
        by_layer = {id(la): e for la, e in zip(self._layers, layer_configs)}
        for node in self._nodes:
            if node.is_input:
                node_key[id(node)] = (node.layer.name, 0)
                continue
            entry = by_layer[id(node.layer)]
            index = len(entry["inbound_nodes"])
            node_key[id(node)] = (node.layer.name, index)

            def ref(x):
                if isinstance(x, KerasTensor):
                    name, i = node_key[id(x.node)]
                    return {"__keras_tensor__": [name, i, x._history.tensor_index]}
                return x

            entry["inbound_nodes"].append({
                "args": map_structure(ref, [node.arguments, *node.call_args]),
                "kwargs": map_structure(ref, node.call_kwargs)})

        def ref_out(t):
            name, i = node_key[id(t.node)]
            return [name, i, t._history.tensor_index]

        return {"name": self.name, "trainable": self.trainable, "layers": layer_configs,
                "input_layers": map_structure(ref_out, self.inputs),
                "output_layers": map_structure(ref_out, self.outputs)}

    @classmethod
    def from_config(cls, config: dict, custom_objects: dict | None = None):
        if "layers" not in config or "input_layers" not in config:
            return cls(**config)
        custom = {"Model": Model, "Sequential": Sequential, **(custom_objects or {})}
        created: dict[tuple, list] = {}
        made = []
        for entry in config["layers"]:
            layer = layers_module.deserialize(entry, custom)
            made.append((layer, entry))
            if isinstance(layer, InputLayer):
                created[(entry.get("name", layer.name), 0)] = [layer.output]

        def real(x):
            if isinstance(x, dict) and "__keras_tensor__" in x:
                name, i, j = x["__keras_tensor__"]
                return created[(name, i)][j]
            if isinstance(x, dict):
                return {k: real(v) for k, v in x.items()}
            if isinstance(x, list):
                return [real(v) for v in x]
            return x

        # Nodes are keyed by the names the config gives (a custom layer whose get_config
        # leaves out its name gets a new one when rebuilt, as in Keras).
        pending = [(layer, entry.get("name", layer.name), i, node) for layer, entry in made
                   for i, node in enumerate(entry["inbound_nodes"])]
        while pending:  # call each layer once its inputs exist (configs list layers in order)
            left = []
            for layer, name, i, node in pending:
                try:
                    args, kwargs = real(node["args"]), real(node["kwargs"])
                except KeyError:
                    left.append((layer, name, i, node))
                    continue
                created[(name, i)] = flatten(layer(*args, **kwargs))
            if len(left) == len(pending):
                raise ValueError("Model config has layers whose inputs are never produced: "
                                 f"{[name for _, name, _, _ in left]}")
            pending = left

        def out(ref):
            return created[(ref[0], ref[1])][ref[2]]

        def refs(structure):
            if isinstance(structure, list) and len(structure) == 3 and isinstance(
                    structure[0], str):
                return out(structure)
            if isinstance(structure, dict):
                return {k: refs(v) for k, v in structure.items()}
            return [refs(s) for s in structure]

        return cls(refs(config["input_layers"]), refs(config["output_layers"]),
                   name=config.get("name"), trainable=config.get("trainable", True))

    # ---- summary -----------------------------------------------------------------------
    def summary(self, line_length: int = 80, print_fn=None) -> None:
        """Print the layers, their output shapes and parameter counts, and the totals."""
        if not self.built or not self.weights and not self.layers:
            raise ValueError(f"Model '{self.name}' has not been built yet: call it on data, "
                             "call build(input_shape), or give the first layer an input_shape")
        print_fn = print_fn or print
        connected = self._functional and any(
            len(n.parents) > 1 for n in self._nodes if not n.is_input)
        widths = [int(line_length * f) for f in ((0.4, 0.3, 0.3) if not connected
                                                 else (0.3, 0.22, 0.13, 0.35))]
        headers = ["Layer (type)", "Output Shape", "Param #"] + (
            ["Connected to"] if connected else [])

        def row(fields):
            return "".join(str(f)[:w - 1].ljust(w) for f, w in zip(fields, widths)).rstrip()

        print_fn(f'Model: "{self.name}"')
        print_fn("=" * line_length)
        print_fn(row(headers))
        print_fn("=" * line_length)
        for layer in self.layers:
            shape = self._summary_shape(layer)
            fields = [f"{layer.name} ({type(layer).__name__})", _shape_text(shape),
                      f"{layer.count_params():,}"]
            if connected:
                parents = [p.name for n in layer._inbound_nodes if n in self._nodes
                           for p in n.parents]
                fields.append(", ".join(parents) or "-")
            print_fn(row(fields))
        print_fn("=" * line_length)
        trainable = sum(int(v.size) for v in self.trainable_weights)
        total = sum(int(v.size) for v in self.weights)
        print_fn(f"Total params: {total:,}")
        print_fn(f"Trainable params: {trainable:,}")
        print_fn(f"Non-trainable params: {total - trainable:,}")
        print_fn("_" * line_length)

    def _summary_shape(self, layer):
        """The layer's output shape in this model, batch as None."""
        for node in getattr(self, "_nodes", None) or layer._inbound_nodes[::-1]:
            if node.layer is layer:
                return map_structure(lambda t: t.shape, node.output_structure)
        try:
            shape = layer.output_shape
        except AttributeError:
            return "?"
        return map_structure(lambda s: s, shape) if not isinstance(shape, tuple) \
            else (None, *shape[1:]) if shape else shape

    # ---- devices -----------------------------------------------------------------------
    def to(self, device: str) -> Model:
        """Move the weights (and optimizer and metric state) to ``device`` ('cpu', 'gpu',
        'gpu:N') in place; ``fit``/``evaluate``/``predict`` then move each batch there.
        Returns the model. Asking for a GPU where there is none is a DeviceError saying why.
        """
        device = backend.parse_device(device)
        state = list(self.weights)
        if self.optimizer is not None:
            state += self.optimizer.variables
        for metric in self.metrics:
            state += metric.variables
        for var in state:
            var.move_to(device)
        self._device = device
        return self

    # ---- saving ------------------------------------------------------------------------
    def save_weights(self, filepath) -> None:
        """Write the weights to ``filepath`` (safetensors; ``.npz`` for NumPy's format)."""
        saving.save_weights(self, filepath)

    def load_weights(self, filepath) -> None:
        """Read weights written by ``save_weights`` (or ``save``) into this model."""
        saving.load_weights(self, filepath)

    def save(self, filepath) -> None:
        """Architecture (JSON config), weights, compile arguments and optimizer state in one
        file; ``tape.models.load_model`` reads it back."""
        saving.save_model(self, filepath)

    def to_json(self) -> str:
        import json

        return json.dumps(layers_module.serialize(self))


class Sequential(Model):
    """A stack of layers, each called on the previous one's output.

    Example:
        >>> from tape.layers import Dense
        >>> from tape.models import Sequential
        >>> model = Sequential([Dense(8, activation="relu", input_dim=4), Dense(1)])
        >>> model.output_shape, model.count_params()
        ((None, 1), 49)
    """

    def __init__(self, layers=None, name=None, trainable=True):
        super().__init__(name=name, trainable=trainable)
        self._layers: list[Layer] = []
        self._input_batch_shape = None
        for layer in layers or []:
            self.add(layer)

    @names_user_line
    def add(self, layer) -> None:
        """Append a layer (an ``Input(...)`` tensor or InputLayer sets the input shape)."""
        if isinstance(layer, KerasTensor):
            layer = layer.node.layer
        if isinstance(layer, InputLayer):
            if self._layers:
                raise ValueError("An Input can only be the first thing added to a Sequential")
            self._input_batch_shape = layer.batch_shape
            self._maybe_build_symbolically()
            return
        if not isinstance(layer, Layer):
            raise TypeError(f"Sequential.add takes a Layer, got {layer!r}")
        if not self._layers and layer.batch_input_shape is not None:
            self._input_batch_shape = layer.batch_input_shape
        self._layers.append(layer)
        self.built = False
        self._maybe_build_symbolically()

    def pop(self) -> Layer:
        layer = self._layers.pop()
        self.built = False
        self._maybe_build_symbolically()
        return layer

    def _maybe_build_symbolically(self) -> None:
        if self._input_batch_shape is not None:
            self.build(self._input_batch_shape)

    def build(self, input_shape=None) -> None:
        """Build every layer for inputs of ``input_shape`` (batch included) by a symbolic
        pass, so shapes and parameter counts are known before any data."""
        if input_shape is None:
            input_shape = self._input_batch_shape
        if input_shape is None:
            raise ValueError("Sequential.build needs an input shape")
        input_shape = (None, *tuple(input_shape)[1:])
        self._input_batch_shape = input_shape
        # A rebuild (after add/pop) replaces the nodes the last build made, so that each
        # layer keeps one call in this model (its `output`), as in Keras.
        for layer, node in getattr(self, "_build_nodes", []):
            if layer._inbound_nodes and layer._inbound_nodes[-1] is node:
                layer._inbound_nodes.pop()
        x = layers_module.Input(batch_shape=input_shape)
        self.inputs = x
        self._build_nodes = []
        for layer in self._layers:
            x = layer(x)
            self._build_nodes.append((layer, layer._inbound_nodes[-1]))
        self.outputs = x
        self._input_shape, self._output_shape = input_shape, x.shape
        self.built = True

    def call(self, inputs, training=None):
        x = inputs
        for layer in self._layers:
            x = layer(x)
        return x

    def _output_shapes(self):
        return [self._output_shape] if self.built and self._output_shape else None

    @property
    def output_names(self):
        return [self._layers[-1].name] if self._layers else ["output"]

    def get_config(self) -> dict:
        return {"name": self.name, "trainable": self.trainable,
                "layers": [layers_module.serialize(la) for la in self._layers],
                "build_input_shape": self._input_batch_shape}

    @classmethod
    def from_config(cls, config: dict, custom_objects: dict | None = None):
        custom = {"Model": Model, "Sequential": Sequential, **(custom_objects or {})}
        model = cls(name=config.get("name"), trainable=config.get("trainable", True))
        for entry in config.get("layers", []):
            model._layers.append(layers_module.deserialize(entry, custom))
        if config.get("build_input_shape") is not None:
            model.build(tuple(config["build_input_shape"]))
        return model


def load_model(filepath, custom_objects: dict | None = None, compile: bool = True) -> Model:
    """A model saved with ``model.save``: architecture, weights, and (with ``compile``) the
    compile arguments and optimizer state. Never unpickles."""
    return saving.load_model(filepath, custom_objects=custom_objects, compile=compile,
                             classes={"Model": Model, "Sequential": Sequential})


def _unique(names: list[str]) -> list[str]:
    out, counts = [], {}
    for n in names:
        counts[n] = counts.get(n, 0) + 1
        out.append(n if counts[n] == 1 else f"{n}_{counts[n] - 1}")
    return out


def _shape_text(shape) -> str:
    if isinstance(shape, list):
        return ", ".join(_shape_text(s) for s in shape)
    return str(tuple(shape)) if isinstance(shape, tuple) else str(shape)

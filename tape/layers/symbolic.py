"""Symbolic tensors for the functional API: ``KerasTensor``, ``Node``, ``symbolic_call``.

Calling a layer on KerasTensors builds it from their shapes and returns KerasTensors; no
value is computed. The result is a graph that ``tape.models.Model(inputs, outputs)`` walks
from its outputs back to its inputs. The exact structure:

``KerasTensor``
    ``shape`` (tuple; None where unknown, the batch first), ``dtype`` (np.dtype), ``name``,
    ``_history = KerasHistory(layer, node_index, tensor_index)``, and ``node``, a shortcut
    for ``layer._inbound_nodes[node_index]``: the Node that produced it.
    ``node.outputs[tensor_index] is kt``.

``Node`` (one per call of a layer on KerasTensors; ``layer._inbound_nodes`` in call order)
    ``layer``: the layer called.
    ``arguments``: the first argument as given (a KerasTensor, or a list/tuple/dict of them).
    ``call_args``, ``call_kwargs``: the other positional and keyword arguments, as given
    (``training`` is in ``call_kwargs`` only when it was passed explicitly).
    ``parents``: every KerasTensor among the arguments, flattened, in order: the edges back.
    ``outputs``: the KerasTensors it produced (flat tuple); ``output_structure`` the same
    nested as the layer returned them.
    ``is_input``: True for an ``InputLayer``'s node (no parents; ``layer.output`` is its tensor).
    ``run(values)``: calls the layer on real tensors, ``values`` mapping ``id(KerasTensor)``
    to a Tensor for every parent; returns the outputs, flat, in ``outputs`` order.

``nodes_in_order(outputs)`` lists the Nodes that ``outputs`` depend on, each once, in an order
where every Node comes after the Nodes of its parents (inputs first): run them in that order.

Example:
    >>> import tape
    >>> from tape.layers import Dense, Input
    >>> x = Input(shape=(4,), name="features")
    >>> y = Dense(3)(x)
    >>> y.shape, y.node.parents[0] is x, y.node.layer.input_shape
    ((None, 3), True, (None, 4))
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from .. import dtypes
from ..errors import DTypeError, NoValue
from ._nest import flatten, flatten_shapes, map_shapes, map_structure


class KerasHistory(NamedTuple):
    layer: object  # the Layer
    node_index: int
    tensor_index: int


class KerasTensor(NoValue):
    """A symbolic tensor: a shape (None where unknown), a dtype and where it came from.

    It has no value: calling ops or reading values on it is an error; call layers on it
    (``tape.layers.Lambda`` wraps any function of tensors).

    Example:
        >>> from tape.layers import Flatten, Input
        >>> y = Flatten()(Input(shape=(3, 4)))
        >>> y.shape, y.ndim, type(y._history.layer).__name__
        ((None, 12), 2, 'Flatten')
    """

    __slots__ = ("shape", "dtype", "name", "_history")

    def __init__(self, shape, dtype="float32", name: str | None = None,
                 history: KerasHistory | None = None):
        self.shape = tuple(None if d is None else int(d) for d in shape)
        self.dtype = dtypes.as_dtype(dtype)
        self.name = name
        self._history = history

    @property
    def ndim(self) -> int:
        return len(self.shape)

    @property
    def node(self) -> Node:
        layer, node_index, _ = self._history
        return layer._inbound_nodes[node_index]

    def __repr__(self) -> str:
        return f"<KerasTensor shape={self.shape} dtype={self.dtype} name={self.name!r}>"

    def _no_value(self):
        raise DTypeError(
            f"KerasTensor {self.name!r} is symbolic (shape {self.shape}): it has no value for "
            "ops or NumPy. Call layers on it (tape.layers.Lambda wraps any function), then "
            "build a Model(inputs, outputs) and call that on data")


class Node:
    """One call of ``layer`` on KerasTensors (see the module docstring for the fields).

    Example:
        >>> import tape
        >>> from tape.layers import Add, Input
        >>> a, b = Input(shape=(2,)), Input(shape=(2,))
        >>> node = Add()([a, b]).node
        >>> node.parents == (a, b), node.run({id(a): tape.ones((1, 2)), id(b): tape.ones((1, 2))})
        (True, [Tensor([[2., 2.]], dtype=float32, device=cpu)])
    """

    __slots__ = ("layer", "arguments", "call_args", "call_kwargs", "parents", "outputs",
                 "output_structure")

    def __init__(self, layer, arguments, call_args, call_kwargs, outputs, output_structure):
        self.layer = layer
        self.arguments, self.call_args, self.call_kwargs = arguments, call_args, call_kwargs
        self.parents = tuple(x for x in flatten([arguments, list(call_args), call_kwargs])
                             if isinstance(x, KerasTensor))
        self.outputs = tuple(outputs)
        self.output_structure = output_structure

    @property
    def is_input(self) -> bool:
        return self.layer.is_input_layer

    def run(self, values: dict) -> list:
        if self.is_input:
            return [values[id(self.outputs[0])]]

        def real(x):
            return values[id(x)] if isinstance(x, KerasTensor) else x

        out = self.layer(map_structure(real, self.arguments),
                         *map_structure(real, list(self.call_args)),
                         **map_structure(real, self.call_kwargs))
        return flatten(out)

    def __repr__(self) -> str:
        return (f"<Node layer={self.layer.name!r} parents={[p.name for p in self.parents]} "
                f"outputs={[o.name for o in self.outputs]}>")


def nodes_in_order(outputs) -> list[Node]:
    """The Nodes that ``outputs`` (a KerasTensor or a structure of them) depend on, parents
    before children, each once."""
    order, done, stack = [], set(), [(t.node, False) for t in reversed(flatten(outputs))]
    while stack:
        node, expanded = stack.pop()
        if id(node) in done:
            continue
        if expanded:
            done.add(id(node))
            order.append(node)
            continue
        stack.append((node, True))
        stack.extend((p.node, False) for p in reversed(node.parents) if id(p.node) not in done)
    return order


def symbolic_call(layer, inputs, args: tuple, training, kwargs: dict):
    """``layer(inputs, ...)`` on KerasTensors: build, check, infer outputs, record a Node."""
    def shape_of(x):
        return x.shape if isinstance(x, KerasTensor) else tuple(np.shape(x))

    def dtype_of(x):
        dtype = x.dtype if isinstance(x, KerasTensor) else np.asarray(x).dtype
        if dtypes.is_float(dtype) and dtypes.is_float(layer.compute_dtype):
            dtype = dtypes.as_dtype(layer.compute_dtype)  # __call__ casts float inputs to it
        return dtype

    shapes = map_structure(shape_of, inputs)
    in_dtypes = map_structure(dtype_of, inputs)
    layer._maybe_build(shapes)
    layer._check_input_spec(shapes)
    out_shapes, out_dtypes = layer._symbolic_output_spec(shapes, in_dtypes, args, kwargs)
    node_index = len(layer._inbound_nodes)
    flat_shapes = flatten_shapes(out_shapes)
    outputs = []
    for i, (shape, dtype) in enumerate(zip(flat_shapes, out_dtypes, strict=True)):
        name = layer.name + "/output" + (f"_{i}" if len(flat_shapes) > 1 else "")
        name += f":{node_index}" if node_index else ""
        outputs.append(KerasTensor(shape, dtype, name, KerasHistory(layer, node_index, i)))
    it = iter(outputs)
    structure = map_shapes(lambda s: next(it), out_shapes)
    if training is not None:
        kwargs = {**kwargs, "training": training}
    layer._inbound_nodes.append(Node(layer, inputs, tuple(args), kwargs, outputs, structure))
    layer._input_shape, layer._output_shape = shapes, out_shapes
    return structure

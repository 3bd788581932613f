"""Merge layers: combine a list of tensors (Add, Subtract, Multiply, Average, Maximum,
Minimum elementwise with broadcasting; Concatenate along an axis), and their functional forms."""

from __future__ import annotations

import functools

from .. import ops
from ._nest import flatten_shapes, is_shape
from .base import Layer


class Merge(Layer):
    """Base of the elementwise merge layers: ``call`` folds ``_merge(x, y)`` over the inputs,
    whose shapes must broadcast together (checked at build, naming the layer).

    Example:
        >>> import tape
        >>> from tape.layers import Merge
        >>> class Hypot(Merge):
        ...     def _merge(self, x, y):
        ...         return tape.sqrt(x * x + y * y)
        >>> Hypot()([tape.tensor([[3.0]]), tape.tensor([[4.0]])]).numpy().tolist()
        [[5.0]]
    """

    def build(self, input_shape):
        if is_shape(input_shape) or len(input_shape) < 1:
            raise ValueError(f"A merge layer ('{self.name}') must be called on a list of "
                             f"inputs. Received: input_shape={input_shape}")
        self._broadcast(flatten_shapes(input_shape))
        self.built = True

    def call(self, inputs):
        return functools.reduce(self._merge, inputs)

    def _merge(self, x, y):
        raise NotImplementedError

    def compute_output_shape(self, input_shape):
        return self._broadcast(flatten_shapes(input_shape))

    def _broadcast(self, shapes) -> tuple:
        """Broadcast shapes right-aligned, None-aware; incompatible sizes name the layer."""
        out = []
        for dims in zip(*(((1,) * (max(map(len, shapes)) - len(s)) + s) for s in shapes),
                        strict=True):
            sizes = {d for d in dims if d != 1}
            known = sizes - {None}
            if len(known) > 1:
                raise ValueError(f"Layer '{self.name}': inputs with shapes "
                                 f"{[tuple(s) for s in shapes]} cannot be merged elementwise")
            out.append(known.pop() if known else (None if None in sizes else 1))
        return tuple(out)


class Add(Merge):
    """Sum of the inputs (same shapes, or broadcastable).

    Example:
        >>> import tape
        >>> from tape.layers import Add
        >>> Add()([tape.ones((2, 3)), tape.ones((2, 3))]).numpy()[0].tolist()
        [2.0, 2.0, 2.0]
    """

    def _merge(self, x, y):
        return ops.add(x, y)


class Subtract(Merge):
    """``inputs[0] - inputs[1]`` (exactly two inputs).

    Example:
        >>> import tape
        >>> from tape.layers import Subtract
        >>> Subtract()([tape.ones((1, 2)), tape.ones((1, 2))]).numpy().tolist()
        [[0.0, 0.0]]
    """

    def build(self, input_shape):
        if is_shape(input_shape) or len(input_shape) != 2:
            raise ValueError(f"Subtract layer '{self.name}' needs exactly two inputs. "
                             f"Received: input_shape={input_shape}")
        super().build(input_shape)

    def _merge(self, x, y):
        return ops.subtract(x, y)


class Multiply(Merge):
    """Elementwise product of the inputs.

    Example:
        >>> import tape
        >>> from tape.layers import Multiply
        >>> Multiply()([tape.full((1, 2), 3.0), tape.full((1, 2), 2.0)]).numpy().tolist()
        [[6.0, 6.0]]
    """

    def _merge(self, x, y):
        return ops.multiply(x, y)


class Maximum(Merge):
    """Elementwise maximum of the inputs.

    Example:
        >>> import tape
        >>> from tape.layers import Maximum
        >>> Maximum()([tape.tensor([[1.0, 5.0]]), tape.tensor([[3.0, 2.0]])]).numpy().tolist()
        [[3.0, 5.0]]
    """

    def _merge(self, x, y):
        return ops.maximum(x, y)


class Minimum(Merge):
    """Elementwise minimum of the inputs.

    Example:
        >>> import tape
        >>> from tape.layers import Minimum
        >>> Minimum()([tape.tensor([[1.0, 5.0]]), tape.tensor([[3.0, 2.0]])]).numpy().tolist()
        [[1.0, 2.0]]
    """

    def _merge(self, x, y):
        return ops.minimum(x, y)


class Average(Merge):
    """Elementwise mean of the inputs.

    Example:
        >>> import tape
        >>> from tape.layers import Average
        >>> Average()([tape.tensor([[1.0, 5.0]]), tape.tensor([[3.0, 2.0]])]).numpy().tolist()
        [[2.0, 3.5]]
    """

    def call(self, inputs):
        return ops.divide(functools.reduce(ops.add, inputs), len(inputs))


class Concatenate(Layer):
    """Concatenates a list of inputs along ``axis``; other sizes must match.

    Example:
        >>> import tape
        >>> from tape.layers import Concatenate
        >>> Concatenate()([tape.ones((2, 3)), tape.zeros((2, 1))]).shape
        (2, 4)
    """

    def __init__(self, axis=-1, **kwargs):
        super().__init__(**kwargs)
        self.axis = int(axis)

    def build(self, input_shape):
        if is_shape(input_shape) or len(input_shape) < 1:
            raise ValueError(f"Concatenate layer '{self.name}' must be called on a list of "
                             f"inputs. Received: input_shape={input_shape}")
        self.compute_output_shape(input_shape)
        self.built = True

    def call(self, inputs):
        return ops.concatenate(list(inputs), axis=self.axis)

    def compute_output_shape(self, input_shape):
        shapes = [tuple(s) for s in flatten_shapes(input_shape)]
        ranks = {len(s) for s in shapes}
        axis = self.axis % max(ranks) if len(ranks) == 1 and max(ranks) else None
        if axis is None:
            raise ValueError(f"Concatenate layer '{self.name}' needs inputs of one rank >= 1 "
                             f"(axis={self.axis}). Received: input_shape={shapes}")
        out = []
        for i, dims in enumerate(zip(*shapes, strict=True)):
            if i == axis:
                out.append(None if None in dims else sum(dims))
                continue
            known = {d for d in dims if d is not None}
            if len(known) > 1:
                raise ValueError(f"Concatenate layer '{self.name}' (axis={self.axis}) needs "
                                 f"inputs whose shapes match except on the concatenation "
                                 f"axis. Received: input_shape={shapes}")
            out.append(known.pop() if known else None)
        return tuple(out)

    def get_config(self) -> dict:
        return {**super().get_config(), "axis": self.axis}


def add(inputs, **kwargs):
    """``Add(**kwargs)(inputs)``."""
    return Add(**kwargs)(inputs)


def subtract(inputs, **kwargs):
    """``Subtract(**kwargs)(inputs)``."""
    return Subtract(**kwargs)(inputs)


def multiply(inputs, **kwargs):
    """``Multiply(**kwargs)(inputs)``."""
    return Multiply(**kwargs)(inputs)


def average(inputs, **kwargs):
    """``Average(**kwargs)(inputs)``."""
    return Average(**kwargs)(inputs)


def maximum(inputs, **kwargs):
    """``Maximum(**kwargs)(inputs)``."""
    return Maximum(**kwargs)(inputs)


def minimum(inputs, **kwargs):
    """``Minimum(**kwargs)(inputs)``."""
    return Minimum(**kwargs)(inputs)


def concatenate(inputs, axis=-1, **kwargs):
    """``Concatenate(axis, **kwargs)(inputs)``.

    Example:
        >>> from tape.layers import Input, concatenate
        >>> concatenate([Input((3,)), Input((5,))]).shape
        (None, 8)
    """
    return Concatenate(axis=axis, **kwargs)(inputs)

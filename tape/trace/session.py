"""The TF1-style door to traced graphs: ``placeholder``, ``Session.run(fetches, feed_dict)``.

Calling a traced function with placeholders traces it for the placeholders' shapes (None
for any size) and returns symbolic tensors; ``Session.run`` replays the graph with the
arrays fed for the placeholders. Eager tensors fetched are simply read.

Example:
    >>> import numpy as np
    >>> import tape
    >>> x = tape.placeholder("float32", shape=(None, 3), name="x")
    >>> double = tape.trace(lambda t: t * 2.0)
    >>> y = double(x)
    >>> with tape.Session() as sess:
    ...     sess.run(y, feed_dict={x: np.ones((2, 3), np.float32)}).tolist()
    [[2.0, 2.0, 2.0], [2.0, 2.0, 2.0]]
"""

from __future__ import annotations

import numpy as np

from .. import dtypes
from ..errors import DTypeError, NoValue, ShapeError, TraceError, user_line
from ..nest import flatten, unflatten
from ..tensor import Tensor, Variable
from .graph import TensorSpec


class _NoValue(NoValue):
    """A graph's symbol: reading it is a TraceError saying how to get a value."""

    def _no_value(self):
        raise TraceError(f"{self._what()} has no value to compute with: {self._how()} "
                         f"[at {user_line()}]")


class Placeholder(_NoValue):
    """A named input fed at ``Session.run``; None in ``shape`` accepts any size there."""

    def __init__(self, dtype, shape, name: str | None = None):
        self.dtype = dtypes.as_dtype(dtype)
        self.shape = tuple(shape)
        self.name = name if name is not None else f"Placeholder_{id(self):x}"

    def spec(self):
        return TensorSpec(self.shape, str(self.dtype), self.name)

    def example(self) -> Tensor:
        """A stand-in array to trace with (size 2 where the size is free, so that no
        broadcast of a size-1 axis hides a wrong shape)."""
        return Tensor(np.ones(tuple(2 if d is None else d for d in self.shape), self.dtype))

    def check(self, value) -> np.ndarray:
        array = value._data if isinstance(value, Tensor) else value
        if isinstance(array, np.ndarray):
            if array.dtype != self.dtype:
                raise DTypeError(f"feed for placeholder {self.name!r}: expected dtype "
                                 f"{self.dtype}, got {array.dtype} [at {user_line()}]")
        else:
            array = np.asarray(array, dtype=self.dtype)
        if array.ndim != len(self.shape) or any(
                d is not None and d != n for d, n in zip(self.shape, array.shape)):
            raise ShapeError(f"feed for placeholder {self.name!r}: expected shape "
                             f"{_shape_text(self.shape)}, got {array.shape} [at {user_line()}]")
        return array

    def __repr__(self) -> str:
        return f"<placeholder {self.name!r} shape={_shape_text(self.shape)} dtype={self.dtype}>"

    def _what(self) -> str:
        return f"placeholder {self.name!r}"

    def _how(self) -> str:
        return ("compute on it inside a @tape.trace function, call that function on the "
                "placeholder (y = f(x)), then Session.run(y, feed_dict={x: ...})")


def placeholder(dtype="float32", shape=None, name: str | None = None) -> Placeholder:
    """An input of a graph, fed by ``Session.run(..., feed_dict={ph: array})``.

    Example:
        >>> import tape
        >>> tape.placeholder("float32", shape=(None, 784), name="x")
        <placeholder 'x' shape=(?, 784) dtype=float32>
    """
    if shape is None:
        raise ValueError("placeholder needs a shape (use None for a size that varies)")
    return Placeholder(dtype, shape, name)


class SymbolicTensor(_NoValue):
    """An output of a traced function called on placeholders: a value of a graph, read by
    ``Session.run``."""

    def __init__(self, function, concrete, index: int, placeholders: list, info, call=None):
        self.function = function
        self.concrete = concrete
        self.index = index
        self.placeholders = placeholders
        self.shape, self.dtype = info
        self.call = call  # (args, kwargs) with the placeholders, to trace for other sizes

    def __repr__(self) -> str:
        return (f"<symbolic tensor {self.function.name}:{self.index} shape="
                f"{_shape_text(self.shape)} dtype={self.dtype}; run it with Session.run>")

    def __getattr__(self, name):  # .numpy(), .shape's neighbours, an op reading ._data
        self._no_value()

    def _what(self) -> str:
        return f"symbolic tensor {self.index} of {self.function.name}"

    def _how(self) -> str:
        return ("Session.run computes it; put further computation inside the traced function "
                "(or trace another function that takes it)")


def call_symbolic(function, args, kwargs):
    """Trace ``function`` for placeholder arguments; return symbolic outputs."""
    flat = flatten((args, kwargs))
    placeholders = [a for a in flat if isinstance(a, Placeholder)]
    examples = {id(p): p.example() for p in placeholders}
    concrete = function.concrete_for(
        unflatten((args, kwargs), (examples.get(id(a), a) for a in flat)),
        specs=[p.spec() if isinstance(p, Placeholder) else None for p in flat])
    graph = concrete.graph
    # what a replay is fed, in order (a Variable argument is state the graph reads itself)
    order = [a for a in flat if isinstance(a, Placeholder)
             or isinstance(a, Tensor) and not isinstance(a, Variable)]
    outputs, index = [], 0
    for v in graph.flat_outputs:
        if type(v) is int:
            outputs.append(SymbolicTensor(function, concrete, index, order,
                                          concrete.optimized.info.get(v, graph.info[v]),
                                          (args, kwargs)))
            index += 1
        else:
            outputs.append(v.value)
    return unflatten(graph.outputs, outputs)


class Session:
    """Runs graphs: ``with tape.Session() as sess: sess.run(fetches, feed_dict)``."""

    def __init__(self, graph=None):
        self.graph = graph
        self._closed = False

    def __enter__(self) -> Session:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        self._closed = True

    def run(self, fetches, feed_dict=None):
        """The values of ``fetches`` (a tensor, or a nested list/tuple/dict of them) as
        NumPy arrays, with ``feed_dict`` giving each needed placeholder (by the placeholder
        or by its name) an array."""
        if self._closed:
            raise TraceError("this Session is closed")
        feeds = _feeds_by_name(feed_dict or {})
        flat = flatten(fetches)
        results: dict = {}  # id(concrete) -> list of output arrays
        values = []
        for fetch in flat:
            if isinstance(fetch, SymbolicTensor):
                key = id(fetch.concrete)
                if key not in results:
                    arrays = [_feed_for(p, feeds) if isinstance(p, Placeholder) else p._data
                              for p in fetch.placeholders]
                    results[key] = _run(fetch, arrays)
                values.append(np.asarray(results[key][fetch.index]))
            elif isinstance(fetch, Tensor):
                values.append(fetch.numpy())
            elif isinstance(fetch, Placeholder):
                values.append(_feed_for(fetch, feeds))
            else:
                raise TypeError(f"Session.run cannot fetch a {type(fetch).__name__}")
        return unflatten(fetches, values)


def _run(fetch: SymbolicTensor, arrays: list) -> list:
    """The output arrays of ``fetch``'s graph for the fed ``arrays``. A graph that depends
    on the sizes it was traced at (see ``recorder``) serves only those: for others the
    function is called (traced) with the fed values, as ``@trace`` does for a new size."""
    concrete = fetch.concrete
    if concrete.sizes is None or concrete.sizes == tuple(a.shape for a in arrays):
        return concrete.run(arrays)
    fed = {id(p): Tensor(a) for p, a in zip(fetch.placeholders, arrays)
           if isinstance(p, Placeholder)}
    args, kwargs = fetch.call
    flat = flatten((args, kwargs))
    specs = [p.spec() if isinstance(p, Placeholder) else None for p in flat]
    outputs = fetch.function.call_with(
        unflatten((args, kwargs), (fed.get(id(a), a) for a in flat)), specs)
    return [t._data for t in flatten(outputs) if isinstance(t, Tensor)]


def _feeds_by_name(feed_dict: dict) -> dict:
    feeds = {}
    for key, value in feed_dict.items():
        name = key.name if isinstance(key, Placeholder) else str(key).split(":")[0]
        feeds[name] = value
    return feeds


def _feed_for(p: Placeholder, feeds: dict) -> np.ndarray:
    if p.name not in feeds:
        raise TraceError(f"the fetch needs placeholder {p.name!r} "
                         f"(shape {_shape_text(p.shape)}, {p.dtype}), which feed_dict does "
                         f"not give [at {user_line()}]")
    return p.check(feeds[p.name])


def _shape_text(shape) -> str:
    return "(" + ", ".join("?" if d is None else str(d) for d in shape) + \
        ("," if len(shape) == 1 else "") + ")"

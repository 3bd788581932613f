"""The recorder: while a function is traced, every op call becomes a node of a Graph.

``Op.__call__`` hands each call to the active recorder (``_state.recorder``); Variables
report their creation and their ``assign``s. The recorder maps each tensor it has seen to
a value id: placeholders for the arguments, a read for each Variable (and a new value after
each assign, so later reads see it), constants for anything else made outside the graph.

Sizes: a placeholder whose signature has a None dimension is *sized*, and so is every
non-scalar value an op computes from a sized one. Reading a sized tensor's shape into
Python (``x.shape``, ``len(x)``, ``x.size``, which ops and VJPs also do to build a
``broadcast_to`` target, a mean's count, a ``zeros_like``) makes the graph depend on the
sizes it was traced at (``Graph.size_dependence``), and ``@trace`` then keeps one graph per
actual size instead of replaying it for another.
"""

from __future__ import annotations

import numpy as np

from .. import _state
from ..errors import TraceError, user_line
from ..nest import flatten
from ..tensor import Tensor, Variable
from .graph import Graph, Node, Placeholder, PyValue


class Recorder:
    def __init__(self, name: str, allow_new_variables: bool = True):
        self.graph = Graph(name)
        self.refs: dict = {}  # tensor id -> value id
        self.arrays: dict = {}  # id(array) -> (array, value id), for traced arrays
        self.produced: list = []  # tensors made by recorded ops (poisoned when done)
        self.versions: dict = {}  # variable id -> [(array, vid), ...] oldest first
        self.allow_new_variables = allow_new_variables
        self.sized: set = set()  # vids whose shape may hold a size a None dimension gave
        self.free_sizes: set = set()  # the sizes the None dimensions were traced with
        self.traced_shapes: dict = {}  # placeholder vid -> its shape in this trace
        self._next = 0

    def _new_vid(self, array) -> int:
        vid = self._next
        self._next += 1
        self.graph.info[vid] = (tuple(array.shape), str(array.dtype))
        return vid

    # ---- inputs --------------------------------------------------------------------------
    def placeholder(self, tensor: Tensor, name: str, shape=None) -> None:
        vid = self._new_vid(tensor._data)
        if shape is not None:
            self.graph.info[vid] = (tuple(shape), str(tensor.dtype))
        traced = tensor._data.shape  # not .shape: that read is what read_size counts
        self.graph.placeholders.append(Placeholder(vid, name, tuple(
            traced if shape is None else shape), tensor.dtype))
        self.refs[tensor._id] = vid
        self.arrays[id(tensor._data)] = (tensor._data, vid)
        if shape is not None and None in shape:
            self.sized.add(vid)
            self.traced_shapes[vid] = traced
            self.free_sizes.update(d for s, d in zip(shape, traced) if s is None)
            small = [d for s, d in zip(shape, traced) if s is None and d <= 1]
            if small:
                # A size of 1 broadcasts (and 0 empties) where another size would not, so
                # the graph's very structure may hold only for that size.
                self.depend_on_sizes(f"{name!r} was traced with size {small[0]} for a None "
                                     "dimension")

    def read_size(self, t) -> None:
        """Python read the shape of ``t``: if it may hold a free size, the graph now depends
        on the sizes it is traced at."""
        if self.graph.size_dependence:
            return  # already: a trace of a big model reads many shapes
        vid = self.refs.get(t._id)
        if vid is None:
            alias = self.arrays.get(id(t._data))
            vid = alias[1] if alias is not None and alias[0] is t._data else None
        if vid in self.sized:
            self.depend_on_sizes(f"the shape of a tensor sized by a None dimension was "
                                 f"read at {user_line()}")

    def _check_sizes_met(self, op, inputs, vids, params) -> None:
        """Sizes the graph may depend on that no Python read shows: a free size that equals
        a fixed size it meets (a batch of 3 against a (3, 3) weight) may broadcast, or be
        unbroadcast by the backward walk, differently at other sizes; a shape parameter
        that holds a free size written out (reshape of a batch of 2 to (2, 3)) may be a
        no-op a pass removes at that size only, and fail at another."""
        target = params.get("shape")
        if isinstance(target, tuple | list) and self.free_sizes.intersection(target):
            self.depend_on_sizes(f"{op.name} to shape {tuple(target)} at {user_line()}")
            return
        fixed = [x._data.shape for x, v in zip(inputs, vids) if v not in self.sized]
        for x, v in zip(inputs, vids):
            if v not in self.sized:
                continue
            for shape in fixed:
                for d, e in zip(reversed(x._data.shape), reversed(shape)):
                    if d == e and d in self.free_sizes:
                        self.depend_on_sizes(f"{op.name} met a free size of {d} with a "
                                             f"fixed size of {e} at {user_line()}")
                        return

    def depend_on_sizes(self, why: str) -> None:
        if not self.graph.size_dependence:
            self.graph.size_dependence = why

    def ref(self, t) -> int:
        """The value id of ``t``: seen before, a Variable's current value, or a constant."""
        versions = self.versions.get(t._id)
        if versions is not None:
            if type(t) is not Variable:  # a tape's snapshot: the version it saved
                for array, vid in reversed(versions):
                    if array is t._data:
                        return vid
            return versions[-1][1]
        vid = self.refs.get(t._id)
        if vid is not None:
            return vid
        if isinstance(t, Variable):
            vid = self._new_vid(t._data)
            self.graph.variables[vid] = t
            self.versions[t._id] = [(t._data, vid)]
            return vid
        alias = self.arrays.get(id(t._data))
        if alias is not None and alias[0] is t._data:
            # A tensor made around a traced array without an op (``Tensor(t)``): the same
            # value, not a constant.
            self.refs[t._id] = alias[1]
            return alias[1]
        vid = self._new_vid(t._data)
        self.graph.constants[vid] = t._data
        self.refs[t._id] = vid
        return vid

    # ---- events --------------------------------------------------------------------------
    def op(self, op, inputs: tuple, out: Tensor, params: dict) -> None:
        vids = tuple(self.ref(x) for x in inputs)
        vid = self._new_vid(out._data)
        if self.sized and any(v in self.sized for v in vids):
            if out._data.ndim:
                self.sized.add(vid)
            if not self.graph.size_dependence:
                self._check_sizes_met(op, inputs, vids, params)
        self.graph.nodes.append(Node(op, vids, dict(params), vid, user_line()))
        self.refs[out._id] = vid
        self.arrays[id(out._data)] = (out._data, vid)
        self.produced.append(out)

    def assign(self, variable: Variable, value, data) -> None:
        from .. import ops

        if not isinstance(value, Tensor):
            value = Tensor._wrap(np.asarray(data))
        if value.dtype != data.dtype:
            with _state.using(_state.recorder, self):
                value = ops.cast(value, dtype=data.dtype)
        vid = self.ref(value)
        self.ref(variable)  # a Variable assigned before any read is still captured
        self.graph.updates.append((variable, vid))
        self.versions[variable._id].append((data, vid))

    def new_variable(self, variable: Variable) -> None:
        if not self.allow_new_variables:
            raise TraceError(
                f"{self.graph.name}: a Variable ({variable.name!r}) is created on a later trace "
                f"of this function; create Variables only on its first trace (build the "
                f"model or optimizer before, or keep them outside) [at {user_line()}]")

    # ---- the end -------------------------------------------------------------------------
    def finish(self, outputs) -> None:
        """Set the outputs, then poison every tensor the trace made, so that one kept in
        a global and used later fails with where it was made."""
        flat = flatten(outputs)
        self.graph.flat_outputs = [self.ref(t) if isinstance(t, Tensor) else PyValue(t)
                                  for t in flat]
        self.graph.outputs = outputs
        if self.graph.size_dependence:
            # The graph holds for the traced sizes only, and says so: its placeholders have
            # them (so passes may plan buffers, and an export has fixed sizes).
            for p in self.graph.placeholders:
                if p.vid in self.traced_shapes:
                    p.shape = self.traced_shapes[p.vid]
                    self.graph.info[p.vid] = (p.shape, self.graph.info[p.vid][1])
        for t, node in zip(self.produced, self.graph.nodes):
            if type(t) is Tensor:
                t._data = Escaped(self.graph.name, node.where)


class Escaped:
    """Stands in for the array of a tensor made while tracing, after the trace ended."""

    __slots__ = ("_function", "_where")

    def __init__(self, function: str, where: str):
        self._function = function
        self._where = where

    def __getattr__(self, name):
        raise TraceError(
            f"a tensor made while tracing {self._function} (at {self._where}) is used "
            f"outside the trace; return it from the traced function instead of keeping it "
            f"[at {user_line()}]")

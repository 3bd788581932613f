"""The static graph that ``@tape.trace`` captures: values, nodes in program order, state.

A ``Graph`` names every array it handles by an integer *value id*. Values come from
placeholders (the traced function's tensor arguments), Variable reads (the Variable's
value when a replay starts), constants (arrays baked in at trace time) and nodes (one op
of the op table applied to earlier values). ``updates`` are the Variable assignments, in
program order, applied when a replay ends; ``outputs`` is the nested structure of value
ids that the traced function returned.

Example:
    >>> import tape
    >>> f = tape.trace(lambda x: tape.tanh(x) * 2.0)
    >>> _ = f(tape.ones((2,)))
    >>> print(f.graph)  # doctest: +ELLIPSIS
    graph <lambda>(x0: float32[2]) -> v3
      v1 = tanh(x0)                   float32[2]
      v3 = multiply(v1, c2)           float32[2]
    ...
"""

from __future__ import annotations

import dataclasses
from typing import Any

from .. import dtypes


@dataclasses.dataclass
class Node:
    """``out = op(*inputs, **params)``; ``where`` is the user's line that ran it."""

    op: Any  # an ops.registry.Op (or a fused op made by a pass)
    inputs: tuple
    params: dict
    out: int
    where: str = ""


@dataclasses.dataclass
class Placeholder:
    """A tensor argument: ``shape`` may hold None for a dimension any size fills."""

    vid: int
    name: str
    shape: tuple
    dtype: Any


@dataclasses.dataclass(frozen=True)
class PyValue:
    """A non-tensor output of a traced function (a Python number, string or None)."""

    value: Any


@dataclasses.dataclass
class Graph:
    name: str
    placeholders: list = dataclasses.field(default_factory=list)
    variables: dict = dataclasses.field(default_factory=dict)  # vid -> Variable (read at start)
    constants: dict = dataclasses.field(default_factory=dict)  # vid -> array
    nodes: list = dataclasses.field(default_factory=list)
    updates: list = dataclasses.field(default_factory=list)  # (Variable, vid), program order
    outputs: Any = None  # nested structure of vids (or Python values)
    flat_outputs: list = dataclasses.field(default_factory=list)
    info: dict = dataclasses.field(default_factory=dict)  # vid -> (shape, dtype)
    buffers: dict = dataclasses.field(default_factory=dict)  # vid -> buffer slot (a pass)
    # Why the graph holds only for the sizes it was traced at ("" when a None dimension
    # of its signature may take any size): see recorder.Recorder.read_size.
    size_dependence: str = ""

    def runs_own_forward(self, node: Node) -> bool:
        """Whether ``node`` must run through its op's own forward: an op that computes
        float16/bfloat16 values in float32 (``Op.low_precision``) does so only there, so
        passes give it no ``out=`` buffer, no fused expression and no in-place variant."""
        return node.op.computes_in_float32(
            self.info[v][1] for v in (node.out, *node.inputs) if v in self.info)

    def copy(self) -> Graph:
        """A shallow copy with its own lists, so a pass never changes its input."""
        return dataclasses.replace(
            self, placeholders=list(self.placeholders), variables=dict(self.variables),
            constants=dict(self.constants), nodes=list(self.nodes),
            updates=list(self.updates), flat_outputs=list(self.flat_outputs),
            info=dict(self.info), buffers=dict(self.buffers))

    def live_roots(self) -> list:
        """The values a replay must produce: outputs and the values assigned to Variables."""
        return [v for v in self.flat_outputs if type(v) is int] + [v for _, v in self.updates]

    def name_of(self, vid: int) -> str:
        for p in self.placeholders:
            if p.vid == vid:
                return f"x{vid}"
        if vid in self.variables:
            return f"w{vid}"
        if vid in self.constants:
            return f"c{vid}"
        return f"v{vid}"

    def describe(self, vid: int) -> str:
        shape, dtype = self.info.get(vid, ((), "?"))
        dims = ", ".join("?" if d is None else str(d) for d in shape)
        return f"{dtype}[{dims}]"

    def __str__(self) -> str:
        args = ", ".join(f"{self.name_of(p.vid)}: {self.describe(p.vid)}"
                         for p in self.placeholders)
        outs = ", ".join(self.name_of(v) if type(v) is int else repr(v.value)
                         for v in self.flat_outputs)
        lines = [f"graph {self.name}({args}) -> {outs}"]
        for vid, var in self.variables.items():
            lines.append(_padded(f"  w{vid} = read {var.name!r}") + self.describe(vid))
        for node in self.nodes:
            call = f"{_label(node.op)}({', '.join(self.name_of(i) for i in node.inputs)}"
            params = ", ".join(f"{k}={_short(v)}" for k, v in node.params.items())
            call += (", " + params if params and node.inputs else params) + ")"
            lines.append(_padded(f"  v{node.out} = {call}") + self.describe(node.out))
        for var, vid in self.updates:
            lines.append(f"  {var.name!r} <- {self.name_of(vid)}")
        lines.append(f"  ({len(self.nodes)} nodes, {len(self.constants)} constants, "
                     f"{len(self.variables)} variables)")
        if self.size_dependence:
            lines.append(f"  (for the traced sizes only: {self.size_dependence})")
        return "\n".join(lines)

    def to_dot(self) -> str:
        """The graph in Graphviz's dot language (``dot -Tsvg``)."""
        lines = [f'digraph "{self.name}" {{', "  rankdir=TB;", "  node [fontsize=10];"]
        for p in self.placeholders:
            lines.append(f'  x{p.vid} [shape=invhouse, label="{p.name}\\n'
                         f'{self.describe(p.vid)}"];')
        for vid, var in self.variables.items():
            lines.append(f'  w{vid} [shape=cylinder, label="{var.name}"];')
        for vid in self.constants:
            lines.append(f'  c{vid} [shape=note, label="const {self.describe(vid)}"];')
        for node in self.nodes:
            lines.append(f'  v{node.out} [shape=box, label="{_label(node.op)}\\n'
                         f'{self.describe(node.out)}"];')
            lines.extend(f"  {self.name_of(i)} -> v{node.out};" for i in node.inputs)
        for var, vid in self.updates:
            lines.append(f'  "{var.name}:update" [shape=cylinder, style=dashed];')
            lines.append(f'  {self.name_of(vid)} -> "{var.name}:update";')
        for k, vid in enumerate(v for v in self.flat_outputs if type(v) is int):
            lines.append(f'  out{k} [shape=house, label="output {k}"];')
            lines.append(f"  {self.name_of(vid)} -> out{k};")
        lines.append("}")
        return "\n".join(lines)


def _padded(text: str) -> str:
    return text.ljust(33) + " "


def _label(op) -> str:
    """An op's name as printed: a fused op lists its members (``fused[add,relu]``)."""
    return getattr(op, "label", op.name)


def _short(value) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


@dataclasses.dataclass(frozen=True)
class TensorSpec:
    """The shape and dtype a traced argument must have; None in ``shape`` fits any size.

    Example:
        >>> import tape
        >>> tape.TensorSpec((None, 784), "float32")
        TensorSpec(shape=(None, 784), dtype='float32', name=None)
    """

    shape: tuple
    dtype: str = "float32"
    name: str | None = None

    def __post_init__(self):
        object.__setattr__(self, "shape", tuple(self.shape))
        object.__setattr__(self, "dtype", str(dtypes.as_dtype(self.dtype)))

    def fits(self, t) -> bool:
        """Whether tensor ``t`` has this dtype and rank, and these sizes where not None."""
        return (str(t.dtype) == self.dtype and t.ndim == len(self.shape)
                and all(s is None or s == d for s, d in zip(self.shape, t.shape)))

"""Replay: a Graph turned into straight-line Python over raw arrays.

Each node becomes one line that calls its op's forward from the op table (the ufunc itself
for ops that are one; the GPU kernel override on CuPy), with no Tensor objects and no
tape. Values the buffer pass gave a slot are written into a buffer kept between replays
(``out=``). Variable reads happen at the start and Variable updates, in program order, at
the end, so a replay that fails part-way changes no Variable.

Example:
    >>> import tape
    >>> f = tape.trace(lambda x: tape.exp(x) + 1.0)
    >>> _ = f(tape.zeros((2,)))
    >>> print(f.replay_source)  # doctest: +ELLIPSIS
    def replay(P):
        ...
"""

from __future__ import annotations

import functools

import numpy as np

from ..backend import get_array_module
from .graph import Graph

# Ops whose NumPy forward is a ufunc (or matmul), which can write into ``out=``.
OUT_CAPABLE = frozenset({
    "add", "subtract", "multiply", "divide", "negative", "exp", "log", "tanh", "sin", "cos",
    "sqrt", "square", "abs", "maximum", "minimum", "matmul", "expm1", "log1p", "power",
})


def forward_for(op, params: dict, xp):
    """The callable that runs ``op`` with fixed ``params`` on arrays of module ``xp``."""
    if xp is np:
        if not params:
            return op.numpy_forward
        return functools.partial(op.forward, np, **params)
    kernel = op.kernel
    if kernel is None:
        return functools.partial(op.forward, xp, **params)

    def run(*arrays):
        out = kernel(xp, *arrays, **params)
        return op.forward(xp, *arrays, **params) if out is NotImplemented else out

    return run


class Replay:
    """Calls the generated function; ``source`` is its text."""

    def __init__(self, graph: Graph):
        self.graph = graph
        self.source = generate_source(graph)
        self._compiled: dict = {}  # array module -> function
        self.buffers: list = []

    def __call__(self, arrays: list) -> list:
        xp = np
        for a in arrays:
            if type(a) is not np.ndarray:
                xp = get_array_module(a)
                break
        fn = self._compiled.get(xp)
        if fn is None:
            fn = self._compiled[xp] = self._compile(xp)
        return fn(arrays)

    def _compile(self, xp):
        g = self.graph
        namespace = {"xp": xp, "B": self.buffers}
        for vid, var in g.variables.items():
            namespace[f"W{vid}"] = var
        for vid, array in g.constants.items():
            namespace[f"c{vid}"] = xp.asarray(array)
        for node in g.nodes:
            namespace[f"F{node.out}"] = forward_for(node.op, node.params, xp)
        self.buffers[:] = [None] * (max(g.buffers.values(), default=-1) + 1)
        exec(compile(self.source, f"<replay of {g.name}>", "exec"), namespace)  # noqa: S102
        return namespace["replay"]


def generate_source(g: Graph) -> str:
    args = ", ".join(g.name_of(p.vid) for p in g.placeholders)
    lines = ["def replay(P):"]
    if g.placeholders:
        lines.append(f"    {args}, = P")
    for vid in g.variables:
        lines.append(f"    w{vid} = W{vid}._data")
    for node in g.nodes:
        ins = ", ".join(g.name_of(i) for i in node.inputs)
        slot = g.buffers.get(node.out)
        if slot is None:
            lines.append(f"    v{node.out} = F{node.out}({ins})")
            continue
        shape, dtype = g.info[node.out]
        lines.append(f"    b = B[{slot}]")
        lines.append("    if b is None:")
        lines.append(f"        b = B[{slot}] = xp.empty({shape!r}, {dtype!r})")
        lines.append(f"    v{node.out} = F{node.out}({ins}, out=b)")
    for var_vid, vid in _updates_by_variable(g):
        lines.append(f"    W{var_vid}._data = {_as_array(g, vid)}")
        lines.append(f"    W{var_vid}._version += 1")
    outs = [_as_array(g, v) for v in g.flat_outputs if type(v) is int]
    lines.append(f"    return [{', '.join(outs)}]")
    return "\n".join(lines) + "\n"


def _as_array(g: Graph, vid: int) -> str:
    """NumPy returns a scalar, not a 0-d array, from ufuncs and reductions on 0-d input."""
    name = g.name_of(vid)
    return f"xp.asarray({name})" if g.info[vid][0] == () else name


def _updates_by_variable(g: Graph) -> list:
    """(variable's read vid, assigned vid) in program order; a Variable assigned twice
    keeps its last value."""
    read_vid = {id(var): vid for vid, var in g.variables.items()}
    return [(read_vid[id(var)], vid) for var, vid in g.updates]


def compile_graph(graph: Graph) -> Replay:
    return Replay(graph)

"""Replay: a Graph turned into straight-line Python over raw arrays.

Each node becomes one line that calls its op's forward from the op table (the ufunc itself
for ops that are one; the GPU kernel override on CuPy), with no Tensor objects and no
tape. Values the buffer pass gave a slot are written (``out=``) into buffers allocated when
the replay is compiled and kept between replays; replays of a graph with buffers take a
lock, so two threads never share them. Variable reads happen at the start and Variable
updates, in program order, at the end, so a replay that fails part-way changes no
Variable.

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
import threading

import numpy as np

from ..backend import get_array_module
from .graph import Graph

# Ops whose forward is exactly one array-module function that can write into ``out=``:
# op name -> that function's name (tests/trace/test_passes.py checks each against the op).
OUT_FUNCTIONS = {
    "add": "add", "subtract": "subtract", "multiply": "multiply", "divide": "true_divide",
    "negative": "negative", "exp": "exp", "log": "log", "tanh": "tanh", "sin": "sin",
    "cos": "cos", "sqrt": "sqrt", "square": "square", "abs": "abs", "maximum": "maximum",
    "minimum": "minimum", "matmul": "matmul", "expm1": "expm1", "log1p": "log1p",
    "power": "power",
}
OUT_CAPABLE = frozenset(OUT_FUNCTIONS)


def out_function(op, xp):
    """The array-module function that computes ``op`` into ``out=``, or None."""
    from ..ops import REGISTRY

    name = getattr(op, "name", None)
    if name not in OUT_FUNCTIONS or REGISTRY.get(name) is not op:
        return None
    return getattr(xp, OUT_FUNCTIONS[name])


def writes_out(op) -> bool:
    """Whether a node of ``op`` can write its result into a buffer (``out=``)."""
    flag = getattr(op, "writes_out", None)
    return bool(flag) if flag is not None else out_function(op, np) is not None


def inline_params(node) -> bool:
    """Whether the replay line passes the node's parameters itself (``F(xp, x, axis=K)``),
    which saves the keyword merge of a ``functools.partial`` at every call."""
    return bool(node.params) and node.op.__class__.__name__ == "Op"


def call_for(op, xp):
    """``f(xp, *arrays, **params)`` for an inlined node: the forward, or on CuPy the GPU
    kernel override when the op has one (falling back to the forward)."""
    kernel = op.kernel if xp is not np else None
    if kernel is None:
        return op.forward

    def run(xp, *arrays, **params):
        out = kernel(xp, *arrays, **params)
        return op.forward(xp, *arrays, **params) if out is NotImplemented else out

    return run


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
        self.buffers: dict = {}  # array module -> list of buffers, by slot
        self._lock = threading.Lock() if graph.buffers else None

    def __call__(self, arrays: list) -> list:
        xp = np
        for a in arrays:
            if type(a) is not np.ndarray:
                xp = get_array_module(a)
                break
        fn = self._compiled.get(xp)
        if fn is None:
            fn = self._compiled[xp] = self._compile(xp)
        if self._lock is None:
            return fn(arrays)
        with self._lock:
            return fn(arrays)

    def _compile(self, xp):
        g = self.graph
        namespace = {"xp": xp}
        for vid, var in g.variables.items():
            namespace[f"W{vid}"] = var
        for vid, array in g.constants.items():
            namespace[f"c{vid}"] = xp.asarray(array)
        for node in g.nodes:
            buffered = node.out in g.buffers
            fn = out_function(node.op, xp) if buffered else None
            if fn is None and inline_params(node):
                fn = call_for(node.op, xp)
                for k, v in node.params.items():
                    namespace[f"K{node.out}_{k}"] = v
            namespace[f"F{node.out}"] = fn or forward_for(node.op, node.params, xp)
        buffers = [None] * (max(g.buffers.values(), default=-1) + 1)
        for vid, slot in g.buffers.items():
            if buffers[slot] is None:
                shape, dtype = g.info[vid]
                buffers[slot] = xp.empty(shape, dtype)
        for slot, buffer in enumerate(buffers):
            namespace[f"B{slot}"] = buffer
        self.buffers[xp] = buffers
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
        if slot is None and inline_params(node):
            kw = ", ".join(f"{k}=K{node.out}_{k}" for k in node.params)
            lines.append(f"    v{node.out} = F{node.out}(xp, {ins + ', ' if ins else ''}{kw})")
        elif slot is None:
            lines.append(f"    v{node.out} = F{node.out}({ins})")
        else:
            lines.append(f"    v{node.out} = F{node.out}({ins}, out=B{slot})")
    fed = {p.vid for p in g.placeholders}
    for var_vid, vid in _updates_by_variable(g):
        # A Variable never holds an array the caller fed (a Session feed is not copied).
        value = f"xp.array({g.name_of(vid)})" if vid in fed else _as_array(g, vid)
        lines.append(f"    W{var_vid}._data = {value}")
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

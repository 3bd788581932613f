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

import re
import sys
import threading

import numpy as np

from ..backend import get_array_module, to_device
from ..ops.registry import Op
from ..tensor import _OWN_REFS
from .graph import Graph


def inline_params(node) -> bool:
    """Whether the replay line passes the node's parameters itself (``F(xp, x, axis=K)``),
    which saves the keyword merge of a ``functools.partial`` at every call."""
    return bool(node.params) and isinstance(node.op, Op)


def call_for(op, xp, in_float32: bool = True):
    """``f(xp, *arrays, **params)`` for an inlined node: the forward, or on CuPy
    ``Op.run`` (the GPU kernel where it covers the arrays) when the op has a kernel.
    ``in_float32=False`` (no float16/bfloat16 input): the forward without the float32
    wrapper of ``Op.low_precision`` and its dtype checks."""
    if op.kernel is not None and xp is not np:
        return op.run
    return op.forward if in_float32 else op.__wrapped__


class Replay:
    """Calls the generated function; ``source`` is its text."""

    def __init__(self, graph: Graph):
        self.graph = graph
        self.source = generate_source(graph)
        self._compiled: dict = {}  # array module -> function
        self.buffers: dict = {}  # array module -> list of buffers, by slot
        self._lock = threading.Lock() if graph.buffers else None

    def __call__(self, arrays: list) -> list:
        return self.call(self.module_for(arrays), arrays)

    def module_for(self, arrays: list):
        """The array module a replay of ``arrays`` runs on."""
        for a in arrays:
            if type(a) is not np.ndarray:
                return get_array_module(a)
        return self._state_module() if not arrays else np  # no inputs: where its state is

    def call(self, xp, arrays: list) -> list:
        """The replay's outputs for ``arrays`` on module ``xp`` (``module_for``)."""
        fn = self._compiled.get(xp)
        if fn is None:
            fn = self._compiled[xp] = self._compile(xp)
        if self._lock is None:
            return fn(arrays)
        with self._lock:
            return fn(arrays)

    def _state_module(self):
        """The array module of the first Variable (else constant) the graph reads."""
        for var in self.graph.variables.values():
            return get_array_module(var._data)
        for array in self.graph.constants.values():
            return get_array_module(array)
        return np

    def _compile(self, xp, for_capture: bool = False):
        """The replay function on module ``xp``; ``for_capture``: its CUDA-graph variant
        (``generate_source``), whose buffers the caller's allocator provides."""
        g = self.graph
        namespace = {"xp": xp}
        for vid, var in g.variables.items():
            namespace[f"W{vid}"] = var
        for vid, array in g.constants.items():
            # A constant goes to the device the replay runs on.
            namespace[f"c{vid}"] = to_device(array, "cpu") if xp is np else xp.asarray(array)
        for node in g.nodes:
            buffered = node.out in g.buffers
            fn = node.op.out_function(xp) if buffered else None
            low = g.runs_own_forward(node)  # float16/bfloat16 in a float32-computing op
            if for_capture and node.op.captured is not None:
                fn = node.op.captured
            elif fn is None and inline_params(node):
                fn = call_for(node.op, xp, in_float32=low)
            for k, v in node.params.items():
                namespace[f"K{node.out}_{k}"] = v
            namespace[f"F{node.out}"] = fn or node.op.runner(xp, node.params, in_float32=low)
        buffers = [None] * (max(g.buffers.values(), default=-1) + 1)
        for vid, slot in g.buffers.items():
            if buffers[slot] is None:
                shape, dtype = g.info[vid]
                buffers[slot] = xp.empty(shape, dtype)
        for slot, buffer in enumerate(buffers):
            namespace[f"B{slot}"] = buffer
        for node in in_place_updates(g):
            namespace[f"U{node.out}"] = node.op.out_function(xp)
        namespace["_refs"] = sys.getrefcount
        if for_capture:
            for vid in start_values_wanted(g):
                shape, dtype = g.info[vid]
                namespace[f"S{vid}"] = xp.empty(shape, dtype)
            source = generate_source(g, for_capture=True)
            exec(compile(source, f"<capture of {g.name}>", "exec"), namespace)  # noqa: S102
            return namespace["replay"]
        self.buffers[xp] = buffers
        exec(compile(self.source, f"<replay of {g.name}>", "exec"), namespace)  # noqa: S102
        return namespace["replay"]


def generate_source(g: Graph, for_capture: bool = False) -> str:
    """The replay's Python source. ``for_capture``: the variant a CUDA graph captures
    (trace/cuda_graph.py): its arrays' addresses are baked into the graph, so Variables
    are written in place (``xp.copyto``) and not rebound, the Nth random key is row N of
    ``KEYS``, advanced on the device by ``DELTAS`` first, ops with an ``Op.captured``
    forward call it, and the outputs are the graph's own arrays."""
    args = ", ".join(g.name_of(p.vid) for p in g.placeholders)
    lines = ["def replay(P, KEYS=None, DELTAS=None):" if for_capture else "def replay(P):"]
    if g.placeholders:
        lines.append(f"    {args}, = P")
    for vid in g.variables:
        lines.append(f"    w{vid} = W{vid}._data")
    key_rows = {id(node): row for row, node in
                enumerate(random_key_nodes(g) if for_capture else [])}
    if key_rows:
        lines.append("    KEYS[:, 1] += DELTAS")
    in_place = {node.out for node in in_place_updates(g)}
    for node in g.nodes:
        ins = ", ".join(g.name_of(i) for i in node.inputs)
        slot = g.buffers.get(node.out)
        if id(node) in key_rows:
            lines.append(f"    v{node.out} = KEYS[{key_rows[id(node)]}]")
        elif for_capture and node.op.captured is not None:
            kw = "".join(f", {k}=K{node.out}_{k}" for k in node.params)
            out = "" if slot is None else f", out=B{slot}"
            lines.append(f"    v{node.out} = F{node.out}(xp, {ins}{out}{kw})")
        elif for_capture and node.out in in_place:
            lines.append(f"    v{node.out} = U{node.out}({ins}, out={g.name_of(node.inputs[0])})")
        elif node.out in in_place:
            # The Variable's own array, when nothing but this replay holds it (no view, no
            # tape, no user reference: its reference count says so), is updated in place, as
            # NumPy's `w -= lr * g`; otherwise a new array, as eagerly.
            w = g.name_of(node.inputs[0])
            lines.append(f"    if _refs({w}) == {_OWN_REFS}:")
            lines.append(f"        v{node.out} = U{node.out}({ins}, out={w})")
            lines.append("    else:")
            lines.append(f"        v{node.out} = F{node.out}({ins})")
        elif slot is None and inline_params(node):
            kw = ", ".join(f"{k}=K{node.out}_{k}" for k in node.params)
            lines.append(f"    v{node.out} = F{node.out}(xp, {ins + ', ' if ins else ''}{kw})")
        elif slot is None:
            lines.append(f"    v{node.out} = F{node.out}({ins})")
        else:
            lines.append(f"    v{node.out} = F{node.out}({ins}, out=B{slot})")
    fed = {p.vid for p in g.placeholders}
    if for_capture:
        wanted = start_values_wanted(g)
        lines.extend(f"    xp.copyto(S{vid}, w{vid})" for vid in wanted)
        name = {vid: f"S{vid}" for vid in wanted}
        for var_vid, vid in _updates_by_variable(g):
            if vid != var_vid and vid not in in_place:
                lines.append(f"    xp.copyto(w{var_vid}, {name.get(vid, g.name_of(vid))})")
        outs = [name.get(v, g.name_of(v)) for v in g.flat_outputs if type(v) is int]
        lines.append(f"    return [{', '.join(outs)}]")
        return "\n".join(lines) + "\n"
    for var_vid, vid in _updates_by_variable(g):
        # A Variable never holds an array the caller fed (a Session feed is not copied).
        value = f"xp.array({g.name_of(vid)})" if vid in fed else _as_array(g, vid)
        lines.append(f"    W{var_vid}._data = {value}")
        lines.append(f"    W{var_vid}._version += 1")
    outs = [_as_array(g, v) for v in g.flat_outputs if type(v) is int]
    lines.append(f"    return [{', '.join(outs)}]")
    return "\n".join(lines) + "\n"


def start_values_wanted(g: Graph) -> list:
    """The Variable reads whose start value a capture must copy aside (into ``S{vid}``)
    before it writes the Variable's array in place: assigned to another Variable (a swap)
    or returned."""
    updates = _updates_by_variable(g)
    written = {var_vid for var_vid, vid in updates if vid != var_vid}
    return sorted(written & ({vid for _, vid in updates} | set(g.flat_outputs)))


def random_key_nodes(g: Graph) -> list:
    """The nodes that hand out a random key (``Op.host_key``), in program order."""
    return [node for node in g.nodes if node.op.host_key is not None]


def in_place_updates(g: Graph) -> list:
    """The nodes whose result a Variable is assigned and that may write into that Variable's
    array: an elementwise op with ``out=`` of the Variable's read (``w - t``), same shape and
    dtype, where no later node reads ``w``, no Variable is assigned ``w`` itself (a swap),
    the Variable is assigned once, and the value is no output. (The count of references
    that shows only the replay holds the array is the one ``Variable`` uses for its own
    in-place updates.)"""
    read_vid = {id(var): vid for vid, var in g.variables.items()}
    assigned: dict = {}
    for var, vid in g.updates:
        assigned.setdefault(read_vid[id(var)], []).append(vid)
    last_use: dict = {}
    for position, node in enumerate(g.nodes):
        for i in node.inputs:
            last_use[i] = position
    outputs = {v for v in g.flat_outputs if type(v) is int}
    assigned_values = {vid for _, vid in g.updates}
    producer = {node.out: (position, node) for position, node in enumerate(g.nodes)}
    chosen = []
    for w, values in assigned.items():
        if len(values) != 1 or values[0] not in producer or values[0] in outputs:
            continue
        position, node = producer[values[0]]
        op = node.op
        if (op.elementwise and op.out is not None and not node.params
                and node.inputs and node.inputs[0] == w
                and w not in node.inputs[1:] and node.out not in g.buffers
                and last_use.get(w) == position and w not in outputs
                and w not in assigned_values and g.info[node.out] == g.info[w]):
            chosen.append(node)
    return chosen


def _as_array(g: Graph, vid: int) -> str:
    """NumPy returns a scalar, not a 0-d array, from ufuncs and reductions on 0-d input."""
    name = g.name_of(vid)
    return f"xp.asarray({name})" if g.info[vid][0] == () else name


def _updates_by_variable(g: Graph) -> list:
    """(variable's read vid, assigned vid) in program order; a Variable assigned twice
    keeps its last value."""
    read_vid = {id(var): vid for vid, var in g.variables.items()}
    return [(read_vid[id(var)], vid) for var, vid in g.updates]


def failing_line(filename: str, graph: Graph, error: Exception) -> tuple:
    """(the node whose line of the generated function ``filename`` raised ``error``, or
    None; the names of that function's frame: its values), from the traceback."""
    tb, lineno, names = error.__traceback__, None, {}
    while tb is not None:
        if tb.tb_frame.f_code.co_filename == filename:
            lineno = tb.tb_lineno  # its values: locals, constants (names of the module)
            names = {**tb.tb_frame.f_globals, **tb.tb_frame.f_locals}
        tb = tb.tb_next
    if lineno is None:
        return None, names
    source = generate_source(graph, for_capture=filename.startswith("<capture"))
    match = re.match(r"\s*v(\d+) = ", source.splitlines()[lineno - 1])
    out = int(match.group(1)) if match else None
    return next((n for n in graph.nodes if n.out == out), None), names


def compile_graph(graph: Graph) -> Replay:
    return Replay(graph)

"""Graph passes: each a small pure function ``Graph -> Graph`` (the input is not changed).

``optimize`` runs them in order: dead-code elimination, constant folding, algebraic
simplification, common-subexpression elimination, dead code again (what the others left
unused), in-place gradient accumulation, elementwise fusion (``fusion.py``; by default on
GPU graphs only), then buffer reuse. Every pass but dead-code
elimination drops the buffer assignment it was given (its liveness no longer holds), so
buffer reuse always runs last.

Example:
    >>> import tape
    >>> f = tape.trace(lambda x: (x * 1.0, tape.exp(x))[0], optimize=False)
    >>> _ = f(tape.ones((2,)))
    >>> [n.op.name for n in f.graph.nodes], [n.op.name for n in optimize(f.graph).nodes]
    (['multiply', 'exp'], [])
"""

from __future__ import annotations

import dataclasses
import os

import numpy as np

from ..backend import get_array_module
from .fusion import fuse_elementwise
from .graph import Graph


def dead_code_elimination(g: Graph) -> Graph:
    """Drop nodes no output or Variable update needs, and unused constants and reads."""
    g = g.copy()
    live = set(g.live_roots())
    kept = []
    for node in reversed(g.nodes):
        if node.out in live or node.op.stateful:  # a random_key advances its stream
            kept.append(node)
            live.update(node.inputs)
    g.nodes = kept[::-1]
    updated = {id(var) for var, _ in g.updates}
    g.constants = {v: a for v, a in g.constants.items() if v in live}
    g.variables = {v: var for v, var in g.variables.items()
                   if v in live or id(var) in updated}
    return g


def constant_folding(g: Graph, max_elements: int = 1 << 16) -> Graph:
    """Run the nodes whose inputs are all constants once, at optimization time, and keep
    their results as constants (up to ``max_elements`` elements each)."""
    g = _without_buffers(g)
    kept = []
    for node in g.nodes:
        shape = g.info.get(node.out, ((), None))[0]
        if (node.op.stateful or not node.inputs
                or not all(i in g.constants for i in node.inputs)
                or None in shape or _size(shape) > max_elements):
            kept.append(node)
            continue
        inputs = [g.constants[i] for i in node.inputs]
        value = node.op.forward(get_array_module(*inputs), *inputs, **node.params)
        g.constants[node.out] = get_array_module(value).asarray(value)  # where it was made
    g.nodes = kept
    return g


def algebraic_simplification(g: Graph) -> Graph:
    """Remove no-ops: ``x * 1``, ``x + 0``, ``x - 0``, ``x / 1``, a reshape, broadcast or
    cast to what ``x`` already is. The node's users read ``x`` instead."""
    g = _without_buffers(g)
    alias: dict = {}
    kept = []
    for node in g.nodes:
        node = _renamed(node, alias)
        same = _noop_input(g, node)
        if same is not None and g.info[same] == g.info[node.out]:
            alias[node.out] = same
            continue
        kept.append(node)
    g.nodes = kept
    return _rename_roots(g, alias)


def common_subexpression_elimination(g: Graph) -> Graph:
    """Merge nodes that apply the same op with the same parameters to the same inputs."""
    g = _without_buffers(g)
    alias: dict = {}
    seen: dict = {}
    kept = []
    for node in g.nodes:
        node = _renamed(node, alias)
        key = None
        if not node.op.stateful:
            # The op itself, not its name: two fused ops are both named "fused".
            key = (node.op, node.inputs, _freeze(node.params))
        if key is not None and key in seen:
            alias[node.out] = seen[key]
            continue
        if key is not None:
            seen[key] = node.out
        kept.append(node)
    g.nodes = kept
    return _rename_roots(g, alias)


def buffer_reuse(g: Graph) -> Graph:
    """Give node outputs buffer slots, so that replay writes them (``out=``) into arrays
    kept between replays instead of allocating; values whose lifetimes do not overlap
    share a slot when their shape and dtype match.

    Only ops that can write into ``out=`` get a slot, and never an output, a value a
    Variable is assigned, or a value that a view of it (reshape, transpose, ...) lets
    reach one of those. Nothing gets a slot when a placeholder has a free (None) size,
    nor downstream of a boolean-mask index, whose shape depends on the data. A node may
    write into the slot of one of its own inputs only when it is an elementwise op of the
    op table and the shapes are equal (a ufunc in place is safe then; matmul is not).
    """
    g = g.copy()
    g.buffers = {}
    if any(None in p.shape for p in g.placeholders):
        return g
    nodes = g.nodes
    dynamic = _data_dependent_shapes(g)
    storage = _storage(g)
    end = len(nodes)
    last_use: dict = {}  # storage value -> index of the last node that reads it
    for i, node in enumerate(nodes):
        for v in node.inputs:
            for s in storage.get(v, (v,)):
                last_use[s] = i
    for v in g.live_roots():
        for s in storage.get(v, (v,)):
            last_use[s] = end  # pinned: alive after the replay
    expiring: dict = {}
    for s, i in last_use.items():
        expiring.setdefault(i, []).append(s)
    free: dict = {}  # (shape, dtype) -> slots free now
    slot_of: dict = {}  # storage value -> its slot
    slots = 0
    for i, node in enumerate(nodes):
        v = node.out
        took = None
        if (node.op.writes_out and v not in dynamic and last_use.get(v, i) < end
                and None not in g.info[v][0] and not g.runs_own_forward(node)):
            key = g.info[v]
            pool = free.get(key)
            slot = pool.pop() if pool else None
            if slot is None:
                took = _in_place_input(g, node, i, key, last_use, slot_of, storage)
                slot = slot_of.get(took)
            if slot is None:
                slot, slots = slots, slots + 1
            g.buffers[v] = slot
            slot_of[v] = slot
            last_use.setdefault(v, i)  # read by nothing: free again right after
            if last_use[v] == i:
                expiring.setdefault(i, []).append(v)
        for s in expiring.get(i, ()):
            if s in slot_of and s != took:
                free.setdefault(g.info[s], []).append(slot_of.pop(s))
        if took is not None:
            slot_of.pop(took, None)
    return g


def accumulate_in_place(g: Graph) -> Graph:
    """Let an op with an ``in_place`` variant (``index_add_into``) add into its base array
    in place where that array is a gradient accumulator no one else sees: made by an
    ``accumulator`` op of the graph (``index_add``, another ``index_add_into``), read by
    this node alone (once), and no output. A
    traced backward through T slices of a tensor (an RNN's ``x[:, t]``) then costs one
    slice per step instead of a copy of the whole tensor."""
    g = g.copy()
    producer = {node.out: node for node in g.nodes}
    readers: dict = {}
    for node in g.nodes:
        for v in node.inputs:
            readers[v] = readers.get(v, 0) + 1
    roots = set(g.live_roots())
    for i, node in enumerate(g.nodes):
        if node.op.in_place is None:
            continue
        base = node.inputs[0]
        made_by = producer.get(base)
        if (made_by is not None and made_by.op.accumulator
                and readers.get(base) == 1 and base not in roots
                and not g.runs_own_forward(node)):
            g.nodes[i] = dataclasses.replace(node, op=node.op.in_place)
    g.buffers = {}
    return g


def optimize(g: Graph, fuse: bool | None = None, buffers: bool = True,
             cpu_engine: str | None = None) -> Graph:
    """All passes, in the order that lets each use what the one before found.

    ``fuse=None`` fuses elementwise ops where that pays: on a GPU graph (one kernel per
    fused node), or on CPU when the numexpr engine is asked for (``cpu_engine`` or
    ``TAPE_FUSION_CPU=numexpr``). A fused node run by NumPy saves nothing that buffer
    reuse does not already save (``python -m benchmarks.trace_passes``), so CPU graphs
    stay unfused by default.
    """
    engine = cpu_engine or os.environ.get("TAPE_FUSION_CPU")
    if fuse is None:
        fuse = engine == "numexpr" or _on_gpu(g)
    g = dead_code_elimination(g)
    g = constant_folding(g)
    g = algebraic_simplification(g)
    g = common_subexpression_elimination(g)
    g = dead_code_elimination(g)
    g = accumulate_in_place(g)
    if fuse:
        g = fuse_elementwise(g, engine)
    if buffers:
        g = buffer_reuse(g)
    return g


# ---- helpers ---------------------------------------------------------------------------

def _on_gpu(g: Graph) -> bool:
    arrays = [var._data for var in g.variables.values()] + list(g.constants.values())
    return any(not isinstance(a, np.ndarray | np.generic) for a in arrays)


def _size(shape) -> int:
    n = 1
    for d in shape:
        n *= d
    return n


def _without_buffers(g: Graph) -> Graph:
    g = g.copy()
    g.buffers = {}
    return g


def _storage(g: Graph) -> dict:
    """value -> the values whose arrays it may share memory with (itself included)."""
    storage: dict = {}
    for node in g.nodes:
        if node.op.fresh:
            storage[node.out] = (node.out,)
        else:
            shared = {node.out}
            for v in node.inputs:
                shared.update(storage.get(v, (v,)))
            storage[node.out] = tuple(shared)
    return storage


def _data_dependent_shapes(g: Graph) -> set:
    """Values whose shape may differ at replay from the traced one: the results of a
    boolean-mask getitem and everything computed from them."""
    dynamic: set = set()
    for node in g.nodes:
        depends = node.op.data_dependent
        if (depends is not None and depends([g.info[v][1] for v in node.inputs])
                or any(v in dynamic for v in node.inputs)):
            dynamic.add(node.out)
    return dynamic


def _in_place_input(g: Graph, node, i: int, key, last_use, slot_of, storage):
    """An input of ``node`` whose slot it may write into: read for the last time here,
    of the same shape and dtype, by an elementwise op, and no other input a view of it."""
    if not node.op.elementwise:
        return None
    for v in node.inputs:
        if (v in slot_of and last_use.get(v) == i and g.info[v] == key
                and all(v not in storage.get(u, (u,)) for u in node.inputs if u != v)):
            return v
    return None

def _noop_input(g: Graph, node):
    """The input that ``node`` returns unchanged, or None: ``x`` for ``op(x, unit)`` (and
    ``op(unit, x)`` where the op commutes) or for an op that is a no-op at the same shape
    and dtype (the caller compares them)."""
    op = node.op
    if op.unit is not None and len(node.inputs) == 2:
        x, y = node.inputs
        if _is_constant_all(g, y, op.unit):
            return x
        if op.commutative and _is_constant_all(g, x, op.unit):
            return y
    if op.noop_if_same and len(node.inputs) == 1:
        return node.inputs[0]
    return None


def _is_constant_all(g: Graph, vid, value) -> bool:
    array = g.constants.get(vid)
    return array is not None and array.size <= 64 and bool(np.all(array == value))


def _renamed(node, alias: dict):
    if not alias or not any(i in alias for i in node.inputs):
        return node
    from dataclasses import replace

    return replace(node, inputs=tuple(alias.get(i, i) for i in node.inputs))


def _rename_roots(g: Graph, alias: dict) -> Graph:
    if alias:
        g.flat_outputs = [alias.get(v, v) if type(v) is int else v for v in g.flat_outputs]
        g.updates = [(var, alias.get(v, v)) for var, v in g.updates]
    return g


def _freeze(value):
    if isinstance(value, bool | int | float | complex):
        # 1, 1.0 and True are equal in Python but are different parameters; so are 0.0
        # and -0.0. repr also makes a NaN parameter equal to itself.
        return (type(value).__name__, repr(value))
    if isinstance(value, dict):
        return tuple(sorted((k, _freeze(v)) for k, v in value.items()))
    if isinstance(value, list | tuple):
        return (type(value).__name__,) + tuple(_freeze(v) for v in value)
    if isinstance(value, np.ndarray):
        return ("array", value.dtype.str, value.shape, value.tobytes())
    try:
        hash(value)
        return value
    except TypeError:
        return ("id", id(value))

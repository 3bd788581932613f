"""Graph passes: each a small pure function ``Graph -> Graph`` (the input is not changed).

``optimize`` runs them in order: dead-code elimination, constant folding, algebraic
simplification, common-subexpression elimination, dead code again (what the others left
unused), then buffer reuse.

Example:
    >>> import tape
    >>> f = tape.trace(lambda x: (x * 1.0, tape.exp(x))[0], optimize=False)
    >>> _ = f(tape.ones((2,)))
    >>> [n.op.name for n in f.graph.nodes], [n.op.name for n in optimize(f.graph).nodes]
    (['multiply', 'exp'], [])
"""

from __future__ import annotations

import numpy as np

from .graph import Graph

# Ops whose result depends on more than their inputs: never folded or merged.
STATEFUL = frozenset({"random_key"})


def dead_code_elimination(g: Graph) -> Graph:
    """Drop nodes no output or Variable update needs, and unused constants and reads."""
    g = g.copy()
    live = set(g.live_roots())
    kept = []
    for node in reversed(g.nodes):
        if node.out in live:
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
    g = g.copy()
    kept = []
    for node in g.nodes:
        if node.op.name in STATEFUL or not node.inputs or not all(
                i in g.constants for i in node.inputs):
            kept.append(node)
            continue
        value = node.op.forward(np, *(g.constants[i] for i in node.inputs), **node.params)
        value = np.asarray(value)
        if value.size > max_elements:
            kept.append(node)
            continue
        g.constants[node.out] = value
    g.nodes = kept
    return g


def algebraic_simplification(g: Graph) -> Graph:
    """Remove no-ops: ``x * 1``, ``x + 0``, ``x - 0``, ``x / 1``, a reshape, broadcast or
    cast to what ``x`` already is. The node's users read ``x`` instead."""
    g = g.copy()
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
    g = g.copy()
    alias: dict = {}
    seen: dict = {}
    kept = []
    for node in g.nodes:
        node = _renamed(node, alias)
        key = None
        if node.op.name not in STATEFUL:
            key = (node.op.name, node.inputs, _freeze(node.params))
        if key is not None and key in seen:
            alias[node.out] = seen[key]
            continue
        if key is not None:
            seen[key] = node.out
        kept.append(node)
    g.nodes = kept
    return _rename_roots(g, alias)


def optimize(g: Graph) -> Graph:
    """All passes, in the order that lets each use what the one before found."""
    g = dead_code_elimination(g)
    g = constant_folding(g)
    g = algebraic_simplification(g)
    g = common_subexpression_elimination(g)
    return dead_code_elimination(g)


# ---- helpers ---------------------------------------------------------------------------

_IDENTITY_RIGHT = {"multiply": 1, "divide": 1, "add": 0, "subtract": 0, "power": 1}


def _noop_input(g: Graph, node):
    """The input that ``node`` returns unchanged, or None."""
    name = node.op.name
    if name in _IDENTITY_RIGHT and len(node.inputs) == 2:
        x, y = node.inputs
        unit = _IDENTITY_RIGHT[name]
        if _is_constant_all(g, y, unit):
            return x
        if name in ("multiply", "add") and _is_constant_all(g, x, unit):
            return y
    if name in ("reshape", "broadcast_to", "cast", "identity") and len(node.inputs) == 1:
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

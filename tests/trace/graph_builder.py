"""Hand-built graphs for pass tests: each node runs once on example arrays when it is
added, so ``info`` holds real shapes and dtypes, and ``replay`` runs a graph on new ones."""

from __future__ import annotations

import numpy as np

from tape.ops import REGISTRY
from tape.trace.graph import Graph, Node, Placeholder
from tape.trace.replay import compile_graph


class Builder:
    def __init__(self, seed: int = 0):
        self.g = Graph("hand_built")
        self.examples: dict = {}  # vid -> array the node computed on example inputs
        self.rng = np.random.default_rng(seed)
        self._next = 0

    def _new(self, array) -> int:
        vid = self._next
        self._next += 1
        array = np.asarray(array)
        self.examples[vid] = array
        self.g.info[vid] = (tuple(array.shape), str(array.dtype))
        return vid

    def placeholder(self, shape, dtype="float64", name=None) -> int:
        example = self.rng.uniform(0.5, 2.0, size=shape).astype(dtype)
        vid = self._new(example)
        self.g.placeholders.append(Placeholder(vid, name or f"x{vid}", tuple(shape),
                                               np.dtype(dtype)))
        return vid

    def constant(self, value, dtype="float64") -> int:
        vid = self._new(np.asarray(value, dtype))
        self.g.constants[vid] = self.examples[vid]
        return vid

    def variable(self, var) -> int:
        vid = self._new(var._data)
        self.g.variables[vid] = var
        return vid

    def op(self, name: str, *inputs: int, **params) -> int:
        op = REGISTRY[name]
        value = op.forward(np, *(self.examples[i] for i in inputs), **params)
        vid = self._new(value)
        self.g.nodes.append(Node(op, tuple(inputs), params, vid))
        return vid

    def update(self, var, vid: int) -> None:
        """Assign ``vid`` to ``var`` at the end (read first, as the recorder does)."""
        if all(v is not var for v in self.g.variables.values()):
            self.variable(var)
        self.g.updates.append((var, vid))

    def outputs(self, *vids: int) -> Graph:
        self.g.flat_outputs = list(vids)
        self.g.outputs = list(vids)
        return self.g

    def new_inputs(self, seed: int = 1) -> list:
        rng = np.random.default_rng(seed)
        return [rng.uniform(0.5, 2.0, size=p.shape).astype(p.dtype)
                for p in self.g.placeholders]


def replay(graph: Graph, arrays: list) -> list:
    return [np.asarray(a) for a in compile_graph(graph)(list(arrays))]


def names(graph: Graph) -> list:
    return [getattr(n.op, "label", n.op.name) for n in graph.nodes]


def assert_same_results(before: Graph, after: Graph, arrays: list, exact: bool = True):
    want, got = replay(before, arrays), replay(after, arrays)
    assert len(want) == len(got)
    for w, o in zip(want, got):
        assert w.shape == o.shape and w.dtype == o.dtype
        if exact:
            np.testing.assert_array_equal(o, w)
        else:
            np.testing.assert_allclose(o, w, rtol=1e-6)

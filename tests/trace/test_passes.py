"""The graph passes on small hand-built graphs: what each removes or keeps, and that the
optimized graph replays to the same arrays as the graph it was given."""

from __future__ import annotations

import importlib.util

import numpy as np
import pytest
from graph_builder import Builder, assert_same_results, names, replay

import tape
from tape.trace import passes
from tape.trace.passes import (
    algebraic_simplification,
    common_subexpression_elimination,
    constant_folding,
    dead_code_elimination,
)

# ---- dead-code elimination ------------------------------------------------------------


def test_dce_drops_nodes_nothing_needs_and_keeps_what_the_outputs_need():
    b = Builder()
    x = b.placeholder((3,))
    unused_c = b.constant([1.0, 2.0, 3.0])
    dead = b.op("exp", x)
    b.op("multiply", dead, unused_c)  # dead too: only a dead node reads it
    kept = b.op("tanh", x)
    g = b.outputs(b.op("add", kept, x))
    out = dead_code_elimination(g)
    assert names(out) == ["tanh", "add"]
    assert unused_c not in out.constants
    assert names(g) == ["exp", "multiply", "tanh", "add"]  # the input graph is unchanged
    assert_same_results(g, out, b.new_inputs())


def test_dce_keeps_variable_updates_and_their_inputs_and_drops_unused_reads():
    w = tape.Variable(np.ones(3))
    unread = tape.Variable(np.zeros(3))
    b = Builder()
    x = b.placeholder((3,))
    wv = b.variable(w)
    b.variable(unread)  # a read nothing uses
    step = b.op("multiply", x, b.constant(0.5))
    b.update(w, b.op("subtract", wv, step))  # not an output, but a root
    g = b.outputs(b.op("sum", x))
    out = dead_code_elimination(g)
    assert names(out) == ["multiply", "subtract", "sum"]
    assert list(out.variables.values()) == [w]
    arrays = b.new_inputs()
    replay(out, arrays)
    np.testing.assert_array_equal(w.numpy(), 1.0 - arrays[0] * 0.5)


def test_dce_keeps_an_unused_random_key_so_the_streams_advance_as_eagerly():
    def f(x):
        tape.random.normal((3,))  # drawn and thrown away: its key still advances
        return x + tape.random.uniform((3,))

    tape.random.seed(5)
    eager = [f(tape.zeros(3)).numpy() for _ in range(3)]
    traced = tape.trace(f)
    tape.random.seed(5)
    replayed = [traced(tape.zeros(3)).numpy() for _ in range(3)]
    assert [n.op.name for n in traced.graph.nodes].count("random_key") == 2
    for e, r in zip(eager, replayed):
        np.testing.assert_array_equal(r, e)


# ---- common-subexpression elimination -------------------------------------------------


def test_cse_merges_the_same_op_params_and_inputs_transitively():
    b = Builder()
    x = b.placeholder((2, 3))
    e1, e2 = b.op("exp", x), b.op("exp", x)
    s1, s2 = b.op("sum", e1, axis=0), b.op("sum", e2, axis=0)
    s3 = b.op("sum", e2, axis=1)  # other params: kept
    g = b.outputs(b.op("add", s1, s2), s3)
    out = common_subexpression_elimination(g)
    assert names(out) == ["exp", "sum", "sum", "add"]
    add = out.nodes[-1]
    assert add.inputs[0] == add.inputs[1] == s1
    assert_same_results(g, out, b.new_inputs())


def test_cse_never_merges_random_keys():
    b = Builder()
    k1 = b.op("random_key")
    k2 = b.op("random_key")
    u1 = b.op("random_uniform", k1, shape=(4,), dtype=np.float64)
    u2 = b.op("random_uniform", k2, shape=(4,), dtype=np.float64)
    g = b.outputs(u1, u2)
    out = common_subexpression_elimination(g)
    assert names(out).count("random_key") == 2 and names(out).count("random_uniform") == 2
    a, c = replay(out, [])
    assert not np.array_equal(a, c)


def test_cse_merges_draws_from_the_same_key_which_give_the_same_numbers():
    b = Builder()
    key = b.constant(np.array([3, 2**63], np.uint64), dtype=np.uint64)
    u1 = b.op("random_uniform", key, shape=(4,), dtype=np.float64)
    u2 = b.op("random_uniform", key, shape=(4,), dtype=np.float64)
    g = b.outputs(b.op("subtract", u1, u2))
    out = common_subexpression_elimination(g)
    assert names(out) == ["random_uniform", "subtract"]
    assert_same_results(g, out, [])


def test_cse_tells_apart_parameters_python_calls_equal():
    b = Builder()
    x = b.placeholder((2,))
    p0 = b.op("pad", x, pad_width=((1, 1),), constant_values=0.0)
    p1 = b.op("pad", x, pad_width=((1, 1),), constant_values=-0.0)  # 0.0 == -0.0
    g = b.outputs(p0, p1)
    out = common_subexpression_elimination(g)
    assert names(out) == ["pad", "pad"]
    a, c = replay(out, b.new_inputs())
    assert not np.signbit(a[0]) and np.signbit(c[0])


# ---- constant folding -------------------------------------------------------------------


def test_constant_folding_computes_constant_only_subgraphs_once():
    b = Builder()
    x = b.placeholder((3,))
    c1, c2 = b.constant([1.0, 2.0, 3.0]), b.constant(2.0)
    folded = b.op("exp", b.op("multiply", c1, c2))
    g = b.outputs(b.op("add", x, folded))
    out = dead_code_elimination(constant_folding(g))
    assert names(out) == ["add"]
    np.testing.assert_allclose(out.constants[folded], np.exp([2.0, 4.0, 6.0]), rtol=1e-15)
    assert_same_results(g, out, b.new_inputs())


def test_constant_folding_leaves_stateful_and_placeholder_paths_alone():
    b = Builder()
    x = b.placeholder((3,))
    key = b.op("random_key")
    noise = b.op("random_normal", key, shape=(3,), dtype=np.float64)
    g = b.outputs(b.op("add", b.op("exp", x), noise))
    out = constant_folding(g)
    assert names(out) == ["random_key", "random_normal", "exp", "add"]
    assert not set(out.constants) - set(g.constants)


def test_constant_folding_respects_max_elements():
    b = Builder()
    big = b.constant(np.ones((10, 10)))
    small = b.constant(np.ones(5))
    g = b.outputs(b.op("exp", big), b.op("exp", small))
    out = constant_folding(g, max_elements=50)
    assert names(out) == ["exp"] and out.nodes[0].inputs == (big,)
    assert_same_results(g, out, [])


# ---- algebraic simplification --------------------------------------------------------


@pytest.mark.parametrize("op, unit, unit_first", [
    ("multiply", 1.0, False), ("multiply", 1.0, True), ("add", 0.0, False),
    ("add", 0.0, True), ("subtract", 0.0, False), ("divide", 1.0, False),
    ("power", 1.0, False),
])
def test_simplification_removes_identity_arithmetic(op, unit, unit_first):
    b = Builder()
    x = b.placeholder((2, 3))
    c = b.constant(np.full((3,), unit))  # broadcasts, but to x's own shape
    y = b.op(op, *((c, x) if unit_first else (x, c)))
    g = b.outputs(b.op("tanh", y))
    out = algebraic_simplification(g)
    assert names(out) == ["tanh"] and out.nodes[0].inputs == (x,)
    assert_same_results(g, out, b.new_inputs())


@pytest.mark.parametrize("op, params", [
    ("reshape", {"shape": (2, 3)}), ("broadcast_to", {"shape": (2, 3)}),
    ("cast", {"dtype": np.dtype("float64")}), ("identity", {}),
])
def test_simplification_removes_shape_and_dtype_no_ops(op, params):
    b = Builder()
    x = b.placeholder((2, 3))
    g = b.outputs(b.op("exp", b.op(op, x, **params)))
    out = algebraic_simplification(g)
    assert names(out) == ["exp"] and out.nodes[0].inputs == (x,)
    assert_same_results(g, out, b.new_inputs())


def test_simplification_keeps_what_changes_shape_dtype_or_value():
    b = Builder()
    x = b.placeholder((3,))
    i = b.placeholder((3,), dtype="int32")
    grows = b.op("multiply", x, b.constant(np.ones((2, 3))))  # broadcasts x to (2, 3)
    to_float = b.op("divide", i, b.constant(1, dtype="int32"))  # int / 1 is float64
    negated = b.op("subtract", b.constant(0.0), x)  # 0 - x is not x
    reshaped = b.op("reshape", x, shape=(3, 1))
    cast = b.op("cast", x, dtype=np.dtype("float32"))
    doubled = b.op("multiply", x, b.constant([1.0, 1.0, 2.0]))  # not all ones
    g = b.outputs(grows, to_float, negated, reshaped, cast, doubled)
    out = algebraic_simplification(g)
    assert names(out) == ["multiply", "divide", "subtract", "reshape", "cast", "multiply"]
    assert_same_results(g, out, b.new_inputs())


def test_simplification_renames_outputs_and_updates():
    w = tape.Variable(np.zeros(3))
    b = Builder()
    x = b.placeholder((3,))
    e = b.op("exp", x)
    b.update(w, b.op("add", e, b.constant(0.0)))
    g = b.outputs(b.op("multiply", e, b.constant(1.0)))
    out = algebraic_simplification(g)
    assert names(out) == ["exp"] and out.flat_outputs == [e] and out.updates == [(w, e)]
    assert_same_results(g, out, b.new_inputs())


def test_a_variable_assigned_an_input_holds_a_copy_of_it():
    # After simplification ``w.assign(x * 1.0)`` assigns the placeholder itself; a
    # Session feed is used without a copy, so the replay must copy it.
    w = tape.Variable(np.zeros(3))
    b = Builder()
    x = b.placeholder((3,))
    b.update(w, b.op("multiply", x, b.constant(1.0)))
    g = algebraic_simplification(b.outputs())
    assert g.updates == [(w, x)]
    fed = np.array([1.0, 2.0, 3.0])
    replay(g, [fed])
    fed[:] = 7.0
    np.testing.assert_array_equal(w.numpy(), [1.0, 2.0, 3.0])


# ---- optimize, and the op table's out= functions ---------------------------------------


def test_optimize_runs_every_pass_and_keeps_the_results():
    b = Builder()
    x = b.placeholder((4, 3))
    c = b.op("exp", b.constant(np.zeros(3)))  # folds to ones
    y1 = b.op("multiply", x, c)  # then x * 1 -> x
    t1, t2 = b.op("tanh", y1), b.op("tanh", x)  # then the same tanh twice
    b.op("log", x)  # dead
    g = b.outputs(b.op("sum", b.op("add", t1, t2), axis=0))
    out = passes.optimize(g)
    assert names(out) == ["tanh", "add", "sum"]
    assert_same_results(g, out, b.new_inputs())
    fused = passes.optimize(g, fuse=True)
    assert names(fused) == ["fused[tanh,add]", "sum"]
    assert_same_results(g, fused, b.new_inputs())


def test_cpu_graphs_are_fused_by_default_only_for_the_numexpr_engine(monkeypatch):
    b = Builder()
    x = b.placeholder((3,))
    g = b.outputs(b.op("exp", b.op("negative", x)))
    assert names(passes.optimize(g)) == ["negative", "exp"]
    monkeypatch.setenv("TAPE_FUSION_CPU", "numexpr")
    out = passes.optimize(g)
    assert names(out) == ["fused[negative,exp]"]
    expected = "numexpr" if importlib.util.find_spec("numexpr") else "numpy"
    assert out.nodes[0].op.engine == expected



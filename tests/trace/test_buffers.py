"""Buffer reuse: which values get a slot, which share one, and that replays writing into
buffers kept between calls give the same arrays as replays that allocate."""

from __future__ import annotations

import numpy as np
from graph_builder import Builder, assert_same_results, replay

import tape
from tape.ops._helpers import Slot
from tape.trace.fusion import fuse_elementwise
from tape.trace.passes import buffer_reuse
from tape.trace.replay import compile_graph


def test_a_chain_reuses_one_slot_in_place_and_outputs_and_updates_get_none():
    w = tape.Variable(np.zeros((4, 3)))
    b = Builder()
    x = b.placeholder((4, 3))
    e1 = b.op("exp", x)
    e2 = b.op("tanh", e1)
    e3 = b.op("negative", e2)
    b.update(w, b.op("multiply", e3, b.constant(2.0)))
    out = b.op("add", e3, b.constant(1.0))
    g = b.outputs(out)
    buffered = buffer_reuse(g)
    assert buffered.buffers == {e1: 0, e2: 0, e3: 0}
    assert_same_results(g, buffered, b.new_inputs())
    np.testing.assert_array_equal(w.numpy(), -np.tanh(np.exp(b.new_inputs()[0])) * 2.0)


def test_values_alive_together_get_different_slots_and_dead_ones_are_reused():
    b = Builder()
    x, y = b.placeholder((2, 2)), b.placeholder((2, 2))
    a, c = b.op("exp", x), b.op("exp", y)  # both alive until the add
    s = b.op("add", a, c)  # may take a's slot in place
    t = b.op("sin", y)  # a and c are dead: a freed slot
    g = b.outputs(b.op("multiply", s, t))
    buffered = buffer_reuse(g)
    slots = buffered.buffers
    assert slots[a] != slots[c] and slots[s] == slots[a] and slots[t] == slots[c]
    assert max(slots.values()) == 1
    assert_same_results(g, buffered, b.new_inputs())


def test_matmul_never_writes_into_its_own_input():
    b = Builder()
    x, w = b.placeholder((3, 3)), b.placeholder((3, 3))
    a = b.op("exp", x)
    m = b.op("matmul", a, w)  # a is read here for the last time, same shape and dtype
    g = b.outputs(b.op("sum", m))
    buffered = buffer_reuse(g)
    assert buffered.buffers[m] != buffered.buffers[a]
    assert_same_results(g, buffered, b.new_inputs())


def test_a_value_whose_view_is_returned_gets_no_slot():
    b = Builder()
    x = b.placeholder((2, 3))
    y = b.op("exp", x)
    g = b.outputs(b.op("reshape", y, shape=(3, 2)))
    assert buffer_reuse(g).buffers == {}


def test_a_slot_stays_taken_while_a_view_of_its_value_is_alive():
    b = Builder()
    x, z = b.placeholder((3, 3)), b.placeholder((3, 3))
    y = b.op("exp", x)
    view = b.op("transpose", y)
    y2 = b.op("log", z)  # y is not read again, but its transpose is
    g = b.outputs(b.op("add", view, y2))
    buffered = buffer_reuse(g)
    assert buffered.buffers[y] != buffered.buffers[y2]
    assert_same_results(g, buffered, b.new_inputs())


def test_nothing_gets_a_slot_when_a_placeholder_has_a_free_size():
    b = Builder()
    x = b.placeholder((2, 3))
    b.g.placeholders[0].shape = (None, 3)
    b.g.info[x] = ((None, 3), "float64")
    g = b.outputs(b.op("sum", b.op("exp", b.op("exp", x))))
    assert buffer_reuse(g).buffers == {}


def test_nothing_downstream_of_a_boolean_mask_gets_a_slot():
    b = Builder()
    x = b.placeholder((6,))
    before = b.op("exp", x)
    mask = b.op("greater", before, b.constant(3.0))
    picked = b.op("getitem", before, mask, index=(Slot(0),))
    after = b.op("exp", b.op("exp", picked))
    g = b.outputs(b.op("sum", after))
    slots = buffer_reuse(g).buffers
    assert before in slots
    assert not set(slots) & {picked, after, g.nodes[-3].out}


def test_fused_nodes_get_slots_only_when_they_can_write_out_and_never_their_inputs():
    b = Builder()
    x, y = b.placeholder((4,)), b.placeholder((4,))
    e = b.op("exp", x)
    # e is read by two nodes of the tree: it stays outside, read last by the fused node.
    writes = b.op("add", b.op("multiply", e, y), e)  # root add: writes out=
    relu = b.op("relu", b.op("add", writes, y))  # root relu: no out=
    g = fuse_elementwise(b.outputs(b.op("sum", relu), b.op("sum", writes)))
    assert [n.op.name for n in g.nodes] == ["exp", "fused", "fused", "sum", "sum"]
    buffered = buffer_reuse(g)
    assert buffered.buffers[writes] != buffered.buffers[e]
    assert relu not in buffered.buffers
    assert_same_results(g, buffered, b.new_inputs())


def test_replays_write_the_same_buffers_and_never_change_earlier_results():
    b = Builder()
    x = b.placeholder((3, 4))
    h = b.op("tanh", b.op("exp", x))
    g = b.outputs(b.op("sum", h, axis=0), b.op("multiply", h, b.constant(3.0)))
    buffered = buffer_reuse(g)
    assert buffered.buffers
    run = compile_graph(buffered)
    first_inputs, second_inputs = b.new_inputs(1), b.new_inputs(2)
    first = run(first_inputs)
    kept = [a.copy() for a in first]
    buffers = list(run.buffers[np])
    second = run(second_inputs)
    assert all(p is q for p, q in zip(buffers, run.buffers[np]))
    for a, k in zip(first, kept):
        np.testing.assert_array_equal(a, k)
    for got, want in zip(second, replay(g, second_inputs)):
        np.testing.assert_array_equal(got, want)


def test_a_traced_training_step_uses_buffers_and_trains_as_eagerly():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(32, 8)).astype(np.float32)
    y = rng.integers(0, 3, 32)

    def run(traced: bool):
        tape.random.seed(0)
        model = tape.models.Sequential([tape.layers.Dense(16, activation="relu", input_dim=8),
                                        tape.layers.Dense(3)])
        opt = tape.optimizers.SGD(0.1)
        loss_fn = tape.losses.SparseCategoricalCrossentropy(from_logits=True)

        def step(xb, yb):
            with tape.GradientTape() as g:
                loss = loss_fn(yb, model(xb, training=True))
            grads = g.gradient(loss, model.trainable_variables)
            opt.apply_gradients(zip(grads, model.trainable_variables))
            return loss

        fn = tape.trace(step) if traced else step
        losses = [fn(x, y).item() for _ in range(4)]
        return fn, losses, model.get_weights()

    fn, traced_losses, traced_weights = run(True)
    _, eager_losses, eager_weights = run(False)
    assert fn.graph.buffers
    assert traced_losses == eager_losses
    for a, c in zip(traced_weights, eager_weights):
        np.testing.assert_array_equal(a, c)

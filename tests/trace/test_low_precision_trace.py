"""Traced functions over bfloat16 and float16 tensors replay to exactly what eager gives:
replay runs the same op forwards, and the passes leave the ops that compute low-precision
values in float32 (``Op.low_precision``) to those forwards: no ``out=`` buffer, no fused
expression, no in-place variant. numexpr cannot hold either dtype, so fusion asked for it
falls back to the NumPy engine."""

from __future__ import annotations

import numpy as np
import pytest
from graph_builder import names, replay

import tape
from tape.trace import passes

LOW = ("bfloat16", "float16")


def _data(dtype, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(16, 8)).astype(tape.dtypes.as_dtype(dtype))
    labels = rng.integers(0, 4, size=16)
    return tape.tensor(x), tape.tensor(labels)


def _weights(seed=1):
    rng = np.random.default_rng(seed)
    return [tape.Variable((rng.normal(size=s) * 0.4).astype(np.float32))
            for s in [(8, 32), (32,), (32, 4), (4,)]]


def _step(weights, x, labels):
    """One SGD step of an MLP with float32 weights computing in x's dtype, as a
    mixed-precision layer does (cast on read; the gradient arrives in float32)."""
    with tape.GradientTape() as g:
        w1, b1, w2, b2 = (tape.cast(w, x.dtype) for w in weights)
        h = tape.ops.bias_act(tape.matmul(x, w1), b1, activation="relu")
        logits = tape.add(tape.matmul(h, w2), b2)
        loss = tape.mean(tape.nn.sparse_softmax_cross_entropy_with_logits(labels, logits))
    for w, grad in zip(weights, g.gradient(loss, weights)):
        w.assign_sub(0.1 * grad)
    return loss, tape.softmax(logits)


@pytest.mark.parametrize("dtype", LOW)
def test_a_traced_low_precision_training_step_replays_as_eager(dtype):
    x, labels = _data(dtype)
    eager_weights, traced_weights = _weights(), _weights()
    traced = tape.trace(_step)
    for _ in range(3):  # capture, then two replays
        loss, probs = _step(eager_weights, x, labels)
        t_loss, t_probs = traced(traced_weights, x, labels)
        assert t_loss.dtype == t_probs.dtype == np.dtype(x.dtype)
        np.testing.assert_array_equal(t_loss.numpy(), loss.numpy())
        np.testing.assert_array_equal(t_probs.numpy(), probs.numpy())
        for w, tw in zip(eager_weights, traced_weights):
            assert tw.dtype == np.float32
            np.testing.assert_array_equal(tw.numpy(), w.numpy())
    assert "matmul" in names(traced.graph)


def _matmul_outs(g):
    return {n.out for n in g.nodes if n.op.name == "matmul"}


@pytest.mark.parametrize("dtype", LOW)
def test_low_precision_matmuls_get_no_buffer_and_float32_ones_do(dtype):
    def f(x, y):
        return tape.sum(tape.tanh(tape.matmul(x, y)), axis=0)

    rng = np.random.default_rng(0)
    xs = [rng.normal(size=s) for s in [(4, 3), (3, 5)]]
    traced = {}
    for which in (dtype, "float32"):
        traced[which] = tape.trace(f)
        args = [tape.Tensor(a.astype(tape.dtypes.as_dtype(which))) for a in xs]
        eager = f(*args)
        for _ in range(2):
            np.testing.assert_array_equal(traced[which](*args).numpy(), eager.numpy())
    assert not _matmul_outs(traced[dtype].graph) & set(traced[dtype].graph.buffers)
    assert _matmul_outs(traced["float32"].graph) <= set(traced["float32"].graph.buffers)


@pytest.mark.parametrize("dtype", LOW)
def test_fusion_of_low_precision_nodes_runs_the_numpy_engine_bit_for_bit(dtype):
    def f(x, y):
        return tape.sum(tape.tanh(x * y + 1.0) * tape.exp(-x), axis=1)

    x, y = (tape.Tensor(np.linspace(-1, 1, 12).reshape(3, 4).astype(tape.dtypes.as_dtype(dtype)))
            for _ in range(2))
    traced = tape.trace(f, optimize=False)
    traced(x, y)
    graph = traced.graph
    fused = passes.optimize(graph, fuse=True, cpu_engine="numexpr")
    engines = {n.op.engine for n in fused.nodes if n.op.name == "fused"}
    assert engines == {"numpy"}  # numexpr has no 2-byte floats
    arrays = [x.numpy(), y.numpy()]
    for got, want in zip(replay(fused, arrays), replay(graph, arrays)):
        assert got.dtype == want.dtype == x.dtype
        np.testing.assert_array_equal(got, want)
    np.testing.assert_array_equal(replay(fused, arrays)[0], f(x, y).numpy())


@pytest.mark.parametrize("dtype", LOW)
def test_slice_gradients_accumulate_through_the_op_not_in_place(dtype):
    # The gradient of x[:, t] for each t is index_add_into x's gradient: in float32 graph
    # passes add in place; in a low dtype that op computes in float32, so they leave it be
    def f(x):
        with tape.GradientTape() as g:
            g.watch(x)
            total = tape.sum(x[:, 0])
            for t in range(1, x.shape[1]):
                total = total + tape.sum(tape.square(x[:, t]))
        return g.gradient(total, x)

    x = tape.Tensor(np.linspace(0, 2, 12).reshape(3, 4).astype(tape.dtypes.as_dtype(dtype)))
    traced = tape.trace(f)
    eager = f(x)
    for _ in range(2):
        got = traced(x)
        assert got.dtype == x.dtype
        np.testing.assert_array_equal(got.numpy(), eager.numpy())
    assert "index_add_into" in names(traced.graph)
    assert "index_add_into_in_place" not in names(traced.graph)
    wide = tape.trace(f)
    wide(tape.cast(x, "float32"))
    assert "index_add_into_in_place" in names(wide.graph)

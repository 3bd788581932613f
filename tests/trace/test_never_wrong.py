"""Traces that must never be silently wrong (issue 17, items 1-3): a None batch dimension
is never baked into a graph, Variables passed as arguments are state, and a VJP that
looked at its input's values (prod at a zero) agrees between eager and traced runs.

Every expected value is the eager run of the same function or NumPy/JAX written out."""

from __future__ import annotations

import numpy as np
import pytest

import tape

jax = pytest.importorskip("jax")
jnp = jax.numpy


# ---- item 3: prod's gradient does not branch on values ----------------------------------


def _prod_grad(x, axis=None):
    with tape.GradientTape() as g:
        g.watch(x)
        y = tape.prod(x, axis=axis)
    return g.gradient(y, x)


@pytest.mark.parametrize("first, then", [([2.0, 3.0, 4.0], [0.0, 3.0, 4.0]),
                                         ([0.0, 3.0, 4.0], [2.0, 3.0, 4.0]),
                                         ([0.0, 0.0, 4.0], [0.0, 3.0, 4.0])])
def test_traced_prod_gradient_at_a_zero_matches_jax(first, then):
    traced = tape.trace(_prod_grad)
    for values in (first, then, first):
        x = np.array(values)
        expect = jax.grad(jnp.prod)(jnp.array(x))
        np.testing.assert_allclose(traced(tape.tensor(x)).numpy(), expect)
        np.testing.assert_allclose(_prod_grad(tape.tensor(x)).numpy(), expect)
    assert traced.trace_count == 1


@pytest.mark.parametrize("axis", [None, 0, 1, (0, 1)])
def test_prod_second_order_at_zeros_matches_jax(axis):
    x0 = np.array([[0.0, 2.0, 3.0], [1.5, 0.0, 0.0]])

    def tape_hvp(x):
        with tape.GradientTape() as outer:
            outer.watch(x)
            gx = _prod_grad(x, axis)
            s = tape.sum(gx * gx)
        return outer.gradient(s, x)

    def jax_s(x):
        return jnp.sum(jax.grad(lambda z: jnp.sum(jnp.prod(z, axis=axis)))(x) ** 2)

    expect = jax.grad(jax_s)(jnp.array(x0))
    np.testing.assert_allclose(tape_hvp(tape.tensor(x0)).numpy(), expect)
    np.testing.assert_allclose(tape.trace(tape_hvp)(tape.tensor(x0)).numpy(), expect)


# ---- item 2: a Variable argument is state, as in tf.function ----------------------------


def _sgd_step(variables, x, lr=0.1):
    """One SGD step on a list of Variables passed in; returns the loss before it."""
    with tape.GradientTape() as g:
        loss = tape.sum(tape.square(x @ variables[0] + variables[1]))
    grads = g.gradient(loss, variables)
    for v, gv in zip(variables, grads):
        v.assign_sub(lr * gv)
    return loss


def test_a_variable_argument_assigned_inside_a_trace_is_updated_at_each_replay():
    v = tape.Variable([1.0, 2.0])

    @tape.trace
    def bump(var, t):
        var.assign(var * 2.0 + t)
        return var * 1.0

    expect = np.array([1.0, 2.0])
    for _ in range(3):
        expect = expect * 2.0 + 1.0
        np.testing.assert_array_equal(bump(v, tape.ones((2,))).numpy(), expect)
        np.testing.assert_array_equal(v.numpy(), expect)
    assert bump.trace_count == 1


def test_a_list_of_variable_arguments_trains_as_eagerly():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(4, 3))
    init = [rng.normal(size=(3, 2)), rng.normal(size=(2,))]
    eager_vars = [tape.Variable(a) for a in init]
    traced_vars = [tape.Variable(a) for a in init]
    traced = tape.trace(_sgd_step)
    for _ in range(3):
        expect = _sgd_step(eager_vars, tape.tensor(x))
        got = traced(traced_vars, tape.tensor(x))
        np.testing.assert_allclose(got.numpy(), expect.numpy(), rtol=1e-12)
        for a, b in zip(traced_vars, eager_vars):
            np.testing.assert_allclose(a.numpy(), b.numpy(), rtol=1e-12)
    assert traced.trace_count == 1


def test_another_variable_argument_gets_its_own_graph():
    a, b = tape.Variable(1.0), tape.Variable(10.0)

    @tape.trace
    def add_one(var):
        var.assign_add(1.0)
        return var * 1.0

    assert [add_one(a).item(), add_one(b).item(), add_one(a).item()] == [2.0, 11.0, 3.0]
    assert (a.item(), b.item()) == (3.0, 11.0)


# ---- item 1: a None dimension's size is never baked into a graph ------------------------

SIG3 = [tape.TensorSpec((None, 3), "float64")]


def _data(n, seed=0, width=3):
    return np.random.default_rng(seed + n).normal(size=(n, width))


@pytest.mark.parametrize("sizes", [(2, 4, 1, 4), (32, 4, 7, 32)])
def test_mean_gradient_under_a_none_signature_follows_each_batch_size(sizes):
    w = tape.Variable(np.ones((3, 1)))

    def grad_of_mean(x):
        with tape.GradientTape() as g:
            loss = tape.mean(tape.square(x @ w))
        return g.gradient(loss, w)

    traced = tape.trace(grad_of_mean, input_signature=SIG3)
    for n in sizes:
        x = _data(n)
        expect = 2.0 * x.T @ (x @ np.ones((3, 1))) / n  # d/dw mean((xw)^2), written out
        np.testing.assert_allclose(traced(tape.tensor(x)).numpy(), expect, rtol=1e-12)
        np.testing.assert_allclose(grad_of_mean(tape.tensor(x)).numpy(), expect, rtol=1e-12)
    assert traced.trace_count == len(set(sizes))  # each size traced once, then replayed


def test_mean_squared_error_gradient_follows_each_batch_size():
    w = tape.Variable(np.full((3, 2), 0.5))
    mse = tape.losses.MeanSquaredError()

    def grad_of_mse(x, y):
        with tape.GradientTape() as g:
            loss = mse(y, x @ w)
        return loss, g.gradient(loss, w)

    traced = tape.trace(grad_of_mse, input_signature=SIG3 + [
        tape.TensorSpec((None, 2), "float64")])
    for n in (5, 2, 9, 5):
        x, y = tape.tensor(_data(n)), tape.tensor(_data(n, 1, 2))
        for got, expect in zip(traced(x, y), grad_of_mse(x, y)):
            np.testing.assert_allclose(got.numpy(), expect.numpy(), rtol=1e-12)


def test_the_readme_train_step_trains_as_eagerly_at_changing_batch_sizes():
    from tape.layers import Dense
    from tape.models import Sequential

    def make():
        tape.random.seed(3)
        model = Sequential([Dense(4, activation="relu", input_dim=3), Dense(2)])
        loss_fn = tape.losses.MeanSquaredError()
        optimizer = tape.optimizers.SGD(0.1)

        def train_step(x, y):
            with tape.GradientTape() as g:
                loss = loss_fn(y, model(x, training=True))
            grads = g.gradient(loss, model.trainable_variables)
            optimizer.apply_gradients(zip(grads, model.trainable_variables))
            return loss

        return model, train_step

    eager_model, eager_step = make()
    traced_model, step = make()
    step = tape.trace(step, input_signature=[tape.TensorSpec((None, 3)),
                                             tape.TensorSpec((None, 2))])
    for n in (8, 3, 8, 1, 3):
        x = tape.tensor(_data(n).astype(np.float32))
        y = tape.tensor(_data(n, 1, 2).astype(np.float32))
        np.testing.assert_allclose(step(x, y).numpy(), eager_step(x, y).numpy(), rtol=1e-5)
    for a, b in zip(traced_model.weights, eager_model.weights):
        np.testing.assert_allclose(a.numpy(), b.numpy(), rtol=1e-5, atol=1e-6)


def test_a_size_read_in_python_is_the_replay_size():
    @tape.trace(input_signature=SIG3)
    def mean_of_rows(x):
        return tape.sum(x) / x.shape[0], x + tape.ones((x.shape[0], 3), "float64"), len(x)

    for n in (2, 4, 2):
        x = _data(n)
        mean, plus_one, length = mean_of_rows(tape.tensor(x))
        np.testing.assert_allclose(mean.numpy(), x.sum() / n, rtol=1e-12)
        np.testing.assert_allclose(plus_one.numpy(), x + 1.0)
        assert length == n


def test_a_traced_lstm_follows_the_batch_size():
    from tape.layers import LSTM
    from tape.models import Sequential

    tape.random.seed(1)
    model = Sequential([LSTM(4)])
    run = tape.trace(lambda x: model(x), input_signature=[tape.TensorSpec((None, 5, 2))])
    for n in (4, 1, 4):
        x = tape.tensor(_data(n, width=10).reshape(n, 5, 2).astype(np.float32))
        got = run(x)
        assert got.shape == (n, 4)
        np.testing.assert_allclose(got.numpy(), model(x).numpy(), rtol=1e-6)


def test_a_graph_that_reads_no_size_serves_every_size_with_one_trace():
    w = tape.tensor(np.arange(6.0).reshape(3, 2))
    f = tape.trace(lambda x: tape.tanh(x @ w) + tape.sum(x, axis=1, keepdims=True),
                   input_signature=SIG3)
    for n in (4, 9, 2):
        x = _data(n)
        np.testing.assert_allclose(f(tape.tensor(x)).numpy(),
                                   np.tanh(x @ w.numpy()) + x.sum(1, keepdims=True))
    assert f.trace_count == 1 and f.graph.size_dependence == ""


@pytest.mark.parametrize("first", [1, 3])
def test_a_free_size_of_1_or_equal_to_a_fixed_size_is_not_reused(first):
    w = tape.tensor(np.arange(9.0).reshape(3, 3))

    def grads(x, b):
        with tape.GradientTape() as g:
            g.watch([x, b])
            y = tape.sum(x * w + b)  # x (n, 3) meets w (3, 3): broadcasts only when n is 1
        return g.gradient(y, [x, b])

    traced = tape.trace(grads, input_signature=SIG3 + [
        tape.TensorSpec((1, 3), "float64")])
    for n in (first, 4 if first == 1 else 1, first):
        x, b = tape.tensor(np.ones((n, 3))), tape.tensor(np.zeros((1, 3)))
        if n not in (1, 3):
            with pytest.raises(tape.errors.ShapeError, match="multiply"):
                traced(x, b)
            continue
        for got, expect in zip(traced(x, b), grads(x, b)):
            assert got.shape == expect.shape
            np.testing.assert_allclose(got.numpy(), expect.numpy())


def test_a_numpy_error_inside_a_replay_names_the_op_and_the_lines():
    @tape.trace(input_signature=SIG3 + SIG3)
    def product(x, y):
        z = tape.exp(x)
        return z * y  # the recorded line

    product(tape.tensor(_data(4)), tape.tensor(_data(4)))
    with pytest.raises(tape.errors.ShapeError) as info:
        product(tape.tensor(_data(4)), tape.tensor(_data(5)))  # the calling line
    message = str(info.value)
    assert message.startswith("multiply: ") and "(4, 3) float64, (5, 3) float64" in message
    assert "return z * y  # the recorded line" in message
    assert "# the calling line" in message and "test_never_wrong.py" in message


def test_a_session_runs_a_size_dependent_graph_at_each_fed_size():
    @tape.trace
    def mean_of_rows(x):
        return tape.sum(x) / x.shape[0]

    x = tape.placeholder("float64", (None, 3), name="x")
    out = mean_of_rows(x)
    with tape.Session() as sess:
        for n in (3, 5, 3):
            data = _data(n)
            np.testing.assert_allclose(sess.run(out, {x: data}), data.sum() / n)


def test_a_size_written_out_that_equals_the_batch_is_not_simplified_away():
    # (the graph's reshape of tanh(x), shape (2, 3) at the traced size, is a no-op there)
    f = tape.trace(lambda x: tape.reshape(tape.tanh(x), (2, 3)) * 2.0, input_signature=SIG3)
    np.testing.assert_allclose(f(tape.tensor(_data(2))).numpy(), np.tanh(_data(2)) * 2.0)
    with pytest.raises(tape.errors.ShapeError, match="reshape"):
        tape.reshape(tape.tensor(_data(4)), (2, 3))  # eagerly
    with pytest.raises(tape.errors.ShapeError, match="reshape"):
        f(tape.tensor(_data(4)))  # traced again for 4, failing as eagerly


def test_a_size_dependent_graph_says_so_and_has_the_traced_sizes():
    f = tape.trace(lambda x: tape.sum(x) / x.shape[0], input_signature=SIG3)
    f(tape.tensor(_data(4)))
    text = str(f.graph)
    assert "x0: float64[4, 3]" in text and "for the traced sizes only" in text
    assert "test_never_wrong.py" in f.graph.size_dependence  # the line that read the size

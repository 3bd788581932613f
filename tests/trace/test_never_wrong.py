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

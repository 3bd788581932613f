"""Gradients of many slices of one tensor (an RNN's ``x[:, t]``) accumulate into one array:
one zero array of the tensor's size per backward pass, not one per slice, eagerly (in
place), under an outer tape (through the index_add_into op, so second order works) and
traced (index_add_into nodes that a pass turns in place). Values are checked against JAX."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import tape
from tape.ops import REGISTRY

STEPS = 5


def loss_tape(x, w):
    total = tape.sum(x)  # recorded first, so its read-only broadcast gradient arrives last
    for t in range(STEPS):
        total = total + tape.sum(tape.tanh(x[:, t] * w[t]))
    total = total + tape.sum(tape.square(x[:, [0, 0, 3]]))  # an index array, repeated
    return total + tape.sum(tape.sin(x[1:, 2:4]))  # a block


def loss_jax(x, w):
    total = jnp.sum(x)
    for t in range(STEPS):
        total = total + jnp.sum(jnp.tanh(x[:, t] * w[t]))
    total = total + jnp.sum(jnp.square(x[:, jnp.array([0, 0, 3])]))
    return total + jnp.sum(jnp.sin(x[1:, 2:4]))


@pytest.fixture
def data():
    rng = np.random.default_rng(0)
    return rng.normal(size=(3, STEPS, 4)), rng.normal(size=(STEPS, 4))


@pytest.fixture
def calls(monkeypatch):
    """How many times index_add and index_add_into run."""
    counts = {"index_add": 0, "index_add_into": 0}
    for name in counts:
        op = REGISTRY[name]

        def counted(*args, _forward=op.forward, _name=name, **params):
            counts[_name] += 1
            return _forward(*args, **params)

        monkeypatch.setattr(op, "forward", counted)
    return counts


def test_eager_slices_add_into_one_array_in_place(data, calls):
    x_np, w_np = data
    x = tape.tensor(x_np, dtype="float64")
    with tape.GradientTape() as g:
        g.watch(x)
        y = loss_tape(x, tape.tensor(w_np, dtype="float64"))
    got = g.gradient(y, x).numpy()
    np.testing.assert_allclose(got, jax.grad(loss_jax)(x_np, w_np), rtol=1e-12)
    assert calls == {"index_add": 1, "index_add_into": 0}  # one zero array, then in place


def test_under_an_outer_tape_slices_go_through_the_op_and_second_order_holds(data, calls):
    x_np, w_np = data
    x = tape.tensor(x_np, dtype="float64")
    w = tape.tensor(w_np, dtype="float64")
    v = np.random.default_rng(1).normal(size=x_np.shape)
    with tape.GradientTape() as outer:
        outer.watch(x)
        with tape.GradientTape() as inner:
            inner.watch(x)
            y = loss_tape(x, w)
        dx = inner.gradient(y, x)
        z = tape.sum(dx * v)
    hvp = outer.gradient(z, x).numpy()
    want = jax.grad(lambda x: jnp.sum(jax.grad(loss_jax)(x, w_np) * v))(x_np)
    np.testing.assert_allclose(dx.numpy(), jax.grad(loss_jax)(x_np, w_np), rtol=1e-12)
    np.testing.assert_allclose(hvp, want, rtol=1e-10, atol=1e-12)
    # the inner walk, recorded by the outer tape, adds each further slice with the op (the
    # outer walk, which nothing records, adds in place)
    assert calls["index_add_into"] == STEPS + 1


def test_traced_backward_adds_the_slices_in_place_and_replays_repeat(data):
    x_np, w_np = data
    w = tape.tensor(w_np, dtype="float64")

    @tape.trace
    def gradient(x):
        with tape.GradientTape() as g:
            g.watch(x)
            y = loss_tape(x, w)
        return g.gradient(y, x)

    want = jax.grad(loss_jax)(x_np, w_np)
    for _ in range(3):  # each replay starts from a fresh zero array
        np.testing.assert_allclose(gradient(x_np).numpy(), want, rtol=1e-12)
    kinds = [node.op.name for node in gradient.graph.nodes]
    assert kinds.count("index_add") == 1
    assert kinds.count(tape.ops.REGISTRY["index_add_into"].in_place.name) == STEPS + 1
    assert "index_add_into" not in kinds

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

"""Custom gradients, and testing gradients yourself.

Teaches: ``tape.custom_gradient`` (a numerically stable log(1 + exp(x)) whose gradient
stays finite where the naive formula overflows, and a gradient-clipping identity);
``tape.testing.check_gradients`` (finite differences in float64 along random directions,
first and second order); a hypothesis property test of your own function with the
strategies in ``tape.testing.strategies``; and what a wrong gradient looks like when the
check catches it.

Prints: the gradients next to their values by hand, the checks passing, the caught wrong
gradient, and a RESULT line.

Run: python tutorials/08_custom_gradients_and_testing.py  (TAPE_TUTORIAL_FAST=1: fewer examples)
"""

import os

import numpy as np
from hypothesis import given, settings

import tape
from tape.testing import check_gradients
from tape.testing import strategies as tst

FAST = os.environ.get("TAPE_TUTORIAL_FAST") == "1"


# ---- a custom gradient: the stable softplus --------------------------------------------------
@tape.custom_gradient
def softplus(x):
    y = tape.maximum(x, 0.0) + tape.log1p(tape.exp(-tape.abs(x)))  # never overflows

    def grad_fn(upstream):
        return upstream * tape.sigmoid(x)  # d/dx log(1 + e^x) = sigmoid(x)

    return y, grad_fn


x = tape.tensor([-1000.0, 0.0, 1000.0])
with tape.GradientTape() as g:
    g.watch(x)
    y = tape.sum(softplus(x))
print("softplus:", softplus(x).numpy(), " gradient:", g.gradient(y, x).numpy(),
      "(by hand: 0, 0.5, 1)")


# ---- a custom gradient that is not the true one: clip what flows back ------------------------
@tape.custom_gradient
def clip_gradient(x):
    return tape.identity(x), lambda g: tape.clip(g, -1.0, 1.0)


w = tape.tensor(2.0)
with tape.GradientTape() as g:
    g.watch(w)
    loss = clip_gradient(w) * 100.0
print("clipped gradient:", g.gradient(loss, w).item(), "(the true one is 100)")

# ---- check_gradients: finite differences in float64 -----------------------------------------
points = np.random.default_rng(0).normal(size=(5,)) * 3
check_gradients(lambda t: softplus(t), points)  # raises on a mismatch
check_gradients(lambda t: softplus(t), points, order=2)  # Hessian-vector products too
print("check_gradients: softplus passes at first and second order")


def bad_softplus_fn(t):
    @tape.custom_gradient
    def inner(v):
        return tape.log1p(tape.exp(v)), lambda g: g * tape.sigmoid(v) * 1.01  # 1% wrong

    return inner(t)


try:
    check_gradients(bad_softplus_fn, points)
    caught = False
except AssertionError as error:
    caught = True
    print("the 1% wrong gradient is caught:", str(error).splitlines()[0][:100])


# ---- a property test of your own function ----------------------------------------------------
def my_layer(t):
    """A user's function: tanh of a scaled softplus, with a sum over the last axis."""
    return tape.sum(tape.tanh(0.5 * softplus(t)), axis=-1)


examples = 10 if FAST else 60


@settings(max_examples=examples, deadline=None)
@given(tst.tensors(dtype="float64", min_value=-5, max_value=5, min_dims=1, max_dims=3))
def test_my_layer_gradients(t):
    check_gradients(my_layer, t.numpy())


test_my_layer_gradients()
print(f"hypothesis: my_layer's gradient matched finite differences on {examples} random "
      "tensors (shapes and values drawn by hypothesis)")
print(f"RESULT custom_gradient_ok=True wrong_gradient_caught={caught}")

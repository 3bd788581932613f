"""Op-table rows for the fused primitives of tape/ops/fused.py (the xp references of the
GPU kernels): bias_act and its gradient op, the softmax/log_softmax gradient ops, softmax
cross-entropy and its gradient op, layer_norm's gradient op. Every oracle is JAX's own
function or its VJP, never the formula the op states."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import tape

from .op_rows import (
    Row,
    _jax_layer_norm,
    each,
    layer_norm_params,
    nonzero,
    real,
)

JAX_ACTIVATIONS = {
    "relu": jax.nn.relu,
    "gelu": lambda z: jax.nn.gelu(z, approximate=False),
    "silu": jax.nn.silu,
    "tanh": jnp.tanh,
    "sigmoid": jax.nn.sigmoid,
}
LAST_AXIS = (((3,), (3,)), ((2, 3), (3,)), ((2, 1, 3), (3,)), ((1, 4), (4,)))


def activation_params(draw, shapes):
    return {"activation": draw(st.sampled_from(sorted(JAX_ACTIVATIONS)))}


def smooth_activation_params(draw, shapes):
    """Every activation but relu, whose VJP in bias_act is a mask product, not bias_act_grad."""
    return {"activation": draw(st.sampled_from(sorted(set(JAX_ACTIVATIONS) - {"relu"})))}


def _jax_bias_act(x, bias, activation):
    return JAX_ACTIVATIONS[activation](x + bias)


def _jax_bias_act_grad(x, bias, g, activation):
    z = x + bias
    return jax.jvp(JAX_ACTIVATIONS[activation], (z,), (jnp.ones_like(z),))[1] * g


def wide_last_axis(extra=0):
    """``x`` of rank 1 to 4, a vector over its last axis, and ``extra`` more like ``x``."""

    def draw_shapes(draw):
        shape = draw(hnp.array_shapes(min_dims=1, max_dims=4, min_side=1, max_side=4))
        return (shape, shape[-1:]) + (shape,) * extra

    return draw_shapes


def wide_rows(count):
    """``count`` copies of one shape of rank 1 to 4."""

    def draw_shapes(draw):
        return (draw(hnp.array_shapes(min_dims=1, max_dims=4, min_side=1, max_side=4)),) * count

    return draw_shapes


def _axis_last(draw, shapes):
    return {"axis": draw(st.sampled_from([-1, len(shapes[0]) - 1]))}


def _jax_xent(labels, logits):
    return -jnp.sum(labels * jax.nn.log_softmax(logits, axis=-1), axis=-1)


def _jax_xent_grad(labels, logits, g):
    return jax.vjp(lambda z: _jax_xent(labels, z), logits)[1](g)[0]


def _jax_layer_norm_grad(x, gamma, g, epsilon):
    return jax.vjp(lambda x: _jax_layer_norm(x, gamma, 0.0, epsilon), x)[1](g)[0]


def probabilities(rng, shape):
    p = rng.uniform(0.1, 1.0, shape)
    return p / p.sum(axis=-1, keepdims=True)


def xent_values(rng, shapes):
    labels, logits = shapes[0], shapes[1]
    values = [probabilities(rng, labels), rng.uniform(-3, 3, logits)]
    values += [rng.normal(size=s) for s in shapes[2:]]
    return [np.asarray(v, dtype=np.float64) for v in values]


def wide_xent(with_g):
    def draw_shapes(draw):
        shape = draw(hnp.array_shapes(min_dims=1, max_dims=3, min_side=1, max_side=4))
        return (shape, shape) + ((shape[:-1],) if with_g else ())

    return draw_shapes


ROWS = (
    Row("bias_act", tape.ops.bias_act, _jax_bias_act, LAST_AXIS, wide=wide_last_axis(),
        values=each(nonzero(0.5, 2.0), real(-0.2, 0.2)), params=smooth_activation_params,
        covers=("bias_act",), covers2=("bias_act_grad",), dtypes=True),
    Row("bias_act relu", lambda x, b: tape.ops.bias_act(x, b, activation="relu"),
        lambda x, b: _jax_bias_act(x, b, "relu"), LAST_AXIS, wide=wide_last_axis(),
        values=each(nonzero(0.5, 2.0), real(-0.2, 0.2)), covers=("bias_act",),
        covers2=("multiply",), dtypes=True),
    Row("bias_act_grad", tape.ops.bias_act_grad, _jax_bias_act_grad,
        tuple((x, b, x) for x, b in LAST_AXIS), wide=wide_last_axis(extra=1),
        values=each(nonzero(0.5, 2.0), real(-0.2, 0.2), real()), params=activation_params,
        covers=("bias_act_grad",)),
    # softmax_grad(softmax(x), g) is softmax's VJP: JAX's VJP of its own softmax is the oracle.
    Row("softmax_grad", lambda x, g, axis: tape.ops.softmax_grad(tape.softmax(x, axis=axis), g,
                                                                 axis=axis),
        lambda x, g, axis: jax.vjp(lambda x: jax.nn.softmax(x, axis=axis), x)[1](g)[0],
        (((3,), (3,)), ((2, 3), (2, 3)), ((2, 1, 3), (2, 1, 3))), wide=wide_rows(2),
        params=_axis_last, covers=("softmax_grad", "softmax"), dtypes=True),
    Row("log_softmax_grad",
        lambda x, g, axis: tape.ops.log_softmax_grad(tape.log_softmax(x, axis=axis), g,
                                                     axis=axis),
        lambda x, g, axis: jax.vjp(lambda x: jax.nn.log_softmax(x, axis=axis), x)[1](g)[0],
        (((3,), (3,)), ((2, 3), (2, 3)), ((2, 1, 3), (2, 1, 3))), wide=wide_rows(2),
        params=_axis_last, covers=("log_softmax_grad", "log_softmax")),
    Row("softmax_xent", tape.ops.softmax_xent, _jax_xent,
        (((3,), (3,)), ((2, 3), (2, 3)), ((2, 1, 3), (2, 1, 3)), ((1, 3), (2, 3))),
        wide=wide_xent(False), values=xent_values, covers=("softmax_xent",),
        covers2=("softmax_xent_grad",), dtypes=True),
    Row("softmax_xent_grad", tape.ops.softmax_xent_grad, _jax_xent_grad,
        (((3,), (3,), ()), ((2, 3), (2, 3), (2,)), ((2, 1, 3), (2, 1, 3), (2, 1))),
        wide=wide_xent(True), values=xent_values, covers=("softmax_xent_grad",)),
    Row("layer_norm_grad", tape.ops.layer_norm_grad, _jax_layer_norm_grad,
        (((3,), (3,), (3,)), ((2, 3), (3,), (2, 3)), ((2, 1, 3), (3,), (2, 1, 3))),
        wide=wide_last_axis(extra=1), params=layer_norm_params,
        covers=("layer_norm_grad",)),
)

"""Op-table rows for the sequence layers' primitives and functional forms: gather
(take along axis 0), and tape.nn's moments, batch_norm, layer_norm over any
axes and scaled_dot_product_attention. Each oracle is written here in jax.numpy."""

from __future__ import annotations

import jax.numpy as jnp
import numpy as np
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import tape

from .op_rows import Row, each, positive, real

# ---- gather (take along axis 0) -------------------------------------------------------------

GATHER_SHAPES = (((3,),), ((4, 2),), ((3, 2, 2),))


def gather_params(draw, shapes):
    """Ids of rank 0 to 2 with repeats (few rows, so the scatter-add accumulates)."""
    n = shapes[0][0]
    ids_shape = draw(st.sampled_from([(), (4,), (2, 3)]))
    return {"indices": draw(hnp.arrays(np.int64, ids_shape, elements=st.integers(0, n - 1)))}


# ---- normalization --------------------------------------------------------------------------


def _jax_moments(x, axes):
    mean = jnp.mean(x, axis=axes)
    return mean, jnp.var(x, axis=axes)


def moments_params(draw, shapes):
    ndim = len(shapes[0])
    axes = draw(st.lists(st.integers(0, ndim - 1), unique=True, min_size=1, max_size=ndim))
    return {"axes": tuple(sorted(axes))}


def _jax_batch_norm(x, mean, variance, offset, scale, variance_epsilon):
    return (x - mean) / jnp.sqrt(variance + variance_epsilon) * scale + offset


def batch_norm_params(draw, shapes):
    return {"variance_epsilon": draw(st.sampled_from([1e-3, 0.5]))}


# layer_norm over the axes each shape triple fits: gamma/beta broadcast against x.
LAYER_NORM_AXES = {
    ((2, 3, 2), (3, 2), (3, 2)): (-2, -1),
    ((2, 3, 2), (3, 1), (3, 1)): 1,
    ((3, 2, 2), (2, 2), (2, 2)): (1, 2),
}


def _jax_layer_norm_axes(x, gamma, beta, axis, epsilon):
    mean = jnp.mean(x, axis=axis, keepdims=True)
    var = jnp.mean((x - mean) ** 2, axis=axis, keepdims=True)
    return (x - mean) / jnp.sqrt(var + epsilon) * gamma + beta


def layer_norm_axes_params(draw, shapes):
    return {"axis": LAYER_NORM_AXES[shapes], "epsilon": draw(st.sampled_from([1e-3, 0.1]))}


# ---- attention ------------------------------------------------------------------------------

SDPA_SHAPES = (
    ((3, 2), (4, 2), (4, 3)),
    ((2, 3, 2), (2, 4, 2), (2, 4, 1)),
    ((2, 1, 3, 2), (2, 3, 2), (3, 2)),  # batch and head axes broadcast
)


def sdpa_params(draw, shapes):
    lq, lk = shapes[0][-2], shapes[1][-2]
    mask_shape = draw(st.sampled_from([None, (lq, lk), (1, lk)]))
    mask = None if mask_shape is None else draw(hnp.arrays(np.bool_, mask_shape))
    return {"mask": mask, "is_causal": draw(st.booleans())}


def _jax_sdpa(q, k, v, mask, is_causal):
    scores = q @ jnp.swapaxes(k, -1, -2) / np.sqrt(q.shape[-1])
    keep = jnp.ones(scores.shape[-2:], bool)
    if mask is not None:
        keep = keep & mask
    if is_causal:
        keep = keep & (jnp.arange(scores.shape[-2])[:, None] >= jnp.arange(scores.shape[-1]))
    scores = jnp.where(keep, scores, -1e9)
    weights = jnp.exp(scores - scores.max(-1, keepdims=True))
    return (weights / weights.sum(-1, keepdims=True)) @ v


ROWS = (
    Row("gather", lambda params, indices: tape.ops.gather(params, indices),
        lambda params, indices: jnp.take(params, indices, axis=0), GATHER_SHAPES,
        params=gather_params, covers=("getitem",), covers2=("index_add",), dtypes=True),
    Row("nn.moments", tape.nn.moments, _jax_moments,
        (((4,),), ((2, 3),), ((2, 1, 3),)), params=moments_params,
        covers=("mean", "square")),
    Row("nn.batch_norm", tape.nn.batch_norm, _jax_batch_norm,
        (((2, 3), (3,), (3,), (3,), (3,)), ((2, 2, 3), (1, 1, 3), (3,), (1, 3), (3,))),
        values=each(real(), real(), positive(), real(), real()), params=batch_norm_params,
        covers=("sqrt", "multiply", "add"), dtypes=True),
    Row("nn.layer_norm", tape.nn.layer_norm, _jax_layer_norm_axes, tuple(LAYER_NORM_AXES),
        params=layer_norm_axes_params, covers=("mean", "sqrt")),
    Row("nn.layer_norm[last axis]", tape.nn.layer_norm, _jax_layer_norm_axes,
        (((2, 3), (3,), (3,)), ((2, 1, 3), (3,), (3,))),
        params=lambda draw, shapes: {"axis": -1, "epsilon": 1e-3}, covers=("layer_norm",)),
    Row("nn.scaled_dot_product_attention", tape.nn.scaled_dot_product_attention, _jax_sdpa,
        SDPA_SHAPES, params=sdpa_params, covers=("matmul", "softmax"), dtypes=True),
)

"""Op-table rows for convolution and pooling (tape/ops/conv.py, tape/ops/pool.py).

Oracles: ``jax.lax.conv_general_dilated`` (channels-last dimension numbers, rhs_dilation,
feature_group_count, TF's 'SAME'/'VALID' strings or explicit pairs), its VJP for the
transposed convolution (TF defines conv2d_transpose as conv2d's input gradient) and
``jax.lax.reduce_window``. Strides, paddings, dilations and output paddings are drawn by
hypothesis; the input and kernel shapes come from small pools (JAX compiles per shape).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
from hypothesis import strategies as st
from jax import lax

import tape
from tape.ops.conv import conv_filter_grad
from tape.ops.pool import max_pool_gather, max_pool_grad

from .op_rows import Row, distinct, each, real

DIMENSION_NUMBERS = {1: ("NWC", "WIO", "NWC"), 2: ("NHWC", "HWIO", "NHWC")}

# (input shape, kernel shape) pools; groups = in_channels // kernel.shape[-2].
CONV2D = (
    ((2, 5, 5, 2), (3, 3, 2, 3)),
    ((1, 6, 5, 4), (2, 3, 2, 4)),  # 2 groups
    ((2, 4, 4, 3), (3, 2, 1, 6)),  # 3 groups of one channel (depthwise, multiplier 2)
    ((1, 4, 5, 1), (1, 1, 1, 2)),  # 1x1
)
CONV1D = (
    ((2, 7, 3), (3, 3, 2)),
    ((1, 7, 4), (2, 2, 4)),  # 2 groups
    ((2, 5, 2), (5, 2, 1)),  # the kernel spans the whole input
)
DEPTHWISE = (
    ((2, 5, 5, 2), (3, 3, 2, 2)),
    ((1, 4, 6, 3), (2, 3, 3, 1)),
)
# conv2d_transpose: (input, filters (kh, kw, out, in)).
TRANSPOSE = (
    ((2, 3, 3, 2), (3, 3, 4, 2)),
    ((1, 2, 4, 3), (2, 3, 2, 3)),
    ((1, 3, 2, 1), (1, 2, 2, 1)),
)
POOL2D = (((2, 5, 5, 2),), ((1, 6, 4, 3),), ((2, 3, 3, 1),))
POOL1D = (((2, 7, 3),), ((1, 4, 2),))


def _groups(x, w):
    return x.shape[-1] // w.shape[-2]


def _jax_conv(x, w, strides, padding, dilations):
    return lax.conv_general_dilated(
        x, w, strides, padding.upper() if isinstance(padding, str) else padding,
        rhs_dilation=dilations, dimension_numbers=DIMENSION_NUMBERS[x.ndim - 2],
        feature_group_count=_groups(x, w))


def _jax_depthwise(x, w, strides, padding, dilations):
    kh, kw, c, m = w.shape
    return _jax_conv(x, w.reshape(kh, kw, 1, c * m), strides, padding, dilations)


def _keras_transpose_length(n, k, s, padding, output_padding, d):
    """keras.src.utils.conv_utils.deconv_output_length, restated."""
    k = (k - 1) * d + 1
    if output_padding is None:
        return n * s + max(k - s, 0) if padding == "valid" else n * s
    pad = k // 2 if padding == "same" else 0
    return (n - 1) * s + k - 2 * pad + output_padding


def _jax_conv2d_transpose(x, w, strides, padding, output_padding, dilations):
    """TF's definition: the input gradient of conv2d (filters read as HWIO with I = out,
    O = in) for an input of Keras' output size."""
    ops = (None, None) if output_padding is None else output_padding
    sizes = [_keras_transpose_length(n, k, s, padding, e, d) for n, k, s, e, d in
             zip(x.shape[1:3], w.shape[:2], strides, ops, dilations)]
    zeros = jnp.zeros((x.shape[0], *sizes, w.shape[2]), x.dtype)
    _, pullback = jax.vjp(lambda z: _jax_conv(z, w, strides, padding, dilations), zeros)
    return pullback(x)[0]


def _jax_conv_filter_grad(x, g, kernel_shape, strides, padding, dilations):
    zeros = jnp.zeros(kernel_shape, x.dtype)
    _, pullback = jax.vjp(lambda w: _jax_conv(x, w, strides, padding, dilations), zeros)
    return pullback(g)[0]


def _jax_max_pool(x, ksize, strides, padding):
    return lax.reduce_window(x, -jnp.inf, lax.max, (1, *ksize, 1), (1, *strides, 1),
                             padding.upper())


def _jax_avg_pool(x, ksize, strides, padding):
    """Sums over the window divided by how many real elements it holds (TF's 'same')."""
    window, steps = (1, *ksize, 1), (1, *strides, 1)
    total = lax.reduce_window(x, 0.0, lax.add, window, steps, padding.upper())
    count = lax.reduce_window(jnp.ones_like(x), 0.0, lax.add, window, steps, padding.upper())
    return total / count


def _jax_max_pool_grad(x, g, ksize, strides, padding):
    return jax.vjp(lambda z: _jax_max_pool(z, ksize, strides, padding), x)[1](g)[0]


def _jax_max_pool_gather(x, u, ksize, strides, padding):
    """The max pool's JVP: the tangent at each window's maximum."""
    return jax.jvp(lambda z: _jax_max_pool(z, ksize, strides, padding), (x,), (u,))[1]


# ---- parameter drawers --------------------------------------------------------------------


def _padding(draw, nd):
    kind = draw(st.sampled_from(["valid", "same", "explicit"]))
    if kind != "explicit":
        return kind
    return tuple((draw(st.integers(0, 2)), draw(st.integers(0, 2))) for _ in range(nd))


def _fits(n, k, d, padding, axis):
    if padding == "same":
        return True
    extra = 0 if padding == "valid" else sum(padding[axis])
    return (k - 1) * d + 1 <= n + extra


def conv_params(draw, shapes):
    """Strides 1-3, dilations 1-2 and padding valid/same/explicit per axis; a dilation
    that would not fit the (padded) input is drawn as 1."""
    x, w = shapes
    nd = len(x) - 2
    padding = _padding(draw, nd)
    strides = tuple(draw(st.integers(1, 3)) for _ in range(nd))
    dilations = tuple(d if _fits(x[a + 1], w[a], d, padding, a) else 1
                      for a, d in enumerate(draw(st.integers(1, 2)) for _ in range(nd)))
    return {"strides": strides, "padding": padding, "dilations": dilations}


def conv1d_params(draw, shapes):
    p = conv_params(draw, shapes)
    return {"stride": p["strides"], "padding": p["padding"], "dilations": p["dilations"]}


def conv_filter_grad_params(draw, shapes):
    """``conv_filter_grad(x, g)``: the kernel shape is fixed by the pooled case's shapes."""
    return dict(FILTER_GRAD_CASES[shapes])


def transpose_params(draw, shapes):
    """Strides 1-3, 'valid'/'same', dilations 1-2 and, half the time, an output padding
    that keeps TF's forward convolution consistent (smaller than its stride and, for
    'same', ``ceil(output / stride)`` equal to the input size)."""
    x, w = shapes
    padding = draw(st.sampled_from(["valid", "same"]))
    strides = tuple(draw(st.integers(1, 3)) for _ in range(2))
    dilations = tuple(draw(st.integers(1, 2)) for _ in range(2))
    output_padding = None
    if draw(st.booleans()):
        choices = []
        for k, s, d in zip(w[:2], strides, dilations):
            span = (k - 1) * d + 1
            ok = [e for e in range(s) if padding == "valid" or 1 <= span % 2 + e <= s]
            choices.append(ok)
        if all(choices):
            output_padding = tuple(draw(st.sampled_from(ok)) for ok in choices)
    return {"strides": strides, "padding": padding, "output_padding": output_padding,
            "dilations": dilations}


def pool_params(draw, shapes):
    """Window 1-3 per axis (not larger than the input), strides 1-3, valid or same."""
    sizes = shapes[0][1:-1]
    ksize = tuple(draw(st.integers(1, min(3, n))) for n in sizes)
    strides = tuple(draw(st.integers(1, 3)) for _ in sizes)
    return {"ksize": ksize, "strides": strides, "padding": draw(st.sampled_from(["valid",
                                                                                 "same"]))}


# conv_filter_grad(x, g): (x shape, g shape) -> its kernel shape and conv arguments.
FILTER_GRAD_CASES = {
    ((2, 5, 5, 2), (2, 3, 3, 3)): {"kernel_shape": (3, 3, 2, 3), "strides": (2, 2),
                                   "padding": "same", "dilations": (1, 1)},
    ((1, 6, 5, 4), (1, 5, 2, 4)): {"kernel_shape": (2, 2, 2, 4), "strides": (1, 2),
                                   "padding": "valid", "dilations": (1, 2)},
    ((2, 7, 3), (2, 4, 2)): {"kernel_shape": (3, 3, 2), "strides": (2,),
                             "padding": ((1, 2),), "dilations": (1,)},
}


def _tape_conv_filter_grad(x, g, kernel_shape, strides, padding, dilations):
    from tape.ops._windows import effective_sizes, resolve_padding

    spans = effective_sizes(kernel_shape[:-2], dilations)
    pads = resolve_padding(padding, x.shape[1:-1], spans, strides, "conv_filter_grad")
    return conv_filter_grad(x, g, kernel_shape=kernel_shape, strides=strides, padding=pads,
                            dilation=dilations)


# max_pool_grad(x, g): (x shape, g shape) -> the pooling that maps x to g's shape.
MAX_POOL_GRAD_CASES = {
    ((2, 5, 5, 2), (2, 3, 3, 2)): {"ksize": (2, 2), "strides": (2, 2), "padding": "same"},
    ((1, 6, 4, 3), (1, 4, 3, 3)): {"ksize": (3, 2), "strides": (1, 1), "padding": "valid"},
    ((2, 7, 3), (2, 3, 3)): {"ksize": (3,), "strides": (2,), "padding": "valid"},
}


def max_pool_grad_params(draw, shapes):
    return dict(MAX_POOL_GRAD_CASES[shapes])


def _pool_params(x, ksize, strides, padding):
    from tape.ops._windows import resolve_padding

    pads = resolve_padding(padding, x.shape[1:-1], ksize, strides, "test")
    return {"window": ksize, "strides": strides, "padding": pads}


def _tape_max_pool_grad(x, g, ksize, strides, padding):
    return max_pool_grad(x, g, **_pool_params(x, ksize, strides, padding))


def _tape_max_pool_gather(x, u, ksize, strides, padding):
    return max_pool_gather(x, u, **_pool_params(x, ksize, strides, padding))


ROWS = (
    # ---- convolution (ops/conv.py) ----
    Row("nn.conv2d", tape.nn.conv2d, _jax_conv, CONV2D, params=conv_params,
        covers=("conv",), covers2=("conv_input_grad", "conv_filter_grad"), dtypes=True),
    Row("nn.conv1d",
        lambda x, w, stride, padding, dilations: tape.nn.conv1d(x, w, stride, padding,
                                                                dilations),
        lambda x, w, stride, padding, dilations: _jax_conv(x, w, stride, padding, dilations),
        CONV1D, params=conv1d_params, covers=("conv",),
        covers2=("conv_input_grad", "conv_filter_grad")),
    Row("nn.depthwise_conv2d", tape.nn.depthwise_conv2d, _jax_depthwise, DEPTHWISE,
        params=conv_params, covers=("conv", "reshape")),
    Row("nn.conv2d_transpose", tape.nn.conv2d_transpose, _jax_conv2d_transpose, TRANSPOSE,
        params=transpose_params, covers=("conv_input_grad",),
        covers2=("conv", "conv_filter_grad"), dtypes=True),
    Row("conv_filter_grad", _tape_conv_filter_grad, _jax_conv_filter_grad,
        tuple(FILTER_GRAD_CASES), params=conv_filter_grad_params, covers=("conv_filter_grad",),
        covers2=("conv", "conv_input_grad")),
    # ---- pooling (ops/pool.py); max pooling on distinct values: no ties ----
    Row("nn.max_pool2d", tape.nn.max_pool2d, _jax_max_pool, POOL2D, values=each(distinct()),
        params=pool_params, covers=("max_pool",), covers2=("max_pool_grad",), dtypes=True),
    Row("nn.max_pool1d", tape.nn.max_pool1d, _jax_max_pool, POOL1D, values=each(distinct()),
        params=pool_params, covers=("max_pool",), covers2=("max_pool_grad",)),
    # the max pool's internal ops, called directly (as tanh_grad is in op_rows.py)
    Row("max_pool_grad", _tape_max_pool_grad, _jax_max_pool_grad, tuple(MAX_POOL_GRAD_CASES),
        values=each(distinct(), real()), params=max_pool_grad_params,
        covers=("max_pool_grad",), covers2=("max_pool_gather",)),
    Row("max_pool_gather", _tape_max_pool_gather, _jax_max_pool_gather,
        tuple((x, x) for (x,) in POOL2D + POOL1D), values=each(distinct(), real()),
        params=lambda draw, shapes: pool_params(draw, shapes[:1]),
        covers=("max_pool_gather",), covers2=("max_pool_grad",)),
    Row("nn.avg_pool2d", tape.nn.avg_pool2d, _jax_avg_pool, POOL2D, params=pool_params,
        covers=("avg_pool",), covers2=("avg_pool_grad",), dtypes=True),
    Row("nn.avg_pool1d", tape.nn.avg_pool1d, _jax_avg_pool, POOL1D, params=pool_params,
        covers=("avg_pool",), covers2=("avg_pool_grad",)),
)

"""Pooling primitives and their public functions (channels-last, any number of spatial axes).

Max pooling is three primitives: ``max_pool``, ``max_pool_grad`` (its VJP: the upstream
gradient routed to each window's argmax) and ``max_pool_gather`` (the VJP of that: values
read at each window's argmax). The argmax is the first maximum in row-major window order,
as in PyTorch and TensorFlow's CPU kernel; the routing is piecewise constant in ``x``, so
its own gradient with respect to ``x`` is zero. Average pooling is ``avg_pool`` and its
transpose ``avg_pool_grad``; with padding each window is divided by the number of real
elements it holds (TensorFlow's 'same').
"""

from __future__ import annotations

from ..dtypes import is_float
from ..errors import ShapeError, user_line
from ._windows import (
    check_fits,
    crop_spatial,
    output_sizes,
    pad_spatial,
    resolve_padding,
    spatial_tuple,
    window_counts,
    window_slices,
)
from .registry import convert, defop


def _lowest(xp, dtype):
    return -xp.inf if is_float(dtype) else xp.iinfo(dtype).min


def _geometry(shape, window, strides, padding):
    out = output_sizes(shape[1:-1], padding, window, strides)
    return out, list(window_slices(out, window, strides))


def _argmax_index(xp, x_pad, slices, out_shape):
    """For each window, the offset (row-major) of its first maximum."""
    best = x_pad[slices[0]]
    index = xp.zeros(out_shape, dtype=xp.int32)
    for k, where in enumerate(slices[1:], 1):
        v = x_pad[where]
        larger = v > best  # strictly: a tie keeps the first maximum
        best = xp.where(larger, v, best)
        index += larger * (k - index)  # k where larger: arithmetic, ~4x cheaper than a mask
    return index


@defop("max_pool")
def max_pool(xp, x, window, strides, padding):
    """The largest value of each ``window`` (N, *spatial, C), padded with -inf."""
    out, slices = _geometry(x.shape, window, strides, padding)
    x_pad = pad_spatial(xp, x, padding, _lowest(xp, x.dtype))
    result = x_pad[slices[0]]
    for where in slices[1:]:
        result = xp.maximum(result, x_pad[where])
    return xp.array(result, copy=True) if len(slices) == 1 else result


@max_pool.defvjp
def _max_pool_vjp(ctx, g):
    return max_pool_grad(ctx.inputs[0], g, **ctx.params)


@defop("max_pool_grad", nin=2, low_precision="float32")  # overlapping windows add up
def max_pool_grad(xp, x, g, window, strides, padding):
    """``g`` (pooled shape) added into zeros of ``x``'s shape at each window's argmax."""
    out, slices = _geometry(x.shape, window, strides, padding)
    x_pad = pad_spatial(xp, x, padding, _lowest(xp, x.dtype))
    index = _argmax_index(xp, x_pad, slices, g.shape)
    result = xp.zeros(x_pad.shape, dtype=g.dtype)
    for k, where in enumerate(slices):
        result[where] += xp.where(index == k, g, 0)  # not g * mask: an inf stays put
    return xp.ascontiguousarray(crop_spatial(result, padding, x.shape[1:-1]))


@max_pool_grad.defvjp
def _max_pool_grad_vjp(ctx, u):
    x, _ = ctx.inputs
    return None, max_pool_gather(x, u, **ctx.params)  # nothing flows to x: see the module doc


@defop("max_pool_gather", nin=2)
def max_pool_gather(xp, x, u, window, strides, padding):
    """``u`` (``x``'s shape) read at each window's argmax of ``x``: the pooled shape."""
    out, slices = _geometry(x.shape, window, strides, padding)
    x_pad = pad_spatial(xp, x, padding, _lowest(xp, x.dtype))
    u_pad = pad_spatial(xp, u, padding)
    index = _argmax_index(xp, x_pad, slices, (x.shape[0], *out, x.shape[-1]))
    result = xp.zeros(index.shape, dtype=u.dtype)
    for k, where in enumerate(slices):
        result = xp.where(index == k, u_pad[where], result)
    return result


@max_pool_gather.defvjp
def _max_pool_gather_vjp(ctx, v):
    x, _ = ctx.inputs
    return None, max_pool_grad(x, v, **ctx.params)


@defop("avg_pool", low_precision="float32")
def avg_pool(xp, x, window, strides, padding):
    """The mean of each ``window``'s real (unpadded) elements."""
    out, slices = _geometry(x.shape, window, strides, padding)
    x_pad = pad_spatial(xp, x, padding)
    total = xp.array(x_pad[slices[0]], copy=True)
    for where in slices[1:]:
        total += x_pad[where]
    return total / window_counts(xp, x.shape[1:-1], padding, window, strides, out, x.dtype)


@avg_pool.defvjp
def _avg_pool_vjp(ctx, g):
    return avg_pool_grad(g, input_shape=ctx.inputs[0].shape, **ctx.params)


@defop("avg_pool_grad", low_precision="float32")
def avg_pool_grad(xp, g, input_shape, window, strides, padding):
    """The transpose of ``avg_pool``: each window's ``g / count`` spread over the window."""
    sizes = tuple(input_shape[1:-1])
    out, slices = _geometry(input_shape, window, strides, padding)
    share = g / window_counts(xp, sizes, padding, window, strides, out, g.dtype)
    padded = (input_shape[0], *(n + a + b for n, (a, b) in zip(sizes, padding)), input_shape[-1])
    result = xp.zeros(padded, dtype=g.dtype)
    for where in slices:
        result[where] += share
    return xp.ascontiguousarray(crop_spatial(result, padding, sizes))


@avg_pool_grad.defvjp
def _avg_pool_grad_vjp(ctx, u):
    p = {k: v for k, v in ctx.params.items() if k != "input_shape"}
    return avg_pool(u, **p)


# ---- public functions ---------------------------------------------------------------------


def _pool_args(op, x, rank, ksize, strides, padding):
    x = convert(x)
    if x.ndim != rank + 2:
        raise ShapeError(f"{op}: the input must have rank {rank + 2} (batch, *spatial, "
                         f"channels); received shape {x.shape} [at {user_line()}]")
    window = spatial_tuple(ksize, rank, "ksize", op)
    strides = window if strides is None else spatial_tuple(strides, rank, "strides", op)
    if isinstance(padding, str) and padding.lower() not in ("valid", "same"):
        raise ValueError(f"{op}: padding must be 'valid' or 'same'. Received: "
                         f"padding={padding!r}")
    pads = resolve_padding(padding, x.shape[1:-1], window, strides, op)
    check_fits(op, x.shape, window, pads, window, what="pooling window")
    return x, {"window": window, "strides": strides, "padding": pads}


def max_pool1d(x, ksize=2, strides=None, padding="valid"):
    """Max pooling over ``x`` (batch, width, channels); ``strides`` default to ``ksize``.

    Example:
        >>> import tape
        >>> x = tape.tensor([[[1.0], [3.0], [2.0], [0.0]]])
        >>> tape.nn.max_pool1d(x, 2).numpy().ravel().tolist()
        [3.0, 2.0]
    """
    x, p = _pool_args("max_pool1d", x, 1, ksize, strides, padding)
    return max_pool(x, **p)


def max_pool2d(x, ksize=2, strides=None, padding="valid"):
    """Max pooling over ``x`` (batch, height, width, channels).

    Args:
        ksize: Window size, an int or (h, w).
        strides: An int or (h, w); the window size by default (as Keras).
        padding: ``'valid'`` or ``'same'`` (TF's; padded positions never win).

    The gradient goes to the first maximum of each window in row-major order.

    Example:
        >>> import tape
        >>> x = tape.reshape(tape.arange(16.0), (1, 4, 4, 1))
        >>> tape.nn.max_pool2d(x, 2).numpy()[0, :, :, 0].tolist()
        [[5.0, 7.0], [13.0, 15.0]]
    """
    x, p = _pool_args("max_pool2d", x, 2, ksize, strides, padding)
    return max_pool(x, **p)


def avg_pool1d(x, ksize=2, strides=None, padding="valid"):
    """Average pooling over ``x`` (batch, width, channels); see ``avg_pool2d``.

    Example:
        >>> import tape
        >>> x = tape.tensor([[[1.0], [3.0], [2.0]]])
        >>> tape.nn.avg_pool1d(x, 2, padding="same").numpy().ravel().tolist()
        [2.0, 2.0]
    """
    x, p = _pool_args("avg_pool1d", x, 1, ksize, strides, padding)
    return avg_pool(x, **p)


def avg_pool2d(x, ksize=2, strides=None, padding="valid"):
    """Average pooling over ``x`` (batch, height, width, channels); with ``'same'`` each
    window is divided by the number of real (unpadded) elements in it, as in TF.

    Example:
        >>> import tape
        >>> x = tape.reshape(tape.arange(9.0), (1, 3, 3, 1))
        >>> tape.nn.avg_pool2d(x, 2, padding="same").numpy()[0, :, :, 0].tolist()
        [[2.0, 3.5], [6.5, 8.0]]
    """
    x, p = _pool_args("avg_pool2d", x, 2, ksize, strides, padding)
    return avg_pool(x, **p)


def pool(x, window_shape, pooling_type="MAX", strides=None, padding="valid"):
    """N-d max or average pooling (``pooling_type`` 'MAX' or 'AVG'), any spatial rank.

    Example:
        >>> import tape
        >>> tape.nn.pool(tape.ones((1, 4, 4, 4, 2)), 2, "AVG").shape
        (1, 2, 2, 2, 2)
    """
    x = convert(x)
    if x.ndim < 3:
        raise ShapeError(f"pool: the input must have rank >= 3 (batch, *spatial, channels); "
                         f"received shape {x.shape} [at {user_line()}]")
    kind = pooling_type.upper()
    if kind not in ("MAX", "AVG"):
        raise ValueError(f"pool: pooling_type must be 'MAX' or 'AVG'. Received: "
                         f"pooling_type={pooling_type!r}")
    x, p = _pool_args("pool", x, x.ndim - 2, window_shape, strides, padding)
    return (max_pool if kind == "MAX" else avg_pool)(x, **p)

"""Convolution: three primitives closed under differentiation, and the public functions.

``<conv(x, kernel), g> = <x, conv_input_grad(g, kernel)> = <kernel, conv_filter_grad(x, g)>``
is one trilinear form, so the VJP of each of the three primitives is made of the other ones
(as JAX transposes ``conv_general_dilated``): gradients of any order stay convolutions.
All three are channels-last (``N, *spatial, C``) for any number of spatial axes, with
kernels ``(*window, C // groups, O)``; ``groups`` is ``C // kernel.shape[-2]``, as in TF.

CPU cost: one im2col copy (a strided ``window_view`` made contiguous) and one batched
GEMM per call; ``conv_input_grad`` does one batched GEMM (a block per window offset) then
one strided add per offset (col2im).
"""

from __future__ import annotations

from ..errors import ShapeError, user_line
from ._helpers import gemm
from ._windows import (
    check_fits,
    col2im,
    crop_spatial,
    effective_sizes,
    output_sizes,
    pad_spatial,
    resolve_padding,
    spatial_tuple,
    window_view,
)
from .registry import convert, defop
from .shape import reshape


class _Geometry:
    """Sizes of one convolution: input (N, *sizes, C), kernel (*kernel, Cg, O), G groups."""

    def __init__(self, input_shape, kernel_shape, strides, padding, dilation):
        self.n, *sizes, self.c = input_shape
        *kernel, self.cg, self.o = kernel_shape
        self.sizes, self.kernel = tuple(sizes), tuple(kernel)
        self.groups = self.c // self.cg
        if self.groups * self.cg != self.c or self.o % self.groups:
            raise ValueError(f"{self.c} input channels and a kernel of shape "
                             f"{tuple(kernel_shape)} make no whole number of groups")
        self.og = self.o // self.groups
        self.strides, self.pads, self.dilation = strides, padding, dilation
        self.out = output_sizes(self.sizes, padding, effective_sizes(self.kernel, dilation),
                                strides)
        self.padded = (self.n, *(s + a + b for s, (a, b) in zip(sizes, padding)), self.c)
        self.m = self.n
        for o in self.out:
            self.m *= o
        self.k = self.cg
        for k in self.kernel:
            self.k *= k


def _columns(xp, x, geo: _Geometry):
    """The im2col matrix, grouped: (G, N * prod(out), prod(kernel) * Cg), contiguous."""
    view = window_view(xp, pad_spatial(xp, x, geo.pads), geo.out, geo.kernel, geo.strides,
                       geo.dilation)
    nd = len(geo.out)
    view = view.reshape(view.shape[:-1] + (geo.groups, geo.cg))
    # (N, *out, *kernel, G, Cg) -> (G, N, *out, *kernel, Cg): the copy is the im2col.
    order = (2 * nd + 1, 0, *range(1, 2 * nd + 1), 2 * nd + 2)
    return xp.ascontiguousarray(view.transpose(order)).reshape(geo.groups, geo.m, geo.k)


def _grouped_kernel(kernel, geo: _Geometry):
    """(*kernel, Cg, G * Og) -> (G, prod(kernel) * Cg, Og)."""
    return kernel.reshape(geo.k, geo.groups, geo.og).transpose(1, 0, 2)


def _grouped_output(g, geo: _Geometry):
    """(N, *out, G * Og) -> (G, N * prod(out), Og), a view."""
    return g.reshape(geo.m, geo.groups, geo.og).transpose(1, 0, 2)


@defop("conv", nin=2, low_precision="float32_on_numpy")
def conv(xp, x, kernel, strides, padding, dilation):
    """Cross-correlation of ``x`` (N, *spatial, C) with ``kernel`` (*window, C // G, O) in
    G groups: ``strides``, ``dilation`` and ``padding`` (``((before, after), ...)``) per
    spatial axis. The public forms are ``tape.nn.conv1d/conv2d/convolution``."""
    geo = _Geometry(x.shape, kernel.shape, strides, padding, dilation)
    out = gemm(xp, _columns(xp, x, geo), _grouped_kernel(kernel, geo))  # (G, M, Og)
    return out.transpose(1, 0, 2).reshape((geo.n, *geo.out, geo.o))


@conv.defvjp
def _conv_vjp(ctx, g):
    x, kernel = ctx.inputs
    p = ctx.params
    gx = conv_input_grad(g, kernel, input_shape=x.shape, **p) if ctx.needs_grad[0] else None
    gk = conv_filter_grad(x, g, kernel_shape=kernel.shape, **p) if ctx.needs_grad[1] else None
    return gx, gk


@defop("conv_input_grad", nin=2, low_precision="float32_on_numpy")
def conv_input_grad(xp, g, kernel, input_shape, strides, padding, dilation):
    """The transpose of ``conv`` in its input: ``g`` (N, *out, O) spread back over an input
    of ``input_shape`` through ``kernel`` (a transposed convolution, ``col2im(g @ kernel.T)``)."""
    geo = _Geometry(input_shape, kernel.shape, strides, padding, dilation)
    # One batched GEMM, a (M, Cg) block per window offset: each block is contiguous, so
    # col2im's strided adds run faster than on slices of one (M, K) matrix.
    offsets = geo.k // geo.cg
    kernel_t = kernel.reshape(offsets, geo.cg, geo.groups, geo.og).transpose(2, 0, 3, 1)
    cols = gemm(xp, _grouped_output(g, geo)[:, None], kernel_t)  # (G, P, M, Cg)
    if geo.groups == 1:
        cols = cols.reshape((offsets, geo.n, *geo.out, geo.c))
    else:  # (G, P, M, Cg) -> (P, M, G, Cg): channels of group g are g * Cg ... + Cg
        cols = cols.transpose(1, 2, 0, 3).reshape((offsets, geo.n, *geo.out, geo.c))
    padded = col2im(xp, cols, geo.padded, geo.out, geo.kernel, geo.strides, geo.dilation)
    return xp.ascontiguousarray(crop_spatial(padded, geo.pads, geo.sizes))


@conv_input_grad.defvjp
def _conv_input_grad_vjp(ctx, u):
    g, kernel = ctx.inputs
    p = {k: v for k, v in ctx.params.items() if k != "input_shape"}
    gg = conv(u, kernel, **p) if ctx.needs_grad[0] else None
    gk = conv_filter_grad(u, g, kernel_shape=kernel.shape, **p) if ctx.needs_grad[1] else None
    return gg, gk


@defop("conv_filter_grad", nin=2, low_precision="float32_on_numpy")
def conv_filter_grad(xp, x, g, kernel_shape, strides, padding, dilation):
    """The transpose of ``conv`` in its kernel: the correlation of ``x`` with ``g`` summed
    over batch and positions, a kernel of ``kernel_shape`` (``im2col(x).T @ g``)."""
    geo = _Geometry(x.shape, kernel_shape, strides, padding, dilation)
    dk = gemm(xp, _columns(xp, x, geo).transpose(0, 2, 1), _grouped_output(g, geo))
    return dk.transpose(1, 0, 2).reshape(kernel_shape)  # (G, K, Og) -> (K, G, Og)


@conv_filter_grad.defvjp
def _conv_filter_grad_vjp(ctx, v):
    x, g = ctx.inputs
    p = {k: val for k, val in ctx.params.items() if k != "kernel_shape"}
    gx = conv_input_grad(g, v, input_shape=x.shape, **p) if ctx.needs_grad[0] else None
    gg = conv(x, v, **p) if ctx.needs_grad[1] else None
    return gx, gg


# ---- public functions ---------------------------------------------------------------------


def _check_rank(op: str, x, rank: int | None, what: str = "input") -> None:
    if (rank is None and x.ndim < 3) or (rank is not None and x.ndim != rank):
        want = f"rank {rank}" if rank is not None else "rank >= 3"
        raise ShapeError(f"{op}: the {what} must have {want} (batch, *spatial, channels); "
                         f"received shape {x.shape} [at {user_line()}]")


def _conv_args(op, x, kernel, strides, padding, dilations):
    """Checked (strides, pads, dilation) for ``conv(x, kernel)``."""
    nd = x.ndim - 2
    if kernel.ndim != x.ndim:
        raise ShapeError(f"{op}: a kernel of rank {x.ndim} (*window, in_channels, "
                         f"out_channels) is needed for an input of shape {x.shape}; received "
                         f"a kernel of shape {kernel.shape} [at {user_line()}]")
    c, cg, o = x.shape[-1], kernel.shape[-2], kernel.shape[-1]
    if cg == 0 or c % cg or o % (c // cg):
        raise ShapeError(
            f"{op}: the input has {c} channels but the kernel of shape {kernel.shape} expects "
            f"{cg} input channels per group ({c} must be a multiple of {cg}, and its "
            f"{o} output channels a multiple of the {c // cg if cg else '?'} groups); input "
            f"shape {x.shape} [at {user_line()}]")
    strides = spatial_tuple(strides, nd, "strides", op)
    dilation = spatial_tuple(dilations, nd, "dilations", op)
    spans = effective_sizes(kernel.shape[:-2], dilation)
    pads = resolve_padding(padding, x.shape[1:-1], spans, strides, op)
    check_fits(op, x.shape, kernel.shape, pads, spans)
    return strides, pads, dilation


def convolution(x, filters, strides=1, padding="valid", dilations=1):
    """N-d convolution (cross-correlation, as in TF and Keras), channels-last.

    Args:
        x: ``(batch, *spatial, in_channels)``.
        filters: ``(*window, in_channels // groups, out_channels)``; the number of groups
            is ``in_channels // filters.shape[-2]`` (TF's rule), so a grouped or depthwise
            convolution is a kernel with fewer input channels.
        strides, dilations: An int or one int per spatial axis.
        padding: ``'valid'``, ``'same'`` (TF's: ``ceil(n / stride)`` outputs, the extra
            padding after) or explicit ``((before, after), ...)`` pairs.

    Example:
        >>> import tape
        >>> x = tape.ones((1, 4, 4, 1))
        >>> tape.nn.convolution(x, tape.ones((3, 3, 1, 2)), padding="same").shape
        (1, 4, 4, 2)
    """
    x, filters = convert(x), convert(filters)
    _check_rank("convolution", x, None)
    strides, pads, dilation = _conv_args("convolution", x, filters, strides, padding, dilations)
    return conv(x, filters, strides=strides, padding=pads, dilation=dilation)


def conv1d(x, filters, stride=1, padding="valid", dilations=1):
    """1-D convolution of ``x`` (batch, width, channels) with ``filters`` (kw, in // groups,
    out); arguments as in ``convolution``.

    Example:
        >>> import tape
        >>> y = tape.nn.conv1d(tape.ones((1, 5, 1)), tape.ones((3, 1, 1)))
        >>> y.numpy().ravel().tolist()
        [3.0, 3.0, 3.0]
    """
    x, filters = convert(x), convert(filters)
    _check_rank("conv1d", x, 3)
    strides, pads, dilation = _conv_args("conv1d", x, filters, stride, padding, dilations)
    return conv(x, filters, strides=strides, padding=pads, dilation=dilation)


def conv2d(x, filters, strides=1, padding="valid", dilations=1):
    """2-D convolution of ``x`` (batch, height, width, channels) with ``filters``
    (kh, kw, in // groups, out); arguments as in ``convolution``.

    Example:
        >>> import tape
        >>> y = tape.nn.conv2d(tape.ones((1, 3, 3, 1)), tape.ones((2, 2, 1, 1)), padding="same")
        >>> y.numpy()[0, :, :, 0].tolist()
        [[4.0, 4.0, 2.0], [4.0, 4.0, 2.0], [2.0, 2.0, 1.0]]
    """
    x, filters = convert(x), convert(filters)
    _check_rank("conv2d", x, 4)
    strides, pads, dilation = _conv_args("conv2d", x, filters, strides, padding, dilations)
    return conv(x, filters, strides=strides, padding=pads, dilation=dilation)


def depthwise_conv2d(x, filter, strides=1, padding="valid", dilations=1):  # noqa: A002 - TF
    """Each input channel convolved with its own ``channel_multiplier`` filters:
    ``filter`` is (kh, kw, in_channels, channel_multiplier) and output channel
    ``c * channel_multiplier + m`` comes from input channel ``c`` (TF's layout). It is a
    grouped ``conv2d`` with one group per channel.

    Example:
        >>> import tape
        >>> x = tape.ones((1, 3, 3, 2))
        >>> tape.nn.depthwise_conv2d(x, tape.ones((2, 2, 2, 3))).shape
        (1, 2, 2, 6)
    """
    x, filter = convert(x), convert(filter)
    _check_rank("depthwise_conv2d", x, 4)
    if filter.ndim != 4 or filter.shape[2] != x.shape[-1]:
        raise ShapeError(f"depthwise_conv2d: the filter must be (kh, kw, {x.shape[-1]}, "
                         f"channel_multiplier) for an input of shape {x.shape}; received a "
                         f"filter of shape {filter.shape} [at {user_line()}]")
    kh, kw, c, m = filter.shape
    kernel = reshape(filter, (kh, kw, 1, c * m))
    strides, pads, dilation = _conv_args("depthwise_conv2d", x, kernel, strides, padding,
                                         dilations)
    return conv(x, kernel, strides=strides, padding=pads, dilation=dilation)


def transpose_output_size(size: int, kernel: int, stride: int, padding: str,
                          output_padding: int | None = None, dilation: int = 1) -> int:
    """The output length of a transposed convolution, as Keras computes it."""
    span = (kernel - 1) * dilation + 1
    if output_padding is None:
        return size * stride + (max(span - stride, 0) if padding == "valid" else 0)
    pad = span // 2 if padding == "same" else 0
    return (size - 1) * stride + span - 2 * pad + output_padding


def conv_transpose(x, filters, output_shape=None, strides=1, padding="valid",
                   output_padding=None, dilations=1):
    """The transpose (gradient with respect to its input) of ``convolution``: an upsampling
    convolution, channels-last, any number of spatial axes.

    Args:
        x: ``(batch, *spatial, in_channels)``.
        filters: ``(*window, out_channels, in_channels)`` (TF's layout: the kernel of the
            convolution this one transposes).
        output_shape: The output's shape (full or spatial only). By default Keras' size:
            ``n * stride`` for 'same', ``n * stride + max(span - stride, 0)`` for 'valid', or
            ``(n - 1) * stride + span - 2 * pad + output_padding`` when that is given.
        strides, dilations, padding: Those of the convolution this one transposes
            ('valid' or 'same').
        output_padding: An int or one per axis (each smaller than its stride), or None.

    Example:
        >>> import tape
        >>> y = tape.nn.conv_transpose(tape.ones((1, 2, 1)), tape.ones((3, 1, 1)), strides=2)
        >>> y.numpy().ravel().tolist()
        [1.0, 1.0, 2.0, 1.0, 1.0]
    """
    return _conv_transpose("conv_transpose", x, filters, output_shape, strides, padding,
                           output_padding, dilations)


def conv2d_transpose(x, filters, output_shape=None, strides=1, padding="valid",
                     output_padding=None, dilations=1):
    """2-D ``conv_transpose``: ``x`` (batch, h, w, in), ``filters`` (kh, kw, out, in).

    Example:
        >>> import tape
        >>> x = tape.ones((1, 2, 2, 3))
        >>> tape.nn.conv2d_transpose(x, tape.ones((3, 3, 4, 3)), strides=2, padding="same").shape
        (1, 4, 4, 4)
    """
    x = convert(x)
    _check_rank("conv2d_transpose", x, 4)
    return _conv_transpose("conv2d_transpose", x, filters, output_shape, strides, padding,
                           output_padding, dilations)


def _conv_transpose(op, x, filters, output_shape, strides, padding, output_padding, dilations):
    x, filters = convert(x), convert(filters)
    _check_rank(op, x, None)
    nd = x.ndim - 2
    if filters.ndim != x.ndim or filters.shape[-1] != x.shape[-1]:
        raise ShapeError(f"{op}: the filters must be (*window, out_channels, {x.shape[-1]}) "
                         f"for an input of shape {x.shape}; received filters of shape "
                         f"{filters.shape} [at {user_line()}]")
    if not isinstance(padding, str) or padding.lower() not in ("valid", "same"):
        raise ValueError(f"{op}: padding must be 'valid' or 'same'. Received: "
                         f"padding={padding!r}")
    padding = padding.lower()
    strides = spatial_tuple(strides, nd, "strides", op)
    dilation = spatial_tuple(dilations, nd, "dilations", op)
    window = filters.shape[:-2]
    if output_shape is None:
        extra = (None,) * nd if output_padding is None else output_padding_tuple(
            op, output_padding, nd, strides)
        sizes = tuple(transpose_output_size(*args, padding, e, d) for *args, e, d in
                      zip(x.shape[1:-1], window, strides, extra, dilation))
    else:
        output_shape = tuple(int(d) for d in output_shape)
        sizes = output_shape[1:-1] if len(output_shape) == nd + 2 else output_shape
        if len(sizes) != nd:
            raise ShapeError(f"{op}: output_shape {output_shape} does not fit an input of "
                             f"shape {x.shape} [at {user_line()}]")
    spans = effective_sizes(window, dilation)
    pads = resolve_padding(padding, sizes, spans, strides, op)
    out_shape = (x.shape[0], *sizes, filters.shape[-2])
    if output_sizes(sizes, pads, spans, strides) != x.shape[1:-1]:
        raise ShapeError(
            f"{op}: an output of shape {out_shape} is not what a convolution with this "
            f"kernel {filters.shape}, strides {strides}, dilations {dilation} and padding "
            f"'{padding}' maps to the input's spatial size {x.shape[1:-1]} [at {user_line()}]")
    return conv_input_grad(x, filters, input_shape=out_shape, strides=strides, padding=pads,
                           dilation=dilation)


def output_padding_tuple(op, output_padding, nd, strides) -> tuple:
    extra = (output_padding,) * nd if isinstance(output_padding, int) else tuple(output_padding)
    if len(extra) != nd or any(not 0 <= e < s for e, s in zip(extra, strides)):
        raise ValueError(f"{op}: output_padding must be {nd} non-negative ints, each smaller "
                         f"than its stride {strides}. Received: output_padding={output_padding!r}")
    return extra

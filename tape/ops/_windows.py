"""Sliding-window geometry shared by convolution and pooling (channels-last, any number of
spatial axes): argument normalization, TF/Keras padding, output sizes, the im2col view and
the strided slices that col2im and pooling loop over. Pure shape arithmetic plus ``xp`` views;
no tensors, no tape."""

from __future__ import annotations

import itertools

import numpy as np

from ..errors import ShapeError, user_line


def spatial_tuple(value, rank: int, name: str, op: str) -> tuple[int, ...]:
    """An int, or ``rank`` positive ints (TF's ``[1, s, s, 1]`` form is accepted too)."""
    items = [value] * rank if isinstance(value, int) else list(value)
    if len(items) == rank + 2 and items[0] == items[-1] == 1:
        items = items[1:-1]
    if len(items) != rank or any(isinstance(v, bool) or int(v) != v or v < 1 for v in items):
        raise ValueError(f"{op}: {name} must be a positive int or {rank} positive ints. "
                         f"Received: {name}={value!r}")
    return tuple(int(v) for v in items)


def effective_sizes(kernel: tuple, dilation: tuple) -> tuple[int, ...]:
    """The span of a dilated window: ``(k - 1) * d + 1`` per axis."""
    return tuple((k - 1) * d + 1 for k, d in zip(kernel, dilation))


def resolve_padding(padding, sizes: tuple, spans: tuple, strides: tuple, op: str) -> tuple:
    """``((before, after), ...)`` per spatial axis for ``'valid'``, ``'same'`` or explicit
    pairs. ``'same'`` is TensorFlow's: the output has ``ceil(n / stride)`` positions and the
    padding that needs is split with the smaller half before (so it may be asymmetric)."""
    if isinstance(padding, str):
        mode = padding.lower()
        if mode == "valid":
            return ((0, 0),) * len(sizes)
        if mode == "same":
            pads = []
            for n, span, s in zip(sizes, spans, strides):
                total = max((-(-n // s) - 1) * s + span - n, 0)
                pads.append((total // 2, total - total // 2))
            return tuple(pads)
        raise ValueError(f"{op}: padding must be 'valid', 'same' or explicit (before, after) "
                         f"pairs. Received: padding={padding!r}")
    pairs = [tuple(p) if not isinstance(p, int) else (p, p) for p in padding]
    if len(pairs) == len(sizes) + 2 and pairs[0] == pairs[-1] == (0, 0):
        pairs = pairs[1:-1]  # TF's explicit form covers the batch and channel axes too
    if len(pairs) != len(sizes) or any(len(p) != 2 or min(p) < 0 for p in pairs):
        raise ValueError(f"{op}: explicit padding must be {len(sizes)} (before, after) pairs "
                         f"of non-negative ints. Received: padding={padding!r}")
    return tuple((int(a), int(b)) for a, b in pairs)


def output_sizes(sizes: tuple, pads: tuple, spans: tuple, strides: tuple) -> tuple[int, ...]:
    return tuple((n + a + b - span) // s + 1
                 for n, (a, b), span, s in zip(sizes, pads, spans, strides))


def check_fits(op: str, input_shape: tuple, window_shape: tuple, pads: tuple, spans: tuple,
               what: str = "kernel") -> None:
    """ShapeError unless every (dilated) window fits in the padded input."""
    sizes = input_shape[1:-1]
    padded = tuple(n + a + b for n, (a, b) in zip(sizes, pads))
    if any(span > p for span, p in zip(spans, padded)):
        raise ShapeError(
            f"{op}: the {what} (spatial size {spans} after dilation; {what} shape "
            f"{tuple(window_shape)}) does not fit the input of shape {tuple(input_shape)} "
            f"(spatial size {padded} after padding {pads}) [at {user_line()}]")


def pad_spatial(xp, x, pads: tuple, value=0):
    """``x`` padded along its spatial axes (no copy when there is no padding)."""
    if not any(a or b for a, b in pads):
        return x
    shape = (x.shape[0], *(n + a + b for n, (a, b) in zip(x.shape[1:-1], pads)), x.shape[-1])
    out = xp.full(shape, value, dtype=x.dtype)  # cheaper than xp.pad, which is generic
    out[(slice(None),) + tuple(slice(a, a + n) for (a, _), n in zip(pads, x.shape[1:-1]))] = x
    return out


def crop_spatial(x, pads: tuple, sizes: tuple):
    """The inverse of ``pad_spatial`` (a view)."""
    return x[(slice(None),) + tuple(slice(a, a + n) for (a, _), n in zip(pads, sizes))]


def window_view(xp, x_pad, out: tuple, kernel: tuple, strides: tuple, dilation: tuple):
    """A read-only view ``(N, *out, *kernel, C)`` of the windows of ``x_pad`` (N, *spatial,
    C): the im2col matrix before it is made contiguous. No data is copied here."""
    sn, *ss, sc = x_pad.strides
    shape = (x_pad.shape[0], *out, *kernel, x_pad.shape[-1])
    strides_ = (sn, *(st * s for st, s in zip(ss, strides)),
                *(st * d for st, d in zip(ss, dilation)), sc)
    if xp is np:  # read-only, so a stray write cannot corrupt the input (CuPy has no flag)
        return np.lib.stride_tricks.as_strided(x_pad, shape, strides_, writeable=False)
    return xp.lib.stride_tricks.as_strided(x_pad, shape, strides_)


def window_slices(out: tuple, kernel: tuple, strides: tuple, dilation: tuple = None):
    """For each window offset (row-major over ``kernel``), the index into a padded input
    that picks that offset of every window: ``x_pad[index]`` has shape (N, *out, C)."""
    dilation = dilation or (1,) * len(kernel)
    for offset in itertools.product(*(range(k) for k in kernel)):
        yield (slice(None),) + tuple(
            slice(o * d, o * d + (n - 1) * s + 1, s)
            for o, d, n, s in zip(offset, dilation, out, strides))


def col2im(xp, cols, padded_shape: tuple, out: tuple, kernel: tuple, strides: tuple,
           dilation: tuple):
    """The transpose of ``window_view``: ``cols`` (prod(kernel), N, *out, C), one block per
    window offset (row-major), summed back into a zero array of ``padded_shape`` with one
    strided add per offset."""
    result = xp.zeros(padded_shape, dtype=cols.dtype)
    for block, index in zip(cols, window_slices(out, kernel, strides, dilation)):
        result[index] += block
    return result


def window_counts(xp, sizes: tuple, pads: tuple, window: tuple, strides: tuple, out: tuple,
                  dtype):
    """How many real (unpadded) elements each window holds, shaped (1, *out, 1)."""
    counts = xp.ones((1, *out, 1), dtype=dtype)
    for axis, (n, (a, _), k, s, m) in enumerate(zip(sizes, pads, window, strides, out)):
        start = xp.arange(m) * s - a
        along = xp.minimum(start + k, n) - xp.maximum(start, 0)
        shape = [1] * (len(out) + 2)
        shape[axis + 1] = m
        counts = counts * along.reshape(shape).astype(dtype)
    return counts


"""Shape primitives (reshape, transpose, broadcast, concatenate, indexing, pad, flip,
tile) and the composites built from them (stack, split, take, squeeze...)."""

from __future__ import annotations

import operator

import numpy as np

from ..backend import get_array_module
from ..errors import IndexOutOfRangeError, ShapeError, user_line
from . import gpu
from ._helpers import (
    add_at,
    broadcast_axes,
    fill_index,
    inverse_permutation,
    normalize_axes,
    split_index,
)
from .creation import constant_like
from .registry import convert, defop

# ---- primitives ---------------------------------------------------------------------------


@defop("reshape", noop_if_same=True)
def reshape(xp, x, shape):
    """The same values in a new shape (one dimension may be -1)."""
    return x.reshape(shape)  # the method: several times less overhead than xp.reshape


@reshape.defvjp
def _reshape_vjp(ctx, g):
    return reshape(g, ctx.inputs[0].shape)


@defop("transpose")
def transpose(xp, x, axes=None):
    """Permute the axes (reverse them by default)."""
    return x.transpose() if axes is None else x.transpose(axes)


@transpose.defvjp
def _transpose_vjp(ctx, g):
    axes = ctx.params.get("axes")
    if axes is None:
        return transpose(g)
    return transpose(g, inverse_permutation([a % g.ndim for a in axes]))


@defop("broadcast_to", noop_if_same=True)
def broadcast_to(xp, x, shape):
    """Broadcast to ``shape`` (NumPy rules)."""
    return xp.broadcast_to(x, shape)


@broadcast_to.defvjp
def _broadcast_to_vjp(ctx, g):
    return sum_to(g, ctx.inputs[0].shape)


@defop("sum_to", fresh=True, low_precision="float32")
def _sum_to(xp, g, shape, axes):
    """``g`` summed over ``axes``, the axes that broadcasting ``shape`` to ``g.shape`` adds or
    stretches, to ``shape``: broadcast_to's transpose, so that pair needs nothing from the
    reductions. (``axes`` is a parameter so that a replay computes none.)"""
    out = g.sum(axis=axes)
    return out if out.shape == shape else out.reshape(shape)


@_sum_to.defvjp
def _sum_to_vjp(ctx, u):
    return broadcast_to(u, ctx.inputs[0].shape)


_sum_to.defsaves()  # the VJP reads the input's shape only


def sum_to(g, shape: tuple):
    """Sum ``g`` over broadcast axes so that it has ``shape``: undoes broadcasting (the
    tape calls it for every gradient whose shape differs from its input's).

    Example:
        >>> import tape
        >>> from tape.ops.shape import sum_to
        >>> sum_to(tape.ones((2, 3)), (1, 3)).numpy().tolist()
        [[2.0, 2.0, 2.0]]
    """
    shape = tuple(shape)
    if g.shape == shape:
        return g
    if g.ndim < len(shape):
        return broadcast_to(g, shape)
    return _sum_to(g, shape=shape, axes=broadcast_axes(shape, g.shape))


@defop("concatenate", nin=-1, fresh=True)
def _concatenate(xp, *xs, axis=0):
    """Join tensors along an existing axis."""
    return xp.concatenate(xs, axis=axis)


@_concatenate.defvjp
def _concatenate_vjp(ctx, g):
    axis = ctx.params.get("axis", 0) % g.ndim
    grads, start = [], 0
    for x, need in zip(ctx.inputs, ctx.needs_grad):
        stop = start + x.shape[axis]
        index = (slice(None),) * axis + (slice(start, stop),)
        grads.append(getitem(g, index) if need else None)
        start = stop
    return tuple(grads) if len(grads) > 1 else grads[0]


@defop("getitem", nin=-1)
def _getitem(xp, x, *index_arrays, index):
    """``x[index]``: basic, advanced and boolean indexing. The index arrays are inputs
    (``index`` holds a ``Slot`` where each goes), so a traced graph reads them anew."""
    return x[fill_index(index, index_arrays)]


@_getitem.defvjp
def _getitem_vjp(ctx, g):
    x, *arrays = ctx.inputs
    gx = _index_add(g, *arrays, shape=x.shape, index=ctx.params["index"])
    return (gx, *[None] * len(arrays)) if arrays else gx


@_getitem.defwalk
def _getitem_walk(walk, entry, g) -> None:
    """Slices of one tensor (an RNN's ``x[:, t]``) add their gradients into one array, not
    into a zero array of x's size each: in place where the walk alone holds that array,
    else through ``index_add_into``. (The index arrays are integers: never on the path.)"""
    x, arrays, index = entry.inputs[0], entry.inputs[1:], entry.params["index"]
    total = walk.gradient_of(x)
    if total is None:  # the first slice: its VJP, g at index in a fresh zero array
        entry.needs_grad = (True,) + (False,) * len(arrays)
        gx = entry.op.vjp(entry, g)
        walk.set_fresh_gradient(x, gx[0] if type(gx) is tuple else gx)
    elif walk.owns(x):
        data = total._data
        add_at(get_array_module(data), data, fill_index(index, [a._data for a in arrays]),
               g._data)
    else:
        walk.set_fresh_gradient(x, _index_add_into(total, g, *arrays, index=index))


# A boolean mask index makes the output's shape depend on the mask's values.
_getitem.data_dependent = lambda dtypes: any(d == "bool" for d in dtypes[1:])


@defop("index_add", nin=-1, fresh=True, accumulator=True,
       low_precision="float32")
def _index_add(xp, g, *index_arrays, shape, index):
    """Zeros of ``shape`` with ``g`` added at ``index`` (repeated indices accumulate):
    the scatter-add that is getitem's VJP."""
    out = xp.zeros(shape, dtype=g.dtype)
    add_at(xp, out, fill_index(index, index_arrays), g)
    return out


@_index_add.defvjp
def _index_add_vjp(ctx, g):
    _, *arrays = ctx.inputs
    gg = _getitem(g, *arrays, index=ctx.params["index"])
    return (gg, *[None] * len(arrays)) if arrays else gg


@defop("index_add_into", nin=-1, fresh=True, accumulator=True,
       low_precision="float32")
def _index_add_into(xp, base, g, *index_arrays, index):
    """``base`` with ``g`` added at ``index`` (repeated indices accumulate): how a tape adds
    the gradient of one more slice to a tensor's gradient without a zero array of the
    tensor's size per slice."""
    out = base.copy()
    add_at(xp, out, fill_index(index, index_arrays), g)
    return out


@_index_add_into.defin_place
def _index_add_into_in_place(xp, base, g, *index_arrays, index):
    """``index_add_into`` that adds into ``base`` itself: graph passes use it where no one
    else sees ``base`` (``passes.accumulate_in_place``)."""
    add_at(xp, base, fill_index(index, index_arrays), g)
    return base


@_index_add_into.defvjp
def _index_add_into_vjp(ctx, u):
    _, _, *arrays = ctx.inputs
    gg = _getitem(u, *arrays, index=ctx.params["index"]) if ctx.needs_grad[1] else None
    return (u, gg, *[None] * len(arrays))


def index_add_into(base, g, index):
    """``base`` with ``g`` added at ``index``, repeated indices accumulating.

    Example:
        >>> import tape
        >>> from tape.ops.shape import index_add_into
        >>> index_add_into(tape.ones(4), tape.ones(3), [0, 0, 2]).numpy().tolist()
        [3.0, 1.0, 2.0, 1.0]
    """
    template, arrays = split_index(index)
    return _index_add_into(base, g, *arrays, index=template)


def index_add(g, shape, index):
    """Zeros of ``shape`` with ``g`` added at ``index``, repeated indices accumulating.

    Example:
        >>> import tape
        >>> from tape.ops.shape import index_add
        >>> index_add(tape.ones(3), (4,), [0, 0, 2]).numpy().tolist()
        [2.0, 0.0, 1.0, 0.0]
    """
    template, arrays = split_index(index)
    return _index_add(g, *arrays, shape=tuple(shape), index=template)


@defop("pad", fresh=True)
def _pad(xp, x, pad_width, constant_values=0):
    """Pad with a constant; ``pad_width`` is ``((before, after),) * ndim``."""
    # A 0-d tensor has pad_width (), which np.pad rejects; 0 pads it (with nothing).
    return xp.pad(x, pad_width or 0, mode="constant", constant_values=constant_values)


@_pad.defvjp
def _pad_vjp(ctx, g):
    index = tuple(slice(before, n - after) for (before, after), n in
                  zip(ctx.params["pad_width"], g.shape))
    return getitem(g, index)


@defop("flip")
def flip(xp, x, axis=None):
    """Reverse the order of elements along ``axis`` (all axes by default)."""
    return xp.flip(x, axis=axis)


@flip.defvjp
def _flip_vjp(ctx, g):
    return flip(g, axis=ctx.params.get("axis"))


@defop("tile", fresh=True)
def tile(xp, x, reps):
    """Repeat the whole tensor ``reps`` times along each axis (``numpy.tile``)."""
    return xp.tile(x, reps)


@tile.defvjp
def _tile_vjp(ctx, g):
    x = ctx.inputs[0]
    reps = (ctx.params["reps"],) if isinstance(ctx.params["reps"], int) else ctx.params["reps"]
    ndim = max(len(reps), x.ndim)
    reps = (1,) * (ndim - len(reps)) + tuple(reps)
    base = (1,) * (ndim - x.ndim) + tuple(x.shape)
    split_shape = tuple(v for pair in zip(reps, base) for v in pair)
    summed_shape = tuple(v for b in base for v in (1, b))  # each repeat axis summed to 1
    return reshape(sum_to(reshape(g, split_shape), summed_shape), x.shape)


@defop("one_hot", differentiable=False, fresh=True)
def _one_hot(xp, indices, depth, dtype):
    """One-hot encoding of integer ``indices`` along a new last axis."""
    return (indices[..., None] == xp.arange(depth)).astype(dtype)


# ---- public wrappers with NumPy signatures ------------------------------------------------


def getitem(x, index):
    """``x[index]`` with basic, advanced (integer arrays) and boolean indexing."""
    template, arrays = split_index(index)
    return _getitem(x, *arrays, index=template)


def concatenate(tensors, axis=0):
    """Join a sequence of tensors along an existing axis.

    Example:
        >>> import tape
        >>> tape.concatenate([tape.ones(2), tape.zeros(1)]).numpy().tolist()
        [1.0, 1.0, 0.0]
    """
    return _concatenate(*tensors, axis=axis)


def stack(tensors, axis=0):
    """Join tensors of equal shape along a new axis."""
    tensors = [convert(t) for t in tensors]
    if not tensors:
        raise ValueError("stack() needs at least one tensor")
    return concatenate([expand_dims(t, axis) for t in tensors], axis=axis)


def split(x, indices_or_sections, axis=0):
    """Split into a list of tensors (``numpy.split``)."""
    x = convert(x)
    axis = normalize_axes(axis, x.ndim)[0]
    n = x.shape[axis]
    if isinstance(indices_or_sections, int):
        if n % indices_or_sections:
            raise ShapeError(
                f"split: axis {axis} of length {n} does not divide into "
                f"{indices_or_sections} equal sections (input {tuple(x.shape)} {x.dtype}) "
                f"[at {user_line()}]"
            )
        step = n // indices_or_sections
        bounds = list(range(0, n + 1, step))
    else:
        bounds = [0] + [int(i) for i in indices_or_sections] + [n]
    lead = (slice(None),) * axis
    return [getitem(x, lead + (slice(a, b),)) for a, b in zip(bounds[:-1], bounds[1:])]


def pad(x, pad_width, constant_values=0):
    """Pad with a constant value; ``pad_width`` as in ``numpy.pad``."""
    x = convert(x)
    widths = np.broadcast_to(np.asarray(pad_width, dtype=np.int64), (x.ndim, 2))
    return _pad(x, pad_width=tuple((int(a), int(b)) for a, b in widths),
                constant_values=constant_values)


def swapaxes(x, axis1, axis2):
    """Exchange two axes."""
    x = convert(x)
    axes = list(range(x.ndim))
    axes[axis1], axes[axis2] = axes[axis2], axes[axis1]
    return transpose(x, tuple(axes))


def moveaxis(x, source, destination):
    """Move axes to new positions (``numpy.moveaxis``)."""
    x = convert(x)
    src = [s % x.ndim for s in ((source,) if isinstance(source, int) else source)]
    dst = [d % x.ndim for d in ((destination,) if isinstance(destination, int) else destination)]
    order = [a for a in range(x.ndim) if a not in src]
    for d, s in sorted(zip(dst, src)):
        order.insert(d, s)
    return transpose(x, tuple(order))


def expand_dims(x, axis):
    """Insert a length-1 axis at ``axis``."""
    x = convert(x)
    ndim = x.ndim + (1 if isinstance(axis, int) else len(axis))
    axes = normalize_axes(axis, ndim)
    shape = iter(x.shape)
    target = [1 if i in axes else next(shape) for i in range(ndim)]
    if x.size and x.ndim:  # -1 in the first kept axis, so a trace serves any batch size
        target[next(i for i in range(ndim) if i not in axes)] = -1
    return reshape(x, tuple(target))


def squeeze(x, axis=None):
    """Remove length-1 axes (all of them by default)."""
    x = convert(x)
    if axis is None:
        axes = tuple(i for i, n in enumerate(x.shape) if n == 1)
    else:
        axes = normalize_axes(axis, x.ndim)
        for a in axes:
            if x.shape[a] != 1:
                raise ValueError(f"squeeze: axis {a} of shape {x.shape} is not of length 1")
    target = [n for i, n in enumerate(x.shape) if i not in axes]
    if x.size and target:  # -1 first, so a trace serves any batch size
        target[0] = -1
    return reshape(x, tuple(target))


def flatten(x):
    """The values as a 1-D tensor."""
    return reshape(x, (-1,))


def take(x, indices, axis=None):
    """Elements at ``indices`` along ``axis`` (of the flattened tensor by default)."""
    x = convert(x)
    if axis is None:
        x, axis = flatten(x), 0
    axis = normalize_axes(axis, x.ndim)[0]
    return getitem(x, (slice(None),) * axis + (indices,))


def gather(params, indices, axis=0):
    """``tf.gather``: slices of ``params`` at integer ``indices`` along ``axis`` (the first by
    default); ``take`` with TF's default axis. The indices are an input of the getitem op, so
    a traced graph reads new ids at each replay; the gradient is a scatter-add into the rows
    used (repeated ids accumulate).

    Example:
        >>> import tape
        >>> table = tape.tensor([[0.0, 1.0], [2.0, 3.0], [4.0, 5.0]])
        >>> tape.gather(table, tape.tensor([[2, 0]])).numpy().tolist()
        [[[4.0, 5.0], [0.0, 1.0]]]
    """
    try:
        return take(params, indices, axis=axis)
    except IndexOutOfRangeError as e:
        raise IndexOutOfRangeError(f"gather: an index is outside the table: {e}") from e


@defop("check_index", differentiable=False)
def check_index(xp, indices, size, what="index"):
    """``indices`` unchanged, or an IndexOutOfRangeError naming ``what`` when one lies outside
    ``[0, size)`` (NumPy indexing would take a negative one from the end without a word). A
    graph op, so a traced step checks every batch it replays. It reads the values, which on a
    GPU is done on the device, and a failure raised at the next read of a value on the host.

    Example:
        >>> import tape
        >>> tape.ops.check_index(tape.tensor([0, 2]), size=3).numpy().tolist()
        [0, 2]
    """
    if indices.size:
        low, high = indices.min(), indices.max()
        if low < 0 or high >= size:
            raise IndexOutOfRangeError(f"{what}: every id must be in [0, {size}); received "
                                       f"{low if low < 0 else high}")
    return indices


check_index.defkernel(gpu.check_index_kernel)  # on the GPU: checked there, reported later


def take_along_axis(x, indices, axis):
    """``numpy.take_along_axis``: pick along ``axis`` with an index of matching rank."""
    x = convert(x)
    axis = normalize_axes(axis, x.ndim)[0]
    # A NumPy or list index is a constant: it goes where x is (as CuPy copies a host index).
    indices = convert(indices, like=x)
    if indices.ndim != x.ndim:
        raise ValueError(
            f"take_along_axis: indices of rank {indices.ndim} for a tensor of rank {x.ndim}"
        )
    index = []
    for d in range(x.ndim):
        if d == axis:
            index.append(indices)
        else:
            shape = [1] * x.ndim
            shape[d] = x.shape[d]
            index.append(constant_like(np.arange(x.shape[d]).reshape(shape), x))
    return getitem(x, tuple(index))


def repeat(x, repeats, axis=None):
    """Repeat each element ``repeats`` times along ``axis`` (``numpy.repeat``)."""
    x = convert(x)
    if axis is None:
        x, axis = flatten(x), 0
    axis = normalize_axes(axis, x.ndim)[0]
    index = np.repeat(np.arange(x.shape[axis]), repeats)
    return take(x, constant_like(index, x), axis=axis)


def one_hot(indices, depth: int, dtype="float32"):
    """One-hot vectors along a new last axis of size ``depth`` (a positive integer); an
    index outside ``[0, depth)`` gives a row of zeros, as ``tf.one_hot``.

    Example:
        >>> import tape
        >>> tape.one_hot(tape.tensor([0, 2]), 3).numpy().tolist()
        [[1.0, 0.0, 0.0], [0.0, 0.0, 1.0]]
    """
    from ..dtypes import as_dtype

    try:
        size = operator.index(depth)  # ints and NumPy ints; not 2.5 (int() would truncate)
    except TypeError:
        size = 0
    if size <= 0:
        raise ShapeError(f"one_hot: depth must be a positive integer (the number of classes); "
                         f"received depth={depth!r} [at {user_line()}]")
    return _one_hot(indices, depth=size, dtype=as_dtype(dtype))



"""Reductions over ``axis`` (None, int, negative, tuple) with ``keepdims``, and the running
sum ``cumsum``."""

from __future__ import annotations

from ..dtypes import DEFAULT_FLOAT
from ..errors import ShapeError, user_line
from ._helpers import accumulator, kept_shape, normalize_axes
from .math import cast, divide, equal, exp, multiply, sqrt, square, subtract
from .registry import defop
from .shape import broadcast_to, flatten, flip, reshape, sum_to  # noqa: F401 - re-exported


def _grad_to_input(g, x, axis, keepdims):
    """Reshape a reduction's gradient to keepdims form and broadcast it over ``x``."""
    axes = normalize_axes(axis, x.ndim)
    if not keepdims:
        g = reshape(g, kept_shape(x.shape, axes))
    return broadcast_to(g, x.shape)


@defop("sum", fresh=True, low_precision="float32")
def sum(xp, x, axis=None, keepdims=False):  # noqa: A001 - NumPy's name
    """Sum over ``axis`` (all axes by default); float16 and bfloat16 accumulate in float32
    (``low_precision="float32"``, as every reduction here).

    Example:
        >>> import tape
        >>> tape.sum(tape.ones((2, 3)), axis=1).numpy().tolist()
        [3.0, 3.0]
    """
    return x.sum(axis=_axis_arg(axis), keepdims=keepdims)  # the method: 2x faster


@sum.defvjp
def _sum_vjp(ctx, g):
    return _grad_to_input(g, ctx.inputs[0], ctx.params.get("axis"), ctx.params.get("keepdims"))


def _axis_arg(axis):
    return tuple(axis) if isinstance(axis, list) else axis


def _chooser_vjp(ctx, g):
    """max/min: the gradient goes to the elements equal to the result, split equally
    among ties (as JAX does)."""
    x = ctx.inputs[0]
    axis, keepdims = ctx.params.get("axis"), ctx.params.get("keepdims")
    out = _grad_to_input(ctx.out, x, axis, keepdims)
    mask = cast(equal(x, out), dtype=x.dtype)
    count = sum(mask, axis=axis, keepdims=True)
    return multiply(_grad_to_input(g, x, axis, keepdims), divide(mask, count))


@defop("max", fresh=True)
def max(xp, x, axis=None, keepdims=False):  # noqa: A001
    """Largest value over ``axis``; ties share the gradient equally."""
    return x.max(axis=_axis_arg(axis), keepdims=keepdims)


max.defvjp(_chooser_vjp)


@defop("min", fresh=True)
def min(xp, x, axis=None, keepdims=False):  # noqa: A001
    """Smallest value over ``axis``; ties share the gradient equally."""
    return xp.min(x, axis=_axis_arg(axis), keepdims=keepdims)


min.defvjp(_chooser_vjp)


@defop("prod", fresh=True, low_precision="float32")
def prod(xp, x, axis=None, keepdims=False):
    """Product over ``axis``."""
    return xp.prod(x, axis=_axis_arg(axis), keepdims=keepdims)


@prod.defvjp
def _prod_vjp(ctx, g):
    x = ctx.inputs[0]
    axis, keepdims = ctx.params.get("axis"), ctx.params.get("keepdims")
    return multiply(_grad_to_input(g, x, axis, keepdims), _product_of_others(x, axis))


def _product_of_others(x, axis):
    """For each element, the product of the other elements of its reduced slice: the
    product of those before it times the product of those after it. Multiplications only
    (no division by ``x``, no branch on its values), so it is exact at zeros, one traced
    graph serves every input, and it is differentiable again (JAX's rule is the same
    idea). O(n log n) in the slice length."""
    from .shape import moveaxis

    axes = normalize_axes(axis, x.ndim)
    tail = tuple(range(x.ndim - len(axes), x.ndim))
    moved = moveaxis(x, axes, tail)
    n = _count(x, axis)
    if n == 0:
        return x  # no element, no gradient to weight
    flat = reshape(moved, moved.shape[: x.ndim - len(axes)] + (n,))
    before = _exclusive_cumprod(flat)
    after = flip(_exclusive_cumprod(flip(flat, axis=-1)), axis=-1)
    return moveaxis(reshape(multiply(before, after), moved.shape), tail, axes)


def _exclusive_cumprod(x):
    """Along the last axis, the product of the elements before each one (1 for the
    first): a Hillis-Steele scan, log2(n) shifted multiplications."""
    from .shape import pad

    n = x.shape[-1]
    lead = ((0, 0),) * (x.ndim - 1)
    out = pad(x[..., : n - 1], lead + ((1, 0),), constant_values=1)
    shift = 1
    while shift < n:
        out = multiply(out, pad(out[..., : n - shift], lead + ((shift, 0),),
                                constant_values=1))
        shift *= 2
    return out


@defop("logsumexp", fresh=True, low_precision="float32")
def logsumexp(xp, x, axis=None, keepdims=False):
    """``log(sum(exp(x)))`` over ``axis``, computed without overflow.

    A primitive (not a composite) for numerical stability: the max is subtracted first.
    """
    axis = _axis_arg(axis)
    if x.size:
        m = xp.max(x, axis=axis, keepdims=True)
        m = xp.where(xp.isfinite(m), m, 0)
        out = xp.log(xp.sum(xp.exp(x - m), axis=axis, keepdims=True)) + m
    else:  # max() of nothing raises; the log of an empty sum is -inf, as in JAX and SciPy
        out = xp.full(kept_shape(x.shape, normalize_axes(axis, x.ndim)), -xp.inf, x.dtype)
    return out if keepdims else xp.squeeze(out, axis=axis)


@logsumexp.defvjp
def _logsumexp_vjp(ctx, g):
    x = ctx.inputs[0]
    axis, keepdims = ctx.params.get("axis"), ctx.params.get("keepdims")
    softmax = exp(subtract(x, _grad_to_input(ctx.out, x, axis, keepdims)))
    return multiply(_grad_to_input(g, x, axis, keepdims), softmax)


@defop("argmax", differentiable=False, fresh=True)
def argmax(xp, x, axis=None, keepdims=False):
    """Index of the largest value (the first one on ties); no gradient."""
    return xp.argmax(x, axis=axis, keepdims=keepdims)


@defop("argmin", differentiable=False, fresh=True)
def argmin(xp, x, axis=None, keepdims=False):
    """Index of the smallest value (the first one on ties); no gradient."""
    return xp.argmin(x, axis=axis, keepdims=keepdims)


@defop("any", differentiable=False, fresh=True)
def any(xp, x, axis=None, keepdims=False):  # noqa: A001
    """True where any element over ``axis`` is true."""
    return xp.any(x, axis=_axis_arg(axis), keepdims=keepdims)


@defop("all", differentiable=False, fresh=True)
def all(xp, x, axis=None, keepdims=False):  # noqa: A001
    """True where every element over ``axis`` is true."""
    return xp.all(x, axis=_axis_arg(axis), keepdims=keepdims)


# ---- composites -----------------------------------------------------------------------------


def _count(x, axis) -> int:
    n = 1
    for a in normalize_axes(axis, x.ndim):
        n *= x.shape[a]
    return n


@defop("mean", fresh=True, low_precision="float32")
def mean(xp, x, axis=None, keepdims=False):
    """Arithmetic mean over ``axis``; integer and bool tensors average to float32, and
    float16 and bfloat16 accumulate in float32 (as NumPy and JAX).

    Example:
        >>> import tape
        >>> tape.mean(tape.tensor([1.0, 2.0, 6.0])).item()
        3.0
    """
    dtype = None if x.dtype.kind in "fc" else DEFAULT_FLOAT
    # sum / count: NumPy's own mean() goes through Python and costs ~3x more on small arrays
    total = x.sum(axis=_axis_arg(axis), keepdims=keepdims, dtype=dtype)
    return total / _count(x, axis)


@mean.defvjp
def _mean_vjp(ctx, g):
    x = ctx.inputs[0]
    axis = ctx.params.get("axis")
    acc = accumulator(g.dtype)  # a float16 count over 65504 would be inf: divide in float32
    share = divide(g if acc is None else cast(g, dtype=acc), _count(x, axis))
    share = share if acc is None else cast(share, dtype=g.dtype)
    return _grad_to_input(share, x, axis, ctx.params.get("keepdims"))


mean.defsaves()  # the VJP reads the input's shape only


def var(x, axis=None, keepdims=False, ddof=0):
    """Variance over ``axis`` (``ddof=1`` for the unbiased estimate)."""
    x = _tensor(x)
    centered = subtract(x, mean(x, axis=axis, keepdims=True))
    variance = mean(square(centered), axis=axis, keepdims=keepdims)  # float16-safe count
    n = _count(x, axis)
    return variance if ddof == 0 else multiply(variance, n / (n - ddof))


def std(x, axis=None, keepdims=False, ddof=0):
    """Standard deviation over ``axis``."""
    return sqrt(var(x, axis=axis, keepdims=keepdims, ddof=ddof))


@defop("cumsum", low_precision="float32")
def _cumsum(xp, x, axis):
    """Running sum along ``axis`` (an int: the public ``cumsum`` flattens for None)."""
    return xp.cumsum(x, axis=axis)


@_cumsum.defvjp
def _cumsum_vjp(ctx, g):
    # Each element adds to every output from its position on: its gradient is the sum of
    # g from its position to the end, a running sum taken from the end.
    axis = ctx.params["axis"]
    return flip(_cumsum(flip(g, axis=axis), axis=axis), axis=axis)


_cumsum.defsaves()  # the VJP reads no values


def cumsum(x, axis=None):
    """Running sum along ``axis``; of the flattened tensor when ``axis`` is None.

    Example:
        >>> import tape
        >>> tape.cumsum(tape.tensor([[1.0, 2.0], [3.0, 4.0]]), axis=1).numpy().tolist()
        [[1.0, 3.0], [3.0, 7.0]]
    """
    x = _tensor(x)
    if axis is None:
        return _cumsum(flatten(x), axis=0)
    if x.ndim == 0:
        raise ShapeError(f"cumsum: a 0-d tensor has no axis {axis}; axis=None gives its "
                         f"running sum as shape (1,) [at {user_line()}]")
    return _cumsum(x, axis=normalize_axes(axis, x.ndim)[0])


def _tensor(x):
    from .registry import convert

    return convert(x)

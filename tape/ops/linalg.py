"""Linear algebra: matmul and einsum primitives; dot, tensordot, outer, tril and triu
composites."""

from __future__ import annotations

import string
from collections import Counter

import numpy as np

from ..errors import ShapeError, user_line
from ._helpers import captured_matmul
from .creation import constant_like
from .math import multiply, where
from .registry import convert, defop, defufunc
from .shape import broadcast_to, expand_dims, reshape, swapaxes, transpose

# Exactly the array module's (g)ufunc, so the hot path calls np.matmul itself (behind the
# float16/bfloat16 check of low_precision): not elementwise, its out= is no input's.
matmul = defufunc("matmul", nin=2, out=True, elementwise=False,
                  low_precision="float32_on_numpy", captured=captured_matmul, doc="""\
Matrix product with NumPy's rules: batched over leading axes, 1-D operands
promoted to a row or column and the added axis dropped.

Example:
    >>> import tape
    >>> (tape.ones((2, 3)) @ tape.ones(3)).numpy().tolist()
    [3.0, 3.0]
""")


@matmul.defvjp  # reads its inputs, never its output (matmul.defsaves below)
def _matmul_vjp(ctx, g):
    x, y = ctx.inputs
    if x._data.ndim == 2 and y._data.ndim == 2:  # the common case: no rank bookkeeping
        needs = ctx.needs_grad
        return (matmul(g, transpose(y)) if needs[0] else None,
                matmul(transpose(x), g) if needs[1] else None)
    if x.ndim == 1 and y.ndim == 1:
        return multiply(g, y), multiply(g, x)
    x2 = expand_dims(x, 0) if x.ndim == 1 else x
    y2 = expand_dims(y, -1) if y.ndim == 1 else y
    g2 = g
    if x.ndim == 1:
        g2 = expand_dims(g2, -2)
    if y.ndim == 1:
        g2 = expand_dims(g2, -1)
    gx = matmul(g2, swapaxes(y2, -1, -2)) if ctx.needs_grad[0] else None
    gy = matmul(swapaxes(x2, -1, -2), g2) if ctx.needs_grad[1] else None
    if gx is not None and x.ndim == 1:
        gx = reshape(gx, gx.shape[:-2] + (x.shape[0],))
    if gy is not None and y.ndim == 1:
        gy = reshape(gy, gy.shape[:-2] + (y.shape[0],))
    return gx, gy  # the tape sums broadcast batch axes back


@defop("einsum", nin=-1, low_precision="float32")
def _einsum(xp, *operands, subscripts):
    """Einstein summation over ``operands``."""
    return xp.einsum(subscripts, *operands)


@_einsum.defvjp
def _einsum_vjp(ctx, g):
    inputs, out = _explicit_subscripts(ctx.params["subscripts"], [x.shape for x in ctx.inputs])
    grads = []
    for i, need in enumerate(ctx.needs_grad):
        grads.append(_einsum_operand_grad(g, out, inputs, ctx.inputs, i) if need else None)
    return tuple(grads) if len(grads) > 1 else grads[0]


def _einsum_operand_grad(g, out, inputs, operands, i):
    target = inputs[i]
    others = [s for j, s in enumerate(inputs) if j != i]
    other_ops = [t for j, t in enumerate(operands) if j != i]
    unique = "".join(dict.fromkeys(target))
    available = set(out).union(*others) if others else set(out)
    kept = "".join(c for c in unique if c in available)
    grad = einsum(f"{','.join([out] + others)}->{kept}", g, *other_ops)
    if kept != unique:  # labels summed inside this operand alone: broadcast back
        sizes = dict(zip(target, operands[i].shape))
        grad = reshape(grad, tuple(grad.shape[kept.index(c)] if c in kept else 1 for c in unique))
        grad = broadcast_to(grad, tuple(
            grad.shape[k] if c in kept else sizes[c] for k, c in enumerate(unique)))
    if unique != target:  # repeated labels (a diagonal): spread onto it with identities
        free = iter(c for c in string.ascii_letters if c not in "".join(inputs) + out)
        renamed, eyes, seen = [], [], set()
        for c in target:
            if c in seen:
                new = next(free)
                eyes.append(c + new)
                renamed.append(new)
            else:
                seen.add(c)
                renamed.append(c)
        sizes = dict(zip(target, operands[i].shape))
        eye_ops = [constant_like(np.eye(sizes[e[0]], dtype=g.dtype), g) for e in eyes]
        grad = einsum(f"{','.join([unique] + eyes)}->{''.join(renamed)}", grad, *eye_ops)
    return grad


def _explicit_subscripts(subscripts: str, shapes) -> tuple[list, str]:
    """Expand ``...`` and an implicit output into explicit letters."""
    spec = subscripts.replace(" ", "")
    lhs, arrow, out = spec.partition("->")
    inputs = lhs.split(",")
    used = {c for c in spec if c.isalpha()}
    free = [c for c in string.ascii_letters if c not in used]
    ell_ndim = 0
    for s, shape in zip(inputs, shapes):
        if "..." in s:
            ell_ndim = max(ell_ndim, len(shape) - (len(s) - 3))
    ellipsis = "".join(free[:ell_ndim])
    expanded = []
    for s, shape in zip(inputs, shapes):
        if "..." in s:
            k = len(shape) - (len(s) - 3)
            s = s.replace("...", ellipsis[ell_ndim - k:])
        expanded.append(s)
    if not arrow:
        counts = Counter("".join(expanded))
        out = ellipsis + "".join(sorted(c for c in counts if counts[c] == 1 and c not in ellipsis))
    else:
        out = out.replace("...", ellipsis)
    return expanded, out


def einsum(subscripts: str, *operands):
    """Einstein summation, any subscripts NumPy accepts (``...`` included).

    Example:
        >>> import tape
        >>> tape.einsum("ij,j->i", tape.ones((2, 3)), tape.ones(3)).numpy().tolist()
        [3.0, 3.0]
    """
    return _einsum(*operands, subscripts=subscripts)


def tensordot(x, y, axes=2):
    """Sum products over the given axes (``numpy.tensordot``)."""
    x, y = convert(x), convert(y)
    if isinstance(axes, int):
        ax_x = list(range(x.ndim - axes, x.ndim))
        ax_y = list(range(axes))
    else:
        ax_x, ax_y = axes
        ax_x = [ax_x] if isinstance(ax_x, int) else list(ax_x)
        ax_y = [ax_y] if isinstance(ax_y, int) else list(ax_y)
    letters = iter(string.ascii_letters)
    sx = [next(letters) for _ in range(x.ndim)]
    sy = [next(letters) for _ in range(y.ndim)]
    for a, b in zip(ax_x, ax_y):
        sy[b % y.ndim] = sx[a % x.ndim]
    contracted = {sx[a % x.ndim] for a in ax_x}
    out = [c for c in sx if c not in contracted] + [c for c in sy if c not in contracted]
    return einsum(f"{''.join(sx)},{''.join(sy)}->{''.join(out)}", x, y)


def dot(x, y):
    """``numpy.dot``: inner product of vectors, matrix product of matrices, and a sum
    over the last axis of ``x`` and the second-to-last of ``y`` in general."""
    x, y = convert(x), convert(y)
    if x.ndim == 0 or y.ndim == 0:
        return multiply(x, y)
    if y.ndim <= 2:
        return matmul(x, y)
    return tensordot(x, y, axes=([-1], [-2]))


def outer(x, y):
    """Outer product of two vectors (inputs are flattened, as NumPy does)."""
    x, y = convert(x), convert(y)
    return multiply(reshape(x, (-1, 1)), reshape(y, (1, -1)))


matmul.defsaves("inputs")


def _triangle(op, x, k, lower):
    x = convert(x)
    if x.ndim < 2:
        raise ShapeError(f"{op}: needs a matrix or a batch of them (rank >= 2); received "
                         f"shape {x.shape} [at {user_line()}]")
    rows, cols = x.shape[-2:]
    keep = np.tri(rows, cols, k=k, dtype=bool) if lower else ~np.tri(rows, cols, k=k - 1,
                                                                        dtype=bool)
    return where(constant_like(keep, x), x, 0)


def tril(x, k=0):
    """The lower triangle of the last two axes: elements above diagonal ``k`` are zero
    (``numpy.tril``); so are their gradients.

    Example:
        >>> import tape
        >>> tape.tril(tape.ones((2, 3))).numpy().tolist()
        [[1.0, 0.0, 0.0], [1.0, 1.0, 0.0]]
    """
    return _triangle("tril", x, int(k), lower=True)


def triu(x, k=0):
    """The upper triangle of the last two axes: elements below diagonal ``k`` are zero
    (``numpy.triu``).

    Example:
        >>> import tape
        >>> tape.triu(tape.ones((2, 3)), k=1).numpy().tolist()
        [[0.0, 1.0, 1.0], [0.0, 0.0, 1.0]]
    """
    return _triangle("triu", x, int(k), lower=False)

"""Sorting: ``argsort`` is the primitive (indices carry no gradient); ``sort`` and
``top_k`` gather the values through ``take_along_axis``, so their gradients go back to the
positions the values came from. Every sort is stable: equal values keep their order
(ascending) or come lowest index first (descending), as CuPy's sort always is and as
``tf.math.top_k`` and ``torch.topk`` order ties.
"""

from __future__ import annotations

from collections import namedtuple

from ..errors import ShapeError, user_line
from .registry import convert, defop
from .shape import flatten, take_along_axis

TopK = namedtuple("TopK", ["values", "indices"])


@defop("argsort", differentiable=False)
def _argsort(xp, x, axis, descending):
    if not descending:
        return xp.argsort(x, axis=axis, kind="stable")
    # Descending and stable: sort the reversed array, then map positions back, so equal
    # values come lowest index first (negating x would break ints and unsigned types).
    reversed_order = xp.argsort(xp.flip(x, axis=axis), axis=axis, kind="stable")
    return (x.shape[axis] - 1) - xp.flip(reversed_order, axis=axis)


def _sort_axis(op, x, axis):
    if axis is None:
        return flatten(x), 0
    if not -x.ndim <= axis < x.ndim:
        raise ShapeError(f"{op}: axis {axis} is out of bounds for shape {x.shape} (axis=None "
                         f"sorts the flattened tensor) [at {user_line()}]")
    return x, axis % x.ndim


def argsort(x, axis=-1, descending=False):
    """The indices that sort ``x`` along ``axis`` (flattened when None), int64.

    Example:
        >>> import tape
        >>> tape.argsort(tape.tensor([3.0, 1.0, 2.0])).numpy().tolist()
        [1, 2, 0]
        >>> tape.argsort(tape.tensor([1.0, 3.0, 1.0]), descending=True).numpy().tolist()
        [1, 0, 2]
    """
    x, axis = _sort_axis("argsort", convert(x), axis)
    return _argsort(x, axis=axis, descending=bool(descending))


def sort(x, axis=-1, descending=False):
    """``x`` sorted along ``axis`` (flattened when None); the gradient of each sorted
    value goes to the element it came from.

    Example:
        >>> import tape
        >>> tape.sort(tape.tensor([[3.0, 1.0, 2.0]]), descending=True).numpy().tolist()
        [[3.0, 2.0, 1.0]]
    """
    x, axis = _sort_axis("sort", convert(x), axis)
    return take_along_axis(x, _argsort(x, axis=axis, descending=bool(descending)), axis)


def top_k(x, k=1):
    """The ``k`` largest values along the last axis, largest first, and their indices
    (``tf.math.top_k``; ``torch.topk`` with its defaults). Equal values come lowest
    index first.

    Example:
        >>> import tape
        >>> values, indices = tape.top_k(tape.tensor([1.0, 4.0, 2.0, 4.0]), k=3)
        >>> values.numpy().tolist(), indices.numpy().tolist()
        ([4.0, 4.0, 2.0], [1, 3, 2])
    """
    x = convert(x)
    if x.ndim == 0 or not 0 <= int(k) <= x.shape[-1]:
        raise ShapeError(f"top_k: k must be between 0 and the size of the last axis; got "
                         f"k={k} for shape {x.shape} [at {user_line()}]")
    indices = _argsort(x, axis=x.ndim - 1, descending=True)[..., : int(k)]
    return TopK(take_along_axis(x, indices, -1), indices)

"""Shape arithmetic shared by op declarations (pure functions on tuples, no tensors), and
the one rule for low-precision inputs: ops that accumulate compute in float32."""

from __future__ import annotations

import functools
import warnings

import numpy as np

from .. import _state
from ..dtypes import is_float, is_low_precision
from ..errors import DTypeError, user_line, user_stacklevel

_SINGLE = np.dtype(np.float32)


class LowPrecisionWarning(UserWarning):
    """An op with no float16/bfloat16 path ran in float32 and cast its result back."""


def accumulator(dtype):
    """The dtype values of ``dtype`` are accumulated in: float32 for float16 and bfloat16
    (float16 overflows at 65504 and stops counting at 2048, bfloat16 at 256), else None
    (the input's own)."""
    return _SINGLE if is_low_precision(dtype) else None


def in_float32(forward, name: str, cast_up: bool = False, numpy_only: bool = False):
    """``forward(xp, *arrays, **params)`` run in float32 where an input is float16 or
    bfloat16: those inputs are cast up, and float32 results cast back to the inputs' common
    dtype (left float32 where a float32 input beside them made that the common one).

    ``numpy_only``: only for NumPy arrays (a matrix product: NumPy has no float32-
    accumulating 16-bit one, and ml_dtypes' bfloat16 product returns float32, while CuPy's
    computes in float32 on tensor cores, cuBLAS compute type 32F). ``cast_up``: the op has
    no low-precision path, which one LowPrecisionWarning naming it says (once per op).
    Other inputs pass through unchanged, at the cost of one dtype check per input
    (``numpy_in_float32`` is the cheaper form the hot path calls)."""
    warned = []

    @functools.wraps(forward)
    def run(xp, *arrays, **params):
        for a in arrays:
            if a.itemsize == 2 and is_low_precision(a.dtype):
                break
        else:
            return forward(xp, *arrays, **params)
        if numpy_only and xp is not np:
            return forward(xp, *arrays, **params)
        floats = [a.dtype for a in arrays if is_float(a.dtype)]
        target = functools.reduce(np.promote_types, floats)
        if cast_up and not warned:
            warned.append(True)
            warnings.warn(f"{name}: no {target} path on {xp.__name__}; computed in float32 "
                          f"and cast back to {target}", LowPrecisionWarning,
                          stacklevel=user_stacklevel())
        out = forward(xp, *(a.astype(_SINGLE) if is_low_precision(a.dtype) else a
                            for a in arrays), **params)
        if not is_low_precision(target):
            return out
        if isinstance(out, tuple):
            return tuple(o.astype(target) if o.dtype == _SINGLE else o for o in out)
        return out.astype(target) if out.dtype == _SINGLE else out

    return run


def numpy_in_float32(run, numpy_forward):
    """The hot path's form of ``run`` (``in_float32``) for NumPy arrays: inputs of no
    2-byte dtype (float32 and wider, most integers) go straight to ``numpy_forward``, after
    one itemsize check each; the others through ``run``."""

    @functools.wraps(run)
    def numpy_run(*arrays, **params):
        for a in arrays:
            if a.itemsize == 2:  # float16, bfloat16 (int16 passes through run too)
                return run(np, *arrays, **params)
        return numpy_forward(*arrays, **params)

    return numpy_run


def normalize_axes(axis, ndim: int) -> tuple:
    """``None | int | tuple`` (negatives allowed) -> sorted tuple of non-negative axes."""
    if axis is None:
        return tuple(range(ndim))
    axes = (axis,) if isinstance(axis, int | np.integer) else tuple(axis)
    out = []
    for a in axes:
        a = int(a)
        if not -ndim <= a < max(ndim, 1):
            raise ValueError(f"axis {a} is out of bounds for a tensor of rank {ndim}")
        out.append(a % ndim if ndim else 0)
    if len(set(out)) != len(out):
        raise ValueError(f"repeated axis in {axis}")
    return tuple(sorted(out))


def kept_shape(shape: tuple, axes: tuple) -> tuple:
    """The shape a reduction over ``axes`` has with ``keepdims=True``."""
    return tuple(1 if i in axes else n for i, n in enumerate(shape))


def broadcast_axes(shape: tuple, target: tuple) -> tuple:
    """Axes of ``target`` to sum so that a gradient of shape ``target`` fits ``shape``."""
    lead = len(target) - len(shape)
    return tuple(range(lead)) + tuple(
        i + lead for i, n in enumerate(shape) if n == 1 and target[i + lead] != 1
    )


def inverse_permutation(axes) -> tuple:
    return tuple(int(i) for i in np.argsort(axes))


class Slot:
    """Stands for the k-th index array in an index template (see ``split_index``)."""

    __slots__ = ("k",)

    def __init__(self, k: int):
        self.k = k

    def __eq__(self, other):
        return type(other) is Slot and other.k == self.k

    def __hash__(self):
        return hash(("Slot", self.k))

    def __repr__(self) -> str:
        return f"<index {self.k}>"


def split_index(index) -> tuple[tuple, list]:
    """An index as a template of slices, ints, None and Ellipsis with a ``Slot`` where each
    integer or boolean array was, plus those arrays (as tensors or arrays). The arrays then
    travel as op inputs, so a traced graph reads them at every replay instead of baking
    the traced values in."""
    if not isinstance(index, tuple):
        index = (index,)
    template, arrays = [], []
    for item in index:
        if isinstance(item, list):
            item = np.asarray(item)
        if hasattr(item, "dtype") and not isinstance(item, np.generic):
            if item.dtype.kind not in "biu":
                raise DTypeError(
                    f"getitem: index arrays must be integer or boolean, got {item.dtype} "
                    f"[at {user_line()}]"
                )
            template.append(Slot(len(arrays)))
            arrays.append(item)
        else:
            template.append(item)
    return tuple(template), arrays


def fill_index(template: tuple, arrays) -> tuple:
    """The index that ``split_index`` took apart, with ``arrays`` back in their slots."""
    if not arrays:
        return template
    return tuple(arrays[i.k] if type(i) is Slot else i for i in template)


def has_advanced(index: tuple) -> bool:
    """True when the index holds arrays (so a scatter-add must handle repeated indices)."""
    return any(hasattr(i, "shape") and not isinstance(i, np.generic) for i in index)


def add_at(xp, out, index: tuple, values) -> None:
    """``out[index] += values`` in place, repeated indices accumulating (an index with
    arrays goes through ``scatter_add``; a basic index is one strided add)."""
    if has_advanced(index):
        scatter_add(xp, out, index, values)
    else:
        out[index] += values


def scatter_add(xp, out, index, values) -> None:
    """``out[index] += values`` with repeated indices accumulating (``np.add.at``; on CuPy
    ``cupyx.scatter_add``): the scatter-add behind getitem's gradient."""
    if xp is np:
        np.add.at(out, index, values)
    else:
        import cupyx

        cupyx.scatter_add(out, index, values)


def gemm(xp, a, b):
    """``xp.matmul(a, b)``; while a CUDA graph captures on CuPy (``_state.capturing``),
    through tape.cublas, whose calls the capture records (CuPy refuses its own cuBLAS
    calls in a capture). The ops' GEMMs (conv's) call this.

    Example:
        >>> import numpy as np
        >>> gemm(np, np.ones((2, 3)), np.ones((3, 1))).ravel().tolist()
        [3.0, 3.0]
    """
    if xp is not np and _state.capturing.get():
        return captured_matmul(xp, a, b)
    return xp.matmul(a, b)


def captured_matmul(xp, a, b, out=None):
    """matmul's forward inside a CUDA-graph capture (its ``Op.captured``): tape.cublas."""
    from .. import cublas  # loads libcublas: only when a capture needs it

    return cublas.matmul(a, b, out=out)

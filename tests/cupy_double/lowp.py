"""The CuPy double's low precision: what CuPy 14 does with float16/bfloat16 and TF32, so that
tests see the compute type each matrix product ran with (loaded by path from __init__.py).

Modelled on CuPy 14's own source (cupy/_core/_routines_linalg.pyx) and its bfloat16 notes
(cupy/cupy#9494, the follow-ups in #9630):

- a matrix product of float16/bfloat16 arrays accumulates in float32 (cuBLAS GemmEx with
  CUBLAS_COMPUTE_32F; the result is rounded once to the 16-bit dtype): here the inputs are
  widened to float32, multiplied, and the product narrowed, where NumPy would accumulate a
  bfloat16 product in bfloat16;
- a float32 product runs on TF32 tensor cores when the compute type of float32 is
  COMPUTE_TYPE_TF32 (``_routines_linalg.set_compute_type``, or ``CUPY_TF32=1`` read at the
  first product) on the 2-d path (``dot``/``tensordot``/a 2-d ``matmul``), or when the
  cuBLAS handle's math mode is CUBLAS_TF32_TENSOR_OP_MATH (``cublas.setMathMode``), which
  also covers the batched path (an n-d ``matmul``: GemmStridedBatchedEx/sgemmBatched with
  the legacy CUDA_R_32F compute type, which follows the math mode);
- bfloat16 has no loop in a few places (#9630): rounding (``rint``, ``floor``, ``ceil``,
  ``trunc``, ``fix``, ``around``/``round``), ``divmod``, FFTs, and cupyx's kernels
  (``scatter_add``, ``cupyx.scipy.special``) and ``ufunc.at``: there the double raises a
  TypeError, as CuPy does, so tape's GPU path must not reach them with bfloat16;
- a sum or mean of bfloat16 accumulates in float32 (CuPy's reductions of 16-bit floats
  accumulate in float; ml_dtypes' NumPy loops would add in bfloat16).

``gemms`` records every product as ``Gemm(function, dtype, compute)`` with compute one of
"TF32", "32F" (float32 accumulation), "64F", "int".
"""

from __future__ import annotations

import os
import types
from typing import NamedTuple

import numpy as np

# cupy._core._routines_linalg's compute types (its cpdef enum) and cuBLAS' math modes.
COMPUTE_TYPES = {"COMPUTE_TYPE_TBD": 0, "COMPUTE_TYPE_DEFAULT": 1, "COMPUTE_TYPE_PEDANTIC": 2,
                 "COMPUTE_TYPE_FP16": 3, "COMPUTE_TYPE_FP32": 4, "COMPUTE_TYPE_FP64": 5,
                 "COMPUTE_TYPE_BF16": 6, "COMPUTE_TYPE_TF32": 7}
CUBLAS_DEFAULT_MATH, CUBLAS_TF32_TENSOR_OP_MATH = 0, 3
LOW = ("float16", "bfloat16")
NO_BF16_UFUNCS = {"rint", "floor", "ceil", "trunc", "divmod"}
NO_BF16_FUNCTIONS = {"fix", "around", "round"}


class Gemm(NamedTuple):
    function: str
    dtype: str
    compute: str


gemms: list[Gemm] = []
_compute_types: dict[str, int] = {}  # dtype name -> compute type (absent: TBD)
_math_mode = {"mode": CUBLAS_DEFAULT_MATH}


def _index(dtype) -> str:
    name = np.dtype(dtype).name
    return {"complex64": "float32", "complex128": "float64"}.get(name, name)


def set_compute_type(dtype, compute_type) -> None:
    if compute_type not in COMPUTE_TYPES.values():
        raise ValueError(f"Unknown compute type: {compute_type}")
    _compute_types[_index(dtype)] = compute_type


def get_compute_type(dtype) -> int:
    key = _index(dtype)
    if key not in _compute_types:  # TBD: CuPy reads CUPY_TF32 once, at the first product
        tf32 = key == "float32" and int(os.getenv("CUPY_TF32", "0")) > 0
        _compute_types[key] = COMPUTE_TYPES["COMPUTE_TYPE_TF32" if tf32
                                            else "COMPUTE_TYPE_DEFAULT"]
    return _compute_types[key]


def routines_linalg() -> types.ModuleType:
    """``cupy._core._routines_linalg``: the compute-type switch."""
    module = types.ModuleType("cupy._core._routines_linalg")
    module.__dict__.update(COMPUTE_TYPES, set_compute_type=set_compute_type,
                           get_compute_type=get_compute_type)
    return module


def cublas_module() -> types.ModuleType:
    """``cupy_backends.cuda.libs.cublas``: the handle's math mode (one handle: the double has
    one device and runs everything on one stream)."""
    module = types.ModuleType("cupy_backends.cuda.libs.cublas")

    def setMathMode(handle, mode):  # noqa: N802 - CuPy's name
        if mode not in (0, 1, 2, 3, 16):
            raise ValueError(f"CUBLAS_STATUS_INVALID_VALUE: math mode {mode}")
        _math_mode["mode"] = mode

    module.__dict__.update(CUBLAS_DEFAULT_MATH=CUBLAS_DEFAULT_MATH, CUBLAS_TENSOR_OP_MATH=1,
                           CUBLAS_PEDANTIC_MATH=2,
                           CUBLAS_TF32_TENSOR_OP_MATH=CUBLAS_TF32_TENSOR_OP_MATH,
                           setMathMode=setMathMode,
                           getMathMode=lambda handle: _math_mode["mode"])
    return module


def _compute(dtype: np.dtype, batched: bool) -> str:
    if dtype.name in LOW:
        return "32F"
    if dtype.kind in "biu":
        return "int"
    if _index(dtype) == "float64":
        return "64F"
    two_d_tf32 = not batched and get_compute_type(dtype) == COMPUTE_TYPES["COMPUTE_TYPE_TF32"]
    return "TF32" if two_d_tf32 or _math_mode["mode"] == CUBLAS_TF32_TENSOR_OP_MATH else "32F"


def gemm(name: str, fn, unwrap, wrap):
    """``cupy.<name>`` (matmul, dot, tensordot, einsum) over NumPy's ``fn``: 16-bit floats
    multiplied in float32 and rounded once, every product recorded in ``gemms``."""

    def call(*args, **kwargs):
        out = kwargs.pop("out", None)
        args, kwargs = unwrap(args, kwargs)
        arrays = [a for a in args if isinstance(a, np.ndarray)]
        dtype = np.result_type(*arrays)
        gemms.append(Gemm(name, dtype.name, _compute(dtype, any(a.ndim > 2 for a in arrays))))
        if dtype.name in LOW:
            wide = [a.astype(np.float32) if isinstance(a, np.ndarray) else a for a in args]
            result = np.asarray(fn(*wide, **kwargs)).astype(dtype)
        else:
            result = fn(*args, **kwargs)
        if out is not None:
            out[...] = wrap(result)
            return out
        return wrap(result)

    call.__name__ = name
    return call


def refuse_bfloat16(where: str, values) -> None:
    """TypeError, as CuPy 14 raises, when a bfloat16 array is among ``values`` (NumPy arrays
    or scalars) of a function without a bfloat16 loop."""
    for value in values:
        if getattr(getattr(value, "dtype", None), "name", None) == "bfloat16":
            raise TypeError(f"{where}: Wrong type (dtype('bfloat16')) of arguments: CuPy 14 has "
                            "no bfloat16 loop here (CuPy double, cupy/cupy#9630)")


def reduce_in_float32(fn):
    """``sum``/``mean`` accumulating 16-bit floats in float32 (as CuPy's reductions do) when
    no dtype is asked for; the result keeps the input's dtype."""

    def call(a, *args, **kwargs):
        if (isinstance(a, np.ndarray) and a.dtype.name == "bfloat16"
                and kwargs.get("dtype") is None and kwargs.get("out") is None):
            kwargs["dtype"] = np.float32
            return np.asarray(fn(a, *args, **kwargs)).astype(a.dtype)
        return fn(a, *args, **kwargs)

    call.__name__ = fn.__name__
    return call

"""``tape.cublas``: matrix products through cuBLAS called with ctypes, so that a CUDA graph can
capture them.

CuPy refuses its own cuBLAS calls while a stream captures ("calling cuBLAS API during stream
capture is currently unsupported"), but cuBLAS itself captures fine. This module calls the
libcublas that CuPy has loaded through ctypes, on handles of its own: one per (device, stream),
its stream and workspace set when it is made, so nothing is allocated or configured during a
capture. Call ``prepare()`` before a capture begins, and ``matmul(a, b, out=buffer)`` inside it.

Row-major arrays go to column-major cuBLAS as their transposes (C = A @ B is C^T = B^T A^T), so
C-contiguous operands need no copy, a transposed view (F-contiguous, or ``swapaxes(-1, -2)`` of
a C-contiguous array) is passed as is with its transpose flag flipped, and any other layout is
copied once. float16/bfloat16 products accumulate in float32 (as CuPy's and PyTorch's do);
float32 ones use TF32 tensor cores when ``tape.config.set_tf32(True)``.

Enum values below are those of library_types.h (cudaDataType_t) and cublas_api.h
(cublasComputeType_t, cublasOperation_t, cublasGemmAlgo_t, cublasPointerMode_t,
cublasStatus_t), as NVIDIA's own bindings list them: docs.nvidia.com/cuda/nvmath-python/latest/
(nvmath.CudaDataType, bindings.cublas.ComputeType, .Operation, .GemmAlgo, .PointerMode, .Status).
"""

from __future__ import annotations

import ctypes
import ctypes.util
import functools
import itertools
import math
import re

from . import backend, config
from .errors import (
    DeviceError,
    DeviceUnavailableError,
    DTypeError,
    ShapeError,
    TapeError,
    describe,
    user_line,
)

CUDA_R_32F, CUDA_R_64F, CUDA_R_16F, CUDA_R_16BF = 0, 1, 2, 14
CUBLAS_COMPUTE_32F, CUBLAS_COMPUTE_64F, CUBLAS_COMPUTE_32F_FAST_TF32 = 68, 70, 77
CUBLAS_OP_N, CUBLAS_OP_T = 0, 1
CUBLAS_GEMM_DEFAULT = -1
CUBLAS_POINTER_MODE_HOST = 0
STATUS_NAMES = {0: "CUBLAS_STATUS_SUCCESS", 1: "CUBLAS_STATUS_NOT_INITIALIZED",
                3: "CUBLAS_STATUS_ALLOC_FAILED", 7: "CUBLAS_STATUS_INVALID_VALUE",
                8: "CUBLAS_STATUS_ARCH_MISMATCH", 11: "CUBLAS_STATUS_MAPPING_ERROR",
                13: "CUBLAS_STATUS_EXECUTION_FAILED", 14: "CUBLAS_STATUS_INTERNAL_ERROR",
                15: "CUBLAS_STATUS_NOT_SUPPORTED", 16: "CUBLAS_STATUS_LICENSE_ERROR"}

# The workspace each handle owns: 32 MiB is what the cuBLAS guide (cublasSetWorkspace) recommends
# on Hopper, and more than the 4 MiB it recommends elsewhere. Set before any capture, it keeps
# cuBLAS from allocating a workspace of its own inside a captured graph (it fails there, or on
# CUDA 12.2+ records allocation nodes into the graph: pytorch/pytorch#83461, #113994).
WORKSPACE_BYTES = 32 << 20

# dtype name -> (cudaDataType_t of A, B and C, compute type, ctypes type of alpha and beta)
_TYPES = {"float32": (CUDA_R_32F, CUBLAS_COMPUTE_32F, ctypes.c_float),
          "float64": (CUDA_R_64F, CUBLAS_COMPUTE_64F, ctypes.c_double),
          "float16": (CUDA_R_16F, CUBLAS_COMPUTE_32F, ctypes.c_float),
          "bfloat16": (CUDA_R_16BF, CUBLAS_COMPUTE_32F, ctypes.c_float)}
_INT_MAX = 2**31 - 1  # m, n, k, leading dimensions and the batch count are C ints

_P, _I, _L = ctypes.c_void_p, ctypes.c_int, ctypes.c_longlong
_GEMM = [_P, _I, _I, _I, _I, _I, _P, _P, _I, _I, _P, _I, _I, _P, _P, _I, _I, _I, _I]
_PROTOTYPES = {  # cublas_api.h; every function returns cublasStatus_t (an int)
    "cublasCreate_v2": [ctypes.POINTER(_P)],
    "cublasDestroy_v2": [_P],
    "cublasSetStream_v2": [_P, _P],
    "cublasSetPointerMode_v2": [_P, _I],
    "cublasSetWorkspace_v2": [_P, _P, ctypes.c_size_t],
    "cublasGemmEx": _GEMM,
    # GemmEx's arguments with strideA, strideB, strideC after lda, ldb, ldc, and batchCount
    "cublasGemmStridedBatchedEx": [*_GEMM[:10], _L, *_GEMM[10:13], _L, *_GEMM[13:17], _L, _I,
                                   *_GEMM[17:]],
}
_LIBCUBLAS = re.compile(r"\s(/\S*/libcublas\.so[.\d]*)$")  # not libcublasLt


class CublasError(TapeError, RuntimeError):
    """A cuBLAS call returned a status other than CUBLAS_STATUS_SUCCESS."""


def _library_path(maps: str = "/proc/self/maps") -> str:
    """The path of the libcublas CuPy loaded (or, failing that, the one the system finds);
    DeviceUnavailableError saying why when there is no CuPy, no GPU or no library."""
    reason = backend.why_unavailable()
    if reason is not None:
        raise DeviceUnavailableError(f"tape.cublas needs a GPU, but {reason}")
    import cupy_backends.cuda.libs.cublas  # noqa: F401 - makes CuPy load its libcublas

    # and a handle of CuPy's own, in case it loads the library only on first use
    backend._cupy().cuda.device.get_cublas_handle()

    try:
        with open(maps) as lines:
            found = [m.group(1) for m in map(_LIBCUBLAS.search, lines) if m]
    except OSError:  # no /proc (not Linux)
        found = []
    path = found[0] if found else ctypes.util.find_library("cublas")
    if path is None:
        raise DeviceUnavailableError(
            "tape.cublas found no cuBLAS library: CuPy's libcublas is not in this process "
            f"({maps}), and ctypes.util.find_library('cublas') finds none; install the CUDA "
            "libraries CuPy uses (pip install 'tape[gpu]')")
    return path


def _open_library():
    """libcublas opened with ctypes (the CuPy double's tests put a fake in its place)."""
    path = _library_path()
    try:
        return ctypes.CDLL(path)
    except OSError as e:
        raise DeviceUnavailableError(f"tape.cublas could not open {path}: {e}") from e


@functools.cache
def _library():
    library = _open_library()
    for name, argtypes in _PROTOTYPES.items():
        function = getattr(library, name)
        function.argtypes, function.restype = argtypes, ctypes.c_int
    return library


def _call(name: str, *args) -> None:
    status = getattr(_library(), name)(*args)
    if status != 0:
        shown = ", ".join(str(x) if isinstance(x, int) else "&" for x in args)
        raise CublasError(f"{name}({shown}) returned "
                          f"{STATUS_NAMES.get(status, f'status {status}')} [at {user_line()}]")


class _Handle:
    """A cuBLAS handle bound to one stream, with the workspace it keeps alive."""

    def __init__(self, device_id: int, stream_ptr: int):
        handle = ctypes.c_void_p()
        _call("cublasCreate_v2", handle)
        self.ptr = handle.value
        # SetStream resets the workspace (cuBLAS guide, cublasSetStream): workspace after it.
        _call("cublasSetStream_v2", self.ptr, stream_ptr)
        _call("cublasSetPointerMode_v2", self.ptr, CUBLAS_POINTER_MODE_HOST)
        self.workspace = backend._cupy().empty(WORKSPACE_BYTES, dtype="uint8")
        _call("cublasSetWorkspace_v2", self.ptr, self.workspace.data.ptr, WORKSPACE_BYTES)
        self.device_id, self.stream_ptr = device_id, stream_ptr


_handles: dict[tuple[int, int], _Handle] = {}


def prepare(device_id: int | None = None) -> int:
    """Make (once) the cuBLAS handle of ``device_id`` (default: the current device) and its
    current stream, with its workspace; returns the handle. Call it before a stream capture
    begins: creating a handle or its workspace inside one would allocate.

    Example:
        >>> from tape import cublas
        >>> with cupy.cuda.Stream() as stream:  # doctest: +SKIP
        ...     handle = cublas.prepare()
        ...     stream.begin_capture()
        ...     cublas.matmul(a, b, out=c)
        ...     graph = stream.end_capture()
    """
    _library()  # DeviceUnavailableError saying why where there is no GPU or no library
    cupy = backend._cupy()
    device_id = cupy.cuda.get_device_id() if device_id is None else device_id
    with cupy.cuda.Device(device_id):
        key = (device_id, cupy.cuda.get_current_stream().ptr)
        if key not in _handles:
            _handles[key] = _Handle(*key)
    return _handles[key].ptr


def _error(kind, message: str, a, b, out=None):
    arrays = [a, b] if out is None else [a, b, out]
    devices = ", ".join(backend.device_of(x) if hasattr(x, "shape") else "host"
                        for x in arrays)
    return kind(f"matmul (tape.cublas): {message}; got {describe(arrays)} on {devices} "
                f"[at {user_line()}]")


def _check(a, b, out):
    cupy = backend._cupy()
    arrays = (a, b) if out is None else (a, b, out)
    for x in arrays:
        if cupy is None or not isinstance(x, cupy.ndarray):
            where = "NumPy (host) array" if hasattr(x, "__array__") else type(x).__name__
            raise _error(DeviceError, f"operands must be CuPy arrays on a GPU, not a {where}",
                         a, b, out)
    if len({x.device.id for x in arrays}) > 1:
        raise _error(DeviceError, "operands live on different GPUs", a, b, out)
    if a.dtype != b.dtype or a.dtype.name not in _TYPES:
        raise _error(DTypeError, "operands must share one of the dtypes float32, float64, "
                     "float16, bfloat16", a, b, out)
    if a.ndim < 2 or b.ndim < 2:
        raise _error(ShapeError, "1-d (and 0-d) operands are not taken (reshape a vector to "
                     "(1, k) or (k, 1))", a, b, out)
    if a.shape[-1] != b.shape[-2]:
        raise _error(ShapeError, f"inner sizes differ ({a.shape[-1]} != {b.shape[-2]})",
                     a, b, out)
    try:
        batch = _broadcast(a.shape[:-2], b.shape[:-2])
    except ValueError:
        raise _error(ShapeError, "batch shapes do not broadcast", a, b, out) from None
    shape = (*batch, a.shape[-2], b.shape[-1])
    if out is not None and (out.shape != shape or out.dtype != a.dtype
                            or not out.flags.c_contiguous):
        raise _error(ShapeError, f"out must be a C-contiguous {shape} {a.dtype} array", a, b,
                     out)
    if out is not None and (cupy.may_share_memory(out, a) or cupy.may_share_memory(out, b)):
        raise _error(ShapeError, "out must not overlap an operand (cuBLAS reads them while it "
                     "writes out)", a, b, out)
    if max(*shape[-2:], a.shape[-1], math.prod(batch)) > _INT_MAX:
        raise _error(ShapeError, "a size over 2**31 - 1 (cuBLAS' 32-bit API)", a, b, out)
    return shape


def _broadcast(*shapes) -> tuple:
    """NumPy's broadcast of batch shapes (ValueError when they do not broadcast)."""
    ndim = max(len(s) for s in shapes)
    padded = [(1,) * (ndim - len(s)) + tuple(s) for s in shapes]
    out = []
    for sizes in zip(*padded):
        wide = {n for n in sizes if n != 1}
        if len(wide) > 1:
            raise ValueError(f"batch shapes {shapes} do not broadcast")
        out.append(wide.pop() if wide else 1)
    return tuple(out)


def _broadcast_product(a, b, out):
    """``a @ b`` where both have batches and they differ (NumPy's broadcasting): an operand
    whose batch is one matrix goes as a 2-d one; otherwise one strided-batched call per index
    of the leading batch axes (conv's input gradient: (G, 1, M, K) @ (G, P, K, N))."""
    if math.prod(a.shape[:-2]) == 1:
        return matmul(a.reshape(a.shape[-2:]), b, out=out)
    if math.prod(b.shape[:-2]) == 1:
        return matmul(a, b.reshape(b.shape[-2:]), out=out)
    batch = out.shape[:-2]
    a = a.reshape((1,) * (len(batch) - a.ndim + 2) + a.shape)
    b = b.reshape((1,) * (len(batch) - b.ndim + 2) + b.shape)
    for index in itertools.product(*map(range, batch[:-1])):
        pick = [tuple(i if n > 1 else 0 for i, n in zip(index, x.shape)) for x in (a, b)]
        matmul(a[pick[0]], b[pick[1]], out=out[index])
    return out


def _rows_major(x):
    """(array, transposed): ``x`` if its matrices are row-major (C-contiguous), or column-major
    (a transposed view: transposed=True), else a C-contiguous copy."""
    if x.flags.c_contiguous:
        return x, False
    if x.swapaxes(-1, -2).flags.c_contiguous:
        return x, True
    return backend._cupy().ascontiguousarray(x), False


def matmul(a, b, out=None):
    """``a @ b`` of CuPy arrays through cuBLAS (``cupy.matmul``'s result), written into ``out``
    when given (a C-contiguous array of the result's shape and dtype) so that a captured
    graph writes a static buffer. Takes 2-d operands, and batches broadcast as NumPy's
    (equal batch shapes or one operand 2-d in one call). 1-d operands are refused (reshape
    them to matrices).

    Runs on the handle of the arrays' device and the current stream (``prepare``). Operands of
    one dtype: float32 (TF32 tensor cores when ``tape.config.set_tf32(True)``), float64,
    float16 and bfloat16 (accumulated in float32, rounded once).

    In a stream capture, give ``out`` and operands that need no copy (C-contiguous matrices or
    transposed views): a strided operand is copied into a temporary that is freed when this
    returns, and a later launch of the graph would read freed memory (the CuPy double's
    libcublas raises there).

    Example:
        >>> from tape import cublas
        >>> import cupy  # doctest: +SKIP
        >>> a = cupy.arange(6, dtype=cupy.float32).reshape(2, 3)  # doctest: +SKIP
        >>> cublas.matmul(a, a.T).tolist()  # doctest: +SKIP
        [[5.0, 14.0], [14.0, 50.0]]
        >>> cublas.WORKSPACE_BYTES >> 20  # MiB of workspace per handle
        32

    Raises:
        DeviceError: an operand is not a CuPy array, or they live on different GPUs.
        DTypeError: mixed dtypes, or a dtype cuBLAS is not asked for here (integers...).
        ShapeError: 1-d operands, inner sizes that differ, batch shapes that do not
            broadcast, a bad ``out``.
        DeviceUnavailableError: no CuPy, GPU or cuBLAS library.
        CublasError: a cuBLAS call failed (the status name and the call).
    """
    shape = _check(a, b, out)
    cupy = backend._cupy()
    with cupy.cuda.Device(a.device.id):
        out = cupy.empty(shape, dtype=a.dtype) if out is None else out
        m, k, n = a.shape[-2], a.shape[-1], b.shape[-1]
        if out.size == 0 or k == 0:
            out.fill(0)
            return out
        if a.ndim > 2 and b.ndim > 2 and a.shape[:-2] != b.shape[:-2]:
            return _broadcast_product(a, b, out)
        handle = prepare(a.device.id)
        data_type, compute, scalar = _TYPES[a.dtype.name]
        if compute == CUBLAS_COMPUTE_32F and a.dtype.name == "float32" and config.tf32_enabled():
            compute = CUBLAS_COMPUTE_32F_FAST_TF32
        if b.ndim == 2 and a.ndim > 2 and a.flags.c_contiguous:
            a, m = a.reshape(-1, k), math.prod(shape[:-1])  # fold the batch into the rows
        a, a_t = _rows_major(a)
        b, b_t = _rows_major(b)
        # column-major C^T (n x m) = op(B^T) (n x k) @ op(A^T) (k x m)
        args = [handle, CUBLAS_OP_T if b_t else CUBLAS_OP_N, CUBLAS_OP_T if a_t else CUBLAS_OP_N,
                n, m, k, ctypes.byref(scalar(1))]
        operands = [(b, k if b_t else n, k * n), (a, m if a_t else k, m * k)]
        batched = a.ndim > 2 or b.ndim > 2
        for x, ld, stride in operands:
            args += [x.data.ptr, data_type, ld] + ([stride if x.ndim > 2 else 0] if batched else [])
        args += [ctypes.byref(scalar(0)), out.data.ptr, data_type, n]
        if batched:
            args += [m * n, math.prod(shape[:-2])]
        _call("cublasGemmStridedBatchedEx" if batched else "cublasGemmEx", *args, compute,
              CUBLAS_GEMM_DEFAULT)
    return out

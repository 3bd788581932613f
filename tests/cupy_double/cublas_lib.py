"""The CuPy double's libcublas: the C functions that tape.cublas calls through ctypes, doing the
math with NumPy on the memory that the double's device pointers name (loaded by path; the
test session's conftest makes ``tape.cublas._open_library`` return ``Library(cupy_double)``).

As strict as the GPU where tape could get it wrong:

- each function checks the ``argtypes``/``restype`` its caller declared against cublas_api.h's
  prototype (stated here on its own, so a wrong declaration in tape.cublas fails here), and
  converts its arguments as ctypes does (an int too large for a C int wraps, as in C);
- cuBLAS' column-major convention and its argument checks: ``lda >= max(1, rows of A as
  stored)`` (m for CUBLAS_OP_N, else k), likewise ldb, ``ldc >= max(1, m)``, negative sizes,
  unknown operations and algorithms -> CUBLAS_STATUS_INVALID_VALUE; a type/compute combination
  cublasGemmEx does not take -> CUBLAS_STATUS_NOT_SUPPORTED; a handle never created or already
  destroyed -> CUBLAS_STATUS_NOT_INITIALIZED (the GPU may just crash there);
- alpha and beta are read from host memory when the call is made (pointer mode host: a
  captured graph keeps the values of its capture), as float for the 32F/TF32 compute types
  and double for 64F; beta == 0 never reads C (BLAS: C need not be initialised);
- the product runs through ``cupy_double.enqueue`` on the handle's stream: at once, or, while
  that stream captures, recorded and run at the graph's launch. It reads and writes memory
  only then, and a pointer that is not live device memory of enough bytes (a host address,
  a freed or too small buffer, a freed workspace) raises the double's CUDARuntimeError
  ``cudaErrorIllegalAddress`` there. The GPU returns CUBLAS_STATUS_SUCCESS and faults
  asynchronously (the context is lost at the next synchronisation); raising at the access
  names the call and the operand instead, and fails the test as the GPU would;
- cublasSetStream resets the handle's workspace to cuBLAS' own pool (cuBLAS guide,
  cublasSetStream), and a GEMM on a handle with no workspace of its own while its stream
  captures raises CUDARuntimeError ``cudaErrorStreamCaptureUnsupported``: cuBLAS would
  allocate its workspace inside the capture, which invalidates it (on CUDA 12.2+ it may
  instead record allocation nodes into the graph; tape never relies on either);
- 16-bit inputs are multiplied in float32 and rounded once to the output type; with
  CUBLAS_COMPUTE_32F_FAST_TF32 the float32 inputs are rounded to TF32 (10 mantissa bits) first,
  as tensor cores read them. Every product is recorded in ``lowp().gemms`` as
  ``Gemm(function, dtype, compute)``, compute "32F", "TF32" or "64F".

Not emulated: pointer mode device (CUBLAS_STATUS_NOT_SUPPORTED here), the workspace's 256-byte
alignment rule, and the _64 entry points.
"""

from __future__ import annotations

import ctypes
import itertools

import ml_dtypes
import numpy as np

SUCCESS, NOT_INITIALIZED, INVALID_VALUE, NOT_SUPPORTED = 0, 1, 7, 15
P, I, L = ctypes.c_void_p, ctypes.c_int, ctypes.c_longlong
HANDLE_OUT = ctypes.POINTER(P)
# cublas_api.h: cublasStatus_t cublasGemmEx(cublasHandle_t, cublasOperation_t transa, transb,
# int m, n, k, const void *alpha, const void *A, cudaDataType Atype, int lda, const void *B,
# cudaDataType Btype, int ldb, const void *beta, void *C, cudaDataType Ctype, int ldc,
# cublasComputeType_t, cublasGemmAlgo_t); the strided batched form adds long long strides
# after lda, ldb, ldc and int batchCount after strideC.
PROTOTYPES = {
    "cublasCreate_v2": [HANDLE_OUT],
    "cublasDestroy_v2": [P],
    "cublasSetStream_v2": [P, P],
    "cublasSetPointerMode_v2": [P, I],
    "cublasSetWorkspace_v2": [P, P, ctypes.c_size_t],
    "cublasGemmEx": [P, I, I, I, I, I, P, P, I, I, P, I, I, P, P, I, I, I, I],
    "cublasGemmStridedBatchedEx": [P, I, I, I, I, I, P, P, I, I, L, P, I, I, L, P, P, I, I, L,
                                   I, I, I],
}
DTYPES = {0: np.dtype(np.float32), 1: np.dtype(np.float64), 2: np.dtype(np.float16),
          14: np.dtype(ml_dtypes.bfloat16)}
COMPUTE = {68: "32F", 70: "64F", 77: "TF32"}
# (A and B type, C type, compute type) that cublasGemmEx takes, of those the double knows
SUPPORTED = {(0, 0, 68), (0, 0, 77), (1, 1, 70), (2, 2, 68), (2, 0, 68), (14, 14, 68),
             (14, 0, 68)}
ALGOS = {-1, *range(24), *range(99, 116)}  # CUBLAS_GEMM_DEFAULT, ALGO0..23, the TENSOR_OP ones


class CFunction:
    """One C function of the fake library: checks its declaration, converts its arguments as
    ctypes does, and returns the status of ``impl``."""

    def __init__(self, name: str, impl):
        self.__name__, self.impl = name, impl
        self.argtypes, self.restype = None, ctypes.c_int  # ctypes' defaults

    def __call__(self, *args):
        prototype = PROTOTYPES[self.__name__]
        if list(self.argtypes or ()) != prototype or self.restype is not ctypes.c_int:
            raise TypeError(f"{self.__name__}: declared argtypes {self.argtypes} and restype "
                            f"{self.restype}, but cublas_api.h has {prototype} -> c_int")
        if len(args) != len(prototype):
            raise TypeError(f"this function takes {len(prototype)} arguments "
                            f"({len(args)} given)")
        values = []
        for index, (ctype, arg) in enumerate(zip(prototype, args, strict=True)):
            try:
                ctype.from_param(arg)
            except TypeError as e:
                raise ctypes.ArgumentError(f"argument {index + 1}: {e}") from None
            if ctype is HANDLE_OUT:
                values.append(arg if isinstance(arg, P) else arg._obj)
            elif ctype is P:
                values.append(_address(arg))
            else:
                values.append(ctype(getattr(arg, "value", arg)).value)
        return int(self.impl(*values))


def _address(arg) -> int:
    """The address a ``void *`` argument passes: an int, None, a c_void_p, byref(x)."""
    if arg is None or isinstance(arg, int):
        return arg or 0
    if isinstance(arg, P):
        return arg.value or 0
    if type(arg).__name__ == "CArgObject":  # ctypes.byref(x)
        return ctypes.addressof(arg._obj)
    return ctypes.addressof(arg)


class _Handle:
    def __init__(self):
        self.stream, self.workspace, self.pointer_mode = 0, None, 0


class Library:
    """The fake libcublas over the CuPy double ``double`` (tests/cupy_double/__init__.py):
    its functions are attributes, as on a ``ctypes.CDLL``."""

    def __init__(self, double):
        self.double = double
        self.device_bit = double._emulator().DEVICE_ADDRESS_BIT
        self.handles: dict[int, _Handle] = {}
        self._ids = itertools.count(0x7E000000, 0x100)
        impls = {"cublasCreate_v2": self._create, "cublasDestroy_v2": self._destroy,
                 "cublasSetStream_v2": self._set_stream,
                 "cublasSetPointerMode_v2": self._set_pointer_mode,
                 "cublasSetWorkspace_v2": self._set_workspace,
                 "cublasGemmEx": self._gemm_ex,
                 "cublasGemmStridedBatchedEx": self._gemm_strided_batched_ex}
        for name, impl in impls.items():
            setattr(self, name, CFunction(name, impl))

    # ---- the handle ----------------------------------------------------------------------

    def _create(self, out) -> int:
        out.value = next(self._ids)
        self.handles[out.value] = _Handle()
        return SUCCESS

    def _destroy(self, handle) -> int:
        return SUCCESS if self.handles.pop(handle, None) is not None else NOT_INITIALIZED

    def _set_stream(self, handle, stream) -> int:
        state = self.handles.get(handle)
        if state is None:
            return NOT_INITIALIZED
        state.stream, state.workspace = stream, None  # back to cuBLAS' own workspace pool
        return SUCCESS

    def _set_pointer_mode(self, handle, mode) -> int:
        state = self.handles.get(handle)
        if state is None:
            return NOT_INITIALIZED
        if mode not in (0, 1):
            return INVALID_VALUE
        state.pointer_mode = mode
        return SUCCESS

    def _set_workspace(self, handle, pointer, size) -> int:
        state = self.handles.get(handle)
        if state is None:
            return NOT_INITIALIZED
        state.workspace = (pointer, size) if size else None
        return SUCCESS

    # ---- products ------------------------------------------------------------------------

    def _gemm_ex(self, handle, transa, transb, m, n, k, alpha, a, atype, lda, b, btype, ldb,
                 beta, c, ctype, ldc, compute, algo) -> int:
        return self._gemm("cublasGemmEx", handle, transa, transb, m, n, k, alpha,
                          (a, atype, lda, 0), (b, btype, ldb, 0), beta, (c, ctype, ldc, 0), 1,
                          compute, algo)

    def _gemm_strided_batched_ex(self, handle, transa, transb, m, n, k, alpha, a, atype, lda,
                                 stride_a, b, btype, ldb, stride_b, beta, c, ctype, ldc,
                                 stride_c, batch, compute, algo) -> int:
        return self._gemm("cublasGemmStridedBatchedEx", handle, transa, transb, m, n, k, alpha,
                          (a, atype, lda, stride_a), (b, btype, ldb, stride_b), beta,
                          (c, ctype, ldc, stride_c), batch, compute, algo)

    def _gemm(self, where, handle, transa, transb, m, n, k, alpha, a, b, beta, c, batch,
              compute, algo) -> int:
        state = self.handles.get(handle)
        if state is None:
            return NOT_INITIALIZED
        shape_a = (m, k) if transa == 0 else (k, m)  # A as stored, column-major
        shape_b = (k, n) if transb == 0 else (n, k)
        if (transa not in (0, 1, 2) or transb not in (0, 1, 2) or min(m, n, k, batch) < 0
                or a[2] < max(1, shape_a[0]) or b[2] < max(1, shape_b[0])
                or c[2] < max(1, m) or min(a[3], b[3], c[3]) < 0 or algo not in ALGOS):
            return INVALID_VALUE
        if a[1] != b[1] or (a[1], c[1], compute) not in SUPPORTED or state.pointer_mode != 0:
            return NOT_SUPPORTED
        scalar = ctypes.c_double if compute == 70 else ctypes.c_float
        if not alpha or not beta:
            return INVALID_VALUE
        for pointer in (alpha, beta):
            if pointer & self.device_bit:
                raise self.double.CUDARuntimeError(
                    f"{where}: alpha/beta at {pointer:#x} is device memory, read on the host in "
                    "pointer mode host (a segmentation fault on a GPU machine)")
        alpha, beta = scalar.from_address(alpha).value, scalar.from_address(beta).value
        if self.double.is_capturing(state.stream) and state.workspace is None:
            raise self.double.CUDARuntimeError(
                f"cudaErrorStreamCaptureUnsupported: operation not permitted when stream is "
                f"capturing (CuPy double: {where} on a handle with no workspace set would "
                "allocate cuBLAS' workspace inside the capture; call cublasSetWorkspace first)")
        lowp = self.double.lowp()
        lowp.gemms.append(lowp.Gemm(where, DTYPES[a[1]].name, COMPUTE[compute]))
        workspace = state.workspace

        def run():
            if workspace is not None:
                self._memory(where, "the workspace", workspace[0], workspace[1])
            out = self._matrices(where, "C", c, (m, n), batch)
            if k == 0:
                product = np.zeros(out.shape, np.float64 if compute == 70 else np.float32)
            else:
                product = _product(self._matrices(where, "A", a, shape_a, batch), transa,
                                   self._matrices(where, "B", b, shape_b, batch), transb,
                                   compute)
            acc = product.dtype.type
            result = acc(alpha) * product
            if beta != 0:
                result = result + acc(beta) * out.astype(acc)
            out[...] = result.astype(out.dtype)

        if m and n and batch:
            self.double.enqueue(where, state.stream, run)
        return SUCCESS

    def _matrices(self, where, name, operand, shape, batch) -> np.ndarray:
        """(batch, rows, cols) view of the column-major matrices of ``operand``
        (pointer, data type, leading dimension, batch stride) in the double's memory."""
        pointer, data_type, ld, stride = operand
        dtype, (rows, cols) = DTYPES[data_type], shape
        count = 0 if 0 in (rows, cols, batch) else (batch - 1) * stride + (cols - 1) * ld + rows
        memory = self._memory(where, name, pointer, count * dtype.itemsize)
        flat = np.frombuffer(memory, dtype=dtype, count=count)
        item = dtype.itemsize
        return np.lib.stride_tricks.as_strided(
            flat, shape=(batch, cols, rows), strides=(stride * item, ld * item, item),
            writeable=name == "C").transpose(0, 2, 1)

    def _memory(self, where, name, pointer, nbytes):
        """The ``nbytes`` bytes at device address ``pointer`` (a ctypes array over them), if
        they lie in live device memory; else the fault a GPU would take."""
        owner = self.double._DEVICE_POINTERS.get(pointer)
        array = owner() if owner is not None else None
        root = array
        while root is not None and isinstance(root.base, np.ndarray):
            root = root.base
        host = pointer & ~self.device_bit
        if root is not None:
            low, high = np.lib.array_utils.byte_bounds(root)
            if low <= host and host + nbytes <= high:
                return (ctypes.c_char * nbytes).from_address(host)
        what = ("a host address" if not pointer & self.device_bit else
                "not live device memory" if root is None else
                f"{nbytes} bytes past the end of its buffer of {root.nbytes} bytes")
        raise self.double.CUDARuntimeError(
            f"cudaErrorIllegalAddress: an illegal memory access was encountered (CuPy double: "
            f"{where} reads {name} at {pointer:#x}, {what})")


def _product(a, transa, b, transb, compute) -> np.ndarray:
    """op(a) @ op(b) per batch, in the compute type's precision (float32 accumulation for
    16-bit inputs; float32 inputs rounded to TF32 first under CUBLAS_COMPUTE_32F_FAST_TF32)."""
    acc = np.float64 if compute == 70 else np.float32
    a = (a if transa == 0 else a.transpose(0, 2, 1)).astype(acc)
    b = (b if transb == 0 else b.transpose(0, 2, 1)).astype(acc)
    if compute == 77:
        a, b = _tf32(a), _tf32(b)
    return np.matmul(a, b)


def _tf32(x: np.ndarray) -> np.ndarray:
    """float32 values rounded to TF32's 10 mantissa bits (to nearest, ties away from zero)."""
    bits = (x.view(np.uint32) + np.uint32(0x1000)) & np.uint32(0xFFFFE000)
    return np.where(np.isfinite(x), bits.view(np.float32), x)

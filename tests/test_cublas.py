"""tape.cublas (issue 16): matrix products through cuBLAS called with ctypes, checked against
NumPy. Marked ``gpu``: on a GPU they call CuPy's libcublas; in CI the CuPy double's
(tests/cupy_double/cublas_lib.py). Tests that read the double's records skip on a GPU."""

from __future__ import annotations

import ctypes
import sys
import types

import ml_dtypes
import numpy as np
import pytest

import tape
from tape import backend, cublas
from tape.errors import DeviceError, DeviceUnavailableError, DTypeError, ShapeError

gpu = pytest.mark.gpu
RNG = np.random.default_rng(16)


@pytest.fixture
def cupy():
    import cupy

    return cupy


@pytest.fixture
def double(cupy):
    """The CuPy double (and its libcublas), or a skip on a real GPU."""
    if not cupy.__version__.endswith("+double"):
        pytest.skip("reads the CuPy double's records (its libcublas); a GPU has none")
    return types.SimpleNamespace(module=sys.modules["cupy_double"],
                                 lib=cublas._open_library())


def _operand(cupy, x: np.ndarray, layout: str):
    """``x`` on the device as a C-contiguous array, an F-contiguous (transposed) view, or a
    strided view that is neither."""
    if layout == "C":
        return cupy.asarray(x)
    if layout == "F":
        return cupy.asarray(np.ascontiguousarray(x.swapaxes(-1, -2))).swapaxes(-1, -2)
    wide = np.zeros((*x.shape[:-1], 2 * x.shape[-1]), x.dtype)
    wide[..., ::2] = x
    return cupy.asarray(wide)[..., ::2]


def _bound(a, b):
    """|a| @ |b| in float64: the scale of a product's rounding error."""
    return np.abs(a.astype(np.float64)) @ np.abs(b.astype(np.float64))


# ---- values -----------------------------------------------------------------------------------

SHAPES = [(1, 1, 1), (1, 3, 17), (3, 1, 33), (17, 33, 1), (33, 65, 3), (65, 17, 33)]


@gpu
@pytest.mark.parametrize("m, k, n", SHAPES)
@pytest.mark.parametrize("layout_a", ["C", "F", "strided"])
@pytest.mark.parametrize("layout_b", ["C", "F", "strided"])
def test_float64_matches_numpy_for_every_layout(cupy, monkeypatch, m, k, n, layout_a,
                                                layout_b):
    a, b = RNG.normal(size=(m, k)), RNG.normal(size=(k, n))
    copies = []
    ascontiguousarray = cupy.ascontiguousarray
    monkeypatch.setattr(cupy, "ascontiguousarray",
                        lambda x: copies.append(x.shape) or ascontiguousarray(x))
    operands = _operand(cupy, a, layout_a), _operand(cupy, b, layout_b)
    got = cublas.matmul(*operands)
    assert got.shape == (m, n) and got.dtype == np.float64
    np.testing.assert_allclose(cupy.asnumpy(got), a @ b, rtol=1e-12, atol=1e-12)
    # C- and F-contiguous operands go as they are; a strided view is copied once (one of a
    # single element is contiguous)
    strided = [not (x.flags.c_contiguous or x.flags.f_contiguous) for x in operands]
    assert len(copies) == sum(strided)
    assert strided == [layout == "strided" and x.size > 1
                       for x, layout in zip(operands, [layout_a, layout_b])]


TOLERANCE = {"float32": 1e-5, "float64": 1e-12, "float16": 2e-3, "bfloat16": 1.6e-2}


@gpu
@pytest.mark.parametrize("dtype", list(TOLERANCE))
@pytest.mark.parametrize("m, k, n", [(1, 65, 3), (33, 17, 65)])
def test_dtypes_match_numpy(cupy, dtype, m, k, n):
    dtype = np.dtype(ml_dtypes.bfloat16) if dtype == "bfloat16" else np.dtype(dtype)
    a = RNG.normal(size=(m, k)).astype(dtype)
    b = RNG.normal(size=(k, n)).astype(dtype)
    got = cublas.matmul(cupy.asarray(a), cupy.asarray(b))
    assert got.dtype == dtype
    exact = a.astype(np.float64) @ b.astype(np.float64)
    # one rounding to the output type, plus float32 accumulation (relative to |a| @ |b|)
    np.testing.assert_allclose(cupy.asnumpy(got).astype(np.float64), exact, rtol=0,
                               atol=TOLERANCE[dtype.name] * _bound(a, b).max())


@gpu
@pytest.mark.parametrize("dtype", ["float16", "bfloat16"])
def test_16_bit_products_accumulate_in_float32(cupy, dtype):
    # 1 + 2**-12 - 1 = 2**-12: exact in float32 (13 bits), and representable in both 16-bit
    # types; an accumulator of 10 (float16) or 7 (bfloat16) mantissa bits rounds 1 + 2**-12
    # to 1 and ends at 0, whatever it meets first between 4096 terms, unless 1 and -1 cancel
    # before the small term joins.
    dtype = np.dtype(ml_dtypes.bfloat16) if dtype == "bfloat16" else np.dtype(dtype)
    k = 4096
    a = np.zeros((1, k), dtype)
    a[0, 0], a[0, 1], a[0, -1] = 1, 2.0**-12, -1
    b = np.ones((k, 1), dtype)
    in_16_bits = np.add.accumulate(a[0] * b[:, 0], dtype=dtype)[-1]
    assert in_16_bits == 0  # the contrast: 16-bit accumulation in k order loses it all
    got = cupy.asnumpy(cublas.matmul(cupy.asarray(a), cupy.asarray(b)))
    assert got.dtype == dtype and got[0, 0] == 2.0**-12


@gpu
@pytest.mark.parametrize("layouts", [("C", "C"), ("F", "C"), ("C", "F"), ("F", "F"),
                                     ("strided", "F")])
def test_batched_matches_numpy(cupy, layouts):
    a, b = RNG.normal(size=(2, 3, 5, 7)), RNG.normal(size=(2, 3, 7, 4))
    got = cublas.matmul(_operand(cupy, a, layouts[0]), _operand(cupy, b, layouts[1]))
    np.testing.assert_allclose(cupy.asnumpy(got), a @ b, rtol=1e-12, atol=1e-12)


@gpu
@pytest.mark.parametrize("case", ["batch @ matrix", "transposed batch @ matrix",
                                  "matrix @ batch", "matrix @ transposed batch"])
def test_broadcast_batches_match_numpy(cupy, case):
    batch, matrix = RNG.normal(size=(4, 3, 5, 6)), RNG.normal(size=(6, 5))
    layout = "F" if "transposed" in case else "C"
    if case.startswith("matrix"):
        a, b = matrix, batch
        got = cublas.matmul(cupy.asarray(a), _operand(cupy, b, layout))
    else:
        a, b = batch, matrix
        got = cublas.matmul(_operand(cupy, a, layout), cupy.asarray(b))
    np.testing.assert_allclose(cupy.asnumpy(got), np.matmul(a, b), rtol=1e-12, atol=1e-12)


@gpu
def test_broadcast_over_a_contiguous_batch_is_one_gemm(cupy, double):
    gemms = double.module.lowp().gemms
    before = len(gemms)
    cublas.matmul(cupy.ones((4, 3, 5)), cupy.ones((5, 2)))  # folded into a (12, 5) matrix
    cublas.matmul(cupy.ones((5, 2)).T, cupy.ones((4, 5, 3)))  # stride 0 for the matrix
    assert [g.function for g in gemms[before:]] == ["cublasGemmEx",
                                                   "cublasGemmStridedBatchedEx"]


@gpu
@pytest.mark.parametrize("dtype", ["float32", "float64", "float16"])
def test_out_is_written_in_place(cupy, dtype):
    a, b = RNG.normal(size=(2, 5, 3)).astype(dtype), RNG.normal(size=(2, 3, 4)).astype(dtype)
    out = cupy.full((2, 5, 4), np.nan, dtype=dtype)  # beta = 0: what is there is never read
    pointer = out.data.ptr
    result = cublas.matmul(cupy.asarray(a), cupy.asarray(b), out=out)
    assert result is out and out.data.ptr == pointer
    exact = a.astype(np.float64) @ b.astype(np.float64)
    np.testing.assert_allclose(cupy.asnumpy(out).astype(np.float64), exact, rtol=0,
                               atol=TOLERANCE[dtype] * _bound(a, b).max())


@gpu
def test_empty_and_zero_inner_size_give_zeros(cupy):
    assert cublas.matmul(cupy.ones((0, 3)), cupy.ones((3, 2))).shape == (0, 2)
    got = cublas.matmul(cupy.ones((2, 0)), cupy.ones((0, 3)))
    np.testing.assert_array_equal(cupy.asnumpy(got), np.zeros((2, 3)))


@gpu
def test_tf32_is_asked_for_only_when_switched_on(cupy, double):
    gemms = double.module.lowp().gemms
    a = cupy.asarray(np.full((1, 1), 1 + 2.0**-12, np.float32))  # not a TF32 number
    one = cupy.ones((1, 1), dtype=np.float32)
    assert cupy.asnumpy(cublas.matmul(a, one))[0, 0] == np.float32(1 + 2.0**-12)
    assert gemms[-1].compute == "32F"
    tape.config.set_tf32(True)
    try:
        got = cupy.asnumpy(cublas.matmul(a, one))[0, 0]
        assert gemms[-1].compute == "TF32" and got == 1.0  # the input rounded to 10 bits
        cublas.matmul(cupy.ones((2, 2)), cupy.ones((2, 2)))
        assert gemms[-1].compute == "64F"  # float64 never uses TF32
    finally:
        tape.config.set_tf32(False)
    cublas.matmul(a, one)
    assert gemms[-1].compute == "32F"


# ---- bad input --------------------------------------------------------------------------------


def _raises(kind, call, *needles):
    with pytest.raises(kind) as info:
        call()
    message = str(info.value)
    assert "matmul (tape.cublas)" in message and "[at " in message, message
    for needle in needles:
        assert needle in message, message
    return message


@gpu
def test_bad_operands_are_clear_errors(cupy):
    a = cupy.ones((2, 3), dtype=np.float32)
    _raises(DeviceError, lambda: cublas.matmul(a, np.ones((3, 4), np.float32)),
            "NumPy (host) array", "(2, 3) float32, (3, 4) float32", "gpu:0, cpu")
    _raises(DTypeError, lambda: cublas.matmul(a, cupy.ones((3, 4))),
            "(2, 3) float32, (3, 4) float64")
    _raises(DTypeError, lambda: cublas.matmul(a.astype(np.int32), a.T.astype(np.int32)),
            "int32")
    _raises(ShapeError, lambda: cublas.matmul(a, cupy.ones((4, 5), np.float32)),
            "inner sizes differ (3 != 4)", "(2, 3) float32, (4, 5) float32", "gpu:0, gpu:0")
    _raises(ShapeError, lambda: cublas.matmul(a, cupy.ones(3, np.float32)), "1-d", "(3,)")
    _raises(ShapeError, lambda: cublas.matmul(cupy.ones((2, 2, 3)), cupy.ones((3, 3, 4))),
            "batch shapes", "(2, 2, 3) float64, (3, 3, 4) float64")


@gpu
@pytest.mark.parametrize("out", ["shape", "dtype", "layout", "overlap"])
def test_bad_out_is_a_clear_error(cupy, out):
    a, b = cupy.ones((2, 3), np.float32), cupy.ones((3, 4), np.float32)
    if out == "overlap":
        square = cupy.ones((3, 3), np.float32)
        _raises(ShapeError, lambda: cublas.matmul(square, square, out=square), "overlap")
        return
    bad = {"shape": cupy.empty((4, 2), np.float32), "dtype": cupy.empty((2, 4)),
           "layout": cupy.empty((4, 2), np.float32).T}[out]
    _raises(ShapeError, lambda: cublas.matmul(a, b, out=bad), "C-contiguous (2, 4) float32")


@gpu
def test_operands_on_two_gpus_are_a_clear_error(cupy):
    if backend.device_count() < 2:
        pytest.skip("needs two GPUs")
    a = cupy.ones((2, 3))
    with cupy.cuda.Device(1):
        b = cupy.ones((3, 2))
    _raises(DeviceError, lambda: cublas.matmul(a, b), "different GPUs", "gpu:0, gpu:1")


@gpu
def test_a_failed_status_names_the_status_and_the_call(cupy):
    a = cupy.ones((2, 3), np.float32)
    alpha, beta = ctypes.c_float(1), ctypes.c_float(0)
    handle = cublas.prepare()
    with pytest.raises(cublas.CublasError, match=r"cublasGemmEx\(.*\) returned "
                                                 r"CUBLAS_STATUS_INVALID_VALUE"):
        cublas._call("cublasGemmEx", handle, 0, 0, 3, 2, 3, ctypes.byref(alpha), a.data.ptr,
                     cublas.CUDA_R_32F, 0, a.data.ptr, cublas.CUDA_R_32F, 3,
                     ctypes.byref(beta), a.data.ptr, cublas.CUDA_R_32F, 3,
                     cublas.CUBLAS_COMPUTE_32F, cublas.CUBLAS_GEMM_DEFAULT)  # lda 0 < m 3


def test_without_a_gpu_prepare_says_why():
    if backend.why_unavailable() is None:
        pytest.skip("a GPU (or the CuPy double) is here")
    with pytest.raises(DeviceUnavailableError, match="tape.cublas needs a GPU, but CuPy"):
        cublas.prepare()


@gpu
def test_the_library_is_found_in_the_process_maps_or_its_absence_said(tmp_path,
                                                                      monkeypatch):
    maps = tmp_path / "maps"
    maps.write_text(
        "7f00-7f01 r-xp 0 08:01 1 /site/nvidia/cu13/lib/libcublasLt.so.13\n"
        "7f02-7f03 r-xp 0 08:01 2 /site/nvidia/cu13/lib/libcublas.so.13\n")
    assert cublas._library_path(str(maps)) == "/site/nvidia/cu13/lib/libcublas.so.13"
    maps.write_text("7f00-7f01 r-xp 0 08:01 1 /usr/lib/libc.so.6\n")
    monkeypatch.setattr(ctypes.util, "find_library", lambda name: None)
    with pytest.raises(DeviceUnavailableError, match="found no cuBLAS library"):
        cublas._library_path(str(maps))
    monkeypatch.setattr(backend, "why_unavailable", lambda: "CuPy found no CUDA device")
    with pytest.raises(DeviceUnavailableError, match="needs a GPU, but CuPy found no CUDA"):
        cublas._library_path(str(maps))


# ---- handles and streams ----------------------------------------------------------------------


def _streams(cupy, monkeypatch, count=1):
    """New streams to make current in a ``with``: CuPy's own, or on the double (which has no
    ``cupy.cuda.Stream`` yet) stand-ins with a ``ptr`` that ``get_current_stream`` returns
    inside their block."""
    if hasattr(cupy.cuda, "Stream"):
        return [cupy.cuda.Stream(non_blocking=True) for _ in range(count)]
    current = [cupy.cuda.get_current_stream()]
    monkeypatch.setattr(cupy.cuda, "get_current_stream", lambda: current[-1])

    class Stream:
        def __init__(self, ptr):
            self.ptr = ptr

        def __enter__(self):
            current.append(self)
            return self

        def __exit__(self, *exc):
            current.pop()

    return [Stream(0x5700 + 0x10 * i) for i in range(count)]


@gpu
def test_one_handle_per_device_and_stream(cupy, monkeypatch):
    monkeypatch.setattr(cublas, "_handles", {})
    first, second = _streams(cupy, monkeypatch, 2)
    a = cupy.ones((2, 2), np.float32)
    with first:
        handle = cublas.prepare()
        cublas.matmul(a, a)
        assert cublas.prepare() == handle  # the same stream reuses its handle
    with second:
        other = cublas.prepare()
    assert other != handle
    assert set(cublas._handles) == {(0, first.ptr), (0, second.ptr)}
    for (_, stream), kept in cublas._handles.items():
        assert kept.stream_ptr == stream and kept.workspace.nbytes == cublas.WORKSPACE_BYTES


@gpu
def test_handles_get_their_stream_and_workspace_before_any_gemm(cupy, double, monkeypatch):
    monkeypatch.setattr(cublas, "_handles", {})
    [stream] = _streams(cupy, monkeypatch)
    with stream:
        handle = cublas.prepare()
    state = double.lib.handles[handle]
    assert state.stream == stream.ptr and state.pointer_mode == 0
    assert state.workspace == (cublas._handles[(0, stream.ptr)].workspace.data.ptr,
                               cublas.WORKSPACE_BYTES)


@gpu
def test_a_capture_records_the_gemm_and_its_launch_runs_it(cupy, double, monkeypatch):
    """The lead's capture recorder in small: while the stream captures, the product is queued
    on it (not run), and runs into ``out`` when the queue is launched."""
    monkeypatch.setattr(cublas, "_handles", {})
    [stream] = _streams(cupy, monkeypatch)
    queued = []
    monkeypatch.setattr(double.module, "is_capturing", lambda ptr: ptr == stream.ptr)
    monkeypatch.setattr(double.module, "enqueue",
                        lambda where, ptr, run: queued.append((where, ptr, run)))
    a, b = RNG.normal(size=(3, 4)), RNG.normal(size=(4, 5))
    a_gpu, b_gpu, out = cupy.asarray(a), cupy.asarray(b), cupy.zeros((3, 5))
    with stream:
        cublas.prepare()
        cublas.matmul(a_gpu, b_gpu, out=out)
    assert [(w, p) for w, p, _ in queued] == [("cublasGemmEx", stream.ptr)]
    assert not cupy.asnumpy(out).any()  # recorded, not run
    queued[0][2]()  # the launch (its operands kept alive, as a graph's buffers are)
    np.testing.assert_allclose(cupy.asnumpy(out), a @ b, rtol=1e-12)
    del a_gpu
    with pytest.raises(double.module.CUDARuntimeError, match="not live device memory"):
        queued[0][2]()  # a launch after an operand was freed faults


# ---- the double's libcublas is as strict as the GPU -------------------------------------------


def _gemm_args(handle, a, b, c, m, n, k, lda, ldb, ldc, alpha, beta, pointers=None):
    a_ptr, b_ptr, c_ptr = pointers or (a.data.ptr, b.data.ptr, c.data.ptr)
    return (handle, 0, 0, m, n, k, ctypes.byref(alpha), a_ptr, 1, lda, b_ptr, 1, ldb,
            ctypes.byref(beta), c_ptr, 1, ldc, 70, -1)


@gpu
def test_double_libcublas_checks_like_cublas(cupy, double, monkeypatch):
    lib = double.lib
    for name, argtypes in cublas._PROTOTYPES.items():
        getattr(lib, name).argtypes = argtypes
    handle = ctypes.c_void_p()
    assert lib.cublasCreate_v2(handle) == 0 and lib.cublasSetStream_v2(handle.value, 0) == 0
    a, b, c = cupy.ones((3, 2)), cupy.ones((4, 3)), cupy.zeros((4, 2))  # column-major 2x3 ...
    alpha, beta = ctypes.c_double(2), ctypes.c_double(0)
    # C (2x4) = 2 * A (2x3) @ B (3x4), all column-major
    assert lib.cublasGemmEx(*_gemm_args(handle.value, a, b, c, 2, 4, 3, 2, 3, 2, alpha,
                                        beta)) == 0
    np.testing.assert_array_equal(cupy.asnumpy(c), np.full((4, 2), 6.0))
    assert lib.cublasGemmEx(*_gemm_args(handle.value, a, b, c, 2, 4, 3, 1, 3, 2, alpha,
                                        beta)) == 7  # lda 1 < m 2: INVALID_VALUE
    assert lib.cublasGemmEx(*_gemm_args(handle.value, a, b, c, 2, 4, 3, 2, 3, 1, alpha,
                                        beta)) == 7  # ldc 1 < m 2
    on_device = cupy.ones(1)
    with pytest.raises(double.module.CUDARuntimeError, match="alpha/beta .* is device memory"):
        args = list(_gemm_args(handle.value, a, b, c, 2, 4, 3, 2, 3, 2, alpha, beta))
        args[6] = on_device.data.ptr  # alpha must be a host pointer in pointer mode host
        lib.cublasGemmEx(*args)
    host = np.ones(6)
    with pytest.raises(double.module.CUDARuntimeError, match="IllegalAddress.*host address"):
        lib.cublasGemmEx(*_gemm_args(handle.value, a, b, c, 2, 4, 3, 2, 3, 2, alpha, beta,
                                     (host.ctypes.data, b.data.ptr, c.data.ptr)))
    small = cupy.ones(5)
    with pytest.raises(double.module.CUDARuntimeError, match="past the end of its buffer"):
        lib.cublasGemmEx(*_gemm_args(handle.value, small, b, c, 2, 4, 3, 2, 3, 2, alpha,
                                     beta))
    # no workspace of its own while the stream captures: cuBLAS would allocate in the capture
    monkeypatch.setattr(double.module, "is_capturing", lambda ptr: True)
    with pytest.raises(double.module.CUDARuntimeError, match="StreamCaptureUnsupported"):
        lib.cublasGemmEx(*_gemm_args(handle.value, a, b, c, 2, 4, 3, 2, 3, 2, alpha, beta))
    workspace = cupy.empty(1 << 20, dtype=np.uint8)
    assert lib.cublasSetWorkspace_v2(handle.value, workspace.data.ptr, 1 << 20) == 0
    assert lib.cublasGemmEx(*_gemm_args(handle.value, a, b, c, 2, 4, 3, 2, 3, 2, alpha,
                                        beta)) == 0
    del workspace  # freed while the handle still names it
    with pytest.raises(double.module.CUDARuntimeError, match="workspace.*not live"):
        lib.cublasGemmEx(*_gemm_args(handle.value, a, b, c, 2, 4, 3, 2, 3, 2, alpha, beta))
    assert lib.cublasSetStream_v2(handle.value, 0) == 0  # resets the workspace
    with pytest.raises(double.module.CUDARuntimeError, match="StreamCaptureUnsupported"):
        lib.cublasGemmEx(*_gemm_args(handle.value, a, b, c, 2, 4, 3, 2, 3, 2, alpha, beta))
    monkeypatch.undo()
    assert lib.cublasDestroy_v2(handle.value) == 0
    assert lib.cublasGemmEx(*_gemm_args(handle.value, a, b, c, 2, 4, 3, 2, 3, 2, alpha,
                                        beta)) == 1  # destroyed: NOT_INITIALIZED
    assert lib.cublasDestroy_v2(handle.value) == 1


@gpu
def test_double_libcublas_refuses_a_wrong_declaration(double):
    function = double.lib.cublasSetPointerMode_v2
    function.argtypes = [ctypes.c_void_p, ctypes.c_longlong]
    try:
        with pytest.raises(TypeError, match="cublas_api.h has"):
            function(0x7E000000, 0)
    finally:
        function.argtypes = cublas._PROTOTYPES["cublasSetPointerMode_v2"]

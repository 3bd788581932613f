"""Stream capture on the CuPy double (tests/cupy_double/capture.py) must be as strict as
CUDA's: if a capture let a host read, a synchronize, a pageable copy, CuPy's cuBLAS or an
unserved allocation through, or ran work before its graph's launch, tape's CUDA-graph
replay would pass in CI where a GPU fails. ``cp``: the double's ``cupy`` (tests/conftest.py)."""

from __future__ import annotations

import contextlib

import numpy as np
import pytest


def _captured(cp, step, warm=True):
    """(graph, stream, the step's value in the capture): ``step`` run once in a private
    pool (unless not ``warm``), then captured on a non-blocking stream from that pool."""
    pool, stream = cp.cuda.MemoryPool(), cp.cuda.Stream(non_blocking=True)
    with cp.cuda.using_allocator(pool.malloc), stream:
        if warm:
            step()
        stream.begin_capture()
        try:
            value = step()
        except RuntimeError:
            with contextlib.suppress(RuntimeError):  # invalidated: end it, as CUDA needs
                stream.end_capture()
            raise
        graph = stream.end_capture()
    return graph, stream, value


def test_a_capture_runs_nothing_until_its_graph_launches(cp):
    x = cp.asarray(np.arange(4, dtype=np.float32))
    w = cp.asarray(np.ones(4, dtype=np.float32))

    def step():
        y = cp.exp(x) * 2.0 + w
        w[...] = y.sum()  # a write to an existing array
        return y

    graph, stream, y = _captured(cp, step)  # its warm-up run leaves w = sum(e^x * 2 + 1)
    warm = (np.exp(np.arange(4, dtype=np.float32)) * 2.0 + 1.0).sum()
    np.testing.assert_allclose(w.get(), np.full(4, warm), rtol=1e-6)  # waits for the launch
    assert np.isnan(y.get()).all()  # a new array holds poison until then
    for _ in range(2):
        expect_y = np.exp(np.arange(4, dtype=np.float32)) * 2.0 + w.get()
        graph.launch(stream)
        np.testing.assert_allclose(y.get(), expect_y, rtol=1e-6)
        np.testing.assert_allclose(w.get(), np.full(4, expect_y.sum()), rtol=1e-6)


@pytest.mark.parametrize("what, bad", [
    ("host", lambda cp, x: float(x[0])),
    ("host", lambda cp, x: x.get()),
    ("host", lambda cp, x: cp.asarray(np.ones(2))),
    ("synchronize", lambda cp, x: cp.cuda.Device().synchronize()),
])
def test_a_host_read_a_pageable_copy_or_a_synchronize_invalidates_the_capture(cp, what, bad):
    x = cp.asarray(np.ones(3))
    stream = cp.cuda.Stream(non_blocking=True)
    with stream:
        stream.begin_capture()
        with pytest.raises(RuntimeError, match="cudaErrorStreamCaptureUnsupported"):
            bad(cp, x)
        with pytest.raises(RuntimeError, match="cudaErrorStreamCaptureInvalidated"):
            stream.end_capture()
    assert not stream.is_capturing()


def test_cupy_cublas_is_refused_in_a_capture_as_cupy_refuses_it(cp):
    a = cp.asarray(np.ones((2, 2), np.float32))
    stream = cp.cuda.Stream(non_blocking=True)
    with stream:
        stream.begin_capture()
        with pytest.raises(NotImplementedError, match="cuBLAS API during stream capture"):
            a @ a
        with pytest.raises(NotImplementedError, match="cuBLAS"):
            cp.matmul(a, a)
        stream.end_capture()
    np.testing.assert_array_equal((a @ a).get(), np.full((2, 2), 2.0))  # fine outside


def test_allocations_in_a_capture_come_from_a_warm_private_pool(cp):
    x = cp.asarray(np.ones(1000, np.float32))

    def step():
        return cp.tanh(x) + 1.0

    stream = cp.cuda.Stream(non_blocking=True)
    with stream:  # the default allocator: no allocation can be served
        stream.begin_capture()
        with pytest.raises(RuntimeError, match="cudaMalloc of 4000 bytes"):
            step()
        with pytest.raises(RuntimeError, match="Invalidated"):
            stream.end_capture()
    with pytest.raises(RuntimeError, match="no free block"):  # a cold private pool
        _captured(cp, step, warm=False)
    graph, stream, y = _captured(cp, step)  # warmed by one run: its blocks serve
    graph.launch(stream)
    np.testing.assert_allclose(y.get(), np.tanh(1.0) + 1.0, rtol=1e-6)


def test_work_on_the_legacy_stream_while_a_blocking_stream_captures_is_an_error(cp):
    x = cp.asarray(np.ones(3))
    blocking = cp.cuda.Stream()
    with blocking:
        blocking.begin_capture()
    with pytest.raises(RuntimeError, match="cudaErrorStreamCaptureImplicit"):
        x + 1.0  # the current stream is the legacy one
    with pytest.raises(RuntimeError, match="Invalidated"):
        blocking.end_capture()
    with pytest.raises(RuntimeError, match="legacy stream"):
        cp.cuda.Stream.null.begin_capture()


def test_kernels_and_views_are_captured_by_address(cp):
    x = cp.asarray(np.arange(6, dtype=np.float64).reshape(2, 3))

    def step():
        row = x[1]  # a view: no allocation, no record
        x[0] += row  # an in-place write through it
        return x.T.copy()

    graph, stream, out = _captured(cp, step)  # its warm-up leaves x[0] = [3, 5, 7]
    np.testing.assert_array_equal(x.get()[0], [3, 5, 7])
    graph.launch(stream)
    np.testing.assert_array_equal(x.get(), [[6, 9, 12], [3, 4, 5]])
    np.testing.assert_array_equal(out.get(), [[6, 3], [9, 4], [12, 5]])


def test_device_index_arrays_are_captured_and_host_ones_refused(cp):
    table = cp.asarray(np.arange(12, dtype=np.float32).reshape(4, 3))
    rows = cp.asarray(np.array([3, 0]))

    def step():
        return table[cp.arange(2), rows[:2] % 3]  # device indices: a gather kernel

    graph, stream, picked = _captured(cp, step)
    rows[...] = cp.asarray(np.array([1, 2]))  # read at the launch, not at the capture
    graph.launch(stream)
    np.testing.assert_array_equal(picked.get(), [1.0, 5.0])
    with stream:
        stream.begin_capture()
        with pytest.raises(RuntimeError, match="host index"):
            table[np.array([0, 1])]
        with pytest.raises(RuntimeError, match="Invalidated"):
            stream.end_capture()


def test_a_pool_warmed_on_another_stream_serves_no_allocation_in_the_capture(cp):
    """CuPy's pool keeps one arena per stream: a warm-up on the current stream leaves the
    capturing stream's arena empty (tape warms up on the stream that captures)."""
    x = cp.asarray(np.ones(64, np.float32))
    pool, stream = cp.cuda.MemoryPool(), cp.cuda.Stream(non_blocking=True)
    with cp.cuda.using_allocator(pool.malloc):
        cp.exp(x)  # warmed on the null stream
        with stream:
            stream.begin_capture()
            with pytest.raises(RuntimeError, match="no free block that large on this stream"):
                cp.exp(x)
            with pytest.raises(RuntimeError, match="Invalidated"):
                stream.end_capture()

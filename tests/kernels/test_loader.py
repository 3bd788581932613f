"""The loader's contract without a GPU: every kernel named in KERNELS exists in its source
for every dtype, launch sizes are whole warps and fill (never exceed) the device, launch
arguments are checked (dtype, contiguity, writability, scalar range), generated elementwise
kernels compute what their body says, and the emulator reports the misuse the hardware
would punish instead of hiding it."""

from __future__ import annotations

import re

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tape import kernels
from tape.kernels import KERNELS, DeviceProps, Kernel, check_args, launch

from .conftest import DTYPES, STORE_RTOL, device_props, runtime
from .emulator import EmuRuntime


@pytest.mark.parametrize("kernel", KERNELS.values(), ids=lambda k: k.name)
def test_every_kernel_is_defined_in_its_source_with_its_parameter_count(kernel):
    text = kernels.source(kernel.source)
    for dtype in kernel.dtypes:
        symbol = kernel.symbol(dtype).rsplit("_", 1)[0]
        match = re.search(rf'void {symbol}_##S\((.*?)\)\s*\{{', text.replace("\\\n", " "),
                          re.DOTALL)
        assert match, f"{kernel.name}: no extern \"C\" instantiation macro in {kernel.source}"
        items = [item.strip() for item in match.group(1).split(",")]
        # TAPE_LIST(a) stands for GROUP addresses (optim.cu), as many as the source's group
        count = sum(kernels.GROUP if item.startswith("TAPE_LIST(") else 1 for item in items)
        assert count == len(kernel.params), kernel.name
        if any(item.startswith("TAPE_LIST(") for item in items):
            assert f"#define TAPE_GROUP {kernels.GROUP}\n" in text


def test_sources_ship_and_expand_their_header():
    assert {"common.cuh", "bias_act.cu", "softmax.cu", "layer_norm.cu", "optim.cu",
            "dropout.cu"} <= set(kernels.list_sources())
    text = KERNELS["softmax_forward"].text()
    assert not re.search(r"^#include", text, re.MULTILINE) and "block_sum" in text


@settings(max_examples=50)
@given(props=device_props(), rows=st.integers(1, 10**6), cols=st.integers(1, 10**5),
       n=st.integers(1, 10**9))
def test_launch_sizes_are_whole_warps_within_the_device(props, rows, cols, n):
    grid, block = kernels.row_launch(rows, cols, props)
    assert block % 32 == 0 and 32 <= block <= max(32, props.max_threads_per_block)
    assert 1 <= grid <= rows
    assert grid <= props.sm_count * max(1, props.max_threads_per_sm // block)
    grid, block = kernels.elementwise_launch(n, props)
    assert block % 32 == 0 and block <= max(32, props.max_threads_per_block)
    assert 1 <= grid and (grid - 1) * block < n


def test_launch_arguments_are_checked():
    k = KERNELS["softmax_forward"]
    x = np.ones((4, 3), np.float32)
    y = np.empty_like(x)
    ok = check_args(k, "float32", (x, y, 4, 3, 0), EmuRuntime())
    assert [type(a) for a in ok[2:]] == [np.int64, np.int64, np.int32]
    with pytest.raises(TypeError, match="expected float32, got float64"):
        check_args(k, "float32", (x.astype(np.float64), y, 4, 3, 0), EmuRuntime())
    with pytest.raises(ValueError, match="not C-contiguous"):
        check_args(k, "float32", (np.ones((3, 4), np.float32).T, y, 4, 3, 0),
                   EmuRuntime())
    frozen = np.empty_like(x)
    frozen.flags.writeable = False
    with pytest.raises(ValueError, match="read-only"):
        check_args(k, "float32", (x, frozen, 4, 3, 0), EmuRuntime())
    with pytest.raises(ValueError, match="does not fit int32"):
        check_args(k, "float32", (x, y, 4, 3, 2**40), EmuRuntime())
    with pytest.raises(TypeError, match="takes 5 arguments"):
        check_args(k, "float32", (x, y), EmuRuntime())
    with pytest.raises(TypeError, match="no int64 version"):
        check_args(k, "int64", (x, y, 4, 3, 0), EmuRuntime())


def test_launchers_reject_what_no_kernel_computes():
    rt = EmuRuntime(DeviceProps(1, 64, 128))
    with pytest.raises(TypeError, match="no kernel for int64"):
        launch.softmax_forward(np.ones((2, 3), np.int64), runtime=rt)
    with pytest.raises(TypeError, match="one dtype"):
        launch.bias_act_forward(np.ones((2, 3), np.float32), np.ones(3), "relu", runtime=rt)
    with pytest.raises(ValueError, match="bias of shape"):
        launch.bias_act_forward(np.ones((2, 3), np.float32), np.ones(2, np.float32), "relu",
                                runtime=rt)
    assert not rt.launches
    empty = launch.softmax_forward(np.ones((0, 3), np.float32), runtime=rt)
    assert empty.shape == (0, 3) and not rt.launches  # nothing to launch for


@settings(max_examples=10)
@given(data=st.data(), dtype=st.sampled_from(DTYPES), n=st.integers(1, 700))
def test_generated_elementwise_kernel_computes_its_body(data, dtype, n):
    k = kernels.compile_elementwise("axpb_relu", "y = a * x + b;\nz = y > A(0) ? y : A(0);",
                                    ("a", "x", "b"), ("y", "z"))
    rng = np.random.default_rng(n)
    a = rng.normal(size=(n,)).astype(dtype)
    x = rng.normal(size=(n,)).astype(dtype)
    b = np.asarray(rng.normal(), dtype=dtype)  # broadcast: materialized by the launcher
    y, z = k(a, x, b, runtime=runtime(data.draw))
    want = a.astype(np.float64) * x + b
    tol = STORE_RTOL[dtype]
    np.testing.assert_allclose(y.astype(np.float64), want, rtol=tol, atol=tol)
    np.testing.assert_allclose(z.astype(np.float64), np.maximum(want, 0), rtol=tol, atol=tol)


def test_generated_kernels_are_cached_and_names_checked():
    k = kernels.compile_elementwise("double_it", "y = x + x;", ("x",), ("y",))
    assert kernels.compile_elementwise("double_it", "y = x + x;", ("x",), ("y",)) is k
    with pytest.raises(ValueError, match="not a C identifier"):
        kernels.compile_elementwise("bad name", "y = x;", ("x",), ("y",))
    with pytest.raises(ValueError, match="distinct"):
        kernels.compile_elementwise("same", "x = x;", ("x",), ("x",))


# ---- the emulator reports misuse -------------------------------------------------------

MISUSE = Kernel("misuse", "<test misuse>", ("const T*", "T*", "index_t", "int"),
                dtypes=("float32",), code=r'''
#include "common.cuh"
extern "C" __global__ void misuse_f32(const float* x, float* y, tape::index_t n, int mode) {
    __shared__ float scratch[32];
    if (mode == 0) {  // only even threads reach the barrier
        if (threadIdx.x % 2 == 0) __syncthreads();
    } else {  // a block reduction (needs whole warps)
        float s = tape::block_sum(threadIdx.x < n ? x[threadIdx.x] : 0.0f, scratch);
        if (threadIdx.x == 0) y[0] = s;
    }
}
''')


def test_the_emulator_reports_a_divergent_barrier():
    rt = EmuRuntime(DeviceProps(1, 64, 128))
    with pytest.raises(RuntimeError, match="divergent barrier"):
        rt.launch(MISUSE, "float32", 1, 64, (np.ones(4, np.float32), np.zeros(1, np.float32),
                                             4, 0))


def test_the_emulator_reports_a_shuffle_in_a_partial_warp():
    rt = EmuRuntime(DeviceProps(1, 64, 128))
    x, y = np.arange(48, dtype=np.float32), np.zeros(1, np.float32)
    with pytest.raises(RuntimeError, match="partial warp"):
        rt.launch(MISUSE, "float32", 1, 48, (x, y, 48, 1))
    rt.launch(MISUSE, "float32", 1, 64, (x, y, 48, 1))  # whole warps: the reduction works
    assert y[0] == x.sum()

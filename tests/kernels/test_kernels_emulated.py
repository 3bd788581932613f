"""Each CUDA kernel, compiled by g++ under the emulation header, against its op: the
forward against ``REGISTRY[name].forward(np, ...)`` and the backward kernels against the
tape gradient, through the ops' GPU overrides (tape/ops/gpu.py) and the launchers, on
hypothesis-drawn sizes (rows and columns that are not multiples of the block size, more
rows than blocks) and drawn device properties (block and grid sizes)."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

import tape
from tape.kernels import DeviceProps
from tape.ops import REGISTRY, gpu

from .conftest import DTYPES, assert_close, reference, runtime, tape_gradient
from .emulator import EmuRuntime

EXAMPLES = 12


@st.composite
def row_shapes(draw, max_rows=40, max_cols=300):
    """(leading dims..., cols): up to 3 dims whose product is at most ``max_rows`` rows."""
    cols = draw(st.integers(1, max_cols))
    lead = draw(st.lists(st.integers(1, 6), max_size=2).filter(
        lambda dims: int(np.prod(dims)) <= max_rows))
    return (*lead, cols)


def _values(draw, shape, dtype, lo=-4.0, hi=4.0):
    seed = draw(st.integers(0, 2**32 - 1))
    return np.random.default_rng(seed).uniform(lo, hi, shape).astype(dtype)


@settings(max_examples=EXAMPLES)
@given(data=st.data(), dtype=st.sampled_from(DTYPES), name=st.sampled_from(["softmax",
                                                                          "log_softmax"]))
def test_softmax_forward_matches_the_op(data, dtype, name):
    rt = runtime(data.draw)
    shape = data.draw(row_shapes())
    x = _values(data.draw, shape, dtype, -30, 30)
    kernel = gpu.softmax_kernel if name == "softmax" else gpu.log_softmax_kernel
    got = kernel(np, x, axis=-1, runtime=rt)
    assert_close(got, reference(REGISTRY[name].forward, dtype, x), dtype, name)
    assert rt.launches and all(block % 32 == 0 for *_, block in rt.launches)


@settings(max_examples=EXAMPLES)
@given(data=st.data(), dtype=st.sampled_from(DTYPES), name=st.sampled_from(["softmax",
                                                                          "log_softmax"]))
def test_softmax_backward_matches_thetape_gradient(data, dtype, name):
    rt = runtime(data.draw)
    shape = data.draw(row_shapes())
    x = _values(data.draw, shape, dtype)
    g = _values(data.draw, shape, dtype, -1, 1)
    y = reference(REGISTRY[name].forward, dtype, x).astype(dtype)  # stored in dtype
    kernel = gpu.softmax_grad_kernel if name == "softmax" else gpu.log_softmax_grad_kernel
    got = kernel(np, y, g, axis=-1, runtime=rt)
    want = tape_gradient(getattr(tape, name), [x], g, 0, dtype)
    assert_close(got, want, dtype, f"{name} backward")


@settings(max_examples=EXAMPLES)
@given(data=st.data(), dtype=st.sampled_from(DTYPES))
def test_softmax_xent_forward_and_backward_match_the_op(data, dtype):
    rt = runtime(data.draw)
    shape = data.draw(row_shapes())
    logits = _values(data.draw, shape, dtype, -20, 20)
    labels = _values(data.draw, shape, np.float64, 0, 1)
    labels = (labels / labels.sum(-1, keepdims=True)).astype(dtype)
    g = _values(data.draw, shape[:-1], dtype, -1, 1)
    got = gpu.softmax_xent_kernel(np, labels, logits, runtime=rt)
    assert_close(got, reference(REGISTRY["softmax_xent"].forward, dtype, labels, logits), dtype,
                 "softmax_xent")
    got = gpu.softmax_xent_grad_kernel(np, labels, logits, g, runtime=rt)
    want = tape_gradient(tape.ops.softmax_xent, [labels, logits], g, 1, dtype)
    assert_close(got, want, dtype, "softmax_xent backward")


@settings(max_examples=EXAMPLES)
@given(data=st.data(), dtype=st.sampled_from(DTYPES), epsilon=st.sampled_from([1e-3, 1e-5]))
def test_layer_norm_forward_and_backward_match_the_op(data, dtype, epsilon):
    rt = runtime(data.draw)
    shape = data.draw(row_shapes())
    x = _values(data.draw, shape, dtype) + np.asarray(3, dtype)  # a mean far from 0
    gamma = _values(data.draw, shape[-1:], dtype, 0.5, 1.5)
    beta = _values(data.draw, shape[-1:], dtype, -1, 1)
    g = _values(data.draw, shape, dtype, -1, 1)
    got = gpu.layer_norm_kernel(np, x, gamma, beta, epsilon=epsilon, runtime=rt)
    want = reference(REGISTRY["layer_norm"].forward, dtype, x, gamma, beta, epsilon=epsilon)
    assert_close(got, want, dtype, "layer_norm")
    got = gpu.layer_norm_grad_kernel(np, x, gamma, g, epsilon=epsilon, runtime=rt)
    want = tape_gradient(lambda x, gamma, beta: tape.ops.layer_norm(x, gamma, beta,
                                                                     epsilon=epsilon),
                          [x, gamma, beta], g, 0, dtype)
    assert_close(got, want, dtype, "layer_norm backward")


@settings(max_examples=EXAMPLES)
@given(data=st.data(), dtype=st.sampled_from(DTYPES),
       activation=st.sampled_from(["relu", "gelu", "silu", "tanh", "sigmoid"]))
def test_bias_act_forward_and_backward_match_the_op(data, dtype, activation):
    rt = runtime(data.draw)
    shape = data.draw(row_shapes(max_rows=12, max_cols=200))
    x = _values(data.draw, shape, dtype)
    bias = _values(data.draw, shape[-1:], dtype, -1, 1)
    g = _values(data.draw, shape, dtype, -1, 1)
    got = gpu.bias_act_kernel(np, x, bias, activation=activation, runtime=rt)
    want = reference(REGISTRY["bias_act"].forward, dtype, x, bias, activation=activation)
    assert_close(got, want, dtype, f"bias_act {activation}")
    got = gpu.bias_act_grad_kernel(np, x, bias, g, activation=activation, runtime=rt)
    want = tape_gradient(lambda x, b: tape.ops.bias_act(x, b, activation=activation),
                          [x, bias], g, 0, dtype)
    assert_close(got, want, dtype, f"bias_act {activation} backward")


# The ops whose GPU kernel this file checks: the hand-written ones by their adapters (the
# tests above), the generated ones (``gpu.ElementwiseKernel``) by the domain to draw from.
# tests/ops/test_op_record.py holds every op with a kernel to an entry here.
HAND_WRITTEN = {
    "softmax": gpu.softmax_kernel, "log_softmax": gpu.log_softmax_kernel,
    "softmax_grad": gpu.softmax_grad_kernel, "log_softmax_grad": gpu.log_softmax_grad_kernel,
    "softmax_xent": gpu.softmax_xent_kernel, "softmax_xent_grad": gpu.softmax_xent_grad_kernel,
    "layer_norm": gpu.layer_norm_kernel, "layer_norm_grad": gpu.layer_norm_grad_kernel,
    "bias_act": gpu.bias_act_kernel, "bias_act_grad": gpu.bias_act_grad_kernel,
    "dropout": gpu.dropout_kernel,  # tests/kernels/test_dropout_kernel.py
    # a check kept on the device: tests/layers/test_embedding.py, tests/test_gpu_transfers.py
    "check_index": gpu.check_index_kernel,
}
GENERATED = {"mish": (-20.0, 20.0)}


def test_each_op_binds_the_kernel_checked_here():
    for name, adapter in HAND_WRITTEN.items():
        assert REGISTRY[name].kernel is adapter, name


@settings(max_examples=EXAMPLES)
@given(data=st.data(), dtype=st.sampled_from(DTYPES), name=st.sampled_from(sorted(GENERATED)))
def test_generated_elementwise_kernels_match_the_op_forward(data, dtype, name):
    rt = runtime(data.draw)
    shape = data.draw(row_shapes())
    x = _values(data.draw, shape, dtype, *GENERATED[name])
    op = REGISTRY[name]
    assert isinstance(op.kernel, gpu.ElementwiseKernel)
    got = op.kernel(np, x, runtime=rt)
    assert got.dtype == x.dtype and got.shape == x.shape
    assert_close(got, reference(op.forward, dtype, x), dtype, name)
    assert rt.launches


def test_overrides_decline_what_their_kernels_do_not_cover():
    """NotImplemented sends the op to its generic forward: another axis, mixed dtypes,
    integers, a 0-d input, an unknown activation."""
    rt = EmuRuntime(DeviceProps(1, 64, 128))
    x = np.ones((2, 3), np.float32)
    assert gpu.softmax_kernel(np, x, axis=0, runtime=rt) is NotImplemented
    assert gpu.softmax_kernel(np, x, axis=(0, 1), runtime=rt) is NotImplemented
    assert gpu.softmax_kernel(np, np.ones((2, 3), np.int64), runtime=rt) is NotImplemented
    assert gpu.softmax_kernel(np, np.float32(1.0).reshape(()), runtime=rt) is NotImplemented
    assert gpu.bias_act_kernel(np, x, np.ones(3, np.float64), runtime=rt) is NotImplemented
    assert gpu.bias_act_kernel(np, x, np.ones(3, np.float32), activation="elu",
                               runtime=rt) is NotImplemented
    assert gpu.layer_norm_kernel(np, x, np.ones(2, np.float32), np.ones(3, np.float32),
                                 runtime=rt) is NotImplemented
    assert not rt.launches


def test_a_strided_view_is_copied_never_read_as_its_base_buffer():
    rt = EmuRuntime(DeviceProps(1, 64, 128))
    base = np.random.default_rng(0).normal(size=(6, 5)).astype(np.float32)
    view = base.T  # (5, 6), not C-contiguous
    got = gpu.softmax_kernel(np, view, axis=-1, runtime=rt)
    np.testing.assert_allclose(got, REGISTRY["softmax"].forward(np, view), rtol=1e-6)

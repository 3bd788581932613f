"""The bfloat16 instantiations of the kernels (``*_bf16``), each run at least once under the
CUDA emulation through its op's GPU adapter (the hypothesis tests beside this file draw
bfloat16 among four dtypes and may miss it): stored in 16 bits and computed in float32,
against the float64 forward or the float64 tape gradient of the same bfloat16 inputs;
stores that round to nearest even exactly as ml_dtypes does; sums that come out right only
when accumulated in float32."""

from __future__ import annotations

import numpy as np
import pytest

import tape
from tape.kernels import DeviceProps, launch
from tape.ops import REGISTRY, gpu

from .conftest import assert_close, reference, tape_gradient
from .emulator import EmuRuntime

BF16 = tape.dtypes.bfloat16()
SHAPE = (3, 2, 77)  # 6 rows, 77 columns: not a multiple of a warp, more rows than blocks


def _values(shape, lo, hi, seed):
    return np.random.default_rng(seed).uniform(lo, hi, shape).astype(BF16)


def _rt():
    return EmuRuntime(DeviceProps(2, 64, 128))


def _ran_bf16(rt, *names):
    """Every launch was the ``_bf16`` instantiation, and one of each of ``names`` ran."""
    assert {dtype for _, dtype, _, _ in rt.launches} == {"bfloat16"}, rt.launches
    assert {name for name, *_ in rt.launches} >= set(names), rt.launches


@pytest.mark.parametrize("name", ["softmax", "log_softmax"])
def test_softmax_and_its_gradient_in_bfloat16(name):
    rt = _rt()
    x, g = _values(SHAPE, -8, 8, 1), _values(SHAPE, -1, 1, 2)
    forward = gpu.softmax_kernel if name == "softmax" else gpu.log_softmax_kernel
    assert_close(forward(np, x, runtime=rt), reference(REGISTRY[name].forward, "bfloat16", x),
                 "bfloat16", name)
    y = reference(REGISTRY[name].forward, "bfloat16", x).astype(BF16)
    backward = gpu.softmax_grad_kernel if name == "softmax" else gpu.log_softmax_grad_kernel
    assert_close(backward(np, y, g, runtime=rt),
                 tape_gradient(getattr(tape, name), [x], g, 0, "bfloat16"), "bfloat16",
                 f"{name} backward")
    _ran_bf16(rt, "softmax_forward", "softmax_backward")


def test_softmax_xent_and_its_gradient_in_bfloat16():
    rt = _rt()
    logits = _values(SHAPE, -10, 10, 3)
    labels = np.random.default_rng(4).uniform(0, 1, SHAPE)
    labels = (labels / labels.sum(-1, keepdims=True)).astype(BF16)
    g = _values(SHAPE[:-1], -1, 1, 5)
    assert_close(gpu.softmax_xent_kernel(np, labels, logits, runtime=rt),
                 reference(REGISTRY["softmax_xent"].forward, "bfloat16", labels, logits),
                 "bfloat16", "softmax_xent")
    assert_close(gpu.softmax_xent_grad_kernel(np, labels, logits, g, runtime=rt),
                 tape_gradient(tape.ops.softmax_xent, [labels, logits], g, 1, "bfloat16"),
                 "bfloat16", "softmax_xent backward")
    _ran_bf16(rt, "softmax_xent_forward", "softmax_xent_backward")


def test_layer_norm_and_its_gradient_in_bfloat16():
    rt = _rt()
    x = _values(SHAPE, 2, 6, 6)  # a mean far from 0
    gamma, beta = _values(SHAPE[-1:], 0.5, 1.5, 7), _values(SHAPE[-1:], -1, 1, 8)
    g = _values(SHAPE, -1, 1, 9)
    assert_close(gpu.layer_norm_kernel(np, x, gamma, beta, epsilon=1e-3, runtime=rt),
                 reference(REGISTRY["layer_norm"].forward, "bfloat16", x, gamma, beta,
                           epsilon=1e-3), "bfloat16", "layer_norm")
    assert_close(gpu.layer_norm_grad_kernel(np, x, gamma, g, epsilon=1e-3, runtime=rt),
                 tape_gradient(lambda x, gamma, beta: tape.ops.layer_norm(x, gamma, beta,
                                                                          epsilon=1e-3),
                               [x, gamma, beta], g, 0, "bfloat16"), "bfloat16",
                 "layer_norm backward")
    _ran_bf16(rt, "layer_norm_forward", "layer_norm_backward")


@pytest.mark.parametrize("activation", ["relu", "gelu", "silu", "tanh", "sigmoid"])
def test_bias_act_and_its_gradient_in_bfloat16(activation):
    rt = _rt()
    x, bias, g = _values(SHAPE, -4, 4, 10), _values(SHAPE[-1:], -1, 1, 11), \
        _values(SHAPE, -1, 1, 12)
    assert_close(gpu.bias_act_kernel(np, x, bias, activation=activation, runtime=rt),
                 reference(REGISTRY["bias_act"].forward, "bfloat16", x, bias,
                           activation=activation), "bfloat16", activation)
    assert_close(gpu.bias_act_grad_kernel(np, x, bias, g, activation=activation, runtime=rt),
                 tape_gradient(lambda x, b: tape.ops.bias_act(x, b, activation=activation),
                               [x, bias], g, 0, "bfloat16"), "bfloat16",
                 f"{activation} backward")
    _ran_bf16(rt, "bias_act_forward", "bias_act_backward")


def test_generated_elementwise_kernel_in_bfloat16():
    rt = _rt()
    x = _values(SHAPE, -20, 20, 13)
    op = REGISTRY["mish"]
    assert isinstance(op.kernel, gpu.ElementwiseKernel) and "tape_mish_bf16" in op.kernel.code
    got = op.kernel(np, x, runtime=rt)
    assert_close(got, reference(op.forward, "bfloat16", x), "bfloat16", "mish")
    _ran_bf16(rt, "tape_mish")


def test_stores_round_to_nearest_even_as_ml_dtypes():
    """relu(x + bias) is exact in float32 for these bfloat16 inputs, so the kernel's result is
    one rounding of a known float32: it must equal ml_dtypes' cast bit for bit, ties to even
    included (1 + 2^-8 lies halfway between 1 and 1 + 2^-7 and goes down to 1; 1 + 3 * 2^-8
    lies halfway between 1 + 2^-7 and 1 + 2^-6 and goes up; the largest bfloat16 plus half
    its last bit goes up to inf), and a NaN (through dropout at rate 0, which multiplies by
    1) stays a NaN."""
    rt = _rt()
    top = float(np.finfo(BF16).max)
    x = np.concatenate([[1.0, 1.0078125, top, -5.0],
                        np.random.default_rng(14).uniform(-300, 300, 200)])
    bias = np.concatenate([[2.0**-8, 2.0**-8, 2.0**119, 0.0],
                           np.random.default_rng(15).uniform(-1, 1, 200)])
    x, bias = x.astype(BF16), bias.astype(BF16)
    got = gpu.bias_act_kernel(np, x[None], bias, activation="relu", runtime=rt)[0]
    want = np.maximum(x.astype(np.float32) + bias.astype(np.float32), 0).astype(BF16)
    np.testing.assert_array_equal(got.view(np.uint16), want.view(np.uint16))
    assert got[0] == 1.0 and got[1] == 1.015625 and got[2] == np.inf  # the ties, to even
    specials = np.array([np.nan, np.inf, -np.inf, 0.0], np.float32).astype(BF16)
    out = launch.dropout(specials, np.array([1, 2], np.uint64), 0.0, runtime=rt)
    assert np.isnan(out[0]) and out[1] == np.inf and out[2] == -np.inf and out[3] == 0


def test_row_sums_accumulate_in_float32():
    """Rows of 100,000 columns on 32-thread blocks: each thread adds 3125 terms. A bfloat16
    running sum stops growing at 256 (256 + 1 rounds back to 256), so only float32
    accumulation gives softmax(0) = 1e-5, the cross-entropy log(1e5) of a one-hot label
    under equal logits, and the layer norm of a row whose mean is 96."""
    rt = EmuRuntime(DeviceProps(1, 32, 32))
    cols = 100_000
    zeros = np.zeros((1, cols), BF16)
    got = gpu.softmax_kernel(np, zeros, runtime=rt).astype(np.float64)
    np.testing.assert_allclose(got, 1e-5, rtol=2**-8)
    labels = np.zeros((1, cols), BF16)
    labels[0, 7] = 1
    loss = gpu.softmax_xent_kernel(np, labels, zeros, runtime=rt).astype(np.float64)
    np.testing.assert_allclose(loss, [np.log(cols)], rtol=2**-8)
    x = (96 + np.where(np.arange(cols) % 2, 1.0, -1.0)[None]).astype(BF16)  # 95, 97: exact
    ones = np.ones(cols, BF16)
    y = gpu.layer_norm_kernel(np, x, ones, np.zeros(cols, BF16), epsilon=0.0, runtime=rt)
    np.testing.assert_allclose(y.astype(np.float64), np.where(np.arange(cols) % 2, 1, -1)[None],
                               rtol=2**-7)
    _ran_bf16(rt, "softmax_forward", "softmax_xent_forward", "layer_norm_forward")


def test_optimizer_kernels_have_no_bfloat16_version():
    """Mixed precision keeps variables in float32, so the fused optimizer kernels stay
    float32/float64 (a bfloat16 variable takes the optimizers' generic path)."""
    rt = _rt()
    p = np.ones(4, BF16)
    with pytest.raises(TypeError, match="no kernel for bfloat16"):
        launch.sgd_update([p], [p], [], np.ones(1, BF16), [0.0], 0.0, False, runtime=rt)
    assert not rt.launches


def test_adapters_decline_bfloat16_mixed_with_another_dtype():
    """NotImplemented (the op's generic forward runs) for what no kernel covers: bfloat16
    beside float32, another axis, a byte-swapped float32 (its dtype's name is float32 too)."""
    rt = _rt()
    x = _values((2, 3), -1, 1, 16)
    assert gpu.bias_act_kernel(np, x, np.ones(3, np.float32), runtime=rt) is NotImplemented
    assert gpu.softmax_kernel(np, x, axis=0, runtime=rt) is NotImplemented
    assert gpu.layer_norm_kernel(np, x, np.ones(3, BF16), np.ones(3, np.float32),
                                 runtime=rt) is NotImplemented
    swapped = np.ones((2, 3), np.dtype(np.float32).newbyteorder())  # names float32 too
    assert gpu.softmax_kernel(np, swapped, runtime=rt) is NotImplemented
    assert not rt.launches

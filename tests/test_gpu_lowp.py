"""bfloat16 through the ops' GPU kernels, and TF32, on the GPU (a real one, or the CuPy double
with TAPE_CUPY_DOUBLE=1): each op's forward and gradient on bfloat16 GPU tensors launch the
op's ``_bf16`` kernel (a spy on the launches says which ran) and agree with the float64 CPU
tape on the same bfloat16 inputs; a bfloat16 matrix product accumulates in float32; and
``tape.config.set_tf32`` makes float32 products run as TF32 (the double records each
product's compute type, as CuPy's cuBLAS call would have it)."""

from __future__ import annotations

import sys

import numpy as np
import pytest

import tape
from tape import kernels

pytestmark = pytest.mark.gpu

BF16 = tape.dtypes.bfloat16()
RTOL, ATOL = 3.2e-2, 1.6e-2  # a few roundings of bfloat16's 8 significant bits


@pytest.fixture
def launches(monkeypatch):
    """(kernel name, dtype name) of every launch of tape's kernels during the test."""
    seen = []
    launch = kernels.CupyRuntime.launch

    def spy(self, kernel, dtype, grid, block, args):
        seen.append((kernel.name, kernels.dtype_name(dtype)))
        return launch(self, kernel, dtype, grid, block, args)

    monkeypatch.setattr(kernels.CupyRuntime, "launch", spy)
    return seen


@pytest.fixture
def double():
    """The CuPy double's module, which records each product's compute type."""
    return sys.modules.get("cupy_double") or pytest.skip("needs the CuPy double's records of "
                                                         "compute types (TAPE_CUPY_DOUBLE=1)")


def _bf16(shape, lo, hi, seed):
    return np.random.default_rng(seed).uniform(lo, hi, shape).astype(BF16)


def _value_and_grad(fn, inputs, g, device, dtype):
    """``fn(*inputs)`` and its gradient with respect to ``inputs[0]`` (upstream ``g``), with
    the inputs cast to ``dtype`` and placed on ``device``, as float64 NumPy arrays, plus the
    output's dtype."""
    ts = [tape.Tensor(a.astype(dtype)).to(device) for a in inputs]
    with tape.GradientTape() as t:
        t.watch(ts[0])
        out = fn(*ts)
    grad = t.gradient(out, ts[0], output_gradients=tape.Tensor(g.astype(dtype)).to(device))
    return (out.numpy().astype(np.float64), grad.numpy().astype(np.float64), out.dtype,
            grad.dtype)


CASES = {
    "softmax": (lambda x: tape.softmax(x), [((4, 77), -8, 8)], ["softmax_forward",
                                                                "softmax_backward"]),
    "log_softmax": (lambda x: tape.log_softmax(x), [((4, 77), -8, 8)],
                    ["softmax_forward", "softmax_backward"]),
    "softmax_xent": (lambda z, labels: tape.ops.softmax_xent(labels, z),
                     [((4, 77), -8, 8), ((4, 77), 0, 1)],
                     ["softmax_xent_forward", "softmax_xent_backward"]),
    "layer_norm": (lambda x, gamma, beta: tape.ops.layer_norm(x, gamma, beta, epsilon=1e-3),
                   [((4, 77), 2, 6), ((77,), 0.5, 1.5), ((77,), -1, 1)],
                   ["layer_norm_forward", "layer_norm_backward"]),
    "bias_act gelu": (lambda x, b: tape.ops.bias_act(x, b, activation="gelu"),
                      [((4, 77), -4, 4), ((77,), -1, 1)],
                      ["bias_act_forward", "bias_act_backward"]),
    "mish": (lambda x: tape.nn.mish(x), [((4, 77), -6, 6)], ["tape_mish"]),
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_bfloat16_ops_run_their_bf16_kernels_and_match_float64(name, launches):
    fn, specs, kernel_names = CASES[name]
    inputs = [_bf16(shape, lo, hi, seed) for seed, (shape, lo, hi) in enumerate(specs)]
    out_shape = (4,) if name == "softmax_xent" else specs[0][0]
    g = _bf16(out_shape, -1, 1, 99)
    y, dx, y_dtype, dx_dtype = _value_and_grad(fn, inputs, g, "gpu", BF16)
    assert (y_dtype, dx_dtype) == (BF16, BF16)
    want_y, want_dx, *_ = _value_and_grad(fn, inputs, g, "cpu", np.float64)
    np.testing.assert_allclose(y, want_y, rtol=RTOL, atol=ATOL, err_msg=f"{name} forward")
    np.testing.assert_allclose(dx, want_dx, rtol=RTOL, atol=ATOL, err_msg=f"{name} gradient")
    for kernel in kernel_names:
        assert (kernel, "bfloat16") in launches, (kernel, launches)


def test_bfloat16_dropout_runs_its_kernel(launches):
    x = tape.Tensor(_bf16((8, 300), 0.5, 2, 3)).to("gpu")
    layer = tape.layers.Dropout(0.5, seed=1, dtype="bfloat16")  # no cast to float32
    y = layer(x, training=True).numpy()
    assert y.dtype == BF16 and ("dropout", "bfloat16") in launches
    kept = y != 0
    assert 0.4 < kept.mean() < 0.6
    np.testing.assert_array_equal(y[kept], (x.numpy() * 2)[kept])  # x / (1 - 0.5): exact


def test_a_bfloat16_product_accumulates_in_float32():
    """4096 ones summed by a product: a bfloat16 running sum would stop at 256."""
    a = tape.ones((2, 4096), dtype="bfloat16").to("gpu")
    b = tape.ones((4096, 3), dtype="bfloat16").to("gpu")
    c = tape.matmul(a, b)
    assert c.dtype == BF16
    np.testing.assert_array_equal(c.numpy().astype(np.float32), np.full((2, 3), 4096.0))
    batched = tape.matmul(tape.ones((2, 3, 4096), dtype="bfloat16").to("gpu"), b)
    np.testing.assert_array_equal(batched.numpy().astype(np.float32), 4096.0)


def test_products_record_float32_accumulation_for_16_bit_floats(double):
    for dtype in ("bfloat16", "float16"):
        tape.matmul(tape.ones((2, 8), dtype=dtype).to("gpu"), tape.ones((8, 2), dtype=dtype)
                    .to("gpu"))
        assert double.lowp().gemms[-1] == ("matmul", dtype, "32F")


@pytest.fixture
def tf32_off():
    yield
    tape.config.set_tf32(False)


def test_set_tf32_makes_float32_products_use_tf32(double, tf32_off):
    assert tape.config.tf32_enabled() is False
    x = tape.ones((4, 8)).to("gpu")
    w = tape.ones((8, 3)).to("gpu")
    tape.matmul(x, w)
    assert double.lowp().gemms[-1] == ("matmul", "float32", "32F")
    tape.config.set_tf32(True)
    assert tape.config.tf32_enabled() is True
    tape.matmul(x, w)  # the 2-d path: CuPy's float32 compute type
    assert double.lowp().gemms[-1] == ("matmul", "float32", "TF32")
    tape.matmul(tape.ones((2, 4, 8)).to("gpu"), w)  # batched: the cuBLAS handle's math mode
    assert double.lowp().gemms[-1] == ("matmul", "float32", "TF32")
    with tape.GradientTape() as t:  # the gradient's products too
        t.watch(w)
        loss = tape.sum(tape.matmul(x, w))
    t.gradient(loss, w)
    assert double.lowp().gemms[-1].compute == "TF32"
    tape.matmul(tape.ones((4, 8), dtype="float64").to("gpu"), tape.ones((8, 3), dtype="float64")
                .to("gpu"))
    assert double.lowp().gemms[-1] == ("matmul", "float64", "64F")  # float64 never
    tape.config.set_tf32(False)
    tape.matmul(tape.ones((2, 4, 8)).to("gpu"), w)
    assert double.lowp().gemms[-1] == ("matmul", "float32", "32F")
    tape.matmul(x, w)
    assert double.lowp().gemms[-1] == ("matmul", "float32", "32F")


def test_set_tf32_takes_a_bool(tf32_off):
    with pytest.raises(TypeError, match="set_tf32 takes True or False; received str"):
        tape.config.set_tf32("yes")
    assert tape.config.tf32_enabled() is False


def test_the_double_refuses_bfloat16_where_cupy_14_has_no_loop(double):
    import cupy
    import cupyx

    a = cupy.asarray(np.ones(4, np.float32)).astype(BF16)
    for fn in (cupy.rint, cupy.floor, cupy.around, cupy.fft.fft):
        with pytest.raises(TypeError, match="bfloat16"):
            fn(a)
    with pytest.raises(TypeError, match="bfloat16"):
        cupyx.scatter_add(a, cupy.asarray(np.array([0, 1])), a[:2])
    with pytest.raises(TypeError, match="bfloat16"):
        cupy.add.at(a, cupy.asarray(np.array([0, 1])), a[:2])
    assert cupy.rint(a.astype(np.float16)).dtype == np.float16  # float16 has its loops
    ones = cupy.ones(100_000, dtype=BF16)  # CuPy sums 16-bit floats in float32
    assert float(ones.sum()) == float(np.float32(100_000).astype(BF16))

"""The CuPy double (tests/cupy_double) must be as strict as CuPy where tape could slip: if
it let a NumPy array, a NumPy-only name or a wrongly typed kernel argument through, the GPU
cases it runs in CI would pass where a GPU fails. ``cp``: the double's ``cupy``, loaded by
path and not installed (tests/conftest.py), so this process keeps seeing no CuPy."""

from __future__ import annotations

import numpy as np
import pytest

from tape import kernels


def test_arrays_never_turn_into_numpy_arrays_implicitly(cp):
    a = cp.asarray(np.arange(3.0))
    with pytest.raises(TypeError, match="Implicit conversion"):
        np.asarray(a)
    with pytest.raises(TypeError, match="numpy.ndarray"):
        a + np.ones(3)
    with pytest.raises(TypeError, match="numpy.ndarray"):
        np.ones(3) * a
    with pytest.raises(TypeError):
        a * [1.0, 2.0, 3.0]  # CuPy's ufuncs take no lists either
    np.testing.assert_array_equal(cp.asnumpy(a * 2.0), [0.0, 2.0, 4.0])
    np.testing.assert_array_equal((a + a).get(), [0.0, 2.0, 4.0])


def test_host_data_goes_in_by_asarray_and_index_arrays_only(cp):
    host = np.arange(4.0)
    a = cp.asarray(host)
    host[0] = 99.0  # a copy was made on the way in
    assert a[0].item() == 0.0
    np.testing.assert_array_equal(a[np.array([3, 1])].get(), [3.0, 1.0])
    with pytest.raises(ValueError, match="non-scalar numpy.ndarray"):
        a[:2] = np.zeros(2)
    with pytest.raises(TypeError):
        cp.ascontiguousarray(host)  # CuPy's takes CuPy arrays only


def test_reductions_and_scalar_indexing_give_0d_arrays(cp):
    a = cp.asarray(np.arange(6.0).reshape(2, 3))
    for value in (a.sum(), cp.max(a), a[1, 2]):
        assert type(value) is cp.ndarray and value.shape == ()
    assert float(a.sum()) == 15.0


def test_only_cupys_names_exist(cp):
    a = cp.asarray(np.zeros(3))
    assert set(vars(a.flags)) == {"c_contiguous", "f_contiguous", "owndata"}
    with pytest.raises(AttributeError):
        a.flags.writeable  # noqa: B018
    with pytest.raises(AttributeError):
        a.ctypes  # noqa: B018
    rng = cp.random.default_rng(0)
    assert rng.standard_normal((2,)).shape == (2,)
    with pytest.raises(AttributeError):
        rng.normal  # noqa: B018  (CuPy's Generator has standard_normal, not normal)
    with pytest.raises(AttributeError):
        cp.errstate  # noqa: B018  (NumPy's, not CuPy's)
    assert cp.exp is cp.exp and isinstance(cp.exp, cp.ufunc)


def test_raw_kernels_launch_through_their_own_c_signature(cp):
    kernel = kernels.KERNELS["softmax_forward"]
    function = cp.RawModule(code=kernel.text()).get_function(kernel.symbol("float32"))
    x = np.random.default_rng(0).normal(size=(5, 37)).astype(np.float32)
    gx, gy = cp.asarray(x), cp.asarray(np.empty_like(x))
    function((3,), (64,), (gx, gy, np.int64(5), np.int64(37), np.int32(0)))
    want = np.exp(x - x.max(-1, keepdims=True))
    np.testing.assert_allclose(gy.get(), want / want.sum(-1, keepdims=True), rtol=1e-6)
    with pytest.raises(TypeError, match="argument 3: int32 for a parameter of 8 bytes"):
        function((1,), (32,), (gx, gy, np.int64(5), np.int32(37), np.int32(0)))
    with pytest.raises(TypeError, match="float64 elements"):
        function((1,), (32,), (cp.asarray(x.astype(np.float64)), gy, 5, 37, np.int32(0)))
    with pytest.raises(TypeError, match="numpy.ndarray"):
        function((1,), (32,), (x, gy, np.int64(5), np.int64(37), np.int32(0)))
    with pytest.raises(TypeError, match="4 arguments for 5 parameters"):
        function((1,), (32,), (gx, gy, np.int64(5), np.int64(37)))


def test_elementwise_kernels_broadcast_and_run_their_operation(cp):
    kernel = cp.ElementwiseKernel("float64 a, float64 b", "float64 y", "y = a * b + exp(a);",
                                  "axpe")
    a, b = np.array([[0.0], [1.0]]), np.array([1.0, 2.0, 3.0])
    got = kernel(cp.asarray(a), cp.asarray(b))
    np.testing.assert_allclose(got.get(), a * b + np.exp(a), rtol=1e-15)
    out = cp.asarray(np.zeros((2, 3)))
    assert kernel(cp.asarray(a), 2.0, out) is out
    np.testing.assert_allclose(out.get(), a * 2.0 + np.exp(a) + 0 * b, rtol=1e-15)
    with pytest.raises(TypeError, match="numpy.ndarray"):
        kernel(a, cp.asarray(b))


def test_functions_take_cupys_parameters_not_numpys(cp):
    a = cp.asarray(np.arange(4.0))
    np.testing.assert_array_equal(cp.clip(a, 1.0, 2.0).get(), [1.0, 1.0, 2.0, 2.0])
    with pytest.raises(TypeError, match="CuPy's signature"):
        cp.clip(a, min=1.0, max=2.0)  # NumPy 2's spelling; CuPy's is a_min, a_max
    with pytest.raises(TypeError, match="CuPy's signature"):
        cp.max(a, initial=0.0)


def test_a_kernel_reading_a_host_address_fails_its_launch(cp):
    """The fused optimizer kernels take their tensors' addresses as arguments. A host
    array's address there is an illegal address on a GPU (the fault that poisoned a whole
    process on the H200); the double's launch fails the same way."""
    kernel = kernels.KERNELS["sgd_update"]
    function = cp.RawModule(code=kernel.text()).get_function(kernel.symbol("float64"))
    param, grad, lr = (cp.asarray(np.array(v)) for v in ([1.0, 2.0], [0.5, -1.0], [0.1]))
    new_param = cp.asarray(np.zeros(2))
    host_grad = np.array([0.5, -1.0])
    # the decay of the one tensor (0.0), then its one chunk (tensor 0, from 0, 2 elements)
    table = cp.asarray(np.array([0, 0, 0, 2], dtype=np.int64))

    def launch(grad_address):
        # lists: param, grad, momentum (unused), new param, new momentum (unused), each
        # padded with 0 to kernels.GROUP addresses
        lists = [param.data.ptr, grad_address, 0, new_param.data.ptr, 0]
        addresses = [np.uint64(a) for first in lists for a in [first] + [0] * (kernels.GROUP - 1)]
        function((1,), (32,), (table, np.int32(1), np.int64(1), lr, 0.0, np.int32(0),
                               *addresses))

    launch(grad.data.ptr)
    np.testing.assert_allclose(new_param.get(), [1.0 - 0.1 * 0.5, 2.0 + 0.1 * 1.0])
    with pytest.raises(RuntimeError, match="illegal address: a kernel read a host pointer"):
        launch(host_grad.ctypes.data)
    assert grad.data.ptr != grad.get().ctypes.data  # device addresses are not host ones


def test_a_kernel_whose_parameters_take_over_4_kib_is_refused(cp):
    """CUDA caps a kernel's parameters at 4 KiB (before 12.1, and before Volta): the fused
    optimizers pass GROUP tensors' addresses per launch to stay within it."""
    def kernel(count):
        params = ", ".join(f"unsigned long long a{i}" for i in range(count))
        code = f'extern "C" __global__ void many({params}, double* out) {{ out[0] = 1.0; }}'
        return cp.RawModule(code=code).get_function("many")

    out = cp.asarray(np.zeros(1))
    kernel(511)((1,), (1,), (*[np.uint64(0)] * 511, out))  # 4096 bytes: the limit
    assert out.get()[0] == 1.0
    with pytest.raises(cp.cuda.runtime.CUDARuntimeError, match="4104 bytes"):
        kernel(512)((1,), (1,), (*[np.uint64(0)] * 512, out))


def test_out_of_bounds_integer_array_indices_wrap_around_as_cupys_do(cp):
    # CuPy's documented difference from NumPy: a[[1, 3]] of a length-3 array is a[[1, 0]]
    a = cp.asarray(np.arange(12.0).reshape(3, 4))
    np.testing.assert_array_equal(a[np.array([1, 3])].get(), a[np.array([1, 0])].get())
    np.testing.assert_array_equal(a[..., np.array([-5, 4])].get(), a.get()[:, [3, 0]])
    np.testing.assert_array_equal(a[np.array([0, 2]), np.array([5, -1])].get(), [1.0, 11.0])
    with pytest.raises(IndexError):
        a[3]  # noqa: B018  (an integer, not an array: basic indexing raises on CuPy too)

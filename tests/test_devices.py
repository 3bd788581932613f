"""Devices: tape.cuda, tape.device, Tensor/Layer/Model/Optimizer.to, the errors for a GPU
that cannot be used (CuPy missing, no driver or device) and for inputs on two devices, and
the out-of-memory message. The GPU cases (marked ``gpu``) run where a GPU is lent."""

from __future__ import annotations

import types

import numpy as np
import pytest

import tape
from tape import backend, optimizers
from tape.layers import Dense
from tape.models import Sequential


def _fake_cupy_without_driver():
    """A CuPy whose CUDA runtime finds no driver, as on a machine without a GPU."""

    def no_driver():
        raise RuntimeError("cudaErrorInsufficientDriver: CUDA driver version is insufficient")

    runtime = types.SimpleNamespace(getDeviceCount=no_driver)
    cuda = types.SimpleNamespace(is_available=lambda: False, runtime=runtime)
    return types.SimpleNamespace(cuda=cuda, ndarray=type("ndarray", (), {}))


@pytest.fixture
def no_cupy(monkeypatch):
    monkeypatch.setattr(backend, "_cupy", lambda: None)


@pytest.fixture
def no_driver(monkeypatch):
    monkeypatch.setattr(backend, "_cupy", _fake_cupy_without_driver)


# ---- without a GPU ------------------------------------------------------------------------


def test_cuda_reports_a_missing_cupy(no_cupy):
    assert tape.cuda.is_available() is False
    assert "CuPy is not installed" in tape.cuda.why_unavailable()
    assert tape.cuda.device_count() == 0
    tape.cuda.empty_cache()  # a no-op, not an error
    with pytest.raises(tape.DeviceUnavailableError, match="CuPy is not installed"):
        tape.cuda.memory_info()


def test_cuda_reports_a_missing_driver(no_driver):
    reason = tape.cuda.why_unavailable()
    assert "no usable CUDA device or driver" in reason and "InsufficientDriver" in reason
    with pytest.raises(tape.DeviceUnavailableError, match="InsufficientDriver"):
        tape.ones(2).to("gpu")


@pytest.mark.parametrize("ask", [
    lambda: tape.ones(3).to("gpu"),
    lambda: tape.ones(3).to("cuda:0"),
    lambda: tape.device("gpu").__enter__(),
    lambda: Dense(2).to("gpu"),
    lambda: optimizers.SGD().to("gpu:1"),
])
def test_asking_for_a_gpu_without_one_raises_at_the_call(no_cupy, ask):
    with pytest.raises(tape.DeviceUnavailableError) as info:
        ask()
    assert isinstance(info.value, tape.DeviceError)
    assert "was asked for, but CuPy is not installed" in str(info.value)
    assert "test_devices.py" in str(info.value)  # the user's line


def test_unknown_device_names_are_a_device_error():
    with pytest.raises(tape.DeviceError, match="unknown device 'tpu'"):
        tape.ones(2).to("tpu")


def test_default_device_context_restores_on_exit():
    assert backend.default_device() == "cpu"
    with tape.device("cpu") as name:
        assert name == "cpu" and tape.zeros((2,)).device == "cpu"
    assert backend.default_device() == "cpu"


def test_layer_and_model_to_cpu_keep_values():
    model = Sequential([Dense(3, activation="relu"), Dense(2)])
    model.compile(optimizer="adam", loss="mse")
    x, y = np.ones((4, 5), np.float32), np.zeros((4, 2), np.float32)
    model.fit(x, y, epochs=1, verbose=0)
    before = [w.numpy().copy() for w in model.weights]
    assert model.to("cpu") is model
    assert all(w.device == "cpu" for w in model.weights + model.optimizer.variables)
    for b, w in zip(before, model.weights):
        np.testing.assert_array_equal(b, w.numpy())


def test_out_of_memory_message_has_the_size_and_memory_info(no_cupy):
    class FakeOutOfMemory(MemoryError):
        _size = 3 * 2**30

    error = backend.out_of_memory_error("in op 'matmul'", FakeOutOfMemory("boom"))
    assert isinstance(error, tape.OutOfMemoryError) and isinstance(error, MemoryError)
    message = str(error)
    assert "3,221,225,472 bytes (3.0 GiB)" in message
    assert "memory_info: unavailable" in message and "empty_cache" in message
    parsed = backend.out_of_memory_error(
        "x", MemoryError("Out of memory allocating 1,024 bytes (allocated so far: 0 bytes)."))
    assert "1,024 bytes" in str(parsed)


# ---- on a GPU ------------------------------------------------------------------------------


@pytest.mark.gpu
def test_tensors_move_between_devices():
    x = tape.tensor([[1.0, 2.0], [3.0, 4.0]])
    g = x.to("gpu")
    assert g.device == "gpu:0" and type(g._data).__module__.startswith("cupy")
    y = (g @ g).to("cpu")
    np.testing.assert_allclose(y.numpy(), x.numpy() @ x.numpy())
    with tape.device("gpu"):
        assert tape.zeros((2,)).device == "gpu:0" and tape.tensor([1.0]).device == "gpu:0"
        assert tape.layers.Dense(2)(tape.ones((1, 3))).device == "gpu:0"  # weights there too


@pytest.mark.gpu
def test_inputs_on_two_devices_name_both():
    with pytest.raises(tape.DeviceError, match=r"add: inputs live on different devices.*cpu"
                                               r".*gpu:0|gpu:0.*cpu"):
        tape.add(tape.ones(2), tape.ones(2).to("gpu"))


@pytest.mark.gpu
def test_out_of_memory_surfaces_as_a_tape_error():
    total = tape.cuda.memory_info()["total"]
    with tape.device("gpu"):  # made on the GPU, never on the host first
        with pytest.raises(tape.OutOfMemoryError, match=r"in zeros on gpu:0.*requested"):
            tape.zeros((total // 4,), dtype="float64")
    x = tape.ones((1,)).to("gpu")
    with pytest.raises(tape.OutOfMemoryError, match=r"in op 'multiply'.*requested") as info:
        tape.broadcast_to(x, (total // 2,)) * 2.0  # a view, then 2x the device's memory
    assert "memory_info" in str(info.value)


def _three_classes(seed: int, samples: int, features: int):
    rng = np.random.default_rng(seed)
    return (rng.normal(size=(samples, features)).astype(np.float32),
            rng.integers(0, 3, samples))


@pytest.mark.gpu
def test_a_model_trains_on_the_gpu_like_on_the_cpu():
    x, y = _three_classes(seed=0, samples=64, features=8)
    results = {}
    for device in ("cpu", "gpu"):
        tape.random.seed(0)
        model = Sequential([Dense(16, activation="gelu"), Dense(3)])
        model.compile(optimizer=optimizers.Adam(0.01),
                      loss=tape.losses.SparseCategoricalCrossentropy(from_logits=True))
        model.build((None, 8))
        model.to(device)
        history = model.fit(x, y, epochs=3, batch_size=16, verbose=0, shuffle=False)
        results[device] = (history.history["loss"], [w.numpy() for w in model.weights])
    np.testing.assert_allclose(results["gpu"][0], results["cpu"][0], rtol=1e-4)
    for g, c in zip(results["gpu"][1], results["cpu"][1]):
        np.testing.assert_allclose(g, c, rtol=1e-3, atol=1e-5)


@pytest.mark.gpu
@pytest.mark.parametrize("name, args, params", [
    ("softmax", [(37, 300)], {}),
    ("log_softmax", [(5, 1029)], {}),
    ("layer_norm", [(33, 257), (257,), (257,)], {"epsilon": 1e-5}),
    ("bias_act", [(65, 130), (130,)], {"activation": "gelu"}),
    ("softmax_xent", [(9, 11), (9, 11)], {}),
])
@pytest.mark.parametrize("dtype", ["float32", "float64", "float16"])
def test_gpu_kernels_match_the_generic_forward_on_the_gpu(name, args, params, dtype):
    import cupy

    op = tape.ops.REGISTRY[name]
    rng = np.random.default_rng(0)
    arrays = [cupy.asarray(rng.uniform(0.1, 1.0, s).astype(dtype)) for s in args]
    got = op.kernel(cupy, *arrays, **params)
    assert got is not NotImplemented
    want = op.forward(cupy, *arrays, **params)
    tol = 3e-3 if dtype == "float16" else 1e-5 if dtype == "float32" else 1e-12
    np.testing.assert_allclose(cupy.asnumpy(got).astype(np.float64),
                               cupy.asnumpy(want).astype(np.float64), rtol=tol, atol=tol)


@pytest.mark.gpu
def test_kernels_compile_once_per_device_into_a_writable_cache():
    import os

    from tape import kernels

    rt = kernels.runtime(0)
    kernels.launch.softmax_forward(rt.xp.ones((2, 3), rt.xp.float32))
    assert os.access(kernels.cache_dir(), os.W_OK)
    before = kernels._module.cache_info().misses
    kernels.launch.softmax_forward(rt.xp.ones((4, 5), rt.xp.float32))
    assert kernels._module.cache_info().misses == before


def test_gpu_benchmark_says_why_it_cannot_run(no_cupy):
    from benchmarks import gpu

    with pytest.raises(SystemExit, match="needs a GPU: CuPy is not installed"):
        gpu.main(["--quick"])


@pytest.mark.gpu
def test_gpu_benchmark_runs_every_case_end_to_end(capsys):
    """``--smoke``: every kernel case, the optimizer case and both model steps run (tiny
    sizes, one repeat), so a GPU session spends its time measuring, not debugging."""
    from benchmarks import gpu

    results = gpu.main(["--smoke"])
    out = capsys.readouterr().out
    expected = {f"bias_act{grad} {act}" for grad in ("", "_grad")
                for act in ("relu", "gelu", "silu", "tanh", "sigmoid")}
    expected |= {"softmax", "log_softmax", "softmax_grad", "log_softmax_grad", "softmax_xent",
                 "softmax_xent_grad", "layer_norm", "layer_norm_grad", "dropout",
                 "adam fused step"}
    assert expected <= set(results)
    assert all(np.isfinite(v) and v > 0 for v in results.values())
    for name in ("mlp 16-8-8-4 b2", "mlp 16-8-8-4 b4", "cnn 8x8 b2"):  # issue 16's steps
        assert f"{name}: traced/eager" in results and name in out
    assert {"fit digits: gpu/cpu", "fit synthetic 16-pixel: gpu/cpu"} <= set(results)


@pytest.mark.gpu
def test_compile_after_to_keeps_metric_state_on_the_gpu():
    """Metrics made by a compile after ``to('gpu')``, and those built at the first batch,
    live on the GPU too; fit and evaluate agree with the same model on the CPU."""
    x, y = _three_classes(seed=1, samples=48, features=6)
    results = {}
    for device in ("cpu", "gpu"):
        tape.random.seed(0)
        model = Sequential([Dense(8, activation="relu"), Dense(3)])
        model.build((None, 6))
        model.to(device)
        model.compile(optimizer=optimizers.SGD(0.1), metrics=["accuracy"],
                      loss=tape.losses.SparseCategoricalCrossentropy(from_logits=True))
        history = model.fit(x, y, epochs=2, batch_size=16, verbose=0, shuffle=False)
        assert all(v.device == model.weights[0].device for m in model.metrics
                   for v in m.variables)
        results[device] = (history.history, model.evaluate(x, y, verbose=0))
    np.testing.assert_allclose(results["gpu"][0]["loss"], results["cpu"][0]["loss"], rtol=1e-4)
    np.testing.assert_allclose(results["gpu"][0]["accuracy"], results["cpu"][0]["accuracy"])
    np.testing.assert_allclose(results["gpu"][1], results["cpu"][1], rtol=1e-4)


@pytest.mark.gpu
def test_host_gradients_are_moved_and_never_reach_a_kernel():
    """On the H200 a NumPy gradient reached the fused optimizer kernel as a host pointer
    (an illegal address). Host values go to the variable's device first; a gradient tensor
    on another device is a DeviceError; a launch refuses a host array by name."""
    from tape.kernels import launch

    with tape.device("gpu"):
        x = tape.Variable(np.array([1.0, 2.0]), name="x")
    opt = optimizers.SGD(0.5)
    opt.apply([np.array([1.0, -1.0])], [x])
    np.testing.assert_array_equal(x.numpy(), [0.5, 2.5])
    with pytest.raises(tape.DeviceError, match=r"gradient for variable 'x' lives on cpu.*gpu:0"):
        opt.apply([tape.ones(2)], [x])
    xp = backend.get_array_module(x._data)
    lr, it = xp.asarray(np.array(0.1)), xp.asarray(np.array(0, np.int64))
    with pytest.raises(tape.DeviceError, match=r"adam_update: argument grads\[0\]: a \(2,\) "
                                               r"float64 array on cpu.*runs on gpu:0"):
        launch.adam_update([x._data], [np.ones(2)], [xp.zeros(2)], [xp.zeros(2)], lr, it,
                           [0.0], 0.9, 0.999, 1e-7)
    with pytest.raises(tape.DeviceError, match=r"softmax: argument 0: a \(2, 3\) float32 "
                                               r"array on cpu"):
        launch.softmax_forward(np.ones((2, 3), np.float32), runtime=launch.runtime_for(x._data))

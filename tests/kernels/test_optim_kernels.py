"""The fused optimizer kernels (kernels/optim.cu), emulated, against the optimizers' generic
path: the same optimizer run twice from the same state, once through ``update_step`` and
once through the fused launch (``_kernel_runtime`` set), must agree after several steps,
slots included; tensors larger than a chunk and of several sizes share one launch."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import tape
from tape import optimizers
from tape.kernels import DeviceProps, launch

from .conftest import runtime
from .emulator import EmuRuntime

SHAPES = st.lists(st.sampled_from([(), (3,), (4, 5), (launch.CHUNK + 37,), (2, 70)]),
                  min_size=1, max_size=4)
CONFIGS = [
    ("sgd", lambda: optimizers.SGD(learning_rate=0.1)),
    ("sgd momentum", lambda: optimizers.SGD(learning_rate=0.1, momentum=0.9)),
    ("sgd nesterov", lambda: optimizers.SGD(learning_rate=0.1, momentum=0.9, nesterov=True)),
    ("sgd decay", lambda: optimizers.SGD(learning_rate=0.1, momentum=0.5, weight_decay=0.1)),
    ("adam", lambda: optimizers.Adam(learning_rate=0.01)),
    ("adamw", lambda: optimizers.AdamW(learning_rate=0.01, weight_decay=0.05)),
]


def _run(make, values, grads_per_step, dtype, kernel_runtime):
    variables = [tape.Variable(v.astype(dtype), name=f"w{i}") for i, v in enumerate(values)]
    opt = make()
    if kernel_runtime is not None:
        opt._kernel_runtime = kernel_runtime
    if isinstance(opt, optimizers.AdamW):
        opt.exclude_from_weight_decay(var_list=variables[:1])  # one tensor without decay
    for grads in grads_per_step:
        opt.apply_gradients(zip([tape.Tensor(g.astype(dtype)) for g in grads], variables))
    return [v.numpy() for v in variables] + [v.numpy() for v in opt.variables]


@pytest.mark.parametrize("name, make", CONFIGS, ids=[c[0] for c in CONFIGS])
@settings(max_examples=4)
@given(data=st.data(), shapes=SHAPES, dtype=st.sampled_from(["float32", "float64"]))
def test_fused_update_matches_the_generic_update(name, make, data, shapes, dtype):
    rng = np.random.default_rng(data.draw(st.integers(0, 2**32 - 1)))
    values = [rng.normal(size=s) for s in shapes]
    steps = [[rng.normal(size=s) for s in shapes] for _ in range(3)]
    rt = runtime(data.draw)
    want = _run(make, values, steps, dtype, None)
    got = _run(make, values, steps, dtype, rt)
    assert rt.launches and len(rt.launches) == 3, "one fused launch per step and dtype"
    tol = 1e-5 if dtype == "float32" else 1e-12
    for i, (g, w) in enumerate(zip(got, want)):
        assert g.dtype == w.dtype
        np.testing.assert_allclose(g, w, rtol=tol, atol=tol, err_msg=f"{name}: state {i}")


def test_amsgrad_and_float16_keep_the_generic_path():
    rt = EmuRuntime(DeviceProps(1, 64, 128))
    w = tape.Variable(np.ones(3, np.float32))
    opt = optimizers.Adam(amsgrad=True)
    opt._kernel_runtime = rt
    opt.apply_gradients([(tape.ones(3), w)])
    h = tape.Variable(np.ones(3, np.float16))
    opt16 = optimizers.SGD()
    opt16._kernel_runtime = rt
    opt16.apply_gradients([(tape.ones(3, dtype="float16"), h)])
    assert not rt.launches
    np.testing.assert_allclose(h.numpy(), 0.99, rtol=1e-3)


@pytest.mark.parametrize("name, make", [CONFIGS[1], CONFIGS[5]], ids=["sgd momentum", "adamw"])
def test_more_tensors_than_a_launch_takes_are_updated_in_groups(name, make):
    """A launch takes the addresses of GROUP tensors as arguments: 2 * GROUP + 5 tensors of
    mixed sizes (one larger than a chunk) take three launches a step, and every tensor,
    the padded last group's included, gets the generic path's update."""
    rng = np.random.default_rng(7)
    shapes = [(3,), (2, 5), (), (launch.CHUNK + 3,)] * ((2 * launch.GROUP + 5) // 4) + [(4,)]
    assert len(shapes) == 2 * launch.GROUP + 5
    values = [rng.normal(size=s) for s in shapes]
    steps = [[rng.normal(size=s) for s in shapes] for _ in range(2)]
    rt = EmuRuntime(DeviceProps(2, 256, 512))
    want = _run(make, values, steps, "float32", None)
    got = _run(make, values, steps, "float32", rt)
    assert len(rt.launches) == 3 * len(steps)
    for i, (g, w) in enumerate(zip(got, want)):
        np.testing.assert_allclose(g, w, rtol=1e-5, atol=1e-5, err_msg=f"{name}: state {i}")

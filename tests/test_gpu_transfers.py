"""Copies between host and device in a steady-state eager training step on the GPU path,
counted by the CuPy double (``cupy_double.count_transfers``): each is a wait or a copy the
GPU step pays for. The steps are benchmarks.gpu's MLP (784-256-256-10, Adam) at batch 8, and
its CNN made smaller.

None, as issue 16 asks: the fused optimizer passes its tensors' addresses as kernel arguments
and keeps the rest of its table (decays, chunks) on the device; Python numbers (the loss's
mean divides by one) are device constants made once by a fill (``backend.device_scalar``);
the label checks run on the device and report at the next host read; random keys (Dropout's)
are made on the device by fills, not copied there."""

from __future__ import annotations

import sys

import numpy as np
import pytest

import tape

pytestmark = pytest.mark.gpu

@pytest.fixture
def double():
    double = sys.modules.get("cupy_double")
    if double is None:
        pytest.skip("counts transfers through the CuPy double (TAPE_CUPY_DOUBLE=1)")
    return double


def _mlp_step():
    from benchmarks.gpu import tape_mlp_step

    return tape_mlp_step(8)


def _cnn_step():  # benchmarks.gpu's CNN (two Conv2D, max pooling, Dense), smaller
    from benchmarks.gpu import tape_cnn_step

    return tape_cnn_step(4, side=12, filters=(4, 8))


@pytest.mark.parametrize("make_step", [_mlp_step, _cnn_step], ids=["mlp", "cnn"])
def test_a_steady_eager_step_copies_nothing_between_host_and_device(double, make_step):
    tape.random.seed(0)
    step = make_step()
    for _ in range(3):  # warm-up: layers built, optimizer slots made, kernels compiled
        step()
    steps = 4
    with double.count_transfers() as transfers:
        for _ in range(steps):
            step()
    assert transfers.h2d == 0 and transfers.d2h == 0, transfers.log


def test_label_checks_on_the_gpu_report_at_the_next_host_read(double):
    logits = tape.tensor(np.zeros((3, 4), np.float32)).to("gpu")
    loss_fn = tape.losses.SparseCategoricalCrossentropy(from_logits=True)
    good = tape.tensor([0, 3, 1]).to("gpu")
    bad = tape.tensor([0, 4, 1]).to("gpu")
    with double.count_transfers() as transfers:
        loss_fn(good, logits)
        loss = loss_fn(bad, logits)  # no error yet: nothing was read
        loss_fn(good, logits)
    assert transfers.d2h == 0
    with double.count_transfers() as transfers:
        with pytest.raises(ValueError, match=r"labels must be in \[0, 4\) for 4 classes, got "
                                             r"labels in \[0, 4\].*test_gpu_transfers.py"):
            loss.numpy()
    assert transfers.d2h == 1  # every pending check in one read
    np.testing.assert_allclose(loss_fn(good, logits).numpy(), np.log(4.0), rtol=1e-6)
    fractional = tape.tensor([0.0, 1.5, 1.0]).to("gpu")
    with pytest.raises(ValueError, match="labels must be integer class indices"):
        loss_fn(fractional, logits).item()


def test_random_keys_are_made_on_the_device(double):
    streams = tape.random.Streams()
    with double.count_transfers() as transfers:
        keys = [tape.random.random_key(seed=2**64 - 3, streams=streams, device="gpu:0")
                for _ in range(2)]
        layer = tape.layers.Dropout(0.5, seed=3)
        x = tape.ones((4, 64)).to("gpu")
        kept = [layer(x, training=True) for _ in range(2)]
    assert transfers.h2d == 1 and transfers.d2h == 0, transfers.log  # 1: the ones moved
    assert [k.numpy().tolist() for k in keys] == [[2**64 - 3, 0], [2**64 - 3, 1]]
    assert keys[0].dtype == np.uint64 and keys[0].device == "gpu:0"
    first, second = (k.numpy() for k in kept)
    assert set(np.unique(first)) <= {0.0, 2.0} and not np.array_equal(first, second)


def test_python_numbers_become_device_constants_made_once(double):
    x = tape.tensor(np.array([1.0, -2.0], np.float32)).to("gpu")
    _ = x * 0.5  # the constant is made here (a fill, not a copy)
    with double.count_transfers() as transfers:
        for _ in range(3):
            y = x * 0.5 + 1.0
        z = x * -0.0  # -0.0 is not 0.0's constant
        w = x * float("nan")
    assert transfers.h2d == 0 and transfers.d2h == 0, transfers.log
    np.testing.assert_array_equal(y.numpy(), [1.5, 0.0])
    assert np.signbit(z.numpy()).tolist() == [True, False]
    assert np.isnan(w.numpy()).all()

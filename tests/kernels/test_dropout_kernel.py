"""The dropout kernel against a NumPy Philox4x32-10 written here, itself checked against
Random123's published known-answer vectors; and, once the op ``dropout`` exists, against
the op's own xp forward (its GPU override's reference)."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from ops.philox_reference import keep_mask, philox4x32_10

from tape.kernels import DeviceProps, launch
from tape.ops.random import philox_uniform

from .conftest import DTYPES, STORE_RTOL, runtime
from .emulator import EmuRuntime


@pytest.mark.parametrize("counter, key, expected", [
    ((0, 0, 0, 0), (0, 0), (0x6627E8D5, 0xE169C58D, 0xBC57AC4C, 0x9B00DBD8)),
    ((0xFFFFFFFF,) * 4, (0xFFFFFFFF,) * 2, (0x408F276D, 0x41C83B0E, 0xA20BC7C6, 0x6D5451FD)),
    ((0x243F6A88, 0x85A308D3, 0x13198A2E, 0x03707344), (0xA4093822, 0x299F31D0),
     (0xD16CFE09, 0x94FDCCEB, 0x5001E420, 0x24126EA1)),
])
def test_numpy_philox_matches_random123_known_answers(counter, key, expected):
    assert tuple(int(w) for w in philox4x32_10(*counter, *key)) == expected


@settings(max_examples=12)
@given(data=st.data(), dtype=st.sampled_from(DTYPES),
       n=st.integers(1, 3000), rate=st.sampled_from([0.0, 0.1, 0.5, 0.9, 1.0]),
       seed=st.integers(0, 2**64 - 1), stream=st.integers(0, 2**64 - 1))
def test_dropout_kernel_applies_the_philox_mask(data, dtype, n, rate, seed, stream):
    rt = runtime(data.draw)
    x = np.random.default_rng(n).uniform(0.5, 2.0, n).astype(dtype)
    key = np.array([seed, stream], dtype=np.uint64)
    y = launch.dropout(x, key, rate, runtime=rt)
    keep = keep_mask(n, seed, stream, rate)
    np.testing.assert_array_equal(y != 0, keep, err_msg="the mask differs from Philox's")
    scale = 1 / (1 - rate) if rate < 1 else 0.0
    want = np.where(keep, x.astype(np.float64) * scale, 0.0)
    tol = STORE_RTOL[dtype]
    np.testing.assert_allclose(y.astype(np.float64), want, rtol=tol)


def test_the_mask_depends_on_seed_stream_and_flat_index_only():
    rt = EmuRuntime(DeviceProps(1, 64, 128))
    key = np.array([7, 3], dtype=np.uint64)
    flat = launch.dropout(np.ones(24, np.float32), key, 0.5, runtime=rt)
    shaped = launch.dropout(np.ones((2, 3, 4), np.float32), key, 0.5, runtime=rt)
    np.testing.assert_array_equal(flat, shaped.ravel())
    other_stream = launch.dropout(np.ones(24, np.float32), np.array([7, 4], np.uint64), 0.5,
                                  runtime=rt)
    assert (other_stream != flat).any()


def test_tapes_gpu_philox_matches_the_reference():
    """tape.ops.random.philox_uniform is what the dropout op computes on CuPy (the kernel
    replaces it there): it must give the reference mask."""
    for n, seed, stream in ((1, 0, 0), (37, 12345, 678), (1000, 2**40 + 3, 2**33 + 1)):
        u = philox_uniform(np, np.array([seed, stream], dtype=np.uint64), n)
        np.testing.assert_array_equal(u >= 0.3, keep_mask(n, seed, stream, 0.3))


def test_dropout_kernel_matches_the_ops_gpu_path():
    rt = EmuRuntime(DeviceProps(2, 64, 128))
    x = np.random.default_rng(0).uniform(0.5, 2.0, (5, 37)).astype(np.float32)
    key = np.array([12345, 678], dtype=np.uint64)
    keep = philox_uniform(np, key, x.size).reshape(x.shape) >= 0.3
    want = np.where(keep, x / np.float32(0.7), 0)
    got = launch.dropout(x, key, 0.3, runtime=rt)
    np.testing.assert_array_equal(got != 0, keep)
    np.testing.assert_allclose(got, want, rtol=1e-6)

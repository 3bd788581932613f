"""The dropout kernel against a NumPy Philox4x32-10 written here, itself checked against
Random123's published known-answer vectors; and, once the op ``dropout`` exists, against
the op's own xp forward (its GPU override's reference)."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tape.kernels import DeviceProps, launch
from tape.ops import REGISTRY

from .conftest import DTYPES, runtime
from .emulator import EmuRuntime

M0, M1, W0, W1 = 0xD2511F53, 0xCD9E8D57, 0x9E3779B9, 0xBB67AE85
MASK32 = np.uint64(0xFFFFFFFF)


def philox4x32_10(c0, c1, c2, c3, k0, k1):
    """Philox4x32-10 on uint64 arrays holding 32-bit words (Salmon et al. 2011)."""
    c = [np.asarray(v, dtype=np.uint64) for v in (c0, c1, c2, c3)]
    k0, k1 = np.uint64(k0), np.uint64(k1)
    for round_ in range(10):
        if round_:
            k0, k1 = (k0 + np.uint64(W0)) & MASK32, (k1 + np.uint64(W1)) & MASK32
        p0, p1 = np.uint64(M0) * c[0], np.uint64(M1) * c[2]
        c = [(p1 >> np.uint64(32)) ^ c[1] ^ k0, p1 & MASK32,
             (p0 >> np.uint64(32)) ^ c[3] ^ k1, p0 & MASK32]
    return c


@pytest.mark.parametrize("counter, key, expected", [
    ((0, 0, 0, 0), (0, 0), (0x6627E8D5, 0xE169C58D, 0xBC57AC4C, 0x9B00DBD8)),
    ((0xFFFFFFFF,) * 4, (0xFFFFFFFF,) * 2, (0x408F276D, 0x41C83B0E, 0xA20BC7C6, 0x6D5451FD)),
    ((0x243F6A88, 0x85A308D3, 0x13198A2E, 0x03707344), (0xA4093822, 0x299F31D0),
     (0xD16CFE09, 0x94FDCCEB, 0x5001E420, 0x24126EA1)),
])
def test_numpy_philox_matches_random123_known_answers(counter, key, expected):
    assert tuple(int(w) for w in philox4x32_10(*counter, *key)) == expected


def keep_mask(n, seed, stream, rate):
    """The dropout contract: element i uses counter (lo(i//4), hi(i//4), lo(stream),
    hi(stream)), key (lo(seed), hi(seed)), word i % 4; keep iff (word >> 8) * 2^-24 >= rate."""
    i = np.arange(n, dtype=np.uint64)
    q = i // np.uint64(4)
    words = philox4x32_10(q & MASK32, q >> np.uint64(32), stream & 0xFFFFFFFF, stream >> 32,
                          seed & 0xFFFFFFFF, seed >> 32)
    word = np.choose((i % np.uint64(4)).astype(np.intp), words)
    return (word >> np.uint64(8)).astype(np.float64) * 2.0**-24 >= rate


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
    tol = 2e-3 if dtype == "float16" else 1e-6
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


@pytest.mark.skipif("dropout" not in REGISTRY, reason="the op `dropout` (tape/ops/random.py) "
                    "is not declared on this branch yet")
def test_dropout_kernel_matches_the_op_forward():  # pragma: no cover - runs once it exists
    rt = EmuRuntime(DeviceProps(2, 64, 128))
    x = np.random.default_rng(0).uniform(0.5, 2.0, (5, 37)).astype(np.float32)
    key = np.array([12345, 678], dtype=np.uint64)
    want = np.asarray(REGISTRY["dropout"].forward(np, x, key, rate=0.3))
    got = launch.dropout(x, key, 0.3, runtime=rt)
    np.testing.assert_array_equal(got != 0, want != 0)
    np.testing.assert_allclose(got, want, rtol=1e-6)

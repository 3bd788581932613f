"""A NumPy Philox4x32-10 written for the tests, independent of tape's, and the dropout
mask contract built on it (checked against Random123's known answers in
tests/kernels/test_dropout_kernel.py)."""

from __future__ import annotations

import numpy as np

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


def keep_mask(n, seed, stream, rate):
    """The dropout contract: element i uses counter (lo(i//4), hi(i//4), lo(stream),
    hi(stream)), key (lo(seed), hi(seed)), word i % 4; keep iff (word >> 8) * 2^-24 >= rate."""
    i = np.arange(n, dtype=np.uint64)
    q = i // np.uint64(4)
    words = philox4x32_10(q & MASK32, q >> np.uint64(32), stream & 0xFFFFFFFF, stream >> 32,
                          seed & 0xFFFFFFFF, seed >> 32)
    word = np.choose((i % np.uint64(4)).astype(np.intp), words)
    return (word >> np.uint64(8)).astype(np.float64) * 2.0**-24 >= rate

// Dropout with a counter-based generator: the keep mask of element i (flat, C order) is a
// function of (seed, stream, i) alone, so it is never stored and backward regenerates it.
// The key [seed, stream] is read from device memory: no host round trip per launch.
// Contract (shared with the op `dropout`, tape/ops/random.py, and the NumPy Philox in
// tests/kernels): counter = (lo32(i / 4), hi32(i / 4), lo32(stream), hi32(stream)),
// key = (lo32(seed), hi32(seed)); Philox4x32-10 gives 4 words; word i % 4 gives
// u = (word >> 8) * 2^-24; keep iff u >= rate; y = keep ? x / (1 - rate) : 0.
#include "common.cuh"

namespace tape {

template <typename T>
__device__ void dropout_apply(const T* x, T* y, index_t n, const u64* key, double rate) {
    typedef typename Acc<T>::type A;
    const u64 seed = key[0], stream = key[1];
    const A scale = rate < 1.0 ? A(1.0 / (1.0 - rate)) : A(0);
    const u32 k0 = static_cast<u32>(seed), k1 = static_cast<u32>(seed >> 32);
    const u32 s0 = static_cast<u32>(stream), s1 = static_cast<u32>(stream >> 32);
    const index_t groups = (n + 3) / 4;
    TAPE_GRID_STRIDE_LOOP(q, groups) {
        const u64 uq = static_cast<u64>(q);
        const philox_words r =
            philox4x32_10(static_cast<u32>(uq), static_cast<u32>(uq >> 32), s0, s1, k0, k1);
        for (int w = 0; w < 4; ++w) {
            const index_t i = 4 * q + w;
            if (i >= n) break;
            const double u = static_cast<double>(r.w[w] >> 8) * (1.0 / 16777216.0);
            store(y, i, u >= rate ? load(x, i) * scale : A(0));
        }
    }
}

}  // namespace tape

#define TAPE_DROPOUT(T, S)                                                                      \
    extern "C" __global__ void dropout_##S(const T* x, T* y, tape::index_t n,                  \
                                           const unsigned long long* key, double rate) {        \
        tape::dropout_apply(x, y, n, key, rate);                                                \
    }

TAPE_DROPOUT(float, f32)
TAPE_DROPOUT(double, f64)
TAPE_DROPOUT(tape::half_t, f16)
TAPE_DROPOUT(tape::bfloat16_t, bf16)

// Shared device helpers for tape's CUDA kernels: index math, float16 and bfloat16 storage,
// typed math,
// warp and block reductions, Philox4x32-10. Header-only and free of standard-library and
// CUDA-toolkit includes, so NVRTC (cupy.RawModule) compiles it without an include path as
// well as nvcc does; the loader pastes it in place of `#include "common.cuh"`. Under
// TAPE_EMULATION (kernels/emulation/cuda_emu.h, g++) the few hardware intrinsics used here
// are provided by the emulation header instead.
#ifndef TAPE_KERNELS_COMMON_CUH_
#define TAPE_KERNELS_COMMON_CUH_

namespace tape {

// 64-bit index math: a tensor may have more than 2^31 elements.
typedef long long index_t;
typedef unsigned int u32;
typedef unsigned long long u64;

// A pointer passed as an integer (the fused optimizers' tensor addresses): on a GPU the bits
// are the address; the CPU emulation checks that they are a device address (cuda_emu.h), so that a
// host pointer there fails the test launch as it would fault on the hardware.
template <typename T> __device__ __forceinline__ T* device_pointer(u64 bits) {
#ifdef TAPE_EMULATION
    return static_cast<T*>(tape_emu::device_address(bits));
#else
    return reinterpret_cast<T*>(bits);
#endif
}

// First flat element this thread handles in a grid-stride loop.
__device__ __forceinline__ index_t global_index() {
    return static_cast<index_t>(blockIdx.x) * blockDim.x + threadIdx.x;
}

// Distance between the elements one thread handles: every thread of the grid.
__device__ __forceinline__ index_t grid_stride() {
    return static_cast<index_t>(gridDim.x) * blockDim.x;
}

// ---- float16: stored as raw bits, computed in float (no cuda_fp16.h needed) --------------
struct half_t {
    unsigned short bits;
};

#ifdef TAPE_EMULATION
__device__ __forceinline__ float half_to_float(half_t h) { return ::tape_emu::half_to_float(h.bits); }
__device__ __forceinline__ half_t float_to_half(float f) {
    half_t h;
    h.bits = ::tape_emu::float_to_half(f);
    return h;
}
#else
__device__ __forceinline__ float half_to_float(half_t h) {
    float f;
    asm("cvt.f32.f16 %0, %1;" : "=f"(f) : "h"(h.bits));
    return f;
}
__device__ __forceinline__ half_t float_to_half(float f) {
    half_t h;
    asm("cvt.rn.f16.f32 %0, %1;" : "=h"(h.bits) : "f"(f));
    return h;
}
#endif

// ---- bfloat16: the high 16 bits of a float32, stored as raw bits, computed in float -------
// (no cuda_bf16.h either: NVRTC then needs no include path). Widening is exact (a shift);
// narrowing rounds to nearest even, as cvt.rn.bf16.f32 (sm_80+) and ml_dtypes do.
struct bfloat16_t {
    unsigned short bits;
};

__device__ __forceinline__ float bfloat16_to_float(bfloat16_t h) {
    return __uint_as_float(static_cast<u32>(h.bits) << 16);
}

__device__ __forceinline__ bfloat16_t float_to_bfloat16(float f) {
    bfloat16_t h;
#if defined(TAPE_EMULATION) || (defined(__CUDA_ARCH__) && __CUDA_ARCH__ < 800)
    // No bf16 conversion instruction (the CPU emulation, GPUs before sm_80): round the bits.
    const u32 u = __float_as_uint(f);
    if ((u & 0x7fffffffu) > 0x7f800000u) {
        h.bits = static_cast<unsigned short>((u >> 16) | 0x40u);  // NaN stays a (quiet) NaN
    } else {
        h.bits = static_cast<unsigned short>((u + 0x7fffu + ((u >> 16) & 1u)) >> 16);
    }
#else
    asm("cvt.rn.bf16.f32 %0, %1;" : "=h"(h.bits) : "f"(f));
#endif
    return h;
}

// Acc<T>::type is the type arithmetic runs in: float for float16 and bfloat16, T otherwise.
template <typename T> struct Acc { typedef T type; };
template <> struct Acc<half_t> { typedef float type; };
template <> struct Acc<bfloat16_t> { typedef float type; };

__device__ __forceinline__ float load(const float* p, index_t i) { return p[i]; }
__device__ __forceinline__ double load(const double* p, index_t i) { return p[i]; }
__device__ __forceinline__ float load(const half_t* p, index_t i) { return half_to_float(p[i]); }
__device__ __forceinline__ void store(float* p, index_t i, float v) { p[i] = v; }
__device__ __forceinline__ void store(double* p, index_t i, double v) { p[i] = v; }
__device__ __forceinline__ void store(half_t* p, index_t i, float v) { p[i] = float_to_half(v); }
__device__ __forceinline__ float load(const bfloat16_t* p, index_t i) {
    return bfloat16_to_float(p[i]);
}
__device__ __forceinline__ void store(bfloat16_t* p, index_t i, float v) {
    p[i] = float_to_bfloat16(v);
}

// ---- typed math: one name for float and double ----------------------------------------
__device__ __forceinline__ float exp_(float x) { return expf(x); }
__device__ __forceinline__ double exp_(double x) { return exp(x); }
__device__ __forceinline__ float log_(float x) { return logf(x); }
__device__ __forceinline__ double log_(double x) { return log(x); }
__device__ __forceinline__ float tanh_(float x) { return tanhf(x); }
__device__ __forceinline__ double tanh_(double x) { return tanh(x); }
__device__ __forceinline__ float erf_(float x) { return erff(x); }
__device__ __forceinline__ double erf_(double x) { return erf(x); }
__device__ __forceinline__ float sqrt_(float x) { return sqrtf(x); }
__device__ __forceinline__ double sqrt_(double x) { return sqrt(x); }
__device__ __forceinline__ float pow_(float x, float y) { return powf(x, y); }
__device__ __forceinline__ double pow_(double x, double y) { return pow(x, y); }
__device__ __forceinline__ float max_(float x, float y) { return fmaxf(x, y); }
__device__ __forceinline__ double max_(double x, double y) { return fmax(x, y); }

template <typename A> __device__ __forceinline__ A neg_inf();
template <> __device__ __forceinline__ float neg_inf<float>() { return -__int_as_float(0x7f800000); }
template <> __device__ __forceinline__ double neg_inf<double>() {
    return -__longlong_as_double(0x7ff0000000000000LL);
}

// ---- reductions: blockDim.x must be a multiple of 32 (the launchers guarantee it) -------
template <typename A> __device__ __forceinline__ A warp_sum(A v) {
    for (int offset = 16; offset > 0; offset >>= 1) v += __shfl_xor_sync(0xffffffffu, v, offset);
    return v;
}

template <typename A> __device__ __forceinline__ A warp_max(A v) {
    for (int offset = 16; offset > 0; offset >>= 1)
        v = max_(v, __shfl_xor_sync(0xffffffffu, v, offset));
    return v;
}

// Sum of `v` over the block, returned to every thread. `scratch` is 32 values of shared
// memory; the leading barrier lets consecutive reductions reuse it (a slow warp may still
// be reading the previous result).
template <typename A> __device__ A block_sum(A v, A* scratch) {
    const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5, warps = blockDim.x >> 5;
    v = warp_sum(v);
    __syncthreads();
    if (lane == 0) scratch[warp] = v;
    __syncthreads();
    return warp_sum(lane < warps ? scratch[lane] : A(0));
}

template <typename A> __device__ A block_max(A v, A* scratch) {
    const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5, warps = blockDim.x >> 5;
    v = warp_max(v);
    __syncthreads();
    if (lane == 0) scratch[warp] = v;
    __syncthreads();
    return warp_max(lane < warps ? scratch[lane] : neg_inf<A>());
}

// ---- Philox4x32-10 (Salmon et al. 2011, Random123's constants) --------------------------
struct philox_words {
    u32 w[4];
};

__device__ __forceinline__ philox_words philox4x32_10(u32 c0, u32 c1, u32 c2, u32 c3, u32 k0,
                                                       u32 k1) {
    for (int round = 0; round < 10; ++round) {
        if (round > 0) {
            k0 += 0x9E3779B9u;
            k1 += 0xBB67AE85u;
        }
        const u32 hi0 = __umulhi(0xD2511F53u, c0), lo0 = 0xD2511F53u * c0;
        const u32 hi1 = __umulhi(0xCD9E8D57u, c2), lo1 = 0xCD9E8D57u * c2;
        const u32 n0 = hi1 ^ c1 ^ k0, n2 = hi0 ^ c3 ^ k1;
        c0 = n0;
        c1 = lo1;
        c2 = n2;
        c3 = lo0;
    }
    philox_words out;
    out.w[0] = c0;
    out.w[1] = c1;
    out.w[2] = c2;
    out.w[3] = c3;
    return out;
}

}  // namespace tape

// for (index_t i ...) over [0, n), correct for any grid size:
//   TAPE_GRID_STRIDE_LOOP(i, n) { out[i] = f(x[i]); }
#define TAPE_GRID_STRIDE_LOOP(i, n) \
    for (::tape::index_t i = ::tape::global_index(); i < (n); i += ::tape::grid_stride())

// for (row ...) over [0, rows) with one block per row at a time (row kernels).
#define TAPE_BLOCK_PER_ROW_LOOP(row, rows) \
    for (::tape::index_t row = blockIdx.x; row < (rows); row += gridDim.x)

// for (j ...) over [0, cols) by the threads of one block.
#define TAPE_BLOCK_STRIDE_LOOP(j, cols) \
    for (::tape::index_t j = threadIdx.x; j < (cols); j += blockDim.x)

#endif  // TAPE_KERNELS_COMMON_CUH_

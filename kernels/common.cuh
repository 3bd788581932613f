// Shared device helpers for tape's CUDA kernels (index math for now; warp reductions and
// type traits join as the kernels that need them land). Header-only, and free of standard
// library includes so that NVRTC (cupy.RawModule) compiles it as well as nvcc does.
#ifndef TAPE_KERNELS_COMMON_CUH_
#define TAPE_KERNELS_COMMON_CUH_

namespace tape {

// 64-bit index math: a tensor may have more than 2^31 elements.
typedef long long index_t;

// First flat element this thread handles in a grid-stride loop.
__device__ __forceinline__ index_t global_index() {
    return static_cast<index_t>(blockIdx.x) * blockDim.x + threadIdx.x;
}

// Distance between the elements one thread handles: every thread of the grid.
__device__ __forceinline__ index_t grid_stride() {
    return static_cast<index_t>(gridDim.x) * blockDim.x;
}

}  // namespace tape

// for (index_t i ...) over [0, n), correct for any grid size:
//   TAPE_GRID_STRIDE_LOOP(i, n) { out[i] = f(x[i]); }
#define TAPE_GRID_STRIDE_LOOP(i, n) \
    for (::tape::index_t i = ::tape::global_index(); i < (n); i += ::tape::grid_stride())

#endif  // TAPE_KERNELS_COMMON_CUH_

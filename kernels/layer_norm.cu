// Layer normalization over the last axis, forward and backward (the input gradient); one
// block per row, two-pass mean and variance (no catastrophic cancellation). GPU overrides
// of `layer_norm` (tape/ops/nn.py) and `layer_norm_grad` (tape/ops/fused.py), whose xp
// forwards are the reference.
#include "common.cuh"

namespace tape {

// Mean and 1 / sqrt(var + epsilon) of row `x`, returned to every thread of the block.
template <typename T, typename A>
__device__ void row_moments(const T* x, index_t cols, A epsilon, A* scratch, A* mean, A* rstd) {
    A s = A(0);
    TAPE_BLOCK_STRIDE_LOOP(j, cols) s += load(x, j);
    const A m = block_sum(s, scratch) / A(cols);
    A q = A(0);
    TAPE_BLOCK_STRIDE_LOOP(j, cols) {
        const A c = load(x, j) - m;
        q += c * c;
    }
    const A var = block_sum(q, scratch) / A(cols);
    *mean = m;
    *rstd = A(1) / sqrt_(var + epsilon);
}

template <typename T>
__device__ void layer_norm_forward(const T* x, const T* gamma, const T* beta, T* y, index_t rows,
                                   index_t cols, double epsilon) {
    typedef typename Acc<T>::type A;
    __shared__ A scratch[32];
    TAPE_BLOCK_PER_ROW_LOOP(row, rows) {
        const T* xr = x + row * cols;
        T* yr = y + row * cols;
        A mean, rstd;
        row_moments(xr, cols, A(epsilon), scratch, &mean, &rstd);
        TAPE_BLOCK_STRIDE_LOOP(j, cols)
            store(yr, j, (load(xr, j) - mean) * rstd * load(gamma, j) + load(beta, j));
    }
}

// dx = rstd * (gx - mean(gx) - xhat * mean(gx * xhat)), with gx = g * gamma.
template <typename T>
__device__ void layer_norm_backward(const T* x, const T* gamma, const T* g, T* dx, index_t rows,
                                    index_t cols, double epsilon) {
    typedef typename Acc<T>::type A;
    __shared__ A scratch[32];
    TAPE_BLOCK_PER_ROW_LOOP(row, rows) {
        const T* xr = x + row * cols;
        const T* gr = g + row * cols;
        T* dr = dx + row * cols;
        A mean, rstd;
        row_moments(xr, cols, A(epsilon), scratch, &mean, &rstd);
        A a = A(0), b = A(0);
        TAPE_BLOCK_STRIDE_LOOP(j, cols) {
            const A gx = load(gr, j) * load(gamma, j);
            a += gx;
            b += gx * (load(xr, j) - mean) * rstd;
        }
        a = block_sum(a, scratch) / A(cols);
        b = block_sum(b, scratch) / A(cols);
        TAPE_BLOCK_STRIDE_LOOP(j, cols) {
            const A xhat = (load(xr, j) - mean) * rstd;
            store(dr, j, rstd * (load(gr, j) * load(gamma, j) - a - xhat * b));
        }
    }
}

}  // namespace tape

#define TAPE_LAYER_NORM(T, S)                                                                   \
    extern "C" __global__ void layer_norm_forward_##S(const T* x, const T* gamma, const T* beta,\
                                                      T* y, tape::index_t rows,                 \
                                                      tape::index_t cols, double epsilon) {     \
        tape::layer_norm_forward(x, gamma, beta, y, rows, cols, epsilon);                       \
    }                                                                                           \
    extern "C" __global__ void layer_norm_backward_##S(const T* x, const T* gamma, const T* g, \
                                                       T* dx, tape::index_t rows,               \
                                                       tape::index_t cols, double epsilon) {    \
        tape::layer_norm_backward(x, gamma, g, dx, rows, cols, epsilon);                        \
    }

TAPE_LAYER_NORM(float, f32)
TAPE_LAYER_NORM(double, f64)
TAPE_LAYER_NORM(tape::half_t, f16)
TAPE_LAYER_NORM(tape::bfloat16_t, bf16)

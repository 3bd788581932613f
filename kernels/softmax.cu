// Softmax and log-softmax along the last axis, and softmax cross-entropy from logits,
// forward and backward; one block per row (a grid-stride loop over rows), block-wide
// reductions in shared memory. GPU overrides of `softmax`, `log_softmax`, `softmax_grad`,
// `log_softmax_grad`, `softmax_xent` and `softmax_xent_grad` (tape/ops/nn.py, fused.py),
// whose xp forwards are the reference. Stable for any logits: the row max is subtracted
// before exp.
#include "common.cuh"

namespace tape {

// Row max and log(sum(exp(x - max))) of row `x`, returned to every thread of the block.
template <typename T, typename A>
__device__ void row_logsumexp(const T* x, index_t cols, A* scratch, A* row_max, A* log_sum) {
    A m = neg_inf<A>();
    TAPE_BLOCK_STRIDE_LOOP(j, cols) m = max_(m, load(x, j));
    m = block_max(m, scratch);
    A s = A(0);
    TAPE_BLOCK_STRIDE_LOOP(j, cols) s += exp_(load(x, j) - m);
    s = block_sum(s, scratch);
    *row_max = m;
    *log_sum = log_(s);
}

template <typename T>
__device__ void softmax_forward(const T* x, T* y, index_t rows, index_t cols, int log) {
    typedef typename Acc<T>::type A;
    __shared__ A scratch[32];
    TAPE_BLOCK_PER_ROW_LOOP(row, rows) {
        const T* xr = x + row * cols;
        T* yr = y + row * cols;
        A m, log_sum;
        row_logsumexp(xr, cols, scratch, &m, &log_sum);
        if (log) {
            TAPE_BLOCK_STRIDE_LOOP(j, cols) store(yr, j, load(xr, j) - m - log_sum);
        } else {
            TAPE_BLOCK_STRIDE_LOOP(j, cols) store(yr, j, exp_(load(xr, j) - m - log_sum));
        }
    }
}

// softmax: dx = y * (g - sum(g * y)); log_softmax: dx = g - exp(y) * sum(g).
template <typename T>
__device__ void softmax_backward(const T* y, const T* g, T* dx, index_t rows, index_t cols,
                                 int log) {
    typedef typename Acc<T>::type A;
    __shared__ A scratch[32];
    TAPE_BLOCK_PER_ROW_LOOP(row, rows) {
        const T* yr = y + row * cols;
        const T* gr = g + row * cols;
        T* dr = dx + row * cols;
        A s = A(0);
        if (log) {
            TAPE_BLOCK_STRIDE_LOOP(j, cols) s += load(gr, j);
        } else {
            TAPE_BLOCK_STRIDE_LOOP(j, cols) s += load(gr, j) * load(yr, j);
        }
        s = block_sum(s, scratch);
        if (log) {
            TAPE_BLOCK_STRIDE_LOOP(j, cols) store(dr, j, load(gr, j) - exp_(load(yr, j)) * s);
        } else {
            TAPE_BLOCK_STRIDE_LOOP(j, cols) store(dr, j, load(yr, j) * (load(gr, j) - s));
        }
    }
}

// loss[row] = sum_j labels_j * (logsumexp(z) - z_j): each term is >= 0 for labels >= 0.
template <typename T>
__device__ void softmax_xent_forward(const T* labels, const T* logits, T* loss, index_t rows,
                                     index_t cols) {
    typedef typename Acc<T>::type A;
    __shared__ A scratch[32];
    TAPE_BLOCK_PER_ROW_LOOP(row, rows) {
        const T* zr = logits + row * cols;
        const T* lr = labels + row * cols;
        A m, log_sum;
        row_logsumexp(zr, cols, scratch, &m, &log_sum);
        const A lse = m + log_sum;
        A s = A(0);
        TAPE_BLOCK_STRIDE_LOOP(j, cols) s += load(lr, j) * (lse - load(zr, j));
        s = block_sum(s, scratch);
        if (threadIdx.x == 0) store(loss, row, s);
    }
}

// d loss / d logits = g[row] * (softmax(z) * sum(labels) - labels).
template <typename T>
__device__ void softmax_xent_backward(const T* labels, const T* logits, const T* g, T* dlogits,
                                      index_t rows, index_t cols) {
    typedef typename Acc<T>::type A;
    __shared__ A scratch[32];
    TAPE_BLOCK_PER_ROW_LOOP(row, rows) {
        const T* zr = logits + row * cols;
        const T* lr = labels + row * cols;
        T* dr = dlogits + row * cols;
        A m, log_sum;
        row_logsumexp(zr, cols, scratch, &m, &log_sum);
        A total = A(0);
        TAPE_BLOCK_STRIDE_LOOP(j, cols) total += load(lr, j);
        total = block_sum(total, scratch);
        const A gr = load(g, row);
        TAPE_BLOCK_STRIDE_LOOP(j, cols) {
            const A p = exp_(load(zr, j) - m - log_sum);
            store(dr, j, gr * (p * total - load(lr, j)));
        }
    }
}

}  // namespace tape

#define TAPE_SOFTMAX(T, S)                                                                      \
    extern "C" __global__ void softmax_forward_##S(const T* x, T* y, tape::index_t rows,       \
                                                   tape::index_t cols, int log) {               \
        tape::softmax_forward(x, y, rows, cols, log);                                           \
    }                                                                                           \
    extern "C" __global__ void softmax_backward_##S(const T* y, const T* g, T* dx,             \
                                                    tape::index_t rows, tape::index_t cols,     \
                                                    int log) {                                  \
        tape::softmax_backward(y, g, dx, rows, cols, log);                                      \
    }                                                                                           \
    extern "C" __global__ void softmax_xent_forward_##S(const T* labels, const T* logits,      \
                                                        T* loss, tape::index_t rows,            \
                                                        tape::index_t cols) {                   \
        tape::softmax_xent_forward(labels, logits, loss, rows, cols);                           \
    }                                                                                           \
    extern "C" __global__ void softmax_xent_backward_##S(const T* labels, const T* logits,     \
                                                         const T* g, T* dlogits,                \
                                                         tape::index_t rows,                    \
                                                         tape::index_t cols) {                  \
        tape::softmax_xent_backward(labels, logits, g, dlogits, rows, cols);                    \
    }

TAPE_SOFTMAX(float, f32)
TAPE_SOFTMAX(double, f64)
TAPE_SOFTMAX(tape::half_t, f16)
TAPE_SOFTMAX(tape::bfloat16_t, bf16)

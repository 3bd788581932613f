// Fused optimizer updates over many tensors in one launch (the GPU eager path of
// tape.optimizers.SGD and Adam/AdamW; their generic update_step is the reference).
//
// A launch's tensors are described by one int64 table in device memory:
//   table[k * ntensors + t]            pointer of tensor t in list k (lists below)
//   table[nlists * ntensors + t]       weight decay of tensor t, as the bits of a double
//   chunks (after that), 3 per chunk:  tensor index, first element, element count
// Each block takes whole chunks (a grid-stride loop over chunks); its threads stride over
// the chunk's elements. Outputs go to new buffers: a tensor a GradientTape saved is never
// changed in place. The learning rate and the iteration count are read from device memory,
// so a step never waits for the host.
#include "common.cuh"

namespace tape {

template <typename T> __device__ __forceinline__ T* table_ptr(const index_t* table, int list,
                                                            int ntensors, index_t t) {
    return device_pointer<T>(static_cast<u64>(table[list * ntensors + t]));
}

// Lists: 0 param, 1 grad, 2 momentum, 3 new param, 4 new momentum (2 and 4 unused when
// momentum == 0). Keras' rule, after decoupled weight decay p -= p * wd * lr:
//   momentum == 0: p -= lr * g
//   otherwise:     m = momentum * m - lr * g; p += m (nesterov: p += momentum * m - lr * g)
template <typename T>
__device__ void sgd_update(const index_t* table, int ntensors, index_t nchunks, const T* lr_ptr,
                           double momentum_, int nesterov) {
    typedef typename Acc<T>::type A;
    const int nlists = 5;
    const index_t* chunks = table + (nlists + 1) * ntensors;
    const A lr = load(lr_ptr, 0), momentum = A(momentum_);
    for (index_t c = blockIdx.x; c < nchunks; c += gridDim.x) {
        const index_t t = chunks[3 * c], start = chunks[3 * c + 1], count = chunks[3 * c + 2];
        const A wd = A(__longlong_as_double(table[nlists * ntensors + t]));
        const T* p_in = table_ptr<const T>(table, 0, ntensors, t);
        const T* g_in = table_ptr<const T>(table, 1, ntensors, t);
        const T* m_in = table_ptr<const T>(table, 2, ntensors, t);
        T* p_out = table_ptr<T>(table, 3, ntensors, t);
        T* m_out = table_ptr<T>(table, 4, ntensors, t);
        TAPE_BLOCK_STRIDE_LOOP(j, count) {
            const index_t i = start + j;
            A p = load(p_in, i);
            const A g = load(g_in, i);
            if (wd != A(0)) p = p - p * wd * lr;
            if (momentum_ == 0.0) {
                p = p - g * lr;
            } else {
                const A m = load(m_in, i) * momentum - g * lr;
                p = nesterov ? p + (m * momentum - g * lr) : p + m;
                store(m_out, i, m);
            }
            store(p_out, i, p);
        }
    }
}

// Lists: 0 param, 1 grad, 2 m, 3 u, 4 new param, 5 new m, 6 new u. Keras' Adam, with
// t = iterations + 1, after decoupled weight decay p -= p * wd * lr:
//   m += (g - m) * (1 - beta_1); u += (g^2 - u) * (1 - beta_2)
//   p -= m * lr * sqrt(1 - beta_2^t) / (1 - beta_1^t) / (sqrt(u) + epsilon)
template <typename T>
__device__ void adam_update(const index_t* table, int ntensors, index_t nchunks, const T* lr_ptr,
                            const long long* iterations, double beta_1_, double beta_2_,
                            double epsilon_) {
    typedef typename Acc<T>::type A;
    const int nlists = 7;
    const index_t* chunks = table + (nlists + 1) * ntensors;
    const A lr = load(lr_ptr, 0), beta_1 = A(beta_1_), beta_2 = A(beta_2_);
    const A epsilon = A(epsilon_), step = A(*iterations + 1);
    const A alpha = lr * sqrt_(A(1) - pow_(beta_2, step)) / (A(1) - pow_(beta_1, step));
    for (index_t c = blockIdx.x; c < nchunks; c += gridDim.x) {
        const index_t t = chunks[3 * c], start = chunks[3 * c + 1], count = chunks[3 * c + 2];
        const A wd = A(__longlong_as_double(table[nlists * ntensors + t]));
        const T* p_in = table_ptr<const T>(table, 0, ntensors, t);
        const T* g_in = table_ptr<const T>(table, 1, ntensors, t);
        const T* m_in = table_ptr<const T>(table, 2, ntensors, t);
        const T* u_in = table_ptr<const T>(table, 3, ntensors, t);
        T* p_out = table_ptr<T>(table, 4, ntensors, t);
        T* m_out = table_ptr<T>(table, 5, ntensors, t);
        T* u_out = table_ptr<T>(table, 6, ntensors, t);
        TAPE_BLOCK_STRIDE_LOOP(j, count) {
            const index_t i = start + j;
            A p = load(p_in, i);
            const A g = load(g_in, i);
            if (wd != A(0)) p = p - p * wd * lr;
            A m = load(m_in, i), u = load(u_in, i);
            m = m + (g - m) * (A(1) - beta_1);
            u = u + (g * g - u) * (A(1) - beta_2);
            store(m_out, i, m);
            store(u_out, i, u);
            store(p_out, i, p - m * alpha / (sqrt_(u) + epsilon));
        }
    }
}

}  // namespace tape

#define TAPE_OPTIM(T, S)                                                                        \
    extern "C" __global__ void sgd_update_##S(const tape::index_t* table, int ntensors,        \
                                              tape::index_t nchunks, const T* lr,               \
                                              double momentum, int nesterov) {                  \
        tape::sgd_update(table, ntensors, nchunks, lr, momentum, nesterov);                     \
    }                                                                                           \
    extern "C" __global__ void adam_update_##S(const tape::index_t* table, int ntensors,       \
                                               tape::index_t nchunks, const T* lr,              \
                                               const long long* iterations, double beta_1,      \
                                               double beta_2, double epsilon) {                 \
        tape::adam_update(table, ntensors, nchunks, lr, iterations, beta_1, beta_2, epsilon);   \
    }

TAPE_OPTIM(float, f32)
TAPE_OPTIM(double, f64)

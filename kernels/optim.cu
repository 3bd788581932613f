// Fused optimizer updates over many tensors in one launch (the GPU eager path of
// tape.optimizers.SGD and Adam/AdamW; their generic update_step is the reference).
//
// A launch updates up to TAPE_GROUP tensors (kernels.launch.GROUP). Their addresses travel as
// kernel arguments, one u64 per list and tensor, list after list (unused ones 0), as
// PyTorch's multi_tensor_apply passes its tensor lists: a step copies nothing to the device
// for them. What depends only on the model stays on the device, in one int64 table made once:
//   table[t]                             weight decay of tensor t, as the bits of a double
//   chunks (after that), 3 per chunk:    tensor index, first element, element count
// Each block takes whole chunks (a grid-stride loop over chunks); its threads stride over
// the chunk's elements. Outputs go to new buffers: a tensor a GradientTape saved is never
// changed in place. The learning rate and the iteration count are read from device memory,
// so a step never waits for the host.
#include "common.cuh"

#define TAPE_GROUP 16

// The parameters a0..a15 of one list, and the one of tensor t among them. t is the same for
// every thread of a block (a chunk belongs to one tensor), so the selection never diverges.
#define TAPE_LIST(a)                                                                         \
    tape::u64 a##0, tape::u64 a##1, tape::u64 a##2, tape::u64 a##3, tape::u64 a##4,          \
        tape::u64 a##5, tape::u64 a##6, tape::u64 a##7, tape::u64 a##8, tape::u64 a##9,      \
        tape::u64 a##10, tape::u64 a##11, tape::u64 a##12, tape::u64 a##13, tape::u64 a##14, \
        tape::u64 a##15
#define TAPE_PICK(a, t)                                                                      \
    ((t) == 0 ? a##0 : (t) == 1 ? a##1 : (t) == 2 ? a##2 : (t) == 3 ? a##3 : (t) == 4 ? a##4 \
     : (t) == 5 ? a##5 : (t) == 6 ? a##6 : (t) == 7 ? a##7 : (t) == 8 ? a##8                 \
     : (t) == 9 ? a##9 : (t) == 10 ? a##10 : (t) == 11 ? a##11 : (t) == 12 ? a##12           \
     : (t) == 13 ? a##13 : (t) == 14 ? a##14 : a##15)

namespace tape {

// The chunks after a launch's table of ntensors decays, and tensor t's decay.
__device__ __forceinline__ const index_t* chunks_of(const index_t* table, int ntensors) {
    return table + ntensors;
}
__device__ __forceinline__ double decay_of(const index_t* table, index_t t) {
    return __longlong_as_double(table[t]);
}

// Lists (addresses(list, t)): 0 param, 1 grad, 2 momentum, 3 new param, 4 new momentum
// (2 and 4 unused when momentum == 0). Keras' rule, after decoupled weight decay
// p -= p * wd * lr:
//   momentum == 0: p -= lr * g
//   otherwise:     m = momentum * m - lr * g; p += m (nesterov: p += momentum * m - lr * g)
template <typename T, typename Addresses>
__device__ void sgd_update(const index_t* table, int ntensors, index_t nchunks, const T* lr_ptr,
                           double momentum_, int nesterov, Addresses addresses) {
    typedef typename Acc<T>::type A;
    const index_t* chunks = chunks_of(table, ntensors);
    const A lr = load(lr_ptr, 0), momentum = A(momentum_);
    for (index_t c = blockIdx.x; c < nchunks; c += gridDim.x) {
        const index_t t = chunks[3 * c], start = chunks[3 * c + 1], count = chunks[3 * c + 2];
        const A wd = A(decay_of(table, t));
        const T* p_in = device_pointer<const T>(addresses(0, t));
        const T* g_in = device_pointer<const T>(addresses(1, t));
        const T* m_in = momentum_ == 0.0 ? nullptr : device_pointer<const T>(addresses(2, t));
        T* p_out = device_pointer<T>(addresses(3, t));
        T* m_out = momentum_ == 0.0 ? nullptr : device_pointer<T>(addresses(4, t));
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
template <typename T, typename Addresses>
__device__ void adam_update(const index_t* table, int ntensors, index_t nchunks, const T* lr_ptr,
                            const long long* iterations, double beta_1_, double beta_2_,
                            double epsilon_, Addresses addresses) {
    typedef typename Acc<T>::type A;
    const index_t* chunks = chunks_of(table, ntensors);
    const A lr = load(lr_ptr, 0), beta_1 = A(beta_1_), beta_2 = A(beta_2_);
    const A epsilon = A(epsilon_), step = A(*iterations + 1);
    const A alpha = lr * sqrt_(A(1) - pow_(beta_2, step)) / (A(1) - pow_(beta_1, step));
    for (index_t c = blockIdx.x; c < nchunks; c += gridDim.x) {
        const index_t t = chunks[3 * c], start = chunks[3 * c + 1], count = chunks[3 * c + 2];
        const A wd = A(decay_of(table, t));
        const T* p_in = device_pointer<const T>(addresses(0, t));
        const T* g_in = device_pointer<const T>(addresses(1, t));
        const T* m_in = device_pointer<const T>(addresses(2, t));
        const T* u_in = device_pointer<const T>(addresses(3, t));
        T* p_out = device_pointer<T>(addresses(4, t));
        T* m_out = device_pointer<T>(addresses(5, t));
        T* u_out = device_pointer<T>(addresses(6, t));
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

#define TAPE_OPTIM(T, S)                                                                     \
    extern "C" __global__ void sgd_update_##S(const tape::index_t* table, int ntensors,     \
                                              tape::index_t nchunks, const T* lr,            \
                                              double momentum, int nesterov, TAPE_LIST(p),   \
                                              TAPE_LIST(g), TAPE_LIST(m), TAPE_LIST(np),     \
                                              TAPE_LIST(nm)) {                               \
        tape::sgd_update(table, ntensors, nchunks, lr, momentum, nesterov,                   \
                         [=](int list, tape::index_t t) -> tape::u64 {                       \
                             switch (list) {                                                 \
                                 case 0: return TAPE_PICK(p, t);                             \
                                 case 1: return TAPE_PICK(g, t);                             \
                                 case 2: return TAPE_PICK(m, t);                             \
                                 case 3: return TAPE_PICK(np, t);                            \
                                 default: return TAPE_PICK(nm, t);                           \
                             }                                                               \
                         });                                                                 \
    }                                                                                        \
    extern "C" __global__ void adam_update_##S(                                              \
        const tape::index_t* table, int ntensors, tape::index_t nchunks, const T* lr,        \
        const long long* iterations, double beta_1, double beta_2, double epsilon,           \
        TAPE_LIST(p), TAPE_LIST(g), TAPE_LIST(m), TAPE_LIST(u), TAPE_LIST(np), TAPE_LIST(nm), \
        TAPE_LIST(nu)) {                                                                     \
        tape::adam_update(table, ntensors, nchunks, lr, iterations, beta_1, beta_2, epsilon, \
                          [=](int list, tape::index_t t) -> tape::u64 {                      \
                              switch (list) {                                                \
                                  case 0: return TAPE_PICK(p, t);                            \
                                  case 1: return TAPE_PICK(g, t);                            \
                                  case 2: return TAPE_PICK(m, t);                            \
                                  case 3: return TAPE_PICK(u, t);                            \
                                  case 4: return TAPE_PICK(np, t);                           \
                                  case 5: return TAPE_PICK(nm, t);                           \
                                  default: return TAPE_PICK(nu, t);                          \
                              }                                                              \
                          });                                                                \
    }

TAPE_OPTIM(float, f32)
TAPE_OPTIM(double, f64)

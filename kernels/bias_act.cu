// Fused bias + activation over the last axis, forward and backward: the GPU override of the
// op `bias_act` (tape/ops/fused.py), whose xp forward is the reference. One grid-stride pass
// over x (rows x cols, C order): z = x + bias[i % cols], then y = act(z) (forward) or
// dx = g * act'(z) (backward, recomputing z instead of storing it).
#include "common.cuh"

namespace tape {

// Activation codes, the same as kernels.launch.ACTIVATIONS.
enum { ACT_RELU = 0, ACT_GELU = 1, ACT_SILU = 2, ACT_TANH = 3, ACT_SIGMOID = 4 };

// The tanh form, as the op sigmoid's forward: no overflow for any z.
template <typename A> __device__ __forceinline__ A sigmoid_(A z) {
    return tanh_(z * A(0.5)) * A(0.5) + A(0.5);
}

template <int ACT, typename A> __device__ __forceinline__ A activate(A z) {
    if (ACT == ACT_RELU) return z > A(0) ? z : A(0);
    if (ACT == ACT_GELU) return A(0.5) * z * (A(1) + erf_(z * A(0.70710678118654752440)));
    if (ACT == ACT_SILU) return z * sigmoid_(z);
    if (ACT == ACT_TANH) return tanh_(z);
    return sigmoid_(z);
}

template <int ACT, typename A> __device__ __forceinline__ A activate_derivative(A z) {
    if (ACT == ACT_RELU) return z > A(0) ? A(1) : A(0);
    if (ACT == ACT_GELU) {
        const A cdf = A(0.5) * (A(1) + erf_(z * A(0.70710678118654752440)));
        return cdf + z * exp_(A(-0.5) * z * z) * A(0.39894228040143267794);
    }
    if (ACT == ACT_SILU) {
        const A s = sigmoid_(z);
        return s * (A(1) + z * (A(1) - s));
    }
    if (ACT == ACT_TANH) {
        const A t = tanh_(z);
        return A(1) - t * t;
    }
    const A s = sigmoid_(z);
    return s * (A(1) - s);
}

template <int ACT, typename T>
__device__ void bias_act_forward_loop(const T* x, const T* bias, T* y, index_t n, index_t cols) {
    typedef typename Acc<T>::type A;
    TAPE_GRID_STRIDE_LOOP(i, n) {
        const A z = load(x, i) + load(bias, i % cols);
        store(y, i, activate<ACT>(z));
    }
}

template <int ACT, typename T>
__device__ void bias_act_backward_loop(const T* x, const T* bias, const T* g, T* dx, index_t n,
                                       index_t cols) {
    typedef typename Acc<T>::type A;
    TAPE_GRID_STRIDE_LOOP(i, n) {
        const A z = load(x, i) + load(bias, i % cols);
        store(dx, i, load(g, i) * activate_derivative<ACT>(z));
    }
}

template <typename T>
__device__ void bias_act_forward(const T* x, const T* bias, T* y, index_t n, index_t cols,
                                 int act) {
    switch (act) {
        case ACT_RELU: bias_act_forward_loop<ACT_RELU>(x, bias, y, n, cols); break;
        case ACT_GELU: bias_act_forward_loop<ACT_GELU>(x, bias, y, n, cols); break;
        case ACT_SILU: bias_act_forward_loop<ACT_SILU>(x, bias, y, n, cols); break;
        case ACT_TANH: bias_act_forward_loop<ACT_TANH>(x, bias, y, n, cols); break;
        default: bias_act_forward_loop<ACT_SIGMOID>(x, bias, y, n, cols); break;
    }
}

template <typename T>
__device__ void bias_act_backward(const T* x, const T* bias, const T* g, T* dx, index_t n,
                                  index_t cols, int act) {
    switch (act) {
        case ACT_RELU: bias_act_backward_loop<ACT_RELU>(x, bias, g, dx, n, cols); break;
        case ACT_GELU: bias_act_backward_loop<ACT_GELU>(x, bias, g, dx, n, cols); break;
        case ACT_SILU: bias_act_backward_loop<ACT_SILU>(x, bias, g, dx, n, cols); break;
        case ACT_TANH: bias_act_backward_loop<ACT_TANH>(x, bias, g, dx, n, cols); break;
        default: bias_act_backward_loop<ACT_SIGMOID>(x, bias, g, dx, n, cols); break;
    }
}

}  // namespace tape

#define TAPE_BIAS_ACT(T, S)                                                                     \
    extern "C" __global__ void bias_act_forward_##S(const T* x, const T* bias, T* y,           \
                                                    tape::index_t n, tape::index_t cols,        \
                                                    int act) {                                  \
        tape::bias_act_forward(x, bias, y, n, cols, act);                                       \
    }                                                                                           \
    extern "C" __global__ void bias_act_backward_##S(const T* x, const T* bias, const T* g,    \
                                                     T* dx, tape::index_t n,                    \
                                                     tape::index_t cols, int act) {             \
        tape::bias_act_backward(x, bias, g, dx, n, cols, act);                                  \
    }

TAPE_BIAS_ACT(float, f32)
TAPE_BIAS_ACT(double, f64)
TAPE_BIAS_ACT(tape::half_t, f16)
TAPE_BIAS_ACT(tape::bfloat16_t, bf16)

// A small CUDA emulation for g++, so that CI (no GPU) runs the logic of kernels/*.cu on the
// CPU: `g++ -std=c++17 -DTAPE_EMULATION -include cuda_emu.h kernel.cu shim.cpp -pthread`.
//
// Model: blocks run one after another; each CUDA thread of a block is an OS thread (pthread);
// __syncthreads() is a barrier over the block's threads; __shared__ variables are static, so
// the threads of the running block share them; warp shuffles exchange through a per-warp
// buffer between two warp barriers. Misuse the hardware would punish is reported rather than
// hidden: a __syncthreads() not reached by every thread of the block, a shuffle whose warp
// is partial (blockDim.x not a multiple of 32) or has exited lanes, a mask other than all
// lanes. Not modelled: warp-synchronous timing (threads interleave freely, so code that
// relies on lockstep without __syncwarp shows up only as a race, if at all), memory
// coalescing, bank conflicts, occupancy, speed, and races that need real parallel hardware.
#ifndef TAPE_KERNELS_CUDA_EMU_H_
#define TAPE_KERNELS_CUDA_EMU_H_

#define TAPE_EMULATION 1

#include <pthread.h>

#include <atomic>
#include <climits>
#include <condition_variable>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#define __global__
#define __device__ inline
#define __host__
#define __forceinline__
#define __shared__ static
#define __restrict__

struct dim3 {
    unsigned int x = 1, y = 1, z = 1;
};

inline thread_local dim3 threadIdx, blockIdx, blockDim, gridDim;

namespace tape_emu {

// ---- error reporting -----------------------------------------------------------------------
inline std::mutex error_mutex;
inline std::string last_error;
inline std::atomic<bool> failed{false};

inline void fail(const std::string& message) {
    std::lock_guard<std::mutex> lock(error_mutex);
    if (!failed.exchange(true)) last_error = message;
}

// A fault the hardware would raise (an illegal address): thrown by the failing thread, caught
// where the thread starts (run_thread), and reported as the launch's error.
struct Fault {
    std::string message;
};

// The emulated device's addresses: host addresses with this bit set, as the CuPy double and
// the test runtime hand them out as addresses (tests/kernels/emulator.py). A kernel
// reads such a pointer through tape::device_pointer (common.cuh): an address without the bit
// is host memory, which a GPU cannot read, so the launch fails instead of reading it.
constexpr unsigned long long DEVICE_ADDRESS_BIT = 1ull << 62;

inline void* device_address(unsigned long long bits) {
    if (!(bits & DEVICE_ADDRESS_BIT))
        throw Fault{"illegal address: a kernel read a host pointer (0x" + [bits] {
            char text[17];
            std::snprintf(text, sizeof text, "%llx", bits);
            return std::string(text);
        }() + ") from device memory as a device address (cudaErrorIllegalAddress on a GPU)"};
    return reinterpret_cast<void*>(static_cast<std::uintptr_t>(bits & ~DEVICE_ADDRESS_BIT));
}

// ---- a barrier whose parties may leave (a thread that returns from the kernel) -----------
class Barrier {
   public:
    explicit Barrier(int parties) : parties_(parties) {}
    // Wait until every remaining party arrives; returns false if a party left while others
    // waited (divergent barrier: the hardware would hang or misbehave).
    bool arrive_and_wait() {
        std::unique_lock<std::mutex> lock(mutex_);
        const long generation = generation_;
        if (++arrived_ == parties_) {
            release();
            return !broken_;
        }
        cv_.wait(lock, [&] { return generation_ != generation; });
        return !broken_;
    }
    void leave() {
        std::lock_guard<std::mutex> lock(mutex_);
        --parties_;
        if (arrived_ > 0) {
            broken_ = true;
            if (arrived_ >= parties_) release();
        }
    }
    int parties() {
        std::lock_guard<std::mutex> lock(mutex_);
        return parties_;
    }

   private:
    void release() {
        arrived_ = 0;
        ++generation_;
        cv_.notify_all();
    }
    std::mutex mutex_;
    std::condition_variable cv_;
    int parties_, arrived_ = 0;
    long generation_ = 0;
    bool broken_ = false;
};

struct Warp {
    explicit Warp(int lanes) : lanes(lanes), barrier(lanes) {}
    int lanes;
    Barrier barrier;
    unsigned char slots[32][8];
};

struct Block {
    explicit Block(int threads) : barrier(threads) {
        for (int first = 0; first < threads; first += 32)
            warps.emplace_back(new Warp(threads - first < 32 ? threads - first : 32));
    }
    Barrier barrier;
    std::vector<std::unique_ptr<Warp>> warps;
};

inline thread_local Block* current_block = nullptr;
inline thread_local long sync_count = 0;  // __syncthreads() calls by this thread

// ---- float16 <-> float (round to nearest even, as cvt.rn.f16.f32) ---------------------------
inline float half_to_float(unsigned short bits) {
    _Float16 h;
    std::memcpy(&h, &bits, 2);
    return static_cast<float>(h);
}

inline unsigned short float_to_half(float f) {
    const _Float16 h = static_cast<_Float16>(f);
    unsigned short bits;
    std::memcpy(&bits, &h, 2);
    return bits;
}

// ---- launching -----------------------------------------------------------------------------
struct ThreadStart {
    const std::function<void()>* body;
    Block* block;
    dim3 thread, block_index, block_dim, grid_dim;
    long syncs;  // out: how many __syncthreads() the thread passed
};

inline void* run_thread(void* arg) {
    ThreadStart* start = static_cast<ThreadStart*>(arg);
    sync_count = 0;
    threadIdx = start->thread;
    blockIdx = start->block_index;
    blockDim = start->block_dim;
    gridDim = start->grid_dim;
    current_block = start->block;
    try {
        (*start->body)();
    } catch (const Fault& fault) {
        fail(fault.message);
    }
    current_block->warps[threadIdx.x / 32]->barrier.leave();
    current_block->barrier.leave();
    start->syncs = sync_count;
    return nullptr;
}

// Run `body` as a grid of `grid` blocks of `block` threads; 0 on success, else -1 with the
// message in last_error. Blocks run one after another, so static __shared__ is per block.
inline int launch(unsigned grid, unsigned block, const std::function<void()>& body) {
    failed = false;
    last_error.clear();
    if (grid == 0 || block == 0 || block > 1024) {
        fail("invalid launch configuration: grid " + std::to_string(grid) + ", block " +
             std::to_string(block) + " (block must be 1..1024, grid >= 1)");
        return -1;
    }
    pthread_attr_t attr;
    pthread_attr_init(&attr);
    pthread_attr_setstacksize(&attr, 256 * 1024);
    for (unsigned b = 0; b < grid && !failed; ++b) {
        Block state(static_cast<int>(block));
        std::vector<ThreadStart> starts(block);
        std::vector<pthread_t> threads(block);
        for (unsigned t = 0; t < block; ++t) {
            dim3 thread, block_index, block_dim, grid_dim;
            thread.x = t;
            block_index.x = b;
            block_dim.x = block;
            grid_dim.x = grid;
            starts[t] = ThreadStart{&body, &state, thread, block_index, block_dim, grid_dim, 0};
            if (pthread_create(&threads[t], &attr, run_thread, &starts[t]) != 0) {
                fail("could not start an emulated thread");
                for (unsigned u = t; u < block; ++u) {  // let the started ones finish
                    state.barrier.leave();
                    state.warps[u / 32]->barrier.leave();
                }
                block = t;
                break;
            }
        }
        for (unsigned t = 0; t < block; ++t) pthread_join(threads[t], nullptr);
        for (unsigned t = 1; t < block; ++t)
            if (starts[t].syncs != starts[0].syncs)
                fail("threads 0 and " + std::to_string(t) + " of block " + std::to_string(b) +
                     " passed " + std::to_string(starts[0].syncs) + " and " +
                     std::to_string(starts[t].syncs) + " __syncthreads() (divergent barrier)");
    }
    pthread_attr_destroy(&attr);
    return failed ? -1 : 0;
}

}  // namespace tape_emu

// ---- CUDA intrinsics used by kernels/*.cu ----------------------------------------------------
inline void __syncthreads() {
    ++tape_emu::sync_count;
    if (!tape_emu::current_block->barrier.arrive_and_wait())
        tape_emu::fail("__syncthreads() was not reached by every thread of block " +
                       std::to_string(blockIdx.x) + " (divergent barrier)");
}

template <typename V>
inline V __shfl_xor_sync(unsigned mask, V value, int lane_mask) {
    static_assert(sizeof(V) <= 8, "shuffle of a value wider than 8 bytes");
    tape_emu::Warp& warp = *tape_emu::current_block->warps[threadIdx.x / 32];
    const int lane = threadIdx.x % 32, partner = lane ^ lane_mask;
    if (mask != 0xffffffffu) tape_emu::fail("__shfl_xor_sync with a mask other than all lanes");
    if (warp.lanes != 32)
        tape_emu::fail("__shfl_xor_sync in a partial warp (blockDim.x = " +
                       std::to_string(blockDim.x) + " is not a multiple of 32)");
    std::memcpy(warp.slots[lane], &value, sizeof(V));
    if (!warp.barrier.arrive_and_wait())
        tape_emu::fail("__shfl_xor_sync with lanes that have exited");
    V result = value;
    if (partner < warp.lanes) std::memcpy(&result, warp.slots[partner], sizeof(V));
    if (!warp.barrier.arrive_and_wait())
        tape_emu::fail("__shfl_xor_sync with lanes that have exited");
    return result;
}

inline unsigned int __umulhi(unsigned int a, unsigned int b) {
    return static_cast<unsigned int>((static_cast<unsigned long long>(a) * b) >> 32);
}

inline float __int_as_float(int bits) {
    float f;
    std::memcpy(&f, &bits, 4);
    return f;
}

inline float __uint_as_float(unsigned int bits) {
    float f;
    std::memcpy(&f, &bits, 4);
    return f;
}

inline unsigned int __float_as_uint(float f) {
    unsigned int bits;
    std::memcpy(&bits, &f, 4);
    return bits;
}

inline double __longlong_as_double(long long bits) {
    double d;
    std::memcpy(&d, &bits, 8);
    return d;
}

#endif  // TAPE_KERNELS_CUDA_EMU_H_

"""GPU benchmarks, reported as ratios from one run (``make gpu-bench``):

1. Each custom kernel (an op's GPU override, kernels/*.cu) against the same computation
   composed from stock CuPy operations: the op's own xp forward run on CuPy. Sizes fill
   the GPU; float32, and bfloat16 for the kernels mixed precision leans on. The fused
   optimizer step against the per-variable generic step.
2. A training step (forward, backward, Adam) of the 784-256-256-10 MLP at batch 1024, and
   of a small CNN (only where ``tape.nn.conv2d`` exists), against PyTorch on the same GPU
   (where PyTorch sees a GPU), and the copies between host and device in tape's eager step.
3. Issue 20's matmul-bound steps (benchmarks/gpu_mixed.py): an MLP 4096-4096-4096 at batch
   8192 and a transformer encoder block (d_model 1024, seq 512, batch 32), each under
   float32, float32 with TF32 and mixed_bfloat16, against PyTorch float32 and
   autocast(bfloat16).

    python -m benchmarks.gpu [--quick | --smoke]

``--smoke`` runs every case once at tiny sizes: a check that the script runs end to end
(CI runs it on the CuPy double, tests/cupy_double); its figures mean nothing.

Without a usable GPU it exits with the reason (status 1): it measures nothing on a CPU.
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np

import tape

from . import gpu_mixed


def _gpu_time(fn, repeat: int) -> float:
    """Median seconds of ``fn()`` on the GPU (CUDA events around each call)."""
    from cupyx.profiler import benchmark

    result = benchmark(fn, (), n_repeat=repeat, n_warmup=3)
    return float(np.median(result.gpu_times[0]))


SIZES = {"full": (8192, 4096), "quick": (1024, 1024), "smoke": (16, 40)}


def kernel_cases(cupy, size: str):
    """(name, kernel thunk, stock-CuPy thunk) per override, on GPU-filling sizes."""
    reg = tape.ops.REGISTRY
    rows, cols = SIZES[size]
    rng = cupy.random.default_rng(0)
    x = rng.standard_normal((rows, cols), dtype=cupy.float32)
    g = rng.standard_normal((rows, cols), dtype=cupy.float32)
    v = rng.standard_normal((cols,), dtype=cupy.float32)
    labels = cupy.full((rows, cols), 1.0 / cols, dtype=cupy.float32)
    y = reg["softmax"].forward(cupy, x)
    cases = []

    def case(name, op, *args, **params):
        cases.append((name, lambda: reg[op].kernel(cupy, *args, **params),
                      lambda: reg[op].forward(cupy, *args, **params)))

    for act in ("relu", "gelu", "silu", "tanh", "sigmoid"):
        case(f"bias_act {act}", "bias_act", x, v, activation=act)
        case(f"bias_act_grad {act}", "bias_act_grad", x, v, g, activation=act)
    case("softmax", "softmax", x)
    case("log_softmax", "log_softmax", x)
    case("softmax_grad", "softmax_grad", y, g)
    case("log_softmax_grad", "log_softmax_grad", cupy.log(y), g)
    case("softmax_xent", "softmax_xent", labels, x)
    case("softmax_xent_grad", "softmax_xent_grad", labels, x, g[:, 0].copy())
    case("layer_norm", "layer_norm", x, v, v, epsilon=1e-5)
    case("layer_norm_grad", "layer_norm_grad", x, v, g, epsilon=1e-5)
    if "dropout" in reg and reg["dropout"].kernel is not None:
        key = cupy.asarray(np.array([1234, 5], np.uint64))
        case("dropout", "dropout", x, key, rate=0.1)
    # bfloat16 (mixed precision's activations): stored in 16 bits, computed in float32
    bf16 = tape.dtypes.bfloat16()
    xb, gb, vb, lb = (a.astype(bf16) for a in (x, g, v, labels))
    case("bias_act relu bf16", "bias_act", xb, vb, activation="relu")
    case("softmax bf16", "softmax", xb)
    case("softmax_grad bf16", "softmax_grad", y.astype(bf16), gb)
    case("softmax_xent bf16", "softmax_xent", lb, xb)
    case("layer_norm bf16", "layer_norm", xb, vb, vb, epsilon=1e-5)
    case("layer_norm_grad bf16", "layer_norm_grad", xb, vb, gb, epsilon=1e-5)
    return cases


def optimizer_case(size: str):
    """Adam over an MLP's variables: the fused launch against the per-variable step."""
    shapes = [(784, 256), (256,), (256, 256), (256,), (256, 10), (10,)]
    if size == "smoke":
        shapes = [(8, 4), (4,)]
    elif size == "full":
        shapes = shapes * 8
    times = {}
    for fused in (True, False):
        tape.random.seed(0)
        variables = [tape.Variable(tape.random.normal(s).to("gpu")) for s in shapes]
        grads = [tape.ones(s).to("gpu") for s in shapes]
        opt = tape.optimizers.Adam(1e-3)
        if not fused:
            opt._fusable = lambda: False
        times[fused] = _gpu_time(lambda opt=opt, variables=variables, grads=grads:
                                 opt.apply(grads, variables), 1 if size == "smoke" else 20)
    return times[True], times[False]


def _wall(step, repeat: int) -> float:
    import cupy

    for _ in range(3):
        step()
    cupy.cuda.Device().synchronize()
    samples = []
    for _ in range(repeat):
        start = time.perf_counter()
        step()
        cupy.cuda.Device().synchronize()
        samples.append(time.perf_counter() - start)
    return statistics.median(samples)


def transfers_per_step(step, steps: int = 5) -> str:
    """Host-to-device copies and device-to-host reads per call of ``step`` (after warm-up
    calls): counted by the CuPy double where it stands in for CuPy, else from the CUDA
    memcpy activities PyTorch's profiler (CUPTI) records for the whole process, CuPy's
    included. 0 and 0 is issue 16's target for an eager step."""
    import sys

    for _ in range(2):
        step()
    double = sys.modules.get("cupy_double")
    if double is not None:
        with double.count_transfers() as t:
            for _ in range(steps):
                step()
        return f"h2d {t.h2d / steps:g}, d2h {t.d2h / steps:g} (CuPy double)"
    if _torch_gpu() is not None:
        return f"n/a ({_torch_gpu()}; its profiler counts them)"
    import cupy
    from torch.profiler import ProfilerActivity, profile

    cupy.cuda.Device().synchronize()
    try:
        with profile(activities=[ProfilerActivity.CUDA]) as prof:
            for _ in range(steps):
                step()
            cupy.cuda.Device().synchronize()
        names = [e.name for e in prof.events()]
    except Exception as e:  # CUPTI missing or busy: say so, keep benchmarking
        return f"n/a (PyTorch's profiler failed: {type(e).__name__}: {e})"
    h2d = sum("Memcpy HtoD" in n for n in names)
    d2h = sum("Memcpy DtoH" in n for n in names)
    return f"h2d {h2d / steps:g}, d2h {d2h / steps:g} (CUDA memcpy activities)"


def tape_mlp_step(batch: int):
    from tape.layers import Dense
    from tape.models import Sequential

    model = Sequential([Dense(256, activation="relu"), Dense(256, activation="relu"), Dense(10)])
    model.build((None, 784))
    model.to("gpu")
    opt = tape.optimizers.Adam(1e-3)
    x = tape.random.normal((batch, 784)).to("gpu")
    y = tape.random.randint(0, 10, (batch,)).to("gpu")
    loss_fn = tape.losses.SparseCategoricalCrossentropy(from_logits=True)

    def step():
        with tape.GradientTape() as g:
            loss = loss_fn(y, model(x, training=True))
        opt.apply(g.gradient(loss, model.trainable_weights), model.trainable_weights)

    return step


def torch_mlp_step(batch: int):
    import torch

    model = torch.nn.Sequential(torch.nn.Linear(784, 256), torch.nn.ReLU(),
                                torch.nn.Linear(256, 256), torch.nn.ReLU(),
                                torch.nn.Linear(256, 10)).cuda()
    opt = torch.optim.Adam(model.parameters(), 1e-3)
    x = torch.randn(batch, 784, device="cuda")
    y = torch.randint(0, 10, (batch,), device="cuda")

    def step():
        opt.zero_grad(set_to_none=True)
        torch.nn.functional.cross_entropy(model(x), y).backward()
        opt.step()

    return step


def tape_cnn_step(batch: int):
    from tape import layers
    from tape.models import Sequential

    model = Sequential([layers.Conv2D(32, 3, activation="relu"), layers.MaxPooling2D(2),
                        layers.Conv2D(64, 3, activation="relu"), layers.Flatten(),
                        layers.Dense(10)])
    model.build((None, 28, 28, 1))
    model.to("gpu")
    opt = tape.optimizers.Adam(1e-3)
    x = tape.random.normal((batch, 28, 28, 1)).to("gpu")
    y = tape.random.randint(0, 10, (batch,)).to("gpu")
    loss_fn = tape.losses.SparseCategoricalCrossentropy(from_logits=True)

    def step():
        with tape.GradientTape() as g:
            loss = loss_fn(y, model(x, training=True))
        opt.apply(g.gradient(loss, model.trainable_weights), model.trainable_weights)

    return step


def torch_cnn_step(batch: int):
    import torch

    model = torch.nn.Sequential(torch.nn.Conv2d(1, 32, 3), torch.nn.ReLU(), torch.nn.MaxPool2d(2),
                                torch.nn.Conv2d(32, 64, 3), torch.nn.ReLU(), torch.nn.Flatten(),
                                torch.nn.Linear(64 * 11 * 11, 10)).cuda()
    opt = torch.optim.Adam(model.parameters(), 1e-3)
    x = torch.randn(batch, 1, 28, 28, device="cuda")
    y = torch.randint(0, 10, (batch,), device="cuda")

    def step():
        opt.zero_grad(set_to_none=True)
        torch.nn.functional.cross_entropy(model(x), y).backward()
        opt.step()

    return step


def _torch_gpu() -> str | None:
    """None when PyTorch can run on the GPU, else why not."""
    try:
        import torch
    except ImportError:
        return "PyTorch is not installed (make gpu-bench installs the bench extra)"
    return None if torch.cuda.is_available() else "this PyTorch build sees no CUDA GPU"


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sizes = parser.add_mutually_exclusive_group()
    sizes.add_argument("--quick", action="store_true", help="small sizes, few repeats")
    sizes.add_argument("--smoke", action="store_true",
                       help="tiny sizes, one repeat: does every case run (figures mean nothing)")
    args = parser.parse_args(argv)
    size = "smoke" if args.smoke else "quick" if args.quick else "full"
    reason = tape.cuda.why_unavailable()
    if reason is not None:
        raise SystemExit(f"benchmarks.gpu needs a GPU: {reason}")
    import cupy

    repeat = {"smoke": 1, "quick": 5, "full": 50}[size]
    props = cupy.cuda.runtime.getDeviceProperties(0)
    print(f"device: {props['name'].decode()}, CuPy {cupy.__version__}")
    results = {}
    print(f"{'kernel':28s} {'ours ms':>9s} {'stock ms':>9s} {'speedup':>8s}")
    for name, ours, stock in kernel_cases(cupy, size):
        t_ours, t_stock = _gpu_time(ours, repeat), _gpu_time(stock, repeat)
        results[name] = t_stock / t_ours
        print(f"{name:28s} {t_ours * 1e3:9.3f} {t_stock * 1e3:9.3f} {t_stock / t_ours:7.2f}x")
    fused, generic = optimizer_case(size)
    results["adam fused step"] = generic / fused
    print(f"{'adam (fused vs per-variable)':28s} {fused * 1e3:9.3f} {generic * 1e3:9.3f} "
          f"{generic / fused:7.2f}x")
    torch_reason = _torch_gpu()
    models = [("mlp 784-256-256-10 b1024", tape_mlp_step, torch_mlp_step, 1024)]
    if hasattr(tape.nn, "conv2d"):
        models.append(("cnn 28x28 b256", tape_cnn_step, torch_cnn_step, 256))
    else:
        print("cnn: skipped (tape.nn.conv2d does not exist on this branch)")
    for name, ours, theirs, batch in models:
        batch = 4 if size == "smoke" else batch
        step = ours(batch)
        t_ours = _wall(step, repeat)
        print(f"{name}: tape eager transfers per step: {transfers_per_step(step)}")
        if torch_reason is not None:
            print(f"{name}: tape {t_ours * 1e3:.3f} ms/step; PyTorch: {torch_reason}")
            continue
        t_torch = _wall(theirs(batch), repeat)
        results[name] = t_ours / t_torch
        print(f"{name}: tape {t_ours * 1e3:.3f} ms, PyTorch {t_torch * 1e3:.3f} ms per step, "
              f"tape/PyTorch {t_ours / t_torch:.2f}x")
    results.update(gpu_mixed.run(size, repeat, _wall, torch_reason))
    return results


if __name__ == "__main__":
    main()

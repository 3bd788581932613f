"""GPU benchmarks, reported as ratios from one run (``make gpu-bench``):

1. Each custom kernel (an op's GPU override, kernels/*.cu) against the same computation
   composed from stock CuPy operations: the op's own xp forward run on CuPy. Sizes fill
   the GPU; float32, and bfloat16 for the kernels mixed precision leans on. The fused
   optimizer step against the per-variable generic step.
2. Issue 16's training steps (forward, backward, Adam): the 784-256-256-10 MLP at batch 64
   and 1024, and a small CNN (28x28, batch 256; only where ``tape.nn.conv2d`` exists), each
   as ms per step (median, synchronized) for tape eager, tape traced (``tape.trace``,
   replayed as one CUDA graph), tape traced with ``TAPE_CUDA_GRAPHS=0``, PyTorch eager and
   JAX jit (benchmarks/gpu_jax.py) on the same GPU, "n/a (why)" where a system cannot run;
   the traced steps' ``explain()`` (a graph launched, or why not), the host-to-device
   copies and device-to-host reads per eager and per traced step, and the ratios the
   issue's targets name (traced/PyTorch, traced/JAX, eager/PyTorch).
3. Issue 16's ``fit`` target: one epoch of ``model.fit`` on the GPU against the CPU, for
   the digits MLP (tape.demo) and the MLP on a synthetic MNIST-shaped set of 60000 images.
4. Issue 20's matmul-bound steps (benchmarks/gpu_mixed.py): an MLP 4096-4096-4096 at batch
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
import contextlib
import functools
import statistics
import time

import numpy as np

import tape

from . import gpu_jax, gpu_mixed


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


MLP = (784, 256, 256, 10)
CNN = (28, (32, 64))  # image side, the two Conv2D's filters
STEPS = {  # per size: the MLP's widths and batches, the CNN's side, filters and batch
    "full": (MLP, (64, 1024), (*CNN, 256)),
    "quick": (MLP, (64, 1024), (*CNN, 256)),
    "smoke": ((16, 8, 8, 4), (2, 4), (8, (2, 4), 2)),
}


def _tape_step(model, x_shape, classes, traced):
    """One training step (forward, backward, Adam) of ``model`` on a fixed random batch, as
    a thunk; ``traced``: the same step body under ``tape.trace`` (the thunk's ``explain``)."""
    opt = tape.optimizers.Adam(1e-3)
    loss_fn = tape.losses.SparseCategoricalCrossentropy(from_logits=True)
    x = tape.random.normal(x_shape).to("gpu")
    y = tape.random.randint(0, classes, (x_shape[0],)).to("gpu")

    def train_step(x, y):
        with tape.GradientTape() as g:
            loss = loss_fn(y, model(x, training=True))
        opt.apply(g.gradient(loss, model.trainable_weights), model.trainable_weights)
        return loss

    fn = tape.trace(train_step) if traced else train_step

    def step():
        return fn(x, y)

    step.explain = fn.explain if traced else None
    return step


def tape_mlp_step(batch: int, widths: tuple = MLP, traced: bool = False):
    from tape.layers import Dense
    from tape.models import Sequential

    model = Sequential([Dense(w, activation="relu") for w in widths[1:-1]]
                       + [Dense(widths[-1])])
    model.build((None, widths[0]))
    model.to("gpu")
    return _tape_step(model, (batch, widths[0]), widths[-1], traced)


def torch_mlp_step(batch: int, widths: tuple = MLP):
    import torch

    layers = []
    for a, b in zip(widths[:-1], widths[1:]):
        layers += [torch.nn.Linear(a, b), torch.nn.ReLU()]
    model = torch.nn.Sequential(*layers[:-1]).cuda()
    opt = torch.optim.Adam(model.parameters(), 1e-3)
    x = torch.randn(batch, widths[0], device="cuda")
    y = torch.randint(0, widths[-1], (batch,), device="cuda")

    def step():
        opt.zero_grad(set_to_none=True)
        torch.nn.functional.cross_entropy(model(x), y).backward()
        opt.step()

    return step


def tape_cnn_step(batch: int, side: int = CNN[0], filters: tuple = CNN[1],
                  traced: bool = False):
    from tape import layers
    from tape.models import Sequential

    model = Sequential([layers.Conv2D(filters[0], 3, activation="relu"),
                        layers.MaxPooling2D(2),
                        layers.Conv2D(filters[1], 3, activation="relu"), layers.Flatten(),
                        layers.Dense(10)])
    model.build((None, side, side, 1))
    model.to("gpu")
    return _tape_step(model, (batch, side, side, 1), 10, traced)


def torch_cnn_step(batch: int, side: int = CNN[0], filters: tuple = CNN[1]):
    import torch

    flat = filters[1] * ((side - 2) // 2 - 2) ** 2
    model = torch.nn.Sequential(torch.nn.Conv2d(1, filters[0], 3), torch.nn.ReLU(),
                                torch.nn.MaxPool2d(2), torch.nn.Conv2d(*filters, 3),
                                torch.nn.ReLU(), torch.nn.Flatten(),
                                torch.nn.Linear(flat, 10)).cuda()
    opt = torch.optim.Adam(model.parameters(), 1e-3)
    x = torch.randn(batch, 1, side, side, device="cuda")
    y = torch.randint(0, 10, (batch,), device="cuda")

    def step():
        opt.zero_grad(set_to_none=True)
        torch.nn.functional.cross_entropy(model(x), y).backward()
        opt.step()

    return step


@contextlib.contextmanager
def _cuda_graphs(on: bool):
    """TAPE_CUDA_GRAPHS set for the steps made and run inside (read at each traced call)."""
    from tape import _state

    with _state.environ("TAPE_CUDA_GRAPHS", "1" if on else "0"):
        yield


TARGETS = {"mlp": {"traced/PyTorch": 0.25, "traced/JAX": 1.0, "eager/PyTorch": 1.0},
           "cnn": {"traced/PyTorch": 1.0, "eager/PyTorch": 1.5}}  # issue 16's, at most
RATIOS = {"traced/eager": ("tape traced", "tape eager"),
          "traced without graphs/eager": ("tape traced, no CUDA graphs", "tape eager"),
          "traced/PyTorch": ("tape traced", "PyTorch eager"),
          "traced/JAX": ("tape traced", "JAX jit"),
          "eager/PyTorch": ("tape eager", "PyTorch eager")}


def model_steps(size: str, repeat: int, wall=_wall, torch_reason=None, jax_reason=None,
                transfer_steps: int = 5) -> dict:
    """Issue 16's step rows: the MLP at each batch and the CNN, per step for tape eager,
    tape traced (one CUDA graph), tape traced with TAPE_CUDA_GRAPHS=0, PyTorch eager and JAX
    jit (``*_reason``: why that system cannot run here, printed as n/a), the transfers per
    tape step, the traced steps' ``explain()`` and the ratios (issue 16's targets beside
    theirs). Returns {"<model>: <row> ms": ms per step, "<model>: <ratio>": ratio} for the
    rows that ran, e.g. "mlp 784-256-256-10 b64: traced/PyTorch"."""
    widths, batches, (side, filters, cnn_batch) = STEPS[size]
    mlp = "mlp " + "-".join(map(str, widths))
    cases = [(f"{mlp} b{b}", "mlp", functools.partial(tape_mlp_step, b, widths),
              functools.partial(torch_mlp_step, b, widths),
              functools.partial(gpu_jax.mlp_step, b, widths)) for b in batches]
    if hasattr(tape.nn, "conv2d"):
        cases.append((f"cnn {side}x{side} b{cnn_batch}", "cnn",
                       functools.partial(tape_cnn_step, cnn_batch, side, filters),
                       functools.partial(torch_cnn_step, cnn_batch, side, filters),
                       functools.partial(gpu_jax.cnn_step, cnn_batch, side, filters)))
    results = {}
    for name, kind, ours, theirs, jax_step in cases:
        print(f"{name:40s} {'ms/step':>9s}  transfers per step")
        times = {}
        for row, graphs in (("tape eager", None), ("tape traced", True),
                            ("tape traced, no CUDA graphs", False)):
            with _cuda_graphs(graphs is not False):
                step = ours(traced=graphs is not None)
                times[row] = wall(step, repeat)
                moved = transfers_per_step(step, transfer_steps) if graphs is not False else ""
                explained = step.explain() if step.explain is not None else None
            print(f"  {row:38s} {times[row] * 1e3:9.3f}  {moved}")
            if explained is not None:
                print(f"    {row} explain(): {explained}")
        for row, reason, make in (("PyTorch eager", torch_reason, theirs),
                                  ("JAX jit", jax_reason, jax_step)):
            if reason is None:
                times[row] = wall(make(), repeat)
                print(f"  {row:38s} {times[row] * 1e3:9.3f}")
            else:
                print(f"  {row:38s} n/a ({reason})")
        results.update({f"{name}: {row} ms": t * 1e3 for row, t in times.items()})
        line = []
        for ratio, (a, b) in RATIOS.items():
            if a in times and b in times:
                results[f"{name}: {ratio}"] = times[a] / times[b]
                target = TARGETS[kind].get(ratio)
                line.append(f"{ratio} {times[a] / times[b]:.2f}x"
                            + (f" (target <= {target:g})" if target else ""))
        print(f"  {', '.join(line)}")
    return results


FIT_BATCH = 128  # tutorial 09's, whose GPU fit issue 16 found 5x slower than the CPU's


def _fit_epoch(build, x, y, device: str) -> float:
    """Seconds of one epoch of ``model.fit(verbose=0)`` on ``device``, after one epoch that
    traces the step (and captures its graphs)."""
    tape.random.seed(0)
    model = build()
    model.compile("adam", "sparse_categorical_crossentropy")  # as tape.demo
    model.to(device)
    model.fit(x, y, batch_size=FIT_BATCH, epochs=1, verbose=0)
    start = time.perf_counter()
    model.fit(x, y, batch_size=FIT_BATCH, epochs=1, verbose=0)
    if device == "gpu":
        import cupy

        cupy.cuda.Device().synchronize()
    return time.perf_counter() - start


def _softmax_mlp(widths: tuple):
    from tape.layers import Dense
    from tape.models import Sequential

    return Sequential([Dense(w, activation="relu", input_dim=widths[0]) for w in widths[1:-1]]
                      + [Dense(widths[-1], activation="softmax")])


def fit_epochs(size: str) -> dict:
    """Issue 16's last target: an epoch of ``fit`` on the GPU against the CPU, for the
    digits MLP (tape.demo's model on its training split) and for the steps' MLP (softmax
    out) on a synthetic MNIST-shaped set (random images and labels, 60000 of them). At smoke
    size, 160 samples of each (a full batch and a partial one) and MLPs with 8 units a layer.
    Returns {"fit <set>: <device> s": seconds, "fit <set>: gpu/cpu": ratio}."""
    from tape import demo

    smoke = size == "smoke"
    widths, samples = (STEPS[size][0], 160) if smoke else (MLP, 60000)
    (x_digits, y_digits), _ = demo.load_data()
    rng = np.random.default_rng(0)
    digits_model = (lambda: _softmax_mlp((64, 8, 8, 10))) if smoke else demo.build_model
    sets = {"digits": (digits_model, x_digits[:samples], y_digits[:samples]),
            f"synthetic {widths[0]}-pixel": (
                lambda: _softmax_mlp(widths), rng.random((samples, widths[0]), dtype=np.float32),
                rng.integers(0, widths[-1], samples))}
    results = {}
    for name, (build, x, y) in sets.items():
        took = {device: _fit_epoch(build, x, y, device) for device in ("cpu", "gpu")}
        results.update({f"fit {name}: {d} s": t for d, t in took.items()})
        results[f"fit {name}: gpu/cpu"] = took["gpu"] / took["cpu"]
        print(f"fit {name} ({len(x)} samples, batch {FIT_BATCH}), one epoch: "
              f"CPU {took['cpu']:.3f} s, GPU {took['gpu']:.3f} s, "
              f"GPU/CPU {took['gpu'] / took['cpu']:.2f}x (target < 1)")
    return results


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
    if not hasattr(tape.nn, "conv2d"):
        print("cnn: skipped (tape.nn.conv2d does not exist on this branch)")
    results.update(model_steps(size, repeat, _wall, torch_reason, gpu_jax.why_no_gpu(),
                               1 if size == "smoke" else 5))
    results.update(fit_epochs(size))
    results.update(gpu_mixed.run(size, repeat, _wall, torch_reason))
    return results


if __name__ == "__main__":
    main()

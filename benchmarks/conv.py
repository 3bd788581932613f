"""conv2d forward and forward+backward time, tape (im2col + one GEMM on NumPy) against
PyTorch's CPU conv2d, on the same shapes, both on one thread.

    python -m benchmarks.conv [--rounds N] [--quick]

Cases are channels-last for tape and PyTorch's default NCHW layout for PyTorch (each in its
native layout; the conversion is done once, outside the timing). 3x3 kernels, 'same'
padding, stride 1, batch 64. Forward+backward computes the gradients with respect to both
the input and the kernel from a given upstream gradient. Systems run interleaved, round by
round, after warm-up rounds; the figure is the median round.
"""

from __future__ import annotations

import os

# One BLAS thread for NumPy (and PyTorch): set before NumPy is imported.
for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_var] = "1"

import argparse  # noqa: E402
import platform  # noqa: E402
import statistics  # noqa: E402
import time  # noqa: E402

import numpy as np  # noqa: E402

import tape  # noqa: E402

# (name, batch, height, width, in channels, out channels)
CASES = [
    ("8x8x1 -> 16", 64, 8, 8, 1, 16),
    ("8x8x16 -> 32", 64, 8, 8, 16, 32),
    ("32x32x32 -> 64", 64, 32, 32, 32, 64),
]


def tape_runners(x, w, g):
    xt, wt, gt = tape.Tensor(x), tape.Variable(w), tape.Tensor(g)

    def forward():
        return tape.nn.conv2d(xt, wt, padding="same")

    def forward_backward():
        with tape.GradientTape() as t:
            t.watch(xt)
            y = tape.nn.conv2d(xt, wt, padding="same")
        return t.gradient(y, [xt, wt], output_gradients=gt)

    return forward, forward_backward


def torch_runners(torch, x, w, g):
    xt = torch.from_numpy(np.ascontiguousarray(x.transpose(0, 3, 1, 2))).requires_grad_()
    wt = torch.from_numpy(np.ascontiguousarray(w.transpose(3, 2, 0, 1))).requires_grad_()
    gt = torch.from_numpy(np.ascontiguousarray(g.transpose(0, 3, 1, 2)))
    conv2d = torch.nn.functional.conv2d

    def forward():
        with torch.no_grad():
            return conv2d(xt, wt, padding="same")

    def forward_backward():
        y = conv2d(xt, wt, padding="same")
        return torch.autograd.grad(y, [xt, wt], grad_outputs=gt)

    return forward, forward_backward


def check_agreement(torch, x, w, g) -> None:
    """Same values from both systems (forward and both gradients) before any timing."""
    _, tape_fb = tape_runners(x, w, g)
    _, torch_fb = torch_runners(torch, x, w, g)
    gx, gw = (a.numpy() for a in tape_fb())
    tx, tw = (a.numpy() for a in torch_fb())
    y_tape = tape_runners(x, w, g)[0]().numpy()
    y_torch = torch_runners(torch, x, w, g)[0]().numpy().transpose(0, 2, 3, 1)
    for what, ours, theirs in (("output", y_tape, y_torch),
                               ("input gradient", gx, tx.transpose(0, 2, 3, 1)),
                               ("kernel gradient", gw, tw.transpose(2, 3, 1, 0))):
        # float32 sums of up to 65536 terms: compare relative to the largest value
        scale = np.abs(theirs).max()
        np.testing.assert_allclose(ours, theirs, rtol=1e-3, atol=1e-4 * scale, err_msg=what)


def time_interleaved(runners: dict, rounds: int, warmup: int = 2) -> dict:
    """Median seconds per call of each runner; one call of each per round, in turn."""
    times: dict[str, list] = {name: [] for name in runners}
    for r in range(rounds + warmup):
        for name, fn in runners.items():
            start = time.perf_counter()
            fn()
            took = time.perf_counter() - start
            if r >= warmup:
                times[name].append(took)
    return {name: statistics.median(ts) for name, ts in times.items()}


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=21)
    parser.add_argument("--quick", action="store_true", help="3 rounds, small cases only")
    args = parser.parse_args(argv)
    import torch

    torch.set_num_threads(1)
    rounds = 3 if args.quick else args.rounds
    cases = CASES[:2] if args.quick else CASES
    print(f"Python {platform.python_version()}, NumPy {np.__version__}, PyTorch "
          f"{torch.__version__}, one thread each; {rounds} interleaved rounds (median)")
    print(f"{'case':<16} {'pass':<18} {'tape ms':>9} {'torch ms':>9} {'tape/torch':>10}")
    results = {}
    rng = np.random.default_rng(0)
    for name, n, h, w_, cin, cout in cases:
        x = rng.normal(size=(n, h, w_, cin)).astype(np.float32)
        w = rng.normal(size=(3, 3, cin, cout)).astype(np.float32)
        g = rng.normal(size=(n, h, w_, cout)).astype(np.float32)
        check_agreement(torch, x, w, g)
        tape_f, tape_fb = tape_runners(x, w, g)
        torch_f, torch_fb = torch_runners(torch, x, w, g)
        medians = time_interleaved({"tape forward": tape_f, "torch forward": torch_f,
                                    "tape forward+backward": tape_fb,
                                    "torch forward+backward": torch_fb}, rounds)
        for kind in ("forward", "forward+backward"):
            ours, theirs = medians[f"tape {kind}"], medians[f"torch {kind}"]
            results[(name, kind)] = (ours, theirs)
            print(f"{name:<16} {kind:<18} {ours * 1e3:9.2f} {theirs * 1e3:9.2f} "
                  f"{ours / theirs:10.2f}")
    return results


if __name__ == "__main__":
    main()

"""Per-op overhead of eager dispatch: raw NumPy vs tape (no tape, and under a recording
GradientTape with the backward pass), on the same 16-element float32 arrays, in one run.

    python -m benchmarks.overhead [--quick]

Each system runs the same 200-op elementwise chain (multiply, add, tanh, sin repeated);
systems are interleaved round by round, warm-up rounds are dropped, and the median of
the rounds is reported per op, with its ratio to the NumPy forward-only floor.
"""

from __future__ import annotations

import argparse
import platform
import statistics
import time

import numpy as np

import tape

CHAIN_LENGTH = 200
SIZE = 16


def numpy_chain(x, c, b):
    for _ in range(CHAIN_LENGTH // 4):
        x = np.multiply(x, c)
        x = np.add(x, b)
        x = np.tanh(x)
        x = np.sin(x)
    return x


def tape_chain(x, c, b):
    for _ in range(CHAIN_LENGTH // 4):
        x = tape.multiply(x, c)
        x = tape.add(x, b)
        x = tape.tanh(x)
        x = tape.sin(x)
    return x


def tape_forward_backward(x, c, b):
    with tape.GradientTape() as g:
        g.watch(x)
        y = tape_chain(x, c, b)
    return g.gradient(y, x)


def numpy_forward_backward(x, c, b):
    """The same chain with its backward pass written out by hand in NumPy."""
    saved = []
    for _ in range(CHAIN_LENGTH // 4):
        x = np.multiply(x, c)
        x = np.add(x, b)
        saved.append(x)
        x = np.tanh(x)
        t = x
        x = np.sin(x)
        saved.append((t, x))
    g = np.ones_like(x)
    for i in range(CHAIN_LENGTH // 4 - 1, -1, -1):
        t, _ = saved[2 * i + 1]
        g = g * np.cos(t)
        g = g * (1 - t * t)
        g = g * c
    return g


def torch_systems(x, c, b) -> dict:
    """PyTorch eager on the same chain, when the ``bench`` extra installed it (a peer for
    calibration: the issue's table puts it at 6.7x on its own chain)."""
    try:
        import torch
    except ImportError:
        return {}
    torch.set_num_threads(1)
    tx, tc, tb = (torch.from_numpy(v.copy()) for v in (x, c, b))

    def chain(v):
        for _ in range(CHAIN_LENGTH // 4):
            v = torch.sin(torch.tanh(torch.add(torch.mul(v, tc), tb)))
        return v

    def forward():
        with torch.no_grad():
            return chain(tx)

    def forward_backward():
        v = tx.detach().requires_grad_(True)
        chain(v).backward(torch.ones_like(v))
        return v.grad

    np.testing.assert_allclose(forward().numpy(), numpy_chain(x, c, b), rtol=1e-4)
    np.testing.assert_allclose(forward_backward().numpy(), numpy_forward_backward(x, c, b),
                               rtol=1e-4, atol=1e-6)
    return {"pytorch eager, no grad": forward, "pytorch forward+backward": forward_backward}


def time_rounds(systems: dict, rounds: int, warmup: int, inner: int) -> dict:
    times = {name: [] for name in systems}
    for r in range(rounds + warmup):
        for name, fn in systems.items():
            start = time.perf_counter()
            for _ in range(inner):
                fn()
            elapsed = (time.perf_counter() - start) / inner
            if r >= warmup:
                times[name].append(elapsed)
    return {name: statistics.median(ts) for name, ts in times.items()}


def check_agreement(x, c, b) -> None:
    """All systems computed the same thing before anything is timed."""
    ref = numpy_chain(x, c, b)
    ours = tape_chain(tape.tensor(x), tape.tensor(c), tape.tensor(b)).numpy()
    np.testing.assert_allclose(ours, ref, rtol=1e-4)
    grad_ref = numpy_forward_backward(x, c, b)
    grad = tape_forward_backward(tape.tensor(x), tape.tensor(c), tape.tensor(b)).numpy()
    np.testing.assert_allclose(grad, grad_ref, rtol=1e-4, atol=1e-6)


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="few rounds, for a smoke run")
    args = parser.parse_args(argv)
    rounds, warmup, inner = (5, 1, 2) if args.quick else (41, 3, 10)

    rng = np.random.default_rng(0)
    x = rng.normal(size=SIZE).astype(np.float32)
    c = rng.uniform(0.5, 1.5, size=SIZE).astype(np.float32)
    b = rng.normal(size=SIZE).astype(np.float32) * 0.1
    check_agreement(x, c, b)
    tx, tc, tb = tape.tensor(x), tape.tensor(c), tape.tensor(b)

    systems = {
        "numpy forward": lambda: numpy_chain(x, c, b),
        "numpy forward+backward (by hand)": lambda: numpy_forward_backward(x, c, b),
        "tape eager, no tape": lambda: tape_chain(tx, tc, tb),
        "tape forward+backward under a tape": lambda: tape_forward_backward(tx, tc, tb),
        **torch_systems(x, c, b),
    }
    medians = time_rounds(systems, rounds, warmup, inner)
    floor = medians["numpy forward"]
    print(f"python {platform.python_version()}, numpy {np.__version__}, "
          f"{platform.machine()}; {CHAIN_LENGTH}-op chain on {SIZE} float32 elements; "
          f"median of {rounds} rounds")
    print(f"{'system':40s} {'us/op':>8s} {'x numpy fwd':>12s}")
    for name, seconds in medians.items():
        per_op = seconds / CHAIN_LENGTH * 1e6
        print(f"{name:40s} {per_op:8.2f} {seconds / floor:12.2f}")
    return medians


if __name__ == "__main__":
    main()

"""What the graph passes buy on a traced MLP training step: nodes, memory, time.

    python -m benchmarks.trace_passes [--quick] [--rounds N]

The step: a 784-256-256-10 MLP (relu, float32), batch 128, sparse softmax cross-entropy
from logits, SGD, written with ``tape.layers.Dense``, ``tape.optimizers.SGD`` and a
``tape.GradientTape`` inside ``@tape.trace``. It is traced once without passes; each row
replays that graph after a different set of passes:

- no passes (``optimize=False``)
- the simplifying passes (DCE, constant folding, algebraic simplification, CSE)
- those + buffer reuse
- those + elementwise fusion (numpy engine, the default) + buffer reuse
- those + elementwise fusion (numexpr engine) + buffer reuse
- the traced function as users call it, on tensors (default passes: the simplifying
  ones + buffer reuse on CPU), which adds the call's own overhead (signature lookup,
  wrapping; NumPy arrays passed instead would also be copied into tensors)
- the same step written by hand in NumPy (in-place SGD update)

For each: the node count, the peak bytes NumPy allocates during one replay (tracemalloc,
after warm-up; replay locals live until it returns, so this is close to everything it
allocates), and the median time of one replay, the variants interleaved round by round.

On a machine shared with other jobs, run it with ``OPENBLAS_NUM_THREADS=1
OMP_NUM_THREADS=1 NUMEXPR_NUM_THREADS=1``: oversubscribed BLAS and numexpr threads
otherwise dominate (and scatter) every timing.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import time
import tracemalloc

import numpy as np

import tape
from tape.trace import passes
from tape.trace.replay import compile_graph

BATCH, SIZES, LR = 128, (784, 256, 256, 10), 0.01


def build_traced_step():
    tape.random.seed(0)
    dense = [tape.layers.Dense(n, activation="relu") for n in SIZES[1:-1]]
    dense.append(tape.layers.Dense(SIZES[-1]))
    optimizer = tape.optimizers.SGD(LR)
    loss_fn = tape.losses.SparseCategoricalCrossentropy(from_logits=True)

    def step(x, y):
        with tape.GradientTape() as g:
            h = x
            for layer in dense:
                h = layer(h)
            loss = loss_fn(y, h)
        weights = [w for layer in dense for w in layer.trainable_weights]
        grads = g.gradient(loss, weights)
        optimizer.apply_gradients(zip(grads, weights))
        return loss

    return step, dense


def numpy_step(x, y, params):
    """The same training step by hand: forward, backward, in-place SGD."""
    w1, b1, w2, b2, w3, b3 = params
    n = x.shape[0]
    h1 = np.maximum(x @ w1 + b1, 0)
    h2 = np.maximum(h1 @ w2 + b2, 0)
    logits = h2 @ w3 + b3
    shifted = logits - logits.max(axis=1, keepdims=True)
    logp = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))
    rows = np.arange(n)
    loss = -logp[rows, y].mean()
    g = np.exp(logp)
    g[rows, y] -= 1
    g /= n
    gw3, gb3 = h2.T @ g, g.sum(axis=0)
    g2 = np.where(h2 > 0, g @ w3.T, 0).astype(np.float32)
    gw2, gb2 = h1.T @ g2, g2.sum(axis=0)
    g1 = np.where(h1 > 0, g2 @ w2.T, 0).astype(np.float32)
    gw1, gb1 = x.T @ g1, g1.sum(axis=0)
    for p, gp in zip(params, (gw1, gb1, gw2, gb2, gw3, gb3)):
        p -= np.float32(LR) * gp
    return loss


def variants(graph) -> dict:
    simplified = passes.optimize(graph, fuse=False, buffers=False)
    return {
        "no passes": graph,
        "simplifying passes": simplified,
        "+ buffer reuse": passes.buffer_reuse(simplified),
        "+ fusion (numpy) + buffers": passes.optimize(graph, fuse=True, cpu_engine="numpy"),
        "+ fusion (numexpr) + buffers": passes.optimize(graph, fuse=True,
                                                        cpu_engine="numexpr"),
    }


def peak_bytes(fn, warmup: int = 3) -> int:
    for _ in range(warmup):
        fn()
    tracemalloc.start()
    try:
        fn()  # warm-up under tracing too
        tracemalloc.reset_peak()
        base = tracemalloc.get_traced_memory()[0]
        fn()
        return tracemalloc.get_traced_memory()[1] - base
    finally:
        tracemalloc.stop()


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="few rounds (a smoke run)")
    parser.add_argument("--rounds", type=int, default=30)
    args = parser.parse_args(argv)
    rounds, per_round = (3, 2) if args.quick else (args.rounds, 10)

    rng = np.random.default_rng(0)
    x = rng.normal(size=(BATCH, SIZES[0])).astype(np.float32)
    y = rng.integers(0, SIZES[-1], BATCH)
    step, dense = build_traced_step()
    traced = tape.trace(step, optimize=False)
    traced(x, y)  # traces (and takes one eager step)
    default = tape.trace(step)
    default(x, y)
    params = [w.numpy().copy() for layer in dense for w in layer.trainable_weights]

    # Agreement: one replay of each variant and one NumPy step from the same weights.
    weights = [w for layer in dense for w in layer.trainable_weights]
    start = [w.numpy().copy() for w in weights]
    want = float(numpy_step(x, y, [p.copy() for p in start]))
    graphs = variants(traced.unoptimized_graph)
    runs = {}
    for name, graph in graphs.items():
        replay = compile_graph(graph)
        for w, value in zip(weights, start):
            w.assign(value)
        got = float(np.asarray(replay([x, y])[0]))
        assert abs(got - want) <= 1e-4 * abs(want), (name, got, want)
        runs[name] = (lambda r=replay: r([x, y]))
    xt, yt = tape.tensor(x), tape.tensor(y)
    runs["traced call (default passes)"] = lambda: default(xt, yt)
    runs["numpy by hand"] = lambda: numpy_step(x, y, params)

    nodes = {name: len(g.nodes) for name, g in graphs.items()}
    nodes["traced call (default passes)"] = len(default.graph.nodes)
    memory = {name: peak_bytes(fn) for name, fn in runs.items()}
    times: dict = {name: [] for name in runs}
    for _ in range(rounds):
        for name, fn in runs.items():
            t0 = time.perf_counter()
            for _ in range(per_round):
                fn()
            times[name].append((time.perf_counter() - t0) / per_round)
    medians = {name: statistics.median(ts) for name, ts in times.items()}

    print(f"MLP {'-'.join(map(str, SIZES))}, batch {BATCH}, float32, SGD; "
          f"{platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, "
          f"NumPy {np.__version__}; median of {rounds} rounds x {per_round} replays")
    print(f"{'variant':30} {'nodes':>6} {'peak MB/replay':>15} {'ms/replay':>10} "
          f"{'x numpy':>8}")
    floor = medians["numpy by hand"]
    for name in runs:
        count = str(nodes[name]) if name in nodes else "-"
        print(f"{name:30} {count:>6} {memory[name] / 1e6:15.2f} "
              f"{medians[name] * 1e3:10.3f} {medians[name] / floor:8.2f}")
    return {"nodes": nodes, "memory": memory, "medians": medians}


if __name__ == "__main__":
    main()

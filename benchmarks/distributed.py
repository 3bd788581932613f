"""Data-parallel training (``tape.distribute``) on 2 ranks against 1 process.

    python -m benchmarks.distributed [--quick] [--epochs N] [--transport | --overlap]

Three models through ``fit`` (traced steps, ``verbose=0``) on scikit-learn's digits (1797
samples, global batch 256, no shuffling): the digits MLP 64-128-10, a small CNN on the
8x8x1 images (Conv2D 16 3x3 relu, MaxPooling 2, Dense 10), and a wide MLP 64-1024-1024-10,
the compute-bound case (11 GFLOP an epoch, against 0.1 for the digits MLP). Each is timed

- in 1 process with 2 BLAS/OpenMP threads (the whole machine, the fair comparison here),
- in 1 process with 1 thread (what each rank has), and
- on 2 ranks (``mpiexec -n 2``) with 1 thread each,

as samples per second over ``--epochs`` epochs after two warm-up epochs (the traces of
the full and the last batch, and their first replays); each configuration is launched
``--repeats`` times, interleaved, and the median launch is shown. On 2
ranks it also reports the share of the step spent in collectives (the gradient all-reduce,
the logs' metric sums and the stop flag; waiting for the slower rank included, since that is
where an imbalance shows). Scaling efficiency = 2-rank throughput / (2 x 1-thread
throughput); speed-up = 2-rank throughput / 2-thread throughput.

Then the all-reduce alone, inside a traced function as in a traced step, in one bucket
(the default) against one collective per tensor: the digits MLP's 4 gradients and a
10-layer MLP's 20, beside the digits MLP's traced step on a shard of 128 rows.

``--transport`` measures only the ways of calling MPI's all-reduce from Python that
``tape.distribute.comm.Group`` chose between (blocking or polled, into a kept or a new array).

``--overlap`` measures only ``fit``'s step on 2 ranks with the gradients' all-reduce
overlapped with the backward walk (each bucket sent once the walk has its gradients, what
``fit`` does) and not (every bucket after the walk), eager and traced (``measure_overlap``).

The numbers move with the machine's load (2 cores shared with other jobs): compare within
one run.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time

from . import environment

GLOBAL_BATCH = 256
MODELS = ("mlp", "cnn", "mlp-wide")


def _threads_env(threads: int) -> dict:
    env = dict(os.environ, JAX_PLATFORMS="cpu")
    for name in environment._THREAD_VARIABLES:
        env[name] = str(threads)
    return env


def build(name: str, run_eagerly: bool = False):
    import tape
    from tape import layers

    tape.random.seed(0)
    if name.startswith("mlp"):
        width, depth = {"mlp": (128, 1), "mlp-wide": (1024, 2), "mlp-deep": (512, 8)}[name]
        hidden = [layers.Dense(width, activation="relu") for _ in range(depth)]
        model = tape.models.Sequential([layers.Input((64,)), *hidden, layers.Dense(10)])
    else:
        model = tape.models.Sequential([
            layers.Input((8, 8, 1)), layers.Conv2D(16, 3, padding="same", activation="relu"),
            layers.MaxPooling2D(2), layers.Flatten(), layers.Dense(10)])
    model.compile(tape.optimizers.SGD(0.05),
                  tape.losses.SparseCategoricalCrossentropy(from_logits=True),
                  run_eagerly=run_eagerly)
    return model


def digits(name: str):
    import numpy as np
    from sklearn.datasets import load_digits

    x, y = load_digits(return_X_y=True)
    x = (x / 16.0).astype(np.float32)
    return (x.reshape(-1, 8, 8, 1) if name == "cnn" else x), y


def measure_fit(name: str, epochs: int, strategy) -> dict:
    x, y = digits(name)
    if strategy is None:
        model = build(name)
    else:
        with strategy.scope():
            model = build(name)
    model.fit(x, y, batch_size=GLOBAL_BATCH, epochs=2, shuffle=False, verbose=0)  # traces
    group = getattr(strategy, "_group", None)
    if group is not None:
        strategy._any(False)  # start together
        calls, seconds = group.calls, group.seconds
    start = time.perf_counter()
    model.fit(x, y, batch_size=GLOBAL_BATCH, epochs=epochs, shuffle=False, verbose=0)
    took = time.perf_counter() - start
    out = {"samples_per_s": epochs * len(x) / took, "seconds": took}
    if group is not None:
        out["collective_share"] = (group.seconds - seconds) / took
        out["collectives_per_step"] = (group.calls - calls) / (
            epochs * -(-len(x) // GLOBAL_BATCH))
    return out


def measure_all_reduce(strategy, rounds: int) -> dict:
    """Median (and best) seconds of one traced all-reduce of a set of gradients, in one
    bucket and one collective per tensor: the digits MLP's 4 and a 10-layer MLP's 20 (64
    wide); and of the digits MLP's traced training step on a shard of 128 rows."""
    import numpy as np

    import tape

    model = build("mlp")
    x, y = digits("mlp")
    xb, yb = tape.tensor(x[:GLOBAL_BATCH // 2]), tape.tensor(y[:GLOBAL_BATCH // 2])
    deep = [(64, 64), (64,)] * 9 + [(64, 10), (10,)]
    cases = {"digits MLP": [tuple(w.shape) for w in model.trainable_variables],
             "10-layer MLP": deep}
    variants, nodes = {}, {}
    for case, shapes in cases.items():
        grads = [tape.tensor(np.random.default_rng(i).normal(size=shape).astype(np.float32))
                 for i, shape in enumerate(shapes)]
        values = sum(int(np.prod(shape)) for shape in shapes)
        for how, bucket_bytes in (("one bucket", 25 << 20), ("one call per tensor", 1)):
            label = f"{case}: {len(shapes)} gradients, {values:,} float32 values, {how}"
            strategy.bucket_bytes = bucket_bytes
            traced = tape.trace(lambda *g: strategy.all_reduce(list(g)))
            traced(*grads)  # traced now, under this bucket size
            nodes[label] = [n.op.name for n in traced.graph.nodes].count("all_reduce_start")
            variants[label] = (traced, grads)
    strategy.bucket_bytes = 25 << 20
    step = tape.trace(model.train_step)
    variants["the digits MLP's traced step (128 rows), for scale"] = (
        lambda: step((xb, yb, None)), [])
    times = {label: [] for label in variants}
    for _ in range(rounds):
        for label, (fn, args) in variants.items():
            strategy._any(False)  # start together
            start = time.perf_counter()
            for _ in range(20):
                fn(*args)
            times[label].append((time.perf_counter() - start) / 20)
    return {"collectives": nodes,
            "seconds": {label: statistics.median(t) for label, t in times.items()},
            "min_seconds": {label: min(t) for label, t in times.items()}}


def measure_overlap(strategy, epochs: int, rounds: int) -> dict:
    """Seconds per ``fit`` step on 2 ranks with the gradients' all-reduce overlapped with
    the backward walk (``fit``'s way) and not (all of it after the walk), eager and traced,
    for the wide MLP (64-1024-1024-10), a deep one (64, 8 layers of 512, 10: a 1 MiB
    gradient per layer) and the CNN, in buckets of 25 MiB (the default: one bucket for
    these models, so nothing can leave early) and of 1 MiB. Each configuration is a new model
    (a traced step keeps the way it was traced); the rounds are interleaved and the median
    round is shown, with the milliseconds per step the step spent blocked in the
    collectives' calls (starting and waiting; the gradients' buckets and the logs' sums)."""
    import contextlib

    overlapping = strategy._overlapping
    configs = [(name, eager, mib, overlap) for name in ("mlp-wide", "mlp-deep", "cnn")
               for eager in (False, True) for mib in (25, 1) for overlap in (True, False)]
    times: dict = {config: [] for config in configs}
    blocked: dict = {config: [] for config in configs}
    group = strategy._group
    for _ in range(rounds):
        for name, eager, mib, overlap in configs:
            x, y = digits(name)
            strategy.bucket_bytes = mib << 20
            strategy._overlapping = (overlapping if overlap
                                     else lambda *a: contextlib.nullcontext())
            with strategy.scope():
                model = build(name, run_eagerly=eager)
            model.fit(x, y, batch_size=GLOBAL_BATCH, epochs=1, shuffle=False, verbose=0)
            strategy._any(False)  # start together
            seconds, start = group.seconds, time.perf_counter()
            model.fit(x, y, batch_size=GLOBAL_BATCH, epochs=epochs, shuffle=False, verbose=0)
            steps = epochs * -(-len(x) // GLOBAL_BATCH)
            times[(name, eager, mib, overlap)].append((time.perf_counter() - start) / steps)
            blocked[(name, eager, mib, overlap)].append((group.seconds - seconds) / steps)
    strategy._overlapping, strategy.bucket_bytes = overlapping, 25 << 20
    return [[name, "eager" if eager else "traced", mib, overlap, statistics.median(t), min(t),
             statistics.median(blocked[(name, eager, mib, overlap)])]
            for (name, eager, mib, overlap), t in times.items()]


def measure_transport(rounds: int) -> dict:
    """The ways to call MPI's all-reduce from Python that ``tape.distribute.comm.Group``
    chose between, on 9,610 and 1,100,000 float32 values (the digits and the wide MLP's
    gradients): median and best seconds per call over ``rounds`` rounds of 20 calls."""
    import numpy as np
    from mpi4py import MPI

    from tape.distribute.comm import Group

    comm, group = MPI.COMM_WORLD, Group(MPI.COMM_WORLD)

    def polled(a, out, spin_s):
        request, start, pause = comm.Iallreduce(a, out), time.monotonic(), 1e-5
        while not request.Test():
            if time.monotonic() - start >= spin_s:
                time.sleep(pause)
                pause = min(2 * pause, 1e-3)

    variants = {  # each called as fn(values, kept array)
        "blocking Allreduce into a kept array": comm.Allreduce,
        "blocking Allreduce into a new array": lambda a, _: comm.Allreduce(a, np.empty_like(a)),
        "Iallreduce polled, pausing from the start": lambda a, kept: polled(a, kept, 0.0),
        "Iallreduce polled, no pause for 10 ms": lambda a, kept: polled(a, kept, 0.01),
        "Iallreduce then Wait": lambda a, kept: comm.Iallreduce(a, kept).Wait(),
        "tape's Group.all_reduce": lambda a, _: group.all_reduce(a),
    }
    out = {}
    for n in (9_610, 1_100_000):
        a, kept = np.ones(n, np.float32), np.empty(n, np.float32)
        times = {label: [] for label in variants}
        for _ in range(rounds):
            for label, fn in variants.items():
                comm.Barrier()
                start = time.perf_counter()
                for _ in range(20):
                    fn(a, kept)
                times[label].append((time.perf_counter() - start) / 20)
        out[f"{n:,} float32 values"] = {label: (statistics.median(t), min(t))
                                        for label, t in times.items()}
    return out


def worker(args) -> None:
    """One measurement in this process (under mpiexec: on every rank); rank 0 prints it."""
    import tape

    if args.transport or args.overlap:
        strategy = tape.distribute.DataParallel()
        result = (measure_transport(3 if args.quick else 9) if args.transport
                  else measure_overlap(strategy, args.epochs, 1 if args.quick else 5))
        if strategy.rank == 0:
            print("RESULT " + json.dumps(result), flush=True)
        return
    strategy = tape.distribute.DataParallel() if args.ranks else None
    result = {name: measure_fit(name, args.epochs, strategy) for name in MODELS}
    if args.ranks:
        result["all_reduce"] = measure_all_reduce(strategy, 5 if args.quick else 30)
    if strategy is None or strategy.rank == 0:
        print("RESULT " + json.dumps(result), flush=True)


def _run(command: list, threads: int) -> dict:
    done = subprocess.run(command, env=_threads_env(threads), capture_output=True, text=True,
                          timeout=1800)
    for line in done.stdout.splitlines():
        if line.startswith("RESULT "):
            return json.loads(line[len("RESULT "):])
    raise RuntimeError(f"{' '.join(command)} failed:\n{done.stdout[-2000:]}"
                       f"\n{done.stderr[-3000:]}")


def _median_run(runs: list) -> dict:
    """Per model, the launch with the median throughput (its other figures with it)."""
    out = {}
    for key in runs[0]:
        if key == "all_reduce":
            out[key] = sorted(runs, key=lambda r: min(r[key]["seconds"].values()))[
                len(runs) // 2][key]
        else:
            out[key] = sorted((r[key] for r in runs), key=lambda m: m["samples_per_s"])[
                len(runs) // 2]
    return out


def _rate(chosen: dict, runs: list, name: str) -> str:
    rates = [r[name]["samples_per_s"] for r in runs]
    spread = f" [{min(rates):,.0f}-{max(rates):,.0f}]" if len(rates) > 1 else ""
    return f"{chosen['samples_per_s']:,.0f}/s{spread}"


def _print_transport(result: dict) -> None:
    print("\nMPI all-reduce from Python on 2 ranks, per call (median / best of the rounds):\n")
    sizes = list(result)
    print("| way | " + " | ".join(f"µs, {size}" for size in sizes) + " |")
    print("|---|" + "---:|" * len(sizes))
    for label in result[sizes[0]]:
        cells = [f"{1e6 * result[size][label][0]:,.0f} / {1e6 * result[size][label][1]:,.0f}"
                 for size in sizes]
        print(f"| {label} | " + " | ".join(cells) + " |")


def _print_overlap(rows: list) -> None:
    print("\nfit on 2 ranks (1 thread each, global batch 256), ms per step (median / best of "
          "the rounds): the all-reduce overlapped with the backward walk, and not\n")
    print("| model | step | buckets of | overlapped | not overlapped | not / overlapped | "
          "ms blocked in collectives, overlapped / not |")
    print("|---|---|---:|---:|---:|---:|---:|")
    by = {tuple(row[:4]): row[4:] for row in rows}
    for name, step, mib, overlap in by:
        if overlap:
            (a, a_min, a_in), (b, b_min, b_in) = (by[(name, step, mib, True)],
                                                  by[(name, step, mib, False)])
            print(f"| {name} | {step} | {mib} MiB | {1e3 * a:.1f} / {1e3 * a_min:.1f} | "
                  f"{1e3 * b:.1f} / {1e3 * b_min:.1f} | {b / a:.2f} | "
                  f"{1e3 * a_in:.1f} / {1e3 * b_in:.1f} |")


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="1 epoch, few rounds")
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--repeats", type=int, default=3,
                        help="launches of each configuration (1 with --quick)")
    parser.add_argument("--transport", action="store_true",
                        help="only the ways of calling MPI's all-reduce, on 2 ranks")
    parser.add_argument("--overlap", action="store_true",
                        help="only fit's step with and without the overlapped all-reduce, "
                             "on 2 ranks")
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--ranks", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.quick:
        args.epochs, args.repeats = 1, 1
    if args.worker:
        return worker(args)
    me = [sys.executable, "-m", "benchmarks.distributed", "--worker", "--epochs",
          str(args.epochs)] + (["--quick"] if args.quick else [])
    mpiexec = os.path.join(os.path.dirname(sys.executable), "mpiexec")
    flags = ((" --quick" if args.quick else "") + (" --transport" if args.transport else "")
             + (" --overlap" if args.overlap else ""))
    print(f"- command: `python -m benchmarks.distributed{flags}` (tape commit "
          f"{environment.git_commit()})" + ("" if args.transport else
                                            f", {args.epochs} epochs after "
                                            f"{1 if args.overlap else 2} warm-up"))
    print(f"- machine: {environment.cpu_model()}, {os.cpu_count()} cores; load average at "
          f"start {environment.load_average()}")
    if args.transport:
        return _print_transport(_run([mpiexec, "-n", "2", *me, "--transport"], threads=1))
    if args.overlap:
        return _print_overlap(_run([mpiexec, "-n", "2", *me, "--overlap"], threads=1))
    runs = {"one_2": [], "one_1": [], "two": []}
    for _ in range(args.repeats):  # interleaved, so that a slow minute hits all three
        runs["one_2"].append(_run(me, threads=2))
        runs["one_1"].append(_run(me, threads=1))
        runs["two"].append(_run([mpiexec, "-n", "2", *me, "--ranks"], threads=1))
    one_2, one_1, two = (_median_run(runs[k]) for k in ("one_2", "one_1", "two"))
    print(f"- {args.repeats} launches of each configuration, interleaved; the median launch "
          "of each (by throughput) is shown, and the range over the launches in brackets")
    print("\n| model (fit, global batch 256) | 1 process, 2 threads | 1 process, 1 thread | "
          "2 ranks, 1 thread each | speed-up vs 2 threads | scaling efficiency | time in "
          "collectives | collectives per step |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|")
    for name in MODELS:
        a, b, c = one_2[name], one_1[name], two[name]
        print(f"| {name} | {_rate(a, runs['one_2'], name)} | {_rate(b, runs['one_1'], name)} | "
              f"{_rate(c, runs['two'], name)} | {c['samples_per_s'] / a['samples_per_s']:.2f} | "
              f"{c['samples_per_s'] / (2 * b['samples_per_s']):.2f} | "
              f"{100 * c['collective_share']:.0f}% | {c['collectives_per_step']:.0f} |")
    reduce = two["all_reduce"]
    print("\nAll-reduce alone on 2 ranks, traced, per call (median and best of the rounds; "
          "collectives per call in brackets):\n")
    print("| what | µs, median | µs, best |")
    print("|---|---:|---:|")
    for label, seconds in reduce["seconds"].items():
        calls = reduce["collectives"].get(label)
        shown = f"{label} [{calls}]" if calls is not None else label
        print(f"| {shown} | {1e6 * seconds:.0f} | {1e6 * reduce['min_seconds'][label]:.0f} |")


if __name__ == "__main__":
    main()

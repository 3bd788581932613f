"""The side-by-side run: every workload, every system, in one process (``python -m
benchmarks``; ``make bench``). Prints Markdown: a header (machine, versions, threads, BLAS),
a table per workload, then a summary of the ratios to the NumPy floor.

Exit status 1 when any system disagreed with the floor or failed, 0 otherwise.
"""

from __future__ import annotations

import argparse
import shlex
import sys
import time

from . import chain, cnn, environment, fit, harness, memory, mlp, peers, rnn

# --only names -> builder(quick) -> Workload, in run order
WORKLOADS = {**chain.WORKLOADS, **mlp.WORKLOADS, **rnn.WORKLOADS, **cnn.WORKLOADS,
             **memory.WORKLOADS, **fit.WORKLOADS}
SUMMARY_COLUMNS = [name for name, _, _ in peers.TRAIN_SYSTEMS]
CLOCKS = {"wall": time.perf_counter, "cpu": time.process_time}


def parse_args(argv):
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__)
    parser.add_argument("--quick", action="store_true",
                        help="small sizes and few repeats: a smoke run (times mean nothing)")
    parser.add_argument("--only", action="append", metavar="WORKLOAD", choices=list(WORKLOADS),
                        help=f"run only this workload (repeatable): {', '.join(WORKLOADS)}")
    parser.add_argument("--skip", action="append", default=[], metavar="PREFIX",
                        help="leave out the systems whose name starts with PREFIX, e.g. "
                             "--skip tf (repeatable; the floor always runs)")
    parser.add_argument("--repeats", type=int, help="timed rounds per workload (default 41; "
                                                    "3 with --quick)")
    parser.add_argument("--warmup", type=int, default=None, help="untimed rounds (default 3)")
    parser.add_argument("--min-sample-ms", type=float, default=None,
                        help="each timed sample repeats a step until it lasts this long "
                             "(default 20)")
    parser.add_argument("--clock", choices=list(CLOCKS), default="wall",
                        help="wall: elapsed time (default); cpu: CPU time of this process, "
                             "steadier on a machine shared with other jobs")
    parser.add_argument("--threads", type=int, default=1,
                        help="threads for every system's BLAS/OpenMP/XLA (default 1)")
    return parser.parse_args(argv)


def select_systems(workload: harness.Workload, skip: list) -> harness.Workload:
    keep = {name: factory for name, factory in workload.systems.items()
            if name in (workload.floor, *workload.references)
            or not any(name.startswith(prefix) for prefix in skip)}
    workload.systems = keep
    return workload


def main(argv=None) -> int:
    args = parse_args(sys.argv[1:] if argv is None else argv)
    environment.pin_threads(args.threads)
    repeats = args.repeats or (3 if args.quick else 41)
    warmup = args.warmup if args.warmup is not None else (1 if args.quick else 3)
    min_sample = (args.min_sample_ms if args.min_sample_ms is not None
                  else 0.0 if args.quick else 20.0) / 1e3
    command = "python -m benchmarks " + shlex.join(sys.argv[1:] if argv is None else argv)
    print("## Run\n")
    print(environment.describe(command.strip()))
    print(f"- timing: {args.clock} clock, {repeats} rounds after {warmup} warm-up rounds; "
          f"systems interleaved "
          f"round-robin (order rotated each round); each sample repeats a step for at "
          f"least {min_sample * 1e3:g} ms; the median sample is reported; spread = "
          f"interquartile range / median")
    print("\n## Workloads\n", flush=True)
    started = time.perf_counter()
    results, failed = [], []
    for name in args.only or WORKLOADS:
        workload = select_systems(WORKLOADS[name](quick=args.quick), args.skip)
        result = harness.run_workload(workload, repeats, warmup, min_sample,
                                      CLOCKS[args.clock])
        results.append(result)
        failed += [f"{name}: {system} ({o.status}: {o.detail})"
                   for system, o in result.outcomes.items() if o.status in ("mismatch", "error")]
        print(harness.format_table(result) + "\n", flush=True)
    print("## Summary: ratio to the NumPy floor (lower is faster)\n")
    print(harness.format_summary(results, SUMMARY_COLUMNS))
    print(f"\nBLAS and threads at the end of the run: {'; '.join(environment.blas_lines())}")
    if "torch" in sys.modules:
        print(peers.torch_blas())
    print(f"whole run: {time.perf_counter() - started:.0f} s; load average at the end "
          f"{environment.load_average()}")
    if failed:
        print("\nFAILED agreement:\n" + "\n".join(f"- {line}" for line in failed))
        return 1
    return 0

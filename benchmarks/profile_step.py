"""Where one system spends a workload's step: cProfile over many steps, top entries.

    python -m benchmarks.profile_step mlp-784-b128 [--system "tape eager"] [--steps 200] [--top 25]

The step is built and checked exactly as the runner does (same weights, same data), run a
few times to warm up, then profiled. cProfile charges a C function (a NumPy ufunc called
as ``x @ w``) to the Python function that called it, and its own per-call cost inflates
code made of many small calls: read the shares, not the absolute times.
"""

from __future__ import annotations

import argparse
import cProfile
import io
import pstats
import sys

from benchmarks import environment


def main(argv=None) -> str:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.profile_step",
                                     description=__doc__.splitlines()[0])
    parser.add_argument("workload")
    parser.add_argument("--system", default="tape eager")
    parser.add_argument("--steps", type=int, default=200)
    parser.add_argument("--top", type=int, default=25)
    parser.add_argument("--sort", default="tottime", choices=["tottime", "cumulative"])
    parser.add_argument("--quick", action="store_true", help="the workload's small sizes")
    args = parser.parse_args(argv)
    environment.pin_threads(1)
    from benchmarks import harness, runner

    workload = runner.WORKLOADS[args.workload](quick=args.quick)
    workload.systems = {name: workload.systems[name]
                        for name in (workload.floor, *workload.references, args.system)}
    outcome = harness.check_agreement(workload)[args.system]
    if outcome.status != "ok":
        raise SystemExit(f"{args.system} on {args.workload}: {outcome.status} "
                         f"({outcome.detail})")
    step = outcome.trial.step
    for _ in range(5):
        step()
    profiler = cProfile.Profile()
    profiler.enable()
    for _ in range(args.steps):
        step()
    profiler.disable()
    out = io.StringIO()
    stats = pstats.Stats(profiler, stream=out)
    stats.strip_dirs().sort_stats(args.sort).print_stats(args.top)
    text = (f"{args.system} on {workload.title}: {args.steps} steps, "
            f"sorted by {args.sort}\n{out.getvalue()}")
    print(text)
    return text


if __name__ == "__main__":
    main(sys.argv[1:])

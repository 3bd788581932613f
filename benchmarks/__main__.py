"""``python -m benchmarks [--quick] [--only WORKLOAD] ...``: pins the thread counts before
NumPy or any peer loads, then runs the side-by-side benchmarks (see runner.py)."""

import sys

from benchmarks import environment


def _threads(argv: list) -> int:
    for i, arg in enumerate(argv):
        if arg == "--threads" and i + 1 < len(argv):
            return int(argv[i + 1])
        if arg.startswith("--threads="):
            return int(arg.split("=", 1)[1])
    return 1


environment.pin_threads(_threads(sys.argv[1:]))

from benchmarks.runner import main  # noqa: E402 - after the threads are pinned

sys.exit(main())

"""Peak memory of one MLP 784-256-256-10 SGD step at batch 1024, tape against the NumPy
floor: the most bytes a step holds at once above what was live before it (weights and
data are live before, so they do not count), measured with tracemalloc, which sees NumPy's
array buffers and every Python object. PyTorch and JAX allocate outside tracemalloc's
view, so only NumPy-backed systems are compared. The step is the one ``mlp`` times and
checks (same loss and weight updates as the floor).
"""

from __future__ import annotations

import functools

from . import mlp
from .harness import Workload

SYSTEMS = ("numpy (floor)", "tape eager", "tape traced")


def build(name: str, quick: bool) -> Workload:
    sizes, batch = ((784, 32, 32, 10), 64) if quick else ((784, 256, 256, 10), 1024)
    init, data = mlp.make_problem(sizes, batch)
    every = mlp.systems(init, data)
    title = f"peak memory of one MLP {'-'.join(map(str, sizes))} SGD step, batch {batch}"
    return Workload(name, title, "numpy (floor)", {s: every[s] for s in SYSTEMS},
                    measure="memory", unit="MB", targets=(("tape eager", 1.3),))


WORKLOADS = {"memory": functools.partial(build, "memory")}

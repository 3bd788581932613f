"""Collective ops: an all-reduce as an op record, so that a traced training step keeps it
as a graph node and runs it at every replay (``tape.distribute`` calls it per bucket).

The op's ``group`` parameter (a ``tape.distribute.comm.Group``) does the exchange: MPI for
NumPy arrays, NCCL for CuPy arrays. Not differentiable: it reduces finished gradients.
"""

from __future__ import annotations

from .registry import defop


# stateful: the result depends on the other ranks, and every rank must run the same
# collectives, so graph passes never fold, merge or drop it.
@defop("all_reduce", differentiable=False, stateful=True, fresh=True)
def all_reduce(xp, x, group):
    """The elementwise sum of ``x`` over the ranks of ``group`` (each rank passes its own
    ``x`` of the same shape and dtype and gets the same sum)."""
    return group.all_reduce(x)

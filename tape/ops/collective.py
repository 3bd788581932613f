"""Collective ops: an all-reduce as two op records, its start and its wait, so that a
traced training step keeps both as graph nodes where they ran (a bucket's start in the
middle of the backward walk, the waits before the update) and runs them at every replay
(``tape.distribute`` calls them per bucket).

The ops' ``group`` parameter (a ``tape.distribute.comm.Group``) does the exchange: MPI for
NumPy arrays, NCCL for CuPy arrays. Not differentiable: they reduce finished gradients.
"""

from __future__ import annotations

from .registry import defop


# stateful: the result depends on the other ranks, and every rank must run the same
# collectives in the same order, so graph passes never fold, merge, drop or move them.
@defop("all_reduce_start", differentiable=False, stateful=True, fresh=True)
def all_reduce_start(xp, x, group):
    """Start the elementwise sum of ``x`` over the ranks of ``group`` (each rank passes
    its own ``x`` of the same shape and dtype); returns the array the sum arrives in, for
    ``all_reduce_wait`` alone to read."""
    return group.all_reduce_start(x)


# not fresh: on NCCL the sum is the started array itself (the stream already orders it)
@defop("all_reduce_wait", differentiable=False, stateful=True)
def all_reduce_wait(xp, started, group):
    """The sum that ``all_reduce_start`` returned ``started`` for, once every rank's part
    has arrived (the same on every rank)."""
    return group.all_reduce_wait(started)


def all_reduce(x, group):
    """The elementwise sum of ``x`` over the ranks of ``group``: start, then wait.

    Example:
        >>> import tape
        >>> from tape.distribute.comm import Group
        >>> all_reduce(tape.ones((2,)), group=Group()).numpy().tolist()  # one rank
        [1.0, 1.0]
    """
    return all_reduce_wait(all_reduce_start(x, group=group), group=group)

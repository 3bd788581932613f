"""The gradients' all-reduce overlapped with the backward walk, as PyTorch DDP does it.

``fit`` (through ``DataParallel._overlapping``) installs an ``Overlap`` around each step.
The backward walk tells it (``tape.autodiff.gradient_ready``) each variable's gradient as
soon as no entry left to walk can add to it; when every gradient of a bucket is in, the
bucket's all-reduce starts (nonblocking) while the walk goes on. The buckets are those of
the blocking path, formed once per list of variables, last layer first (the order the walk
finishes them in), and started strictly in that order, so every rank starts the same
collectives in the same order. ``DataParallel.all_reduce`` of those very gradients then
waits for the buckets instead of sending them. The sums are the blocking path's: the same
buckets, flattened and weighted the same way.
"""

from __future__ import annotations

import contextlib

from .. import autodiff, ops
from ..nest import map_structure
from ..ops import collective


class Overlap:
    """One step's overlapped all-reduce of the gradients of ``variables``, weighted by
    ``weight`` (this rank's rows)."""

    def __init__(self, strategy, variables, weight):
        self.strategy = strategy
        self.variables = list(variables)
        self.ids = [v._id for v in self.variables]
        self.weight = weight
        self.plan = strategy._plan(self.variables)  # buckets, as indices into variables
        self.grads: dict = {}  # index -> final gradient (None: the variable got none)
        self.started: list = []  # (the bucket's tensors, its all-reduce in flight), in plan order
        self.walked = False

    @contextlib.contextmanager
    def installed(self):
        """The hook of the backward walks inside; on the way out, nothing left in flight."""
        token = autodiff.gradient_ready.set(self)
        try:
            yield self
        finally:
            autodiff.gradient_ready.reset(token)
            self._drain()

    def __call__(self, sources):
        """The walk's question: ``ready`` for the first walk to our variables, else None."""
        if self.walked or [s._id for s in sources] != self.ids:
            return None
        self.walked = True
        return self.ready

    def ready(self, index: int, gradient) -> None:
        """Variable ``index``'s gradient is final: start every bucket, in order, whose
        gradients are all in (a variable without a gradient sends zeros, so that every
        rank's bucket has the same size)."""
        self.grads[index] = gradient
        plan, started = self.plan, self.started
        while len(started) < len(plan) and all(i in self.grads for i in plan[len(started)]):
            bucket = [self._value(i) for i in plan[len(started)]]
            started.append((bucket, self.strategy._start_bucket(bucket, self.weight)))
        self.strategy._group.progress()

    def _value(self, index: int):
        g = self.grads[index]
        return ops.zeros_like(self.variables[index]) if g is None else g

    def finish(self, values, leaves: list, reduce: str, weight):
        """``values`` all-reduced when they are this walk's gradients, reduced as the walk's
        buckets were (the mean weighted by ``weight``); None otherwise, once the buckets in
        flight have arrived (every rank started them alike)."""
        grads = [self.grads.get(i) for i in range(len(self.variables))]
        if not (self.walked and len(self.started) == len(self.plan) and reduce == "mean"
                and weight == self.weight
                and [id(t) for t in leaves] == [id(g) for g in grads if g is not None]):
            self._drain()
            return None
        reduced = {}
        for indices, (bucket, started) in zip(self.plan, self.started):
            total = self.strategy._finish_bucket(bucket, started, reduce, weight)
            reduced.update((i, t) for i, t in zip(indices, total) if grads[i] is not None)
        self.started = []
        # Zeros stood in for a missing gradient; that must be so on every rank (a tape that
        # reached a variable on one rank only would make the ranks' weights drift apart).
        self.strategy._group.check_agree("all_reduce: the variables without a gradient",
                                         [i for i, g in enumerate(grads) if g is None])
        by_id = {id(grads[i]): t for i, t in reduced.items()}
        return map_structure(lambda t: None if t is None else by_id[id(t)], values)

    def _drain(self) -> None:
        """Wait for the buckets started but not finished, and drop their sums (as ops, so
        that a traced step that started them waits for them too)."""
        for _, started in self.started:
            collective.all_reduce_wait(started, group=self.strategy._group)
        self.started = []

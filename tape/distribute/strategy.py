"""``DataParallel``: the same model on every rank of an MPI launch, each rank on its shard
of every global batch, gradients averaged over the ranks before the update: in ``fit``,
bucket by bucket while the backward walk runs (``overlap.py``), in a custom loop's
``all_reduce`` after it.

A model compiled inside ``strategy.scope()`` trains this way in ``fit`` (tf.distribute's
shape); a custom loop uses ``all_reduce``, ``broadcast``, ``rank`` and ``size`` directly.
"""

from __future__ import annotations

import contextlib
from contextvars import ContextVar

import numpy as np

from .. import autodiff, ops
from ..callbacks import Callback
from ..nest import flatten, map_structure
from ..ops import collective
from ..ops import random as random_ops
from ..tensor import Tensor
from .comm import Group, abort_on_uncaught_error, launched, world
from .overlap import Overlap

_current: ContextVar = ContextVar("tape_distribute_strategy", default=None)


def get_strategy():
    """The strategy of the innermost ``scope()``, or None outside every scope (TF returns a
    default strategy object there instead)."""
    return _current.get()


class DataParallel:
    """Data-parallel training over the processes of ``mpiexec -n N python train.py``.

    Rank and size come from the MPI launch; in a plain ``python`` run it is a strategy of
    one process: nothing is exchanged and mpi4py is not imported. On creation the ranks
    agree on ``tape.random``'s seed (so unseeded initializers and shuffles agree), while
    dropout draws differ per rank.

    Args:
        bucket_bytes: Gradients are flattened into buckets of about this many bytes, last
            layer first, and reduced with one collective per bucket (PyTorch DDP's default,
            25 MiB); in ``fit`` a bucket leaves as soon as the backward walk has produced
            all its gradients.
        timeout: Seconds an MPI collective waits for the other ranks before it prints a
            ``DistributedError`` and aborts the launch (default ``TAPE_DISTRIBUTE_TIMEOUT``
            or 300).

    Example:
        >>> import tape
        >>> strategy = tape.distribute.DataParallel()
        >>> with strategy.scope():
        ...     model = tape.models.Sequential([tape.layers.Dense(1)])
        ...     model.compile("sgd", "mse")
        >>> strategy.rank, strategy.size   # under `mpiexec -n 2`: (0, 2) and (1, 2)
        (0, 1)
    """

    def __init__(self, bucket_bytes: int = 25 << 20, timeout: float | None = None, *,
                 _group: Group | None = None):
        if _group is None and launched():
            comm = world()
            _group = Group(comm, timeout) if comm.Get_size() > 1 else None
        self._group = _group
        self.bucket_bytes = int(bucket_bytes)
        self._plans: dict = {}  # the variables of an overlapped step -> its buckets
        if _group is not None and _group.comm is not None:
            abort_on_uncaught_error(_group.comm)
            seed = _group.broadcast(np.array([random_ops._global["seed"]], np.int64))
            random_ops.seed(int(seed[0]))
            random_ops.set_replica(_group.rank)

    @property
    def rank(self) -> int:
        """This process's index, 0 to ``size - 1`` (rank 0 writes files and the log)."""
        return 0 if self._group is None else self._group.rank

    @property
    def size(self) -> int:
        """How many processes train together (``num_replicas_in_sync`` in TF)."""
        return 1 if self._group is None else self._group.size

    num_replicas_in_sync = size

    @contextlib.contextmanager
    def scope(self):
        """Inside it, ``compile`` makes a model train data-parallel in ``fit``."""
        token = _current.set(self)
        try:
            yield self
        finally:
            _current.reset(token)

    # ---- the collectives ------------------------------------------------------------------
    def all_reduce(self, values, reduce: str = "mean", weight=None):
        """``values`` (a tensor or a list/tuple/dict of them; None entries stay None)
        reduced over the ranks: ``"mean"`` (default) or ``"sum"``. With ``weight`` (this
        rank's batch rows), the mean is weighted by it, which is exact when shards differ
        in size. Flattened into buckets, one collective each; inside ``tape.trace`` each is
        two graph nodes (its start and its wait), run at every replay.

        Example:
            >>> import tape
            >>> strategy = tape.distribute.DataParallel()
            >>> strategy.all_reduce([tape.ones((2,))])[0].numpy().tolist()
            [1.0, 1.0]
        """
        if reduce != "mean" and reduce != "sum":
            raise ValueError(f"all_reduce: reduce must be 'mean' or 'sum', got {reduce!r}")
        if self._group is None:
            return values
        leaves = [t for t in flatten(values) if t is not None]
        if not all(isinstance(t, Tensor) for t in leaves):
            raise TypeError("all_reduce: takes tensors (or None); got "
                            f"{sorted({type(t).__name__ for t in leaves})}")
        overlap = autodiff.gradient_ready.get()
        if isinstance(overlap, Overlap) and overlap.strategy is self:
            reduced = overlap.finish(values, leaves, reduce, weight)
            if reduced is not None:
                return reduced
        # Every call (a traced step: at its tracing only), so that all ranks take part alike.
        self._group.check_agree("all_reduce: the tensors (shapes, dtypes)",
                                [[list(t.shape), str(t.dtype)] for t in leaves])
        reduced = {}
        last_first = leaves[::-1]
        for indices in self._buckets(last_first):
            bucket = [last_first[i] for i in indices]
            started = self._start_bucket(bucket, weight)
            for t, r in zip(bucket, self._finish_bucket(bucket, started, reduce, weight)):
                reduced[id(t)] = r
        return map_structure(lambda t: None if t is None else reduced[id(t)], values)

    def _buckets(self, leaves) -> list[list[int]]:
        """Runs of consecutive tensors (as indices into ``leaves``) of one device and dtype,
        up to ``bucket_bytes`` each. Callers pass the gradients last layer first, the order
        the backward walk finishes them in (DDP's), so that in an overlapped step the first
        bucket can leave first."""
        buckets, current, size, kind = [], [], 0, None
        for i, t in enumerate(leaves):
            nbytes = t.size * t.dtype.itemsize
            if current and ((t.device, t.dtype) != kind or size + nbytes > self.bucket_bytes):
                buckets.append(current)
                current, size = [], 0
            current.append(i)
            size += nbytes
            kind = (t.device, t.dtype)
        return buckets + [current] if current else buckets

    def _plan(self, variables: list) -> list[list[int]]:
        """The buckets of ``variables``' gradients (indices into ``variables``, last first),
        made once per list of variables, after checking that every rank has the same."""
        key = (self.bucket_bytes, *(v._id for v in variables))  # a Variable keeps its shape
        plan = self._plans.get(key)
        if plan is None:
            self._group.check_agree("all_reduce: the variables (shapes, dtypes)",
                                    [[list(v.shape), str(v.dtype)] for v in variables])
            n = len(variables)
            plan = [[n - 1 - i for i in bucket] for bucket in self._buckets(variables[::-1])]
            if len(self._plans) >= 8:  # a few models at a time
                self._plans.clear()
            self._plans[key] = plan
        return plan

    def _start_bucket(self, bucket, weight):
        """Start the all-reduce of ``bucket``'s tensors, flattened into one array (times
        ``weight``, with ``weight`` itself appended, when given); returns what
        ``_finish_bucket`` takes."""
        parts = [ops.reshape(t, (-1,)) for t in bucket]
        if weight is not None:  # the weights' sum travels in the same call, as one more value
            parts.append(ops.convert(np.ones(1, bucket[0].dtype), like=bucket[0]))
        flat = parts[0] if len(parts) == 1 else ops.concatenate(parts)
        if weight is not None:
            flat = ops.multiply(flat, float(weight))
        return collective.all_reduce_start(flat, group=self._group)

    def _finish_bucket(self, bucket, started, reduce, weight) -> list:
        """The reduced values of ``bucket``'s tensors, once its all-reduce has arrived."""
        total = collective.all_reduce_wait(started, group=self._group)
        if weight is not None:
            n = total.shape[0] - 1
            total = ops.divide(total[:n], total[n:])
        elif reduce == "mean":
            total = ops.multiply(total, 1.0 / self.size)
        out, start = [], 0
        for t in bucket:
            out.append(ops.reshape(total[start:start + t.size], t.shape))
            start += t.size
        return out

    def _overlapping(self, variables, weight):
        """Within it, the next backward walk whose sources are ``variables`` starts each
        bucket's all-reduce as soon as the walk has finished its gradients, and
        ``all_reduce(those gradients, weight=weight)`` waits for them (what ``fit`` uses)."""
        if self._group is None:
            return contextlib.nullcontext()
        return Overlap(self, variables, weight).installed()

    def broadcast(self, variables, root: int = 0) -> None:
        """Give every rank ``root``'s values of ``variables`` (Variables: a model's
        ``weights``, an optimizer's ``variables``), after checking that all ranks hold the
        same shapes and dtypes. One collective per dtype.

        Example:
            >>> import tape
            >>> w = tape.Variable(tape.ones((2,)))
            >>> tape.distribute.DataParallel().broadcast([w])
        """
        variables = flatten(variables)
        if self._group is None or not variables:
            return
        self._group.check_agree("broadcast: the variables (shapes, dtypes)",
                                [[list(v.shape), str(v.dtype)] for v in variables])
        for dtype in sorted({str(v.dtype) for v in variables}):
            group = [v for v in variables if str(v.dtype) == dtype]
            flat = np.concatenate([np.asarray(v.numpy()).reshape(-1) for v in group])
            flat = self._group.broadcast(flat, root)
            start = 0
            for v in group:
                v.assign(flat[start:start + v.size].reshape(v.shape))
                start += v.size

    # ---- fit (called by training.Trainer when compiled inside scope()) ---------------------
    def _fit_data(self, model, data):
        """Build the model if needed, give every rank rank 0's weights and optimizer state,
        and hand out this rank's shard of each global batch."""
        if self._group is None:
            return data
        size = getattr(data, "size", None)
        if size is not None and size < self.size:
            raise ValueError(f"fit: the dataset has {size} samples for {self.size} ranks; "
                             "every rank needs at least one sample of each batch")
        self._group.check_agree("fit: the data (samples, batches per epoch)",
                                [size, data.num_batches])

        def same_start(x):
            if not model.built:  # on its first rows, before any step
                model(map_structure(lambda t: t[:1], x), training=False)
            self.broadcast(list(model.weights) + list(model.optimizer.variables))

        return _Shards(data, self.rank, self.size, same_start)

    def _fit_callbacks(self, model, callback_list) -> None:
        """Metrics and logs of the global batch on every rank; the same stop decision on
        every rank; callbacks that write or print (``chief_only``) on rank 0 only."""
        if self._group is None:
            return
        kept = [cb for cb in callback_list.callbacks
                if self.rank == 0 or not getattr(cb, "chief_only", False)]
        first, last = _GlobalLogs(self), _AgreeOnStop(self)
        first.set_model(model)
        last.set_model(model)
        callback_list.callbacks = [first, *kept, last]

    def _global_metrics(self, model) -> dict:
        """``model``'s metric results over the global batch: every metric's state variables
        summed over the ranks (Keras' metric states are sums), read, then put back."""
        saved = model._metric_states()
        flat = np.concatenate([s.astype(np.float64).reshape(-1) for m in saved for s in m]
                              + [np.zeros(0)])
        flat = self._group.all_reduce(flat)
        start = 0
        for metric in model.metrics:
            for v in metric.variables:
                v.assign(flat[start:start + v.size].reshape(v.shape).astype(v.dtype))
                start += v.size
        logs = {k: _python_number(v) for k, v in model.get_metrics_result().items()}
        model._restore_metric_states(saved)
        return logs

    def _any(self, flag: bool) -> bool:
        """True on every rank when ``flag`` is true on any rank."""
        if self._group is None:
            return bool(flag)
        return bool(self._group.all_reduce(np.array([float(bool(flag))]))[0] > 0)


class _Shards:
    """A ``DataAdapter`` whose batches are this rank's rows of each global batch (rank r
    of n takes rows ``r*b//n`` to ``(r+1)*b//n`` of a batch of b rows). ``start(x)`` runs
    once, on the first batch's inputs, before it is handed out (no batch is read twice: a
    generator's batches come once)."""

    def __init__(self, data, rank: int, size: int, start):
        self._data, self._rank, self._size = data, rank, size
        self._start = start

    def __getattr__(self, name):
        return getattr(self._data, name)

    def epoch(self):
        for step, batch in enumerate(self._data.epoch()):
            if self._start is not None:
                self._start(batch[0])
                self._start = None
            rows = len(flatten(batch[0])[0])
            if rows < self._size:
                raise ValueError(
                    f"fit: batch {step} has {rows} samples for {self._size} ranks; every rank "
                    "needs at least one (choose batch_size and the data size so that the last "
                    "batch has at least one sample per rank)")
            start, stop = self._rank * rows // self._size, (self._rank + 1) * rows // self._size
            yield map_structure(lambda t, a=start, b=stop: None if t is None else t[a:b], batch)


class _GlobalLogs(Callback):
    """First callback: replaces each batch's logs (in place, so the progress bar, History
    and the rest see them) with the metrics of the global batch."""

    def __init__(self, strategy: DataParallel):
        super().__init__()
        self.strategy = strategy

    def on_train_batch_end(self, batch, logs=None):
        if logs is not None:
            logs.update(self.strategy._global_metrics(self.model))


class _AgreeOnStop(Callback):
    """Last callback: ``stop_training`` becomes true on every rank when it is on any."""

    def __init__(self, strategy: DataParallel):
        super().__init__()
        self.strategy = strategy

    def on_train_batch_end(self, batch, logs=None):
        self.model.stop_training = self.strategy._any(self.model.stop_training)

    on_epoch_end = on_train_batch_end


def _python_number(value):
    value = np.asarray(value)
    return float(value) if value.size == 1 else value

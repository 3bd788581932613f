"""Collectives between the processes of an MPI launch: MPI (mpi4py) for host arrays, NCCL
(``cupy.cuda.nccl``) for GPU arrays, its unique id sent over MPI.

Nothing here is home-made transport: a ``Group`` only picks the engine by where the array
lives, watches MPI calls with a time limit (a rank that died makes the others fail with a
message, not hang), and checks that the ranks agree before they exchange data. mpi4py is
imported only when the process was started by an MPI launcher, so a plain ``python`` run
never loads it.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import sys
import threading
import time

import numpy as np

from ..errors import DistributedError, ShapeError, user_line

# What MPI launchers put in each process's environment: MPICH/Hydra and Intel MPI (PMI),
# Open MPI, MVAPICH, and Slurm's srun with PMIx.
_LAUNCH_VARIABLES = ("PMI_SIZE", "OMPI_COMM_WORLD_SIZE", "MV2_COMM_WORLD_SIZE", "PMIX_RANK")
DEFAULT_TIMEOUT = 300.0  # seconds; TAPE_DISTRIBUTE_TIMEOUT overrides it
_KEPT_BYTES = 256 << 20  # reduction buffers kept between calls, at most (one is always kept)


def launched() -> bool:
    """Whether this process was started by an MPI launcher (``mpiexec -n N``)."""
    return any(name in os.environ for name in _LAUNCH_VARIABLES)


def world():
    """``MPI.COMM_WORLD`` (imports mpi4py, which starts MPI), with a clear error when the
    ``distribute`` extra is missing."""
    try:
        from mpi4py import MPI
    except ImportError as error:
        raise DistributedError(
            "tape.distribute: this process was started by an MPI launcher but mpi4py is not "
            "installed; pip install 'tape[distribute]' (mpi4py and the mpich wheel)") from error
    return MPI.COMM_WORLD


class Group:
    """The ranks of one communicator: ``all_reduce`` (a sum) and ``broadcast`` of one
    array, on MPI for NumPy arrays and on NCCL for CuPy arrays. An MPI call that waits more
    than ``timeout`` seconds for the other ranks aborts the launch with a message (NCCL
    calls are queued on the GPU's stream and not watched). ``comm`` None is a group of one
    process (what the NCCL path is tested with on one GPU)."""

    def __init__(self, comm=None, timeout: float | None = None):
        self.comm = comm
        self.rank = 0 if comm is None else comm.Get_rank()
        self.size = 1 if comm is None else comm.Get_size()
        if timeout is None:
            timeout = float(os.environ.get("TAPE_DISTRIBUTE_TIMEOUT", DEFAULT_TIMEOUT))
        self.timeout = timeout
        self._nccl = None
        # Collectives run (all_reduce and broadcast) and the seconds spent in them, waiting
        # for the other ranks included: for tests and benchmarks.
        self.calls = 0
        self.seconds = 0.0
        self._watchdog = None  # started at the first blocking MPI call
        self._buffers: dict = {}  # (size, dtype) -> kept reduction buffers, in use order
        self._in_flight: dict = {}  # id(buffer) -> (MPI request, buffer, shape)

    # ---- one array ----------------------------------------------------------------------
    def all_reduce(self, array):
        """The elementwise sum of ``array`` over the ranks, as a new array."""
        return self.all_reduce_wait(self.all_reduce_start(array))

    def all_reduce_start(self, array):
        """Start the sum of ``array`` over the ranks and return at once: the result is the
        array the sum arrives in, to hand to ``all_reduce_wait`` (read it only from there).
        MPI: a nonblocking ``Iallreduce`` into a kept buffer; NCCL: queued on the current
        CuPy stream (the stream orders it before whatever reads the sum)."""
        start = time.perf_counter()
        self.calls += 1
        if type(array) is not np.ndarray:
            out = self._nccl_all_reduce(array)
        else:
            out, request = self._buffer(array.size, array.dtype), None
            np.copyto(out, array.reshape(-1))
            if self.comm is not None:
                from mpi4py import MPI

                request = self.comm.Iallreduce(MPI.IN_PLACE, out)
            self._in_flight[id(out)] = (request, out, array.shape)
        self.seconds += time.perf_counter() - start
        return out

    def all_reduce_wait(self, started):
        """The finished sum that ``all_reduce_start`` returned ``started`` for, as a new
        array of the shape given to it (on MPI: waits, under the time limit)."""
        if type(started) is not np.ndarray:
            return started  # NCCL: already ordered on the stream
        begin = time.perf_counter()
        if id(started) not in self._in_flight:
            raise DistributedError("all_reduce_wait: this array is no all-reduce in flight "
                                   f"(of {started.size} {started.dtype} values) [at "
                                   f"{user_line()}]")
        request, buffer, shape = self._in_flight.pop(id(started))
        if request is not None:
            with self._watched(f"all_reduce of {buffer.size} {buffer.dtype} values"):
                request.Wait()
        out = buffer.reshape(shape).copy()
        self._release(buffer)
        self.seconds += time.perf_counter() - begin
        return out

    def progress(self) -> None:
        """Let MPI move the sums in flight along (MPICH progresses a nonblocking collective
        only inside MPI calls): one ``Testall``, called as each gradient becomes final."""
        requests = [request for request, _, _ in self._in_flight.values() if request]
        if requests:
            from mpi4py import MPI

            MPI.Request.Testall(requests)

    def _buffer(self, size: int, dtype) -> np.ndarray:
        """A buffer kept for reductions of ``size`` values of ``dtype`` (given back by
        ``_release``): MPICH over UCX registers each new buffer address, which made a 4.4 MB
        all-reduce into a new array 2-3x as slow as into a kept one here (``python -m
        benchmarks.distributed --transport``); two copies cost less. Sums in flight at the
        same time each get their own."""
        free = self._buffers.pop((size, np.dtype(dtype)), None)
        buffer = free.pop() if free else np.empty(size, dtype)
        if free:
            self._buffers[(size, np.dtype(dtype))] = free
        return buffer

    def _release(self, buffer: np.ndarray) -> None:
        """Keep ``buffer`` for the next reduction of its size and dtype (most recent last;
        past ``_KEPT_BYTES`` the least recently used go)."""
        key = (buffer.size, buffer.dtype)
        self._buffers[key] = [*self._buffers.pop(key, []), buffer]
        kept = sum(b.nbytes for free in self._buffers.values() for b in free)
        while len(self._buffers) > 1 and kept > _KEPT_BYTES:
            kept -= sum(b.nbytes for b in self._buffers.pop(next(iter(self._buffers))))

    def broadcast(self, array, root: int = 0):
        """``root``'s ``array`` on every rank (a new array of the same shape and dtype)."""
        self.calls += 1
        if type(array) is not np.ndarray:
            return self._nccl_broadcast(array, root)
        out = np.array(array, order="C", copy=True)
        if self.comm is not None:
            with self._watched(f"broadcast of {out.size} {out.dtype} values"):
                self.comm.Bcast(out, root=root)
        return out

    # ---- agreement ----------------------------------------------------------------------
    def allgather_json(self, value) -> list:
        """Every rank's ``value`` (JSON-able), in rank order: sent as JSON bytes, so nothing
        received is ever unpickled."""
        if self.comm is None:
            return [value]
        from mpi4py import MPI

        data = np.frombuffer(json.dumps(value).encode(), dtype=np.uint8)
        counts = np.empty(self.size, dtype=np.int64)
        offsets = np.zeros(self.size, dtype=np.int64)
        with self._watched("allgather of the ranks' descriptions"):
            self.comm.Allgather(np.array([data.size], dtype=np.int64), counts)
            offsets[1:] = np.cumsum(counts)[:-1]
            out = np.empty(int(counts.sum()), dtype=np.uint8)
            self.comm.Allgatherv(data, [out, (counts.tolist(), offsets.tolist()), MPI.BYTE])
        return [json.loads(out[a:a + n].tobytes()) for a, n in zip(offsets, counts)]

    def check_agree(self, what: str, value) -> None:
        """Raise ShapeError on every rank (not a hang in the next collective) when the
        ranks' ``value`` (JSON-able) differ, naming rank 0's and the first differing rank's.
        One small all-reduce of a digest; the values themselves travel only on a mismatch."""
        if self.comm is None:
            return
        from mpi4py import MPI

        digest = int.from_bytes(hashlib.sha256(json.dumps(value).encode()).digest()[:7], "big")
        extremes = np.empty(2, dtype=np.int64)
        with self._watched(f"agreement on {what}"):
            self.comm.Allreduce(np.array([digest, -digest], np.int64), extremes, op=MPI.MIN)
        if extremes[0] == -extremes[1]:  # the smallest digest is also the largest
            return
        values = self.allgather_json(value)
        for rank, other in enumerate(values):
            if other != values[0]:
                mine, theirs = _first_difference(values[0], other)
                raise ShapeError(
                    f"{what} differ between ranks: rank 0 has {mine}, rank {rank} has "
                    f"{theirs} (every rank must build the same model and run the same "
                    f"steps) [at {user_line()}]")

    # ---- NCCL, for arrays on a GPU --------------------------------------------------------
    def _nccl_comm(self):
        if self._nccl is None:
            from cupy.cuda import nccl

            uid = np.array(nccl.get_unique_id() if self.rank == 0 else [0] * 128, np.int64)
            if self.comm is not None:  # rank 0's id reaches the others over MPI
                uid = self.broadcast(uid)
            self._nccl = nccl.NcclCommunicator(self.size, tuple(int(c) for c in uid),
                                               self.rank)
        return self._nccl

    def _nccl_all_reduce(self, array):
        import cupy
        from cupy.cuda import nccl

        array = cupy.ascontiguousarray(array)
        out = cupy.empty_like(array)
        self._nccl_comm().allReduce(array.data.ptr, out.data.ptr, array.size,
                                    _nccl_dtype(array.dtype), nccl.NCCL_SUM,
                                    cupy.cuda.get_current_stream().ptr)
        return out

    def _nccl_broadcast(self, array, root: int):
        import cupy

        out = cupy.array(array, order="C", copy=True)
        self._nccl_comm().bcast(out.data.ptr, out.size, _nccl_dtype(out.dtype), root,
                                cupy.cuda.get_current_stream().ptr)
        return out


    # ---- the time limit -------------------------------------------------------------------
    @contextlib.contextmanager
    def _watched(self, what: str):
        """Run a blocking MPI call (or the ``Wait`` of a nonblocking one) under the
        watchdog: past ``timeout`` it prints why and aborts every rank. Waiting in MPI was
        no slower than a blocking call, and polling from Python was (with pauses it made a
        small all-reduce take milliseconds: ``python -m benchmarks.distributed
        --transport``), but no wait can be abandoned, so the time limit ends the launch, as
        PyTorch's NCCL watchdog does."""
        if self._watchdog is None:
            self._watchdog = _Watchdog(self)
        self._watchdog.arm(what)
        try:
            yield
        finally:
            self._watchdog.disarm()


class _Watchdog:
    """A daemon thread that checks, a few times a second, whether the collective now
    running has passed its deadline; then it prints a DistributedError naming the rank, the
    collective and the user's line in the main thread, and calls ``MPI_Abort``."""

    def __init__(self, group: Group):
        self.group = group
        self.deadline = None
        self.what = ""
        self.main = threading.main_thread().ident
        threading.Thread(target=self._run, name="tape-distribute-watchdog", daemon=True).start()

    def arm(self, what: str) -> None:
        self.what = what
        self.deadline = time.monotonic() + self.group.timeout

    def disarm(self) -> None:
        self.deadline = None

    def _run(self) -> None:
        group = self.group
        while True:
            time.sleep(min(0.25, group.timeout / 4))
            deadline = self.deadline
            if deadline is None or time.monotonic() < deadline:
                continue
            frame = sys._current_frames().get(self.main)  # where the main thread waits
            error = DistributedError(
                f"rank {group.rank} of {group.size}: {self.what} waited {group.timeout:g} s "
                "for the other ranks; one of them has died, hangs, or runs a different "
                "program. Aborting every rank (change the limit with "
                "DataParallel(timeout=...) or TAPE_DISTRIBUTE_TIMEOUT) "
                f"[at {user_line(frame=frame) if frame is not None else '<unknown>'}]")
            print(f"{type(error).__module__}.{type(error).__name__}: {error}", file=sys.stderr,
                  flush=True)
            _abort(group.comm)


def _nccl_dtype(dtype) -> int:
    from cupy.cuda import nccl

    names = {"float16": "NCCL_FLOAT16", "float32": "NCCL_FLOAT32", "float64": "NCCL_FLOAT64",
             "int32": "NCCL_INT32", "int64": "NCCL_INT64", "uint8": "NCCL_UINT8"}
    name = names.get(str(dtype))
    if name is None:
        raise DistributedError(f"tape.distribute: NCCL cannot reduce {dtype} arrays; "
                               f"supported: {sorted(names)}")
    return getattr(nccl, name)


def _first_difference(a, b):
    """The first differing items of two equal-length lists (the whole values otherwise)."""
    if isinstance(a, list) and isinstance(b, list) and len(a) == len(b):
        for i, (x, y) in enumerate(zip(a, b)):
            if x != y:
                return f"item {i}: {x}", f"{y}"
    return a, b


def abort_on_uncaught_error(comm) -> None:
    """After an uncaught exception is printed, abort every rank (as ``python -m mpi4py``
    does), so that the others stop at once instead of waiting in their next collective."""
    previous = sys.excepthook
    if getattr(previous, "aborts_mpi", False):
        return

    def hook(kind, value, traceback):
        previous(kind, value, traceback)
        _abort(comm)

    hook.aborts_mpi = True
    sys.excepthook = hook


def _abort(comm) -> None:
    """``MPI_Abort`` once what this process printed has had time to reach the launcher:
    aborting at once lost the message in 2 of 10 runs here (the launcher's forwarding of
    the output is torn down with the process)."""
    sys.stdout.flush()
    sys.stderr.flush()
    time.sleep(0.5)
    comm.Abort(1)

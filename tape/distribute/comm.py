"""Collectives between the processes of an MPI launch: MPI (mpi4py) for host arrays, NCCL
(``cupy.cuda.nccl``) for GPU arrays, its unique id sent over MPI.

Nothing here is home-made transport: a ``Group`` only picks the engine by where the array
lives, waits with a time limit (a rank that died makes the others fail with a message, not
hang), and checks that the ranks agree before they exchange data. mpi4py is imported only
when the process was started by an MPI launcher, so a plain ``python`` run never loads it.
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
import time

import numpy as np

from ..errors import DistributedError, ShapeError, user_line

# What MPI launchers put in each process's environment: MPICH/Hydra and Intel MPI (PMI),
# Open MPI, MVAPICH, and Slurm's srun with PMIx.
_LAUNCH_VARIABLES = ("PMI_SIZE", "OMPI_COMM_WORLD_SIZE", "MV2_COMM_WORLD_SIZE", "PMIX_RANK")
DEFAULT_TIMEOUT = 300.0  # seconds; TAPE_DISTRIBUTE_TIMEOUT overrides it


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
    array, on MPI for NumPy arrays and on NCCL for CuPy arrays, each waiting at most
    ``timeout`` seconds (MPI only: a NCCL call cannot be abandoned once queued). ``comm``
    None is a group of one process (what the NCCL path is tested with on one GPU)."""

    def __init__(self, comm=None, timeout: float | None = None):
        self.comm = comm
        self.rank = 0 if comm is None else comm.Get_rank()
        self.size = 1 if comm is None else comm.Get_size()
        if timeout is None:
            timeout = float(os.environ.get("TAPE_DISTRIBUTE_TIMEOUT", DEFAULT_TIMEOUT))
        self.timeout = timeout
        self._nccl = None
        self.calls = 0  # collectives run (all_reduce and broadcast), for tests and benchmarks

    # ---- one array ----------------------------------------------------------------------
    def all_reduce(self, array):
        """The elementwise sum of ``array`` over the ranks, as a new array."""
        self.calls += 1
        if type(array) is not np.ndarray:
            return self._nccl_all_reduce(array)
        array = np.ascontiguousarray(array)
        out = np.empty_like(array)
        if self.comm is None:
            out[...] = array
            return out
        self._wait(self.comm.Iallreduce(array, out), f"all_reduce of {array.size} "
                   f"{array.dtype} values")
        return out

    def broadcast(self, array, root: int = 0):
        """``root``'s ``array`` on every rank (a new array of the same shape and dtype)."""
        self.calls += 1
        if type(array) is not np.ndarray:
            return self._nccl_broadcast(array, root)
        out = np.array(array, order="C", copy=True)
        if self.comm is not None:
            self._wait(self.comm.Ibcast(out, root=root),
                       f"broadcast of {out.size} {out.dtype} values")
        return out

    def _wait(self, request, what: str) -> None:
        """Poll ``request`` until done or ``timeout`` passes (MPI's blocking calls would wait
        for a dead rank forever); the pauses grow to 1 ms, so a quick collective is not
        slowed."""
        if request.Test():
            return
        deadline = time.monotonic() + self.timeout
        pause = 1e-5
        while not request.Test():
            if time.monotonic() > deadline:
                raise DistributedError(
                    f"rank {self.rank} of {self.size}: {what} waited {self.timeout:g} s for "
                    "the other ranks; one of them has died, hangs, or runs a different "
                    "program (a rank that raised an error stops taking part). Change the "
                    "limit with DataParallel(timeout=...) or TAPE_DISTRIBUTE_TIMEOUT "
                    f"[at {user_line()}]")
            time.sleep(pause)
            pause = min(2 * pause, 1e-3)

    # ---- agreement ----------------------------------------------------------------------
    def allgather_json(self, value) -> list:
        """Every rank's ``value`` (JSON-able), in rank order: sent as JSON bytes, so nothing
        received is ever unpickled."""
        if self.comm is None:
            return [value]
        from mpi4py import MPI

        data = np.frombuffer(json.dumps(value).encode(), dtype=np.uint8)
        counts = np.empty(self.size, dtype=np.int64)
        self._wait(self.comm.Iallgather(np.array([data.size], dtype=np.int64), counts),
                   "allgather of the ranks' descriptions")
        out = np.empty(int(counts.sum()), dtype=np.uint8)
        offsets = np.concatenate([[0], np.cumsum(counts)[:-1]])
        self._wait(self.comm.Iallgatherv(data, [out, (counts.tolist(), offsets.tolist()),
                                                MPI.BYTE]),
                   "allgather of the ranks' descriptions")
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
        self._wait(self.comm.Iallreduce(np.array([digest, -digest], np.int64), extremes,
                                        op=MPI.MIN), f"agreement on {what}")
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
        sys.stderr.flush()
        comm.Abort(1)

    hook.aborts_mpi = True
    sys.excepthook = hook

"""CUDA-graph replay: on the GPU, a traced function's replay is captured once per input
signature into a CUDA graph, and later calls launch that graph: one launch in place of a
Python line and a kernel launch per op.

The first call with a signature runs the replay as it always runs (that call's result,
its errors the user's), on a side stream in a private memory pool, which it warms; then
the replay's capture variant (``replay.generate_source(for_capture=True)``) is captured on
that stream, from that pool: every array the graph touches keeps its address. A launch
copies the arguments into the graph's static input arrays, launches it on the current
stream, and returns copies of its outputs. Variables are written in place; one assigned
outside the graph (or by a replay without it) is copied into the graph's array before the
next launch. Random keys live in the graph's ``KEYS`` array, advanced on the device by
``DELTAS`` at the start of each launch; the host runs each key's counter as the plain
replay would (``Op.host_key``) and copies new deltas only when the pattern changes (never
in a steady loop).

Where a graph is impossible (a value read on the host, a random op that draws on the
host, a GEMM tape.cublas cannot do, out of memory in the capture), the signature replays
as before and ``TracedFunction.explain()`` says why. ``TAPE_CUDA_GRAPHS=0`` turns graphs
off. Nothing here runs on NumPy.

Example:
    >>> from tape.trace import cuda_graph
    >>> isinstance(cuda_graph.enabled(), bool)
    True
"""

from __future__ import annotations

import collections
import contextlib
import os
import sys
import threading
import weakref

import numpy as np

from .. import _state
from .replay import failing_line, random_key_nodes


def enabled() -> bool:
    """Whether traced replays on the GPU use CUDA graphs (``TAPE_CUDA_GRAPHS=0``: no)."""
    return os.environ.get("TAPE_CUDA_GRAPHS", "1") != "0"


class Fallback:
    """A signature whose replay runs without a graph, and why."""

    def __init__(self, reason: str):
        self.reason = reason


# Each captured signature keeps its own memory (a private pool holding every array of its
# step): past this many per traced function (a sequence length that varies), new
# signatures replay without a graph rather than fill the GPU.
MAX_GRAPHS = 8
_SIDE_STREAMS: dict = {}  # device id -> the non-blocking stream captures run on
# id(array) -> how many captured graphs hold that Variable array (a train and a test graph
# share their weights): references that say nothing about a tensor holding it elsewhere.
_GRAPH_HOLDS: collections.Counter = collections.Counter()


def _release(ids: list) -> None:
    _GRAPH_HOLDS.subtract(ids)
    for key in ids:
        if _GRAPH_HOLDS[key] <= 0:
            del _GRAPH_HOLDS[key]


def _side_stream(xp, device: int):
    """The stream every capture on ``device`` runs on (one cuBLAS handle and workspace for
    all of them: graphs launch one after another on the current stream)."""
    stream = _SIDE_STREAMS.get(device)
    if stream is None:
        stream = _SIDE_STREAMS[device] = xp.cuda.Stream(non_blocking=True)
    return stream


class CudaGraphs:
    """The CUDA graphs of one Replay, one per (shapes, dtypes, device) of its arguments."""

    def __init__(self, replay):
        self.replay = replay
        self.entries: dict = {}  # signature -> Captured | Fallback
        self.last = None
        self._lock = threading.Lock()  # the graphs' arrays are shared between calls

    def __call__(self, arrays: list, xp) -> list:
        """The replay's outputs for ``arrays`` on CuPy (``xp``): a graph's launch, or the
        replay without a graph where none can be captured."""
        with self._lock:
            return self._call(arrays, xp)

    def _call(self, arrays, xp):
        device = next((a.device.id for a in arrays if type(a) is not np.ndarray), None)
        if device is None:
            device = _state_device(self.replay.graph, xp)
        key = (device, *((a.shape, a.dtype.str) for a in arrays))
        entry = self.entries.get(key)
        if entry is None and sum(type(e) is Captured for e in self.entries.values()) \
                >= MAX_GRAPHS:
            entry = self.entries[key] = Fallback(
                f"{MAX_GRAPHS} signatures already have a graph, each holding its own GPU "
                f"memory (this one: {', '.join(str(s) for s, _ in key[1:])})")
        if entry is None:
            entry, results = self._capture(arrays, xp, device)
            self.entries[key] = self.last = entry
            return results
        self.last = entry
        if type(entry) is Fallback:
            return self.replay.call(xp, arrays)
        with xp.cuda.Device(device):  # the graph's device, whatever the current one is
            return entry.launch(arrays, lambda fed: self.replay.call(xp, fed))

    def _capture(self, arrays, xp, device):
        """(Captured or Fallback, this call's outputs): the replay run once as it always
        runs (the call's result; its errors are the user's), then captured."""
        with xp.cuda.Device(device):
            captured = Captured(self.replay, xp, _side_stream(xp, device))
            results = captured.warm_up(arrays)
            try:
                captured.capture()
            except Exception as e:  # noqa: BLE001 - every reason becomes the fallback's
                captured.abandon()
                return Fallback(_reason(self.replay.graph, e)), results
            return captured, results

    def explain(self) -> str:
        """How the last signature replays on the GPU, and why not as a graph if not."""
        if not enabled():
            return "CUDA graphs are off (TAPE_CUDA_GRAPHS=0)"
        if self.last is None:
            return "no replay on the GPU yet"
        if type(self.last) is Fallback:
            return f"replayed without a CUDA graph: {self.last.reason}"
        n = self.last.launches
        return f"replayed as one CUDA graph (launched {n} time{'' if n == 1 else 's'} so far)"


def _state_device(graph, xp) -> int:
    for var in graph.variables.values():
        return var._data.device.id
    return xp.cuda.Device().id


def _reason(graph, error: Exception) -> str:
    node = failing_line(f"<capture of {graph.name}>", graph, error)[0]
    where = f"{node.op.name} (traced at {node.where})" if node is not None else "the replay"
    return f"{where} cannot be captured: {type(error).__name__}: {error}"


class Captured:
    """One signature's graph: its private pool, static inputs and outputs, its keys."""

    def __init__(self, replay, xp, stream):
        self.replay, self.graph, self.xp, self.stream = replay, replay.graph, xp, stream
        self.pool = xp.cuda.MemoryPool()
        self.key_nodes = random_key_nodes(self.graph)
        self.cuda_graph = None
        self.launches = 0
        self.host_keys = None  # the keys of the last launch, as the host counted them

    @contextlib.contextmanager
    def memory(self, capturing: bool = False):
        """The graph's private pool (and in the capture, the GEMMs through tape.cublas)."""
        with self.xp.cuda.using_allocator(self.pool.malloc), \
                _state.using(_state.capturing, capturing):
            yield

    def warm_up(self, arrays: list) -> list:
        """The call's outputs: the plain replay, run on the side stream in the private pool
        (which its allocations warm for the capture); the side stream waits for the current
        one's work and the current one for the warm-up's (CuPy's streams do not order
        themselves)."""
        xp, current = self.xp, self.xp.cuda.get_current_stream()
        with self.memory():
            self.inputs = [xp.empty_like(a) for a in arrays]
            self.keys = xp.zeros((len(self.key_nodes), 2), np.uint64)
            self.deltas = xp.zeros((len(self.key_nodes),), np.uint64)
            self.run = self.replay._compile(xp, for_capture=True)
        self._copy_in(arrays)
        self.stream.wait_event(current.record())
        with self.memory(), self.stream:
            outs = self.replay.call(xp, self.inputs)
        current.wait_event(self.stream.record())
        for var in self._assigned():  # out of the pool, whose blocks the capture needs again
            var._data = var._data.copy()
        return [o.copy() for o in outs]

    def capture(self) -> None:
        with self.stream:
            with contextlib.suppress(Exception):  # its handle made before, not in, the capture
                from .. import cublas
                cublas.prepare()
            self.variables = {vid: var._data for vid, var in self.graph.variables.items()}
            self._load_kernels()
            with self.memory(capturing=True):
                self.stream.begin_capture()
                try:
                    self.outputs = self.run(self.inputs, self.keys, self.deltas)
                except BaseException:
                    self.abandon()  # the capture's first error is the reason, not its end's
                    raise
                self.cuda_graph = self.stream.end_capture()
        held = [id(array) for array in self.variables.values()]
        _GRAPH_HOLDS.update(held)
        weakref.finalize(self, _release, held)

    def _load_kernels(self) -> None:
        """Run once, as no-ops, the kernels only the capture variant launches (its key
        advance, its in-place Variable writes), so none is compiled and loaded during the
        capture (which drivers before CUDA 12.3 refuse)."""
        if self.key_nodes:
            self.keys[:, 1] += self.deltas  # the deltas are 0 until the first launch
        for var in self._assigned():
            self.xp.copyto(var._data, var._data)

    def abandon(self) -> None:
        if self.stream.is_capturing():
            with contextlib.suppress(Exception):
                self.stream.end_capture()

    def _assigned(self) -> list:
        return list({id(var): var for var, _ in self.graph.updates}.values())

    def _next_keys(self) -> np.ndarray:
        """The keys the plain replay would hand out now (advancing the host counters)."""
        keys = np.zeros((len(self.key_nodes), 2), np.uint64)
        for row, node in enumerate(self.key_nodes):
            keys[row] = node.op.host_key(**node.params)
        return keys

    def launch(self, arrays: list, plain) -> list:
        xp = self.xp
        if not self._variables_ready():
            return plain(arrays)  # a Variable's graph array is held elsewhere: no writes
        self._copy_in(arrays)
        if self.key_nodes:
            self._advance_keys()
        self.cuda_graph.launch(xp.cuda.get_current_stream())
        self.launches += 1
        for var in self._assigned():
            var._version += 1
        return [o.copy() for o in self.outputs]

    def _copy_in(self, arrays: list) -> None:
        """The arguments into the graph's input arrays (on the device: no transfer)."""
        for static, a in zip(self.inputs, arrays):
            if type(a) is np.ndarray:
                static.set(a)
            else:
                self.xp.copyto(static, a)

    def _variables_ready(self) -> bool:
        """Whether every Variable holds its graph array, once copied in where it was
        assigned outside the graph; False when a graph array is held by someone else
        (a tensor of the Variable's old value), which the in-place writes would change."""
        for vid, var in self.graph.variables.items():
            array = self.variables[vid]
            # the graphs' references, this loop's name and getrefcount's argument
            own = _GRAPH_HOLDS[id(array)] + 2
            if var._data is not array:
                if sys.getrefcount(array) > own:
                    return False
                self.xp.copyto(array, var._data)
                var._data = array
            elif sys.getrefcount(array) > own + 1:  # and the Variable's
                return False
        return True

    def _advance_keys(self) -> None:
        """Make the graph's advance of ``KEYS`` by ``DELTAS`` give the keys the plain replay
        would: the first launch (or one after a reseed) copies the keys in, and new deltas
        are copied only when the step between launches changes (never in a steady loop)."""
        want = self._next_keys()
        last = self.host_keys
        if last is None or (want[:, 0] != last[:, 0]).any():
            self.keys.set(want)
            step = np.zeros(len(want), np.uint64)
            self.deltas.set(step)
        else:
            step = want[:, 1] - last[:, 1]
            if (step != self.host_deltas).any():
                self.deltas.set(step)
        self.host_keys, self.host_deltas = want, step

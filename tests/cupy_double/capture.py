"""Streams, stream capture and CUDA graphs on the CuPy double, as strict as CUDA.

``cupy.cuda.Stream(non_blocking=True)``, ``begin_capture``/``end_capture`` and the
``cupy.cuda.Graph`` it returns: while a stream captures, the double's work on it (every
function, ufunc, operator, indexing, raw and elementwise kernel, NCCL call, the fake
cuBLAS of cublas_lib.py) is *recorded*, not run, and ``Graph.launch()`` runs the record,
in order, on the arrays it named. Arrays allocated in the capture hold poison (NaN, 0,
False) until a launch fills them, and writes to existing arrays wait for the launch too,
so code that reads a captured step's results without launching its graph gets garbage,
as on a GPU. In a capture these raise CUDARuntimeError and invalidate it (``end_capture``
raises then), as CUDA does:

- a read of a device value on the host (``get``, ``item``, ``float(a)``...), a synchronize;
- a copy of host data to the device (pageable memory: ``asarray`` of NumPy data, ``set``);
- CuPy's own cuBLAS (``matmul``, ``dot``...), as CuPy refuses it while a stream captures;
- work on the legacy (null) stream while a blocking stream captures (an implicit sync);
- an allocation that the current allocator's warm pool cannot serve: the double tracks a
  private ``cupy.cuda.MemoryPool`` made current by ``cupy.cuda.using_allocator(pool.malloc)``
  (blocks freed go back to it and serve later allocations of at most their size on the
  stream that allocated them, as CuPy's pool keeps an arena per stream); under
  the default allocator every allocation in a capture fails. (Stricter than CUDA's relaxed
  mode, which lets cudaMalloc through: a graph must own its memory, as PyTorch's do.)

What it cannot see: timing, and races between streams (the double runs each stream's work
at once, in program order).
"""

from __future__ import annotations

import contextlib
import itertools
import weakref

import numpy as np

CUDARuntimeError = RuntimeError  # replaced by the double's class when it loads this module
_stream_ids = itertools.count(1)
_STREAMS: dict = {}  # ptr -> weak reference to the Stream
_current: list = []  # the stack of `with stream:` (empty: the null stream)
CAPTURING: list = []  # the streams capturing now (checked first, so kept cheap)
ALLOCATORS: list = []  # the stack of using_allocator's allocators (empty: the default)


def _unsupported(what: str) -> str:
    return f"cudaErrorStreamCaptureUnsupported: operation not permitted when stream is " \
           f"capturing ({what})"


class Stream:
    """``cupy.cuda.Stream``: ``with stream:`` makes it current; ``ptr`` is its handle."""

    null: Stream

    def __init__(self, null=False, non_blocking=False, ptds=False):
        self.ptr = 0 if null else next(_stream_ids)
        self.non_blocking = bool(non_blocking)
        self._capture: Capture | None = None
        _STREAMS[self.ptr] = weakref.ref(self)

    def __enter__(self):
        _current.append(self)
        return self

    def __exit__(self, *exc):
        _current.pop()

    def use(self):
        _current[:] = [self]
        return self

    def synchronize(self):
        if self._capture is not None:
            self._capture.fail(_unsupported("Stream.synchronize"))

    def record(self, event=None):
        """An event at this point of the stream (the double runs each stream's work at
        once, so waiting on it orders nothing further)."""
        return event or Event()

    def wait_event(self, event):
        if not isinstance(event, Event):
            raise TypeError(f"Stream.wait_event: an Event, got {type(event).__name__}")

    def is_capturing(self) -> bool:
        return self._capture is not None

    def begin_capture(self, mode=None):
        if self.ptr == 0:
            raise CUDARuntimeError("cudaErrorStreamCaptureUnsupported: a capture may not be "
                                   "initiated on the legacy stream")
        if self._capture is not None:
            raise CUDARuntimeError("cudaErrorIllegalState: the stream is already capturing")
        self._capture = Capture(self)
        CAPTURING.append(self)

    def end_capture(self) -> Graph:
        capture = self._capture
        if capture is None:
            raise CUDARuntimeError("cudaErrorIllegalState: the stream is not capturing")
        self._capture = None
        CAPTURING.remove(self)
        if capture.invalid:
            raise CUDARuntimeError(f"cudaErrorStreamCaptureInvalidated: {capture.invalid}")
        return Graph(capture.steps)

    def __repr__(self):
        return f"<Stream {self.ptr} (CuPy double)>"


Stream.null = Stream(null=True)


class Event:
    """``cupy.cuda.Event``."""

    def __init__(self, block=False, disable_timing=False, interprocess=False):
        pass

    def synchronize(self):
        refuse("Event.synchronize")


def current_stream() -> Stream:
    return _current[-1] if _current else Stream.null


class Graph:
    """``cupy.cuda.Graph``: the recorded work, run in order by each ``launch``."""

    def __init__(self, steps: list):
        self.steps = steps

    def upload(self, stream=None):
        pass

    def launch(self, stream=None):
        on = stream or current_stream()
        if on._capture is not None:
            on._capture.fail(_unsupported("a graph launched into a capture"))
        with np.errstate(all="ignore"):
            for where, run in self.steps:
                try:
                    run()
                except Exception as e:
                    raise CUDARuntimeError(f"graph launch: {where}: {e}") from e


def capturing():
    """The capture that the current stream's work goes to, or None; work on the null
    stream while a blocking stream captures invalidates that capture (an implicit sync)."""
    stream = current_stream()
    if stream._capture is not None:
        return stream._capture
    if stream.ptr == 0:
        for other in CAPTURING:
            if not other.non_blocking:
                other._capture.fail("cudaErrorStreamCaptureImplicit: work on the legacy "
                                    "stream while a blocking stream captures")
    return None


def refuse(what: str) -> None:
    """A host read, synchronize or pageable copy: an error in a capture on this stream."""
    capture = capturing()
    if capture is not None:
        capture.fail(_unsupported(what))


def stream_of(ptr: int) -> Stream:
    ref = _STREAMS.get(int(ptr))
    stream = ref() if ref is not None else None
    if stream is None:
        raise CUDARuntimeError(f"cudaErrorInvalidResourceHandle: no stream {ptr}")
    return stream


def enqueue(where: str, stream_ptr: int, run) -> None:
    """``run`` queued on stream ``stream_ptr``: recorded while it captures, else run now."""
    stream = stream_of(stream_ptr)
    if stream._capture is not None:
        stream._capture.steps.append((where, run))
    else:
        if stream.ptr == 0:
            capturing()  # the implicit sync check
        run()


def _poison(array: np.ndarray) -> None:
    kind = array.dtype.kind
    array[...] = np.nan if kind in "fcV" or array.dtype.name == "bfloat16" else (
        False if kind == "b" else 0)


def _arrays(values) -> list:
    out = []
    for v in values:
        if isinstance(v, np.ndarray):
            out.append(v)
        elif type(v) in (list, tuple):
            out.extend(_arrays(v))
    return out


class Capture:
    """The record of one capture: (where, run) steps, and why it is invalid, if it is."""

    def __init__(self, stream: Stream):
        self.stream, self.steps, self.invalid = stream, [], ""

    def fail(self, message: str):
        self.invalid = self.invalid or message
        raise CUDARuntimeError(message)

    def allocated(self, array: np.ndarray) -> None:
        """A new array in the capture: poisoned until a launch fills it; it must come from
        a tracked private pool (whose accounting ``track`` does)."""
        if not ALLOCATORS or not isinstance(getattr(ALLOCATORS[-1], "__self__", None),
                                            MemoryPool):
            self.fail(_unsupported(f"cudaMalloc of {array.nbytes} bytes under the default "
                                   "allocator: capture with cupy.cuda.using_allocator("
                                   "pool.malloc) of a warm MemoryPool"))
        _poison(array)

    def record(self, where: str, run) -> None:
        self.steps.append((where, run))

    def call(self, where: str, fn, args: tuple, kwargs: dict, mutates: bool = False,
             related: tuple = ()):
        """``fn(*args, **kwargs)`` (NumPy) captured: a call that writes into existing
        arrays is recorded and not run; one that makes new arrays runs now for their
        shapes, its new arrays are poisoned, and the launch fills them again. ``related``:
        arrays ``fn`` reads besides its arguments (a bound method's own), whose views are
        no new arrays."""
        if mutates:
            self.record(where, lambda: fn(*args, **kwargs))
            out = kwargs.get("out")
            return out
        with np.errstate(all="ignore"):
            result = fn(*args, **kwargs)
        results = list(result) if isinstance(result, tuple) else [result]
        results = [np.asarray(r) if isinstance(r, np.generic) else r for r in results]
        inputs = _arrays(args) + _arrays(list(kwargs.values())) + list(related)
        fresh = [k for k, r in enumerate(results) if isinstance(r, np.ndarray) and not any(
            np.may_share_memory(r, a) for a in inputs)]
        for k in fresh:
            self.allocated(results[k])
        if fresh:
            targets = [results[k] for k in fresh]

            def run():
                again = fn(*args, **kwargs)
                again = list(again) if isinstance(again, tuple) else [again]
                for k, target in zip(fresh, targets):
                    np.copyto(target, again[k], casting="unsafe")

            self.record(where, run)
        if isinstance(result, tuple):
            return type(result)(results) if not hasattr(result, "_fields") else \
                type(result)(*results)
        return results[0]


def root_of(array: np.ndarray) -> np.ndarray:
    """The array that owns the memory ``array`` looks into: through views' bases, and
    through the stand-in object ``as_strided`` puts between a view and its base."""
    while True:
        base = array.base
        if isinstance(base, np.ndarray):
            array = base
        elif base is not None and isinstance(getattr(base, "base", None), np.ndarray):
            array = base.base
        else:
            return array


# ---- memory pools ------------------------------------------------------------------------------

BLOCK = 512  # CuPy's pool rounds every allocation up to a multiple of 512 bytes


class MemoryPool:
    """``cupy.cuda.MemoryPool``: tracked while ``using_allocator(pool.malloc)`` is current.
    A block freed (its last array gone) serves a later allocation of at most its size on
    the stream it was allocated on (CuPy's pool keeps one arena per stream); in a capture,
    an allocation no free block of the capturing stream serves fails."""

    def __init__(self, allocator=None):
        self.free: dict[int, list] = {}  # stream ptr -> sizes of its free blocks
        self.blocks: dict[int, list] = {}  # id(root NumPy array) -> [size, holders, stream]
        self.held = 0
        # The memory it served stays valid while it lives (a graph's launch may still use a
        # block whose last array is gone, as on a GPU): kept here, not freed by NumPy.
        self.served: list = []

    def malloc(self, size):
        raise NotImplementedError("the CuPy double allocates through its arrays; pass "
                                  "pool.malloc to cupy.cuda.using_allocator")

    def used_bytes(self) -> int:
        return sum(size for size, _ in self.blocks.values())

    def total_bytes(self) -> int:
        return self.held

    def n_free_blocks(self) -> int:
        return sum(len(sizes) for sizes in self.free.values())

    def free_all_blocks(self, stream=None):
        self.held -= sum(sum(sizes) for sizes in self.free.values())
        self.free.clear()

    def _allocate(self, nbytes: int, capture) -> int:
        size = max(BLOCK, -(-nbytes // BLOCK) * BLOCK)
        free = self.free.setdefault(current_stream().ptr, [])
        fits = [s for s in free if s >= size]
        if fits:
            best = min(fits)
            free.remove(best)
            return best
        if capture is not None:
            capture.fail(_unsupported(f"cudaMalloc of {size} bytes: the capture's pool has "
                                      "no free block that large on this stream (warm it up "
                                      "on the stream that captures)"))
        self.held += size
        return size

    def track(self, wrapper, array: np.ndarray, capture) -> None:
        """Account for ``wrapper`` (a double array over ``array``): a new block for an
        array that owns its memory, one more holder of the block a view looks into."""
        root = root_of(array)
        key = id(root)
        block = self.blocks.get(key)
        if block is None:
            if root is not array or not array.flags.owndata:
                return  # a view of memory from elsewhere (the default pool)
            block = self.blocks[key] = [self._allocate(array.nbytes, capture), 0,
                                        current_stream().ptr]
            self.served.append(root)
        block[1] += 1
        weakref.finalize(wrapper, self._release, key)

    def _release(self, key: int) -> None:
        block = self.blocks[key]
        block[1] -= 1
        if block[1] == 0:
            del self.blocks[key]
            self.free.setdefault(block[2], []).append(block[0])


def track(wrapper, array: np.ndarray) -> None:
    """Called for every array the double makes while an allocator is pushed."""
    pool = getattr(ALLOCATORS[-1], "__self__", None)
    if isinstance(pool, MemoryPool):
        pool.track(wrapper, array, current_stream()._capture)


@contextlib.contextmanager
def using_allocator(allocator=None):
    """``cupy.cuda.using_allocator``: ``allocator`` for the arrays made inside."""
    ALLOCATORS.append(allocator)
    try:
        yield
    finally:
        ALLOCATORS.pop()

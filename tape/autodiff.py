"""GradientTape: a Wengert list of what ran, walked in reverse to compute gradients.

Also custom_gradient, stop_gradient and detect_anomaly (the functional forms, grad and
jacobian, are in tape.transforms).
Ops record themselves through ``record`` (called by ``Op.__call__``); VJPs run as
ordinary tape ops, so an outer tape records the backward pass of an inner one and
higher-order gradients come for free.
"""

from __future__ import annotations

import contextlib
import functools
import warnings
from contextvars import ContextVar

import numpy as np

from . import _state
from . import tensor as _tensor
from .dtypes import is_float
from .errors import GradientError, describe, user_line
from .nest import flatten, unflatten
from .tensor import Tensor, Variable

_ONE_NEEDED = (True,)
_new = object.__new__
_anomaly_mode = _state.anomaly_mode

# Who learns, during a backward walk, when each source's gradient is final: set to a
# callable ``hook(sources)`` that returns None (not this walk) or ``ready(index, gradient)``,
# which the walk then calls once per source, as soon as no entry left to walk reads it.
# ``tape.distribute`` starts a bucket's all-reduce there while the walk goes on (PyTorch
# DDP's overlap). Unset, it costs one lookup per ``gradient()`` call.
gradient_ready: ContextVar = ContextVar("tape_gradient_ready", default=None)


class TapeEntry:
    """One op execution: what a VJP needs (``ctx`` in VJP signatures)."""

    __slots__ = ("op", "inputs", "out", "params", "needs_grad", "where")


def record(tapes, op, inputs, out, params) -> None:
    """Append an entry to every active tape that watches one of ``inputs``.

    Called for every differentiable op while a tape is active, so the entry is built
    inline rather than through ``__init__``. A spent tape watches nothing (see ``_spend``).
    """
    entry = None
    for t in tapes:
        watched = t._watched
        hit = False
        plain = True
        for x in inputs:
            if type(x) is not Tensor:  # a Variable: auto-watched, and saved as a snapshot
                plain = False
                if t._watch_accessed and x._id not in watched and _is_trainable(x):
                    t._watch_variable(x)
            if x._id in watched:
                hit = True
        if hit:
            if entry is None:
                entry = _new(TapeEntry)
                entry.op = op
                entry.inputs = inputs if plain else _saved(inputs)
                entry.out = out
                entry.params = params
                entry.where = user_line() if _anomaly_mode.get() else None
                saves = op.saves
                if len(saves) != 2 and out._data.size >= SHAPE_ONLY_MIN_SIZE:
                    # the VJP needs fewer values: keep shapes of the rest (big arrays only)
                    if "inputs" not in saves:
                        entry.inputs = tuple(map(_shape_only, entry.inputs))
                    if "out" not in saves:
                        entry.out = _shape_only(out)
            t._entries.append(entry)
            dtype = out._data.dtype  # dtypes.is_float, inline: every recorded op asks
            if dtype.kind == "f" or (dtype.kind == "V" and dtype.name == "bfloat16"):
                watched.add(out._id)


# Arrays at least this big are kept as shapes when a VJP does not read them; smaller ones
# are cheaper to keep than to replace.
SHAPE_ONLY_MIN_SIZE = 1 << 14
_zeros: dict = {}


def _shape_only(t):
    """``t`` for a tape entry whose VJP reads only its shape and dtype: under the same
    identity, an array of that shape and dtype that owns one element (a broadcast view),
    so the tape does not keep ``t``'s values alive."""
    data = t._data
    if type(data) is not np.ndarray or data.size < SHAPE_ONLY_MIN_SIZE:
        return t
    zero = _zeros.get(data.dtype)
    if zero is None:
        zero = _zeros[data.dtype] = np.zeros((), data.dtype)
        zero.flags.writeable = False  # so every view of it is read-only too
    # A zero-strided view of one element (what np.broadcast_to makes, 6x cheaper)
    return Tensor._wrap(np.ndarray(data.shape, data.dtype, zero, 0, (0,) * data.ndim), t._id)


def _saved(inputs: tuple) -> tuple:
    """The inputs as a tape keeps them. A Variable is saved as its current value under its
    own identity, so a later assign() cannot change what backward sees."""
    for x in inputs:
        if type(x) is not Tensor:
            return tuple(v._snapshot() if isinstance(v, Variable) else v for v in inputs)
    return inputs


def _is_trainable(x) -> bool:
    if not (isinstance(x, Variable) and x.trainable):
        return False
    dtype = x._data.dtype  # dtypes.is_float, inline: asked for every input of every op
    return dtype.kind == "f" or (dtype.kind == "V" and dtype.name == "bfloat16")


class GradientTape:
    """Records ops on watched tensors so that ``gradient`` can differentiate them.

    Example:
        >>> import tape
        >>> x = tape.tensor(3.0)
        >>> with tape.GradientTape() as g:
        ...     g.watch(x)
        ...     y = x * x
        >>> g.gradient(y, x).item()
        6.0
    """

    def __init__(self, persistent: bool = False, watch_accessed_variables: bool = True):
        self.persistent = persistent
        self.watch_accessed_variables = watch_accessed_variables
        self._watch_accessed = watch_accessed_variables
        self._entries: list | None = []
        self._watched: set = set()  # ids of float tensors that depend on a watched root
        self._roots: set = set()  # ids of the watched tensors themselves
        self._variables: list = []
        self._token = None
        self._used = False

    def __enter__(self) -> GradientTape:
        self._token = _state.active_tapes.set(_state.active_tapes.get() + (self,))
        return self

    def __exit__(self, *exc) -> None:
        tapes = _state.active_tapes.get()
        _state.active_tapes.set(tuple(t for t in tapes if t is not self))
        self._token = None

    def _watch_variable(self, v) -> None:
        self._watched.add(v._id)
        self._roots.add(v._id)
        self._variables.append(v)

    def watch(self, tensor) -> None:
        """Record the ops that use ``tensor`` (or every tensor in a nested structure)."""
        if self._used:
            return  # a spent non-persistent tape records nothing more
        for t in flatten(tensor):
            if not isinstance(t, Tensor):
                raise TypeError(f"watch() takes tensors, got {type(t).__name__}")
            if not is_float(t.dtype):
                continue  # no gradient to record; gradient() warns if it is asked for
            self._watched.add(t._id)
            self._roots.add(t._id)
            if isinstance(t, Variable):
                self._variables.append(t)

    def watched_variables(self) -> tuple:
        """The Variables this tape watched, in first-use order."""
        seen, out = set(), []
        for v in self._variables:
            if v._id not in seen:
                seen.add(v._id)
                out.append(v)
        return tuple(out)

    @contextlib.contextmanager
    def stop_recording(self):
        """Run the block without recording on this tape."""
        with _state.without_tapes(self):
            yield

    def _spend(self) -> None:
        """After a freeing gradient(): record nothing more, even inside the `with` block."""
        self._used = True
        self._entries = None
        self._watched = frozenset()
        self._watch_accessed = False

    def reset(self) -> None:
        """Forget everything recorded so far."""
        self._entries, self._variables, self._used = [], [], False
        self._watched, self._roots = set(), set()
        self._watch_accessed = self.watch_accessed_variables

    # ---- differentiation ----------------------------------------------------------------
    def gradient(self, target, sources, output_gradients=None, unconnected_gradients="none"):
        """d(target)/d(sources); ``sources`` may be a tensor or a nested list/tuple/dict.

        A non-scalar target is summed (weighted by ``output_gradients`` when given).
        ``unconnected_gradients='zero'`` returns zeros instead of None for sources the
        target does not depend on.
        """
        if unconnected_gradients not in ("none", "zero"):
            raise ValueError(
                f"unconnected_gradients must be 'none' or 'zero', got {unconnected_gradients!r}"
            )
        flat_sources = flatten(sources)
        grads = self._walk(target, flat_sources, output_gradients, free=not self.persistent)
        results = []
        for s, g in zip(flat_sources, grads):
            if g is None and unconnected_gradients == "zero" and _is_float_source(s):
                g = _tensor._ops.zeros_like(s)
            results.append(g)
        if isinstance(sources, Tensor):
            return results[0]
        return unflatten(sources, results)

    def jacobian(self, target, source, unconnected_gradients="none"):
        """Full Jacobian of shape ``target.shape + source.shape``, one backward pass per
        element of ``target``."""
        from .ops.creation import constant_like

        ops = _tensor._ops
        if not _is_float_source(source):  # None and one warning, not one per row
            return self._walk(target, [source], None, free=not self.persistent)[0]
        n = int(np.prod(target.shape))
        rows = []
        for i in range(n):
            seed = np.zeros(n, dtype=target.dtype)
            seed[i] = 1
            seed_t = constant_like(seed.reshape(target.shape), target)
            free = (i == n - 1) and not self.persistent
            (g,) = self._walk(target, [source], seed_t, free=free)
            if g is None:
                if unconnected_gradients != "zero":
                    if free:
                        return None
                    continue
                g = ops.zeros_like(source)
            rows.append(g)
        if not rows:
            return None
        return ops.reshape(ops.stack(rows), tuple(target.shape) + tuple(source.shape))

    def _walk(self, target, sources, output_gradients, free: bool):
        if self._entries is None:
            raise RuntimeError(
                "gradient() was already called on this non-persistent GradientTape, which "
                "freed what it recorded; create the tape with GradientTape(persistent=True) "
                "to call gradient() more than once"
            )
        for s in sources:
            if not isinstance(s, Tensor):
                raise TypeError(f"gradient() sources must be tensors, got {type(s).__name__}")
        targets = flatten(target)
        seeds = (
            flatten(output_gradients)
            if output_gradients is not None
            else [None] * len(targets)
        )
        if len(seeds) != len(targets):
            raise ValueError(
                f"output_gradients has {len(seeds)} tensors for {len(targets)} targets"
            )
        with _state.without_tapes(self):
            grads = self._backward(targets, seeds, sources, free)
        if free:
            self._spend()
        out = []
        for s in sources:
            if not _is_float_source(s):
                warnings.warn(
                    f"the gradient with respect to a {s.dtype} tensor is None: only float "
                    "tensors have gradients",
                    stacklevel=3,
                )
                out.append(None)
            else:
                out.append(grads.get(s._id))
        return out

    def _backward(self, targets, seeds, sources, free: bool) -> dict:
        """The reverse walk: the entries on a path from the sources, popped last to first,
        each handing its output's gradient to its inputs (``BackwardWalk.run``)."""
        entries = self._entries
        if free:
            self._entries = None  # from here on only the walk holds the entries
        path, relevant = self._path(entries, sources)
        walk = BackwardWalk(relevant, {s._id for s in sources})
        walk.seed(targets, seeds)
        # A freeing walk pops from the tape's own list, so each entry's saved arrays go as
        # soon as its VJP has run.
        stack = path if free else list(path)
        hook = gradient_ready.get()
        ready = None if hook is None else hook(sources)
        if ready is None:
            walk.run(stack)
        else:
            _run_telling(walk, stack, sources, ready)
        return walk.grads

    def _path(self, entries: list, sources) -> tuple[list, set]:
        """The entries on a path from the float sources, and the ids of the tensors on it.

        Every recorded entry lies on a path from a watched root. When the sources cover all
        roots that is exactly the path to walk; otherwise prune to the entries on a path
        from the sources (STYLE P5). Only float tensors are ever marked."""
        float_ids = {s._id for s in sources if _is_float_source(s)}
        if float_ids >= self._roots:
            return entries, self._watched
        relevant = set(float_ids)
        path = []
        for entry in entries:
            for x in entry.inputs:
                if x._id in relevant:
                    path.append(entry)
                    dtype = entry.out._data.dtype  # dtypes.is_float, inline (per entry)
                    if dtype.kind == "f" or (dtype.kind == "V" and dtype.name == "bfloat16"):
                        relevant.add(entry.out._id)
                    break
        return path, relevant


class BackwardWalk:
    """One reverse walk's state: the gradient so far of each tensor (by id), and which of
    those arrays the walk made and may still add into in place.

    ``run(entries)`` runs each entry: an op's own ``walk`` hook where it has one (getitem),
    else the VJP, whose gradients are brought to each input's shape and dtype (STYLE P4),
    checked under detect_anomaly, and added to what the input already has (``add``).
    """

    __slots__ = ("grads", "relevant", "source_ids", "owned", "in_place", "anomaly")

    def __init__(self, relevant: set, source_ids: set):
        self.grads: dict = {}
        self.relevant = relevant
        self.source_ids = source_ids
        # ids whose gradient array the walk made and has not handed to a VJP or the caller;
        # only when nothing records the walk (no outer tape, no trace).
        self.owned: set = set()
        self.in_place = not _state.active_tapes.get() and _state.recorder.get() is None
        self.anomaly = _state.anomaly_mode.get()

    def seed(self, targets, seeds) -> None:
        """Start from ones (or the given output gradients) at each float target."""
        for t, seed in zip(targets, seeds):
            if isinstance(t, Tensor) and is_float(t.dtype):
                self.add(t, _tensor._ops.ones_like(t) if seed is None else _as_seed(seed, t))

    # ---- what an op's walk hook uses ----------------------------------------------------
    def gradient_of(self, x):
        return self.grads.get(x._id)

    def owns(self, x) -> bool:
        """Whether the walk alone holds ``x``'s gradient array (so may add into it)."""
        return x._id in self.owned

    def set_fresh_gradient(self, x, g) -> None:
        """``x``'s gradient is now ``g``, a new array made by the walk."""
        self.grads[x._id] = g
        if self.in_place:
            self.owned.add(x._id)

    def add(self, x, gx) -> None:
        """Add ``gx`` to ``x``'s gradient."""
        prev = self.grads.get(x._id)
        if prev is None:
            self.grads[x._id] = gx
        else:
            self.set_fresh_gradient(x, prev + gx)

    # ---- the walk -----------------------------------------------------------------------
    def run(self, stack: list) -> None:
        """Pop entries last to first, each handing its output's gradient to its inputs.

        The hot loop of every backward pass: its common case, a one-input op, is written
        out here with locals rather than in further calls per entry (those cost ~7% of an
        eager step in ``python -m benchmarks``). An op's own ``walk`` hook (getitem) and
        entries of several inputs (``_inputs``) go to their helpers."""
        grads, source_ids, owned, anomaly = self.grads, self.source_ids, self.owned, self.anomaly
        while stack:
            entry = stack.pop()
            out_id = entry.out._id
            # A source keeps its gradient (the caller asks for it); others hand theirs over.
            g = grads.get(out_id) if out_id in source_ids else grads.pop(out_id, None)
            if g is None:
                continue
            owned.discard(out_id)  # handed to a VJP from here on
            check = anomaly or entry.where is not None
            inputs, op = entry.inputs, entry.op
            if op.walk is not None and not check:
                op.walk(self, entry, g)
            elif len(inputs) == 1:
                # A recorded one-input op is on the path only through its input, and by the
                # VJP contract (see ops.registry) returns that input's shape and dtype.
                entry.needs_grad = _ONE_NEEDED
                gx = _checked_vjp(entry, g) if check else op.vjp(entry, g)
                if gx is not None:
                    if check:
                        _check_finite(entry, gx)
                    x_id = inputs[0]._id
                    prev = grads.get(x_id)
                    if prev is None:
                        grads[x_id] = gx
                    else:
                        self.set_fresh_gradient(inputs[0], prev + gx)
                    # Drop the locals now: they would hold these arrays through later VJPs.
                    gx = prev = None
            else:
                self._inputs(entry, g, check)

    def _inputs(self, entry, g, check: bool) -> None:
        """Several inputs: only those on the path get gradients, each brought to its input's
        shape and dtype (the engine undoes broadcasting, STYLE P4)."""
        inputs, relevant = entry.inputs, self.relevant
        if len(inputs) == 2:  # most of them: a tuple display is ~3x cheaper than tuple([...])
            needs = (inputs[0]._id in relevant, inputs[1]._id in relevant)
        else:
            needs = tuple([x._id in relevant for x in inputs])
        entry.needs_grad = needs
        gxs = _checked_vjp(entry, g) if check else entry.op.vjp(entry, g)
        grads = self.grads
        for x, gx, need in zip(inputs, gxs, needs):
            if gx is None or not need:
                continue
            x_data, g_data = x._data, gx._data
            if g_data.shape != x_data.shape or g_data.dtype != x_data.dtype:
                gx = _fitted(gx, x)
            if check:
                _check_finite(entry, gx)
            prev = grads.get(x._id)  # self.add(x, gx), written out: once per input
            if prev is None:
                grads[x._id] = gx
            else:
                self.set_fresh_gradient(x, prev + gx)


def _run_telling(walk: BackwardWalk, stack: list, sources, ready) -> None:
    """``walk.run(stack)`` in pieces, calling ``ready(i, gradient)`` for each source as soon
    as its gradient is final: after the walk has run the first entry of ``stack`` that reads
    it (the walk goes last to first), or at once when no entry reads it."""
    first_reader: dict = {}  # source id -> index of the first entry that reads it
    wanted = {s._id for s in sources}
    for i, entry in enumerate(stack):
        for x in entry.inputs:
            if x._id in wanted and x._id not in first_reader:
                first_reader[x._id] = i
    final_at: dict = {}  # stack length at which the walk has finished these sources
    for k, s in enumerate(sources):
        final_at.setdefault(first_reader.get(s._id, len(stack)), []).append(k)
    for cut in sorted(final_at, reverse=True):
        piece = stack[cut:]
        del stack[cut:]  # a freeing walk still lets each entry go once it has run
        walk.run(piece)
        for k in final_at[cut]:
            ready(k, walk.grads.get(sources[k]._id))
    walk.run(stack)


def _fitted(gx, x):
    """``gx`` summed over broadcast axes and cast to ``x``'s dtype (STYLE P4)."""
    x_data, g_data = x._data, gx._data
    if g_data.shape != x_data.shape:
        gx = _tensor._ops.sum_to(gx, x_data.shape)
    if g_data.dtype is not x_data.dtype and g_data.dtype != x_data.dtype:
        gx = _tensor._ops.cast(gx, dtype=x_data.dtype)
    return gx


def _is_float_source(t) -> bool:
    return isinstance(t, Tensor) and is_float(t.dtype)


def _as_seed(seed, target):
    ops = _tensor._ops
    seed = seed if isinstance(seed, Tensor) else Tensor(seed, dtype=target.dtype)
    if seed.shape != target.shape:
        seed = ops.broadcast_to(seed, target.shape)
    return seed


def _checked_vjp(entry, g):
    """The VJP of an entry that detect_anomaly checks, without NumPy's divide/invalid
    warnings: a non-finite result is a GradientError naming the op, which says it all."""
    with np.errstate(all="ignore"):
        return entry.op.vjp(entry, g)


def _check_finite(entry, gx) -> None:
    if np.all(np.isfinite(_tensor.backend.to_device(gx._data, "cpu"))):
        return
    where = entry.where or "unknown (the forward ran outside detect_anomaly)"
    raise GradientError(
        f"detect_anomaly: the backward of '{entry.op.name}' produced a non-finite gradient "
        f"(inputs {describe(entry.inputs)}, output {describe([entry.out])}); its forward ran "
        f"at {where}"
    )


@contextlib.contextmanager
def detect_anomaly():
    """Raise at the first backward op whose gradient has NaN or inf, naming the op and the
    line that ran its forward. Ops recorded inside the block are checked whenever their
    backward runs, and every backward op run inside the block is checked. Costs nothing
    when not used.

    Example:
        >>> import tape
        >>> x = tape.tensor(0.0)
        >>> with tape.detect_anomaly(), tape.GradientTape() as g:
        ...     g.watch(x)
        ...     y = tape.sqrt(x)
        >>> g.gradient(y, x)  # doctest: +IGNORE_EXCEPTION_DETAIL
        Traceback (most recent call last):
        GradientError: detect_anomaly: the backward of 'sqrt' produced a non-finite gradient
    """
    with _state.using(_state.anomaly_mode, True):
        yield


def stop_gradient(x) -> Tensor:
    """The same value, seen by tapes as a constant.

    Example:
        >>> import tape
        >>> x = tape.tensor(2.0)
        >>> with tape.GradientTape() as g:
        ...     g.watch(x)
        ...     y = x * tape.stop_gradient(x)
        >>> g.gradient(y, x).item()
        2.0
    """
    return _tensor._ops.stop_gradient(x)


def custom_gradient(f):
    """Give ``f`` your own gradient (TensorFlow's form).

    ``f(*tensors)`` returns ``(y, grad_fn)``; ``grad_fn(upstream)`` returns one gradient
    per tensor argument. ``grad_fn`` is written with tape ops, so it is differentiable too.

    Example:
        >>> import tape
        >>> @tape.custom_gradient
        ... def clipped_identity(x):
        ...     return x, lambda g: tape.clip(g, -1.0, 1.0)
        >>> x = tape.tensor(3.0)
        >>> with tape.GradientTape() as g:
        ...     g.watch(x)
        ...     y = clipped_identity(x) * 10.0
        >>> g.gradient(y, x).item()
        1.0
    """

    @functools.wraps(f)
    def wrapper(*args, **kwargs):
        ops = _tensor._ops
        args = tuple(a if isinstance(a, Tensor) else ops.convert(a) for a in args)
        with _state.without_tapes():
            y, grad_fn = f(*args, **kwargs)
        if not isinstance(y, Tensor):
            raise TypeError(f"{f.__name__} must return (Tensor, grad_fn), got {type(y).__name__}")
        y = ops.identity(y)  # a fresh output id for this call
        tapes = _state.active_tapes.get()
        if tapes:
            record(tapes, ops.CUSTOM, args, y, {"grad_fn": grad_fn, "name": f.__name__})
        return y

    return wrapper

"""``@tape.trace``: capture a function's ops once per input signature, then replay them.

The first call with a new signature runs the function eagerly under a ``Recorder`` (so
its result is the eager result) and keeps the captured ``Graph``, simplified by the
passes. Later calls with that signature replay the graph on raw arrays: no Python of the
body runs, so its side effects (``print``, appending to a list) happen while tracing only,
as in ``tf.function``. ``tape.run_eagerly(True)`` or ``TAPE_RUN_EAGERLY=1`` turns every
traced function back into plain Python, for a debugger.
"""

from __future__ import annotations

import functools
import inspect
import warnings

import numpy as np

from .. import _state
from ..errors import TapeError, TraceError, user_line, user_stacklevel
from ..nest import flatten, unflatten
from ..ops.registry import _op_error
from ..tensor import Tensor, Variable
from . import cuda_graph, passes
from .cuda_graph import CudaGraphs
from .recorder import Recorder
from .replay import compile_graph, failing_line
from .session import Placeholder, call_symbolic

RETRACE_WARNING_AFTER = 5
_ARRAYLIKE = (Tensor, np.ndarray)


def run_eagerly(flag: bool = True) -> None:
    """Make every traced function run as plain Python (``True``) or trace again (``False``).

    Example:
        >>> import tape
        >>> tape.run_eagerly(True); tape.run_eagerly(False)
    """
    _state.run_eagerly.set(bool(flag))


class ConcreteFunction:
    """One signature's graph, optimized, and its compiled replay. ``sizes`` is None when the
    graph serves any size of its signature's None dimensions, else the shapes of the fed
    arrays it was traced with, the only ones it may replay."""

    def __init__(self, graph, optimized, replay, sizes=None):
        self.graph = graph
        self.optimized = optimized
        self.replay = replay
        self.sizes = sizes
        fed = {p.vid for p in optimized.placeholders}
        self.returns_input = any(v in fed for v in optimized.flat_outputs if type(v) is int)
        self.cuda_graphs = CudaGraphs(replay)  # used on the GPU only

    def run(self, arrays: list) -> list:
        """The replay's output arrays (on the GPU through a CUDA graph, where one can be
        captured); an array error inside it names the op, the line that recorded it and
        the caller's line."""
        try:
            xp = self.replay.module_for(arrays)
            if xp is not np and cuda_graph.enabled():
                return self.cuda_graphs(arrays, xp)
            return self.replay.call(xp, arrays)
        except (ValueError, TypeError, IndexError, ZeroDivisionError) as e:
            raise replay_error(self.replay, e) from e


class TracedFunction:
    """What ``@tape.trace`` returns: call it like the function it wraps.

    Example:
        >>> import tape
        >>> @tape.trace
        ... def f(x):
        ...     return tape.sum(x * x)
        >>> f(tape.ones((3,))).item(), f(tape.ones((3,)) * 2).item(), f.trace_count
        (3.0, 12.0, 1)
    """

    def __init__(self, fn, input_signature=None, optimize: bool = True):
        functools.update_wrapper(self, fn)
        self.python_function = fn
        self.input_signature = None if input_signature is None else list(input_signature)
        self.optimize = optimize
        self.trace_count = 0
        self._concrete: dict = {}
        self._signatures: list = []  # (key, described args), in trace order
        self._last = None
        try:
            self._parameters = list(inspect.signature(fn).parameters)
        except (TypeError, ValueError):
            self._parameters = []

    def __get__(self, instance, owner=None):
        if instance is None:
            return self
        return functools.partial(self.__call__, instance)

    @property
    def name(self) -> str:
        return getattr(self.python_function, "__qualname__", "traced function")

    @property
    def graph(self):
        """The optimized graph of the signature called last."""
        if self._last is None:
            raise TraceError(f"{self.name} has not been traced yet; call it once first")
        return self._last.optimized

    @property
    def unoptimized_graph(self):
        return self._last.graph if self._last is not None else None

    @property
    def replay_source(self) -> str:
        """The Python source that replays the last graph."""
        return self.graph_replay().source

    def graph_replay(self):
        if self._last is None:
            raise TraceError(f"{self.name} has not been traced yet; call it once first")
        return self._last.replay

    def explain(self) -> str:
        """How the last signature's graph replays: on NumPy, or on the GPU as one CUDA
        graph, or without one and why (a host read in the step, an op with no capturable
        path, ``TAPE_CUDA_GRAPHS=0``).

        Example:
            >>> import tape
            >>> f = tape.trace(lambda x: x * 2.0)
            >>> _ = f(tape.ones((2,))); _ = f(tape.ones((2,)))
            >>> f.explain()
            'graph <lambda>: 1 node; replayed on NumPy (CUDA graphs are for the GPU)'
        """
        if self._last is None:
            raise TraceError(f"{self.name} has not been traced yet; call it once first")
        graph = self._last.optimized
        nodes = f"{len(graph.nodes)} node{'s' if len(graph.nodes) != 1 else ''}"
        graphs, compiled = self._last.cuda_graphs, self._last.replay._compiled
        if graphs.last is None and cuda_graph.enabled():
            how = ("replayed on NumPy (CUDA graphs are for the GPU)" if np in compiled else
                   "traced, not replayed yet")
            return f"graph {graph.name}: {nodes}; {how}"
        return f"graph {graph.name}: {nodes}; {graphs.explain()}"

    @property
    def signatures(self) -> list:
        return [described for _, described in self._signatures]

    # ---- calling -----------------------------------------------------------------------
    def __call__(self, *args, **kwargs):
        if (_state.run_eagerly.get() or _state.recorder.get() is not None
                or _state.active_tapes.get()):
            # Plain Python: asked for, or inside another trace (whose recorder takes these
            # ops), or under a GradientTape (which must see the ops to differentiate them).
            return self.python_function(*args, **kwargs)
        flat = flatten((args, kwargs))
        if self.input_signature is None:  # the common case: a graph for exactly these
            concrete = self._concrete.get(self._key(flat, [None] * len(flat)))
            if concrete is not None and not concrete.returns_input:
                # NumPy arguments go to the replay as they are (none is returned, so no
                # output tensor can alias an array the caller may change)
                self._last = concrete
                return self._replay(concrete, [a._data if isinstance(a, Tensor) else a
                                               for a in flat if isinstance(a, _ARRAYLIKE)
                                               and not isinstance(a, Variable)])
        if any(isinstance(a, Placeholder) for a in flat):
            return call_symbolic(self, args, kwargs)
        args, kwargs = _tensors_from_arrays(args), _tensors_from_arrays(kwargs)
        flat = flatten((args, kwargs))
        if self.input_signature is not None:
            self._check_signature(args)
        concrete, traced = self._lookup_or_trace(args, kwargs, flat, self._flat_specs(flat))
        if traced is not None:  # this call was the traced run: its outputs, not a replay
            return traced[0]
        return self._replay(concrete, _fed_arrays(flat))

    @staticmethod
    def _replay(concrete, arrays):
        results = concrete.run(arrays)
        return unflatten(concrete.graph.outputs, (_wrap_outputs(
            concrete.graph.flat_outputs, results)))

    def concrete_for(self, args_kwargs, specs=None) -> ConcreteFunction:
        """The graph for these arguments (traced now if it is new); ``specs`` gives a
        TensorSpec (or None) per flattened argument."""
        args, kwargs = args_kwargs
        flat = flatten((args, kwargs))
        return self._lookup_or_trace(args, kwargs, flat, specs or self._flat_specs(flat))[0]

    def call_with(self, args_kwargs, specs) -> object:
        """Call with these arguments under ``specs`` (a TensorSpec or None per flattened
        argument), tracing when they are new: Session.run's way in."""
        args, kwargs = args_kwargs
        flat = flatten((args, kwargs))
        concrete, traced = self._lookup_or_trace(args, kwargs, flat, specs)
        return traced[0] if traced is not None else self._replay(concrete, _fed_arrays(flat))

    def _lookup_or_trace(self, args, kwargs, flat, specs):
        """(concrete function, None) when this signature has a graph, else trace it now and
        return (concrete function, (the eager outputs of the traced run,)): boxed, so that
        a function returning None is not run again by a replay."""
        key = base = self._key(flat, specs)
        concrete = self._concrete.get(key)
        if concrete is not None and concrete.sizes is not None:
            # Its graph depends on the sizes it was traced at: one graph per actual size.
            key = (base, _fed_shapes(flat))
            concrete = self._concrete.get(key)
        if concrete is not None:
            self._last = concrete
            return concrete, None
        described = self._describe(flat, specs)
        recorder = Recorder(self.name, allow_new_variables=self.trace_count == 0)
        for t, name, spec in zip(flat, self._flat_names(args, kwargs), specs):
            if isinstance(t, Tensor) and not isinstance(t, Variable):
                recorder.placeholder(t, name, None if spec is None else spec.shape)
        with _state.using(_state.recorder, recorder), _state.using(_state.tracing, self.name):
            outputs = self.python_function(*args, **kwargs)
        flat_out = flatten(outputs)
        for t in flat_out:
            if not isinstance(t, Tensor) and t is not None and not isinstance(
                    t, bool | int | float | str):
                raise TraceError(f"{self.name} returned a {type(t).__name__}; a traced "
                                 "function returns tensors, Python scalars or None "
                                 "(in nested lists, tuples and dicts)")
        fresh = [Tensor._wrap(t._data) if isinstance(t, Tensor) else t for t in flat_out]
        recorder.finish(outputs)
        graph = recorder.graph
        optimized = passes.optimize(graph) if self.optimize else graph
        sizes = _fed_shapes(flat) if graph.size_dependence else None
        concrete = ConcreteFunction(graph, optimized, compile_graph(optimized), sizes)
        if sizes is not None and key is base:
            self._concrete[base] = concrete  # says: look up by the actual sizes
            key = (base, sizes)
        self._concrete[key] = concrete
        self._last = concrete
        self.trace_count += 1
        self._signatures.append((key, described))
        if self.trace_count >= RETRACE_WARNING_AFTER:
            self._warn_retrace()
        return concrete, (unflatten(outputs, fresh),)

    # ---- signatures ------------------------------------------------------------------------
    def _key(self, flat, specs) -> tuple:
        """The signature of a call: per argument, a tensor's shape (the spec's, with None,
        under an input_signature), dtype and device, or a Python value (its identity when
        it is not hashable). Built at every call, so kept cheap: dtypes as objects, not
        names."""
        key = []
        for value, spec in zip(flat, specs):
            if isinstance(value, Variable):
                # State, as in tf.function: the graph reads and assigns this Variable (and
                # holds it, so its id is not reused while the graph lives).
                key.append((Variable, id(value)))
            elif isinstance(value, _ARRAYLIKE):  # a NumPy array keys as the tensor it becomes
                data = value._data if isinstance(value, Tensor) else value
                device = "cpu" if type(data) is np.ndarray else value.device
                key.append((data.shape if spec is None else spec.shape, data.dtype, device))
            else:
                try:
                    hash(value)
                    key.append((type(value), value))
                except TypeError:
                    key.append((type(value), id(value)))
        return tuple(key)

    @staticmethod
    def _describe(flat, specs) -> list:
        """The signature in words, for the retracing warning."""
        return [f"shape {tuple(v.shape if s is None else s.shape)} {v.dtype}"
                if isinstance(v, Tensor) else f"python {type(v).__name__} {v!r}"
                for v, s in zip(flat, specs)]

    def _flat_specs(self, flat) -> list:
        if self.input_signature is None:
            return [None] * len(flat)
        specs = flatten(self.input_signature)
        return specs + [None] * (len(flat) - len(specs))

    def _flat_names(self, args, kwargs) -> list:
        names = []
        for i, a in enumerate(args):
            base = self._parameters[i] if i < len(self._parameters) else f"arg{i}"
            n = len(flatten(a))
            names.extend([base] if n == 1 else [f"{base}[{k}]" for k in range(n)])
        for k, v in kwargs.items():
            n = len(flatten(v))
            names.extend([k] if n == 1 else [f"{k}[{j}]" for j in range(n)])
        return names

    def _check_signature(self, args) -> None:
        flat = flatten(args)
        specs = flatten(self.input_signature)
        names = self._flat_names(args, {})
        if len(flat) != len(specs):
            raise TraceError(f"{self.name}: input_signature has {len(specs)} tensors, the "
                             f"call passed {len(flat)} [at {user_line()}]")
        for value, spec, name in zip(flat, specs, names):
            if not isinstance(value, Tensor) or not spec.fits(value):
                got = (f"shape {value.shape} {value.dtype}" if isinstance(value, Tensor)
                       else f"a {type(value).__name__}")
                raise TraceError(f"{self.name}: argument {name!r} does not fit the input "
                                 f"signature {spec}: got {got} [at {user_line()}]")

    def _warn_retrace(self) -> None:
        (_, before), (_, after) = self._signatures[-2], self._signatures[-1]
        names = self._parameters or [f"arg{i}" for i in range(len(after))]
        changes = [f"{names[i] if i < len(names) else f'arg{i}'}: {b} -> {a}"
                   for i, (b, a) in enumerate(zip(before, after)) if a != b]
        why = self._last.graph.size_dependence if self._last is not None else ""
        if why and not changes:
            warnings.warn(
                f"{self.name} was traced {self.trace_count} times: its graph depends on the "
                f"sizes it is traced at ({why}), so each new size of a None dimension traces "
                f"again. Compute sizes with ops on the tensors (tape.mean, reshape with -1) "
                f"rather than from .shape in Python.", stacklevel=user_stacklevel())
            return
        warnings.warn(
            f"{self.name} was traced {self.trace_count} times; each new input signature "
            f"traces again (last change: {'; '.join(changes) or 'argument count'}). Pass "
            f"tensors rather than Python numbers, or give an input_signature with None "
            f"for sizes that vary.", stacklevel=user_stacklevel())


def trace(fn=None, *, input_signature=None, optimize: bool = True):
    """Capture ``fn`` as a static graph per input signature and replay it on later calls.

    Use as ``@tape.trace`` or ``@tape.trace(input_signature=[tape.TensorSpec(...)])``.
    Python side effects in ``fn`` happen while tracing only; reading a tensor's value into
    Python inside it (``if t > 0:``) is an error: use ``tape.where`` or pass a Python value.

    Example:
        >>> import tape
        >>> @tape.trace
        ... def step(x):
        ...     return tape.relu(x) + 1.0
        >>> step(tape.tensor([-1.0, 2.0])).numpy().tolist()
        [1.0, 3.0]
    """
    if fn is None:
        return functools.partial(trace, input_signature=input_signature, optimize=optimize)
    return TracedFunction(fn, input_signature=input_signature, optimize=optimize)


def _tensors_from_arrays(structure):
    if isinstance(structure, np.ndarray):
        return Tensor(structure)
    if isinstance(structure, dict):
        return {k: _tensors_from_arrays(v) for k, v in structure.items()}
    if isinstance(structure, list | tuple):
        return type(structure)(_tensors_from_arrays(v) for v in structure)
    return structure


def _fed_shapes(flat) -> tuple:
    """The shapes of the arrays a replay is fed: the key of a size-dependent graph."""
    return tuple(a.shape for a in flat if isinstance(a, _ARRAYLIKE)
                 and not isinstance(a, Variable))


def replay_error(replay, error: Exception) -> TapeError:
    """``error``, raised by NumPy inside a replay, as the tape error an eager op would raise:
    naming the op, its inputs, the line that recorded it and the caller's line."""
    node, arrays = failing_line(f"<replay of {replay.graph.name}>", replay.graph, error)
    message = str(error).split(" [at ")[0]
    if node is None:
        return TraceError(f"replaying {replay.graph.name}: {message} [at {user_line()}]")
    # The eager op's error (its kind, op name, inputs and parameters), plus where it was traced
    kind = next((k for k in (IndexError, TypeError) if isinstance(error, k)), ValueError)
    inputs = [arrays.get(replay.graph.name_of(i)) for i in node.inputs]
    return _op_error(node.op, inputs, node.params, kind(
        f"{message} (replaying {replay.graph.name}, whose trace ran this op at {node.where})"))


def _fed_arrays(flat) -> list:
    """The arrays a replay takes, in placeholder order: every tensor argument but the
    Variables, which the graph reads itself."""
    return [t._data for t in flat if isinstance(t, Tensor) and not isinstance(t, Variable)]


def _wrap_outputs(flat_outputs, results):
    it = iter(results)
    return [Tensor._wrap(next(it)) if type(v) is int else v.value for v in flat_outputs]

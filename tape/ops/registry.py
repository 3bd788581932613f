"""The op table: one record per primitive, and ``Op.__call__``, the single dispatch path.

An ``Op`` holds a name, a forward written against the array module ``xp`` (NumPy or
CuPy), a VJP written with tape ops (so it is differentiable and traceable again), and every
other fact about the op: its GPU kernel, how graph replay writes it, what graph passes may
do with it, its fused-kernel expression, a special step of the backward walk. Eager calls,
tape recording, trace replay and its passes, the GPU path and the tests all read this one
table; ``tests/ops/test_op_table.py`` and ``test_op_record.py`` enumerate it.

Example:
    >>> import tape
    >>> op = tape.ops.REGISTRY["add"]
    >>> op.out, op.elementwise, op.unit, op.commutative
    ('add', True, 0, True)
"""

from __future__ import annotations

import functools
import inspect
import operator

import numpy as np

from .. import _state, dtypes
from ..autodiff import record
from ..backend import (
    _cupy,
    device_of,
    device_scalar,
    get_array_module,
    gpu_array_type,
    out_of_memory_error,
)
from ..errors import (
    DeviceError,
    DTypeError,
    IndexOutOfRangeError,
    ShapeError,
    TapeError,
    TraceError,
    describe,
    user_line,
)
from ..tensor import PLAIN_TENSOR_TYPES, AutocastVariable, Tensor, _next_id
from ._helpers import (  # noqa: F401 - LowPrecisionWarning re-exported
    LowPrecisionWarning,
    in_float32,
    numpy_in_float32,
)

REGISTRY: dict[str, Op] = {}
_active_tapes = _state.active_tapes
_recorder = _state.recorder
_autocast = _state.autocast
_data_of = operator.attrgetter("_data")
_ndarray = np.ndarray
_new = object.__new__
_TENSORS = PLAIN_TENSOR_TYPES  # exact types the hot path takes as they are
_SCALARS = frozenset({float, int})  # Python numbers the hot path makes weak-typed tensors of


class Op:
    """One primitive, and every fact about it. Call it like a function: ``op(*tensors, **params)``.

    Positional arguments beyond ``nin`` fill the forward's parameters in order, so
    ``sum(x, 1)`` means ``sum(x, axis=1)``. ``nin=-1`` takes any number of tensors.

    Besides its forward and VJP, the record holds what every other part of tape needs to
    know about the op (DESIGN.md: the record is the only place an op's facts live). Each
    fact is declared beside the op, as a ``defop``/``defufunc`` keyword or a ``def*``
    method, and has a safe default here:
    """

    __slots__ = ("name", "forward", "numpy_forward", "vjp", "nin", "param_names",
                 "differentiable", "kernel", "saves", "walk", "__dict__")

    # -- facts for graph replay and its passes (trace/replay.py, trace/passes.py) --
    #: The array-module function that computes the op into an ``out=`` buffer, or None.
    out: str | None = None
    #: Elementwise in NumPy's sense (a ufunc): its ``out=`` may be one of its own
    #: same-shaped inputs, so replay may overwrite an input that dies here, or update a
    #: Variable in place (``w = w - lr * g`` as ``subtract(w, t, out=w)``).
    elementwise: bool = False
    #: Always returns a new array, never a view of an input (reshape, transpose, getitem,
    #: a same-dtype cast may return views).
    fresh: bool = False
    #: Its result depends on more than its inputs (it advances a random stream): never
    #: folded, merged or dropped.
    stateful: bool = False
    #: ``op(x, unit)`` is ``x`` (``x * 1``, ``x + 0``); ``commutative``: also ``op(unit, x)``.
    unit: float | None = None
    commutative: bool = False
    #: Returns its input unchanged when the output has the input's shape and dtype
    #: (reshape, broadcast_to and cast to what ``x`` already is).
    noop_if_same: bool = False
    #: Its result is a new array made to add gradients into (``index_add``): an
    #: ``in_place`` op may then add into it instead of copying it.
    accumulator: bool = False
    #: The graph-only variant that writes into its first input (``defin_place``), or None.
    in_place: Op | None = None
    #: ``data_dependent(input_dtypes) -> bool``: the output's shape depends on input values
    #: (a boolean mask index), so no buffer may be planned for it. None: never.
    data_dependent = None
    #: (numexpr template, CUDA template, how CUDA inputs are typed) for fused elementwise
    #: nodes (``deffusion``), or None.
    fusion: tuple | None = None
    #: What it does with float16/bfloat16 inputs: ``"native"`` computes in their dtype (an
    #: elementwise ufunc rounds once per op, as JAX does); ``"float32"`` accumulates, so
    #: its forward runs in float32 and the result is cast back (sums, softmax, norms,
    #: pooling: ``_helpers.in_float32``; a GPU kernel, tried first, accumulates in float32
    #: itself); ``"float32_on_numpy"`` the same on NumPy only (matmul, conv: CuPy's 16-bit
    #: products accumulate in float32 on tensor cores); ``"cast_up"`` has no low-precision
    #: path: as ``"float32"``, with one LowPrecisionWarning naming the op. Graph passes
    #: leave all but the first to their forward on low-precision values (no ``out=``
    #: buffer, no fusion, no in-place variant).
    low_precision: str = "native"

    # -- facts for CUDA-graph replay (trace/cuda_graph.py) --
    #: ``f(xp, *arrays, out=None, **params)``, its forward while a CUDA graph captures on
    #: CuPy, where the op's own CuPy path cannot be captured (CuPy refuses its cuBLAS calls
    #: in a capture: matmul goes through tape.cublas). None: its own path is captured.
    captured = None
    #: ``host_key(**params) -> (seed, stream)`` for an op that hands out a random key: the
    #: host part of its forward, so that a CUDA graph keeps the keys on the device and
    #: advances them there (random_key). None: not a key.
    host_key = None
    # (``walk``, the backward walk's hook for this op's entries, is a slot set in __init__:
    # the walk reads it for every entry.)

    def __init__(self, name: str, forward, nin: int, differentiable: bool):
        self.name = name
        self.forward = forward
        # The forward bound to NumPy, called by the hot path: the ufunc itself for ops that
        # are exactly one (``defufunc``), which saves a Python frame per call.
        self.numpy_forward = functools.partial(forward, np)
        self.nin = nin
        self.differentiable = differentiable
        self.vjp = None
        self.kernel = None  # the GPU override (``defkernel``), tested against ``forward``
        self.walk = None  # ``walk(walk, entry, g)`` in place of the walk's step (``defwalk``)
        # What the VJP reads besides shapes and dtypes: a tape keeps the other values only
        # as shapes (see autodiff.record), so they can be freed.
        self.saves = ("inputs", "out")
        names = list(inspect.signature(forward).parameters)[1:]  # drop xp
        self.param_names = tuple(names[nin:]) if nin >= 0 else ()
        self.__doc__ = forward.__doc__
        self.__wrapped__ = forward

    def defvjp(self, vjp):
        """Register ``vjp(ctx, g)``: one gradient (or None) per input, built from tape ops.

        The contract: a one-input op returns its input's shape and dtype; for several
        inputs the tape sums broadcast axes back and casts to each input's dtype (STYLE P4).
        ``ctx.needs_grad[i]`` says which gradients are wanted; the others may be None.
        """
        self.vjp = vjp
        return vjp

    def defsaves(self, *what: str) -> None:
        """Declare which values the VJP reads (``"inputs"``, ``"out"``); of the rest a tape
        keeps only shapes and dtypes. ``add.defsaves()``: its VJP needs no values at all."""
        assert set(what) <= {"inputs", "out"}, what
        self.saves = what

    def deffusion(self, numexpr, cuda: str, cuda_inputs: str = "result",
                  scalar_constants: tuple = ()) -> None:
        """Declare this elementwise op's expression for fused graph nodes: a numexpr template
        and a CUDA C one, ``{0}``, ``{1}`` for the inputs and ``{zero}``, ``{half}``,
        ``{one}``, ``{T}`` for typed literals and the C type. The numexpr form may instead
        be ``fn(args, arg_dtypes, dtype, literal) -> str | None`` (None: numexpr cannot
        express it for these dtypes) or None (never).

        ``cuda_inputs`` says how the CUDA inputs are typed: ``"result"`` cast to the op's
        result type (NumPy casts operands before computing), ``"common"`` to the inputs'
        common type (comparisons), ``"condition"`` the first as it is and the others to the
        result type (where), ``"as_is"`` not cast (cast, logical ops).
        ``scalar_constants``: the inputs that must be constant scalars for the op to fuse
        (power's exponent)."""
        assert cuda_inputs in ("result", "common", "condition", "as_is"), cuda_inputs
        self.fusion = (numexpr, cuda, cuda_inputs, tuple(scalar_constants))

    def defkernel(self, kernel):
        """Register the GPU override ``kernel(xp, *arrays, **params)``: on CuPy arrays it
        runs instead of the forward, and returns ``NotImplemented`` for what it does not
        cover (then the forward runs). It never changes what the op means (tests/kernels
        check it against ``forward``)."""
        self.kernel = kernel
        return kernel

    def defwalk(self, walk):
        """Register ``walk(step, entry, g)``, which the backward walk calls for this op's
        entries instead of its generic step (``autodiff.BackwardWalk``)."""
        self.walk = walk
        return walk

    def defin_place(self, forward) -> Op:
        """Declare the graph-only variant of this accumulating op that writes into its
        first input (an op of the table never changes its inputs, so it is not in
        ``REGISTRY``); graph passes substitute it where that input is theirs alone."""
        variant = Op(f"{self.name}_in_place", forward, self.nin, False)
        variant.accumulator = True
        self.in_place = variant
        return variant

    def computes_in_float32(self, dtype_names) -> bool:
        """Whether values of these dtypes (names) go through the op's float32 wrapper
        (``low_precision``), which only its forward applies: an ``out=`` function or a
        fused expression would bypass it."""
        return self.low_precision != "native" and any(
            str(d) in dtypes.LOW_PRECISION for d in dtype_names)

    @property
    def writes_out(self) -> bool:
        """Whether replay can compute the op into a buffer (``out=``)."""
        return self.out is not None

    def out_function(self, xp):
        """The array-module function that computes the op into ``out=``, or None."""
        return None if self.out is None else getattr(xp, self.out)

    def run(self, xp, *arrays, **params):
        """The forward on raw arrays of module ``xp``: the GPU kernel where the op has one
        and it covers these arrays, else the ``xp`` forward."""
        kernel = self.kernel
        if kernel is not None and xp is not np:
            out = kernel(xp, *arrays, **params)
            if out is not NotImplemented:
                return out
        return self.forward(xp, *arrays, **params)

    def runner(self, xp, params: dict, in_float32: bool = True):
        """``f(*arrays)``: the op with fixed ``params`` on arrays of module ``xp``.
        ``in_float32=False``: no input will be float16/bfloat16 (a graph node's recorded
        dtypes), so a NumPy runner skips the ``low_precision`` wrapper's dtype checks."""
        if xp is np and not in_float32 and self.low_precision != "native":
            if not params:
                return self._native_numpy_forward
            return functools.partial(self.__wrapped__, np, **params)
        if xp is np and not params:
            return self.numpy_forward
        if xp is np or self.kernel is None:
            return functools.partial(self.forward, xp, **params)
        return functools.partial(self.run, xp, **params)

    def __call__(self, *args, **params) -> Tensor:
        """Run the op eagerly and record it on the active tapes that watch its inputs.

        This is the hot path of every op, eager and backward alike. One or two NumPy-backed
        tensors and no parameters (most elementwise ops, matmul) call the forward directly;
        anything else (Python scalars, parameters, other devices, positional parameters)
        goes through ``_general`` first.
        """
        n = len(args)
        x = args[0] if n else None
        y = args[1] if n == 2 else None
        if (not params and n == self.nin and n <= 2 and type(x) in _TENSORS
                and type(x._data) is _ndarray
                and (n == 1 or (type(y) in _TENSORS and type(y._data) is _ndarray))):
            try:
                forward = self.numpy_forward
                out = forward(x._data) if n == 1 else forward(x._data, y._data)
            except (ValueError, TypeError, IndexError) as e:
                raise _op_error(self, args, params, e) from e
        else:
            args, params, out = self._general(args, params)
        if type(out) is not _ndarray and type(out) is not gpu_array_type():
            out = get_array_module(out).asarray(out)  # a NumPy scalar
        # Tensor._wrap's body, inline: a call here costs ~10% of a small op's dispatch
        result = _new(Tensor)
        result._data = out
        result._id = _next_id()
        recorder = _recorder.get()
        if recorder is not None:
            recorder.op(self, args, result, params)
        if self.differentiable:
            tapes = _active_tapes.get()
            if tapes:
                record(tapes, self, args, result, params)
        return result

    def _general(self, args: tuple, params: dict) -> tuple[tuple, dict, object]:
        """Bind positional parameters, convert non-tensors, pick the array module and run
        the forward; returns the inputs and parameters as recorded, and the output."""
        n = len(args)
        if n == self.nin and 0 < n <= 2:  # first the common cases, without binding
            x = args[0]
            y = args[1] if n == 2 else None
            if type(y) in _SCALARS and type(x) in _TENSORS:  # x * 2.0
                args = (x, _weak_scalar(y, x))
            elif type(x) in _SCALARS and type(y) in _TENSORS:  # 1.0 - x
                args = (_weak_scalar(x, y), y)
            x = args[0]
            y = args[1] if n == 2 else None
            if type(x) in _TENSORS and type(x._data) is _ndarray and (
                    n == 1 or (type(y) in _TENSORS and type(y._data) is _ndarray)):
                forward = self.numpy_forward  # parameters by keyword
                try:
                    return args, params, (forward(x._data, **params) if n == 1 else
                                          forward(x._data, y._data, **params))
                except (ValueError, TypeError, IndexError) as e:
                    raise _op_error(self, args, params, e) from e
            gpu = gpu_array_type()
            if type(x) in _TENSORS and type(x._data) is gpu and (n == 1 or (
                    type(y) in _TENSORS and type(y._data) is gpu
                    and y._data.device.id == x._data.device.id)):  # CuPy arrays, one device
                arrays = (x._data,) if n == 1 else (x._data, y._data)
                return args, params, self._compute(_cupy(), args, arrays, params)
        if len(args) != self.nin >= 0:
            args, params = self._bind(args, params)
        compute_dtype = _autocast.get()
        if compute_dtype is not None and self is not cast:  # inside a mixed-precision layer
            args = tuple(cast(a, dtype=compute_dtype) if type(a) is AutocastVariable else a
                         for a in args)
        try:
            arrays = tuple(map(_data_of, args))
        except AttributeError:
            args = self._coerce(args, params)
            arrays = tuple(map(_data_of, args))
        xp = np
        for a in arrays:
            if type(a) is not _ndarray:
                xp = _array_module(self, args)
                break
        return args, params, self._compute(xp, args, arrays, params)

    def _compute(self, xp, args: tuple, arrays: tuple, params: dict):
        """The forward (or the GPU kernel) on ``arrays``; errors name the op and ``args``."""
        try:
            if xp is np:
                return self.forward(np, *arrays, **params)
            return self.run(xp, *arrays, **params)
        except TapeError:
            raise
        except MemoryError as e:  # CuPy's OutOfMemoryError: say what was asked, and how much
            if xp is np:
                raise
            raise out_of_memory_error(f"in op '{self.name}' ({describe(args)})", e) from e
        except (ValueError, TypeError, IndexError) as e:
            raise _op_error(self, args, params, e) from e

    def _coerce(self, args: tuple, params: dict) -> tuple:
        try:
            return coerce(args)
        except (TapeError, ValueError, TypeError) as e:
            raise _op_error(self, args, params, e) from e

    def _bind(self, args: tuple, params: dict) -> tuple[tuple, dict]:
        """Split positional arguments into tensor inputs and parameters (``sum(x, 1)``)."""
        nin = self.nin
        if len(args) < nin:
            raise TypeError(f"{self.name}() takes {nin} tensor inputs, got {len(args)}")
        if len(args) - nin > len(self.param_names):
            raise TypeError(f"{self.name}() takes at most {nin + len(self.param_names)} "
                            f"arguments, got {len(args)}")
        params = dict(params)
        for name, value in zip(self.param_names, args[nin:]):
            if name in params:
                raise TypeError(f"{self.name}() got multiple values for '{name}'")
            params[name] = value
        return args[:nin], params

    def __repr__(self) -> str:
        kind = "differentiable" if self.differentiable else "non-differentiable"
        return f"<tape op '{self.name}' ({kind}, {self.nin} inputs)>"


def defop(name: str, nin: int = 1, differentiable: bool = True, **facts):
    """Declare a primitive from its ``xp`` forward: ``@defop("exp")``; ``facts`` set the
    record's other fields (``out=``, ``fresh=``, ``stateful=``...: see ``Op``)."""
    unknown = set(facts) - _FACTS
    if unknown:
        raise TypeError(f"defop({name!r}): unknown facts {sorted(unknown)}; see tape.ops.Op")

    def decorate(forward) -> Op:
        if name in REGISTRY:
            raise ValueError(f"op {name!r} is declared twice")
        op = Op(name, forward, nin, differentiable)
        for key, value in facts.items():
            setattr(op, key, value)
        if op.low_precision != "native":  # decided once: float32 inputs pay one dtype check
            assert op.low_precision in _LOW_PRECISION, op.low_precision
            op.forward = in_float32(forward, name, cast_up=op.low_precision == "cast_up",
                                    numpy_only=op.low_precision == "float32_on_numpy")
            op._native_numpy_forward = op.numpy_forward  # what a float32 replay calls
            op.numpy_forward = numpy_in_float32(op.forward, op.numpy_forward)
        REGISTRY[name] = op
        return op

    return decorate


_FACTS = frozenset({"out", "elementwise", "fresh", "stateful", "unit", "commutative",
                    "noop_if_same", "accumulator", "low_precision", "captured", "host_key"})
_LOW_PRECISION = ("native", "float32", "float32_on_numpy", "cast_up")  # Op.low_precision


def defufunc(name: str, nin: int = 1, ufunc: str | None = None, differentiable: bool = True,
             doc: str = "", out: bool = False, **facts) -> Op:
    """Declare an op that is exactly the array module's ufunc ``ufunc`` (default ``name``),
    e.g. ``exp = defufunc("exp", doc="...")``; its VJP is added with ``defvjp``. It is
    elementwise and fresh; ``out=True``: replay may compute it into buffers."""
    fn_name = ufunc or name
    facts = {"elementwise": True, "fresh": True, **facts}
    if out:
        facts["out"] = fn_name

    def forward(xp, *xs):
        return getattr(xp, fn_name)(*xs)

    forward.__doc__ = doc or f"Elementwise ``numpy.{fn_name}``" + (
        "." if differentiable else " (no gradient).")
    forward.__name__ = name
    op = defop(name, nin=nin, differentiable=differentiable, **facts)(forward)
    ufunc = getattr(np, fn_name)
    op.numpy_forward = op._native_numpy_forward = ufunc
    if op.low_precision != "native":
        op.numpy_forward = numpy_in_float32(op.forward, ufunc)
    return op


def _weak_scalar(value, beside):
    """A Python number next to a tensor, as a tensor of that tensor's dtype
    (``dtypes.weak_scalar_dtype``, as ``coerce`` does) on its device (a kept device
    constant on a GPU: ``backend.device_scalar``); unchanged where the tensor would be
    promoted (a float next to an integer tensor) or is not a NumPy or CuPy array, so that
    ``_general`` handles it."""
    data = beside._data
    kind = type(data)
    if ((kind is not _ndarray and kind is not gpu_array_type())
            or dtypes.weak_scalar_dtype(value, data.dtype) != data.dtype):
        return value
    scalar = _new(Tensor)  # Tensor._wrap's body, inline: the hot path (x * 2.0)
    scalar._data = (np.asarray(value, dtype=data.dtype) if kind is _ndarray else
                    device_scalar(value, data.dtype, f"gpu:{data.device.id}"))
    scalar._id = _next_id()
    return scalar


def coerce(args) -> tuple:
    """Turn non-tensor inputs into tensors; Python scalars take the dtype of the tensors
    beside them (weak typing, as in NumPy 2 and JAX). A Python float meeting integer
    tensors makes them float32, so ``int_tensor * 0.5`` is float32, as in JAX. Host values
    (numbers, NumPy arrays, lists) go to the device of the tensors beside them, as JAX and
    TensorFlow place constants; two tensors on two devices stay an error."""
    arrays = [a._data for a in args if isinstance(a, Tensor)]
    like = np.result_type(*[a.dtype for a in arrays]) if arrays else None
    xp = get_array_module(*arrays)
    if like is not None and like.kind in "biu" and any(type(a) is float for a in args):
        like = dtypes.DEFAULT_FLOAT
        args = [cast(a, dtype=like) if isinstance(a, Tensor) else a for a in args]
    out = []
    for a in args:
        if isinstance(a, Tensor):
            out.append(a)
        elif like is not None and isinstance(a, bool | int | float):
            dtype = dtypes.weak_scalar_dtype(a, like)
            out.append(Tensor._wrap(np.asarray(a, dtype=dtype) if xp is np else
                                    device_scalar(a, dtype, device_of(arrays[0]))))
        elif xp is np:
            out.append(Tensor._wrap(dtypes.to_array(a)))
        else:
            out.append(Tensor._wrap(xp.asarray(dtypes.to_array(a))))
    return tuple(out)


def convert(value, dtype=None, like=None) -> Tensor:
    """``value`` as a Tensor (tensors pass through unless a different dtype is asked); a
    host value beside ``like`` (a tensor) is made on ``like``'s device."""
    if isinstance(value, Tensor):
        if dtype is None or value.dtype == dtypes.as_dtype(dtype):
            return value
        return cast(value, dtype=dtypes.as_dtype(dtype))
    t = Tensor(value, dtype)
    if like is not None and type(like._data) is not _ndarray:
        t._data = get_array_module(like._data).asarray(t._data)
    return t


def _array_module(op: Op, args):
    devices = {a.device for a in args}
    if len(devices) > 1:
        raise DeviceError(
            f"{op.name}: inputs live on different devices ({describe(args)} on "
            f"{', '.join(a.device for a in args)}); move them with .to(device) "
            f"[at {user_line()}]"
        )
    return get_array_module(*(a._data for a in args))


def _op_error(op: Op, args, params, error: Exception) -> TapeError:
    shown = {k: v for k, v in params.items() if not callable(v)}
    message = str(error)
    if message.startswith(f"{op.name}:"):  # NumPy already named the op
        message = message[len(op.name) + 1:].lstrip()
    message = message.split(" [at ")[0]  # the user's line comes once, at the end
    detail = f"{op.name}: {message} (inputs: {describe(args)}"
    detail += f"; {shown})" if shown else ")"
    detail += f" [at {user_line()}]"
    if isinstance(error, TraceError | DeviceError):  # keeps its kind, now naming the op
        return type(error)(detail)
    if isinstance(error, IndexError):
        return IndexOutOfRangeError(detail)
    if isinstance(error, TypeError):
        return DTypeError(detail)
    return ShapeError(detail)


# ---- the one op dispatch itself uses -------------------------------------------------------


@defop("cast", noop_if_same=True, elementwise=True)
def cast(xp, x, dtype):
    """``x`` converted to ``dtype``; the gradient flows between float dtypes. Declared here,
    not with the other math, because ``coerce`` and ``convert`` convert through it (an op,
    so that a trace records the conversion). ``dtype`` may be a name, ``"bfloat16"``
    included (ml_dtypes' bfloat16).

    Example:
        >>> import tape
        >>> tape.cast(tape.tensor([1.5, 2.0]), "bfloat16").dtype.name
        'bfloat16'
    """
    if type(dtype) is str and dtype == "bfloat16":  # a name NumPy itself does not know
        dtype = dtypes.bfloat16()
    return x.astype(dtype, copy=False)


@cast.defvjp
def _cast_vjp(ctx, g):
    return cast(g, dtype=ctx.inputs[0].dtype)

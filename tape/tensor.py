"""Tensor (a read-only array plus its device) and Variable (the one mutable tensor).

Dunders reach the ops through one late-bound hook, ``_ops``, which ``tape.ops`` fills
at import time; this keeps the import graph one-way (DESIGN.md, "two seams").
"""

from __future__ import annotations

import itertools
import sys

import numpy as np

from . import _state, backend, dtypes
from .errors import DTypeError, ShapeError, TraceError, user_line

# sys.getrefcount of a Variable's array that nothing else holds, seen from _update: the
# local name, the _data attribute and getrefcount's argument.
_OWN_REFS = 3
_ops = None  # the tape.ops namespace, bound by tape.ops at import
_next_id = itertools.count().__next__
_recorder = _state.recorder


def bind_ops(namespace) -> None:
    global _ops
    _ops = namespace


class Tensor:
    """An immutable n-dimensional array on a device, recorded by active GradientTapes.

    Example:
        >>> import tape
        >>> x = tape.tensor([[1.0, 2.0], [3.0, 4.0]])
        >>> (x * 2).sum().item()
        20.0
    """

    # Set on few tensors and read with getattr: _logits on probabilities made by tape.logits,
    # _keras_mask on a layer's masked output (tape.layers.get_mask), as in Keras.
    __slots__ = ("_data", "_id", "_logits", "_keras_mask", "__weakref__")
    __array_priority__ = 1000  # ndarray <op> Tensor defers to Tensor

    def __init__(self, value, dtype=None):
        if isinstance(value, Tensor):
            value = value._data
        self._data = dtypes.to_array(value, dtype)
        self._id = _next_id()

    @staticmethod
    def _wrap(array, tensor_id: int | None = None) -> Tensor:
        """A Tensor over a raw array, without copying or checking (the op hot path): a new
        identity, or ``tensor_id``'s (a tape's snapshot of a Variable's current value)."""
        t = object.__new__(Tensor)
        t._data = array
        t._id = _next_id() if tensor_id is None else tensor_id
        return t

    # ---- attributes -------------------------------------------------------------------
    @property
    def shape(self) -> tuple:
        recorder = _recorder.get()
        if recorder is not None and recorder.sized:  # a size a trace's graph may depend on
            recorder.read_size(self)
        return self._data.shape

    @property
    def dtype(self) -> np.dtype:
        return self._data.dtype

    @property
    def ndim(self) -> int:
        return self._data.ndim

    @property
    def size(self) -> int:
        recorder = _recorder.get()
        if recorder is not None and recorder.sized:
            recorder.read_size(self)
        return self._data.size

    @property
    def device(self) -> str:
        return backend.device_of(self._data)

    @property
    def T(self) -> Tensor:
        return _ops.transpose(self)

    def numpy(self) -> np.ndarray:
        """The value as a read-only NumPy array (copied to the host for GPU tensors)."""
        _check_not_tracing("numpy()")
        array = backend.to_device(self._data, "cpu").view()
        array.flags.writeable = False
        return array

    def item(self):
        """The single value as a Python scalar."""
        _check_not_tracing("item()")
        if self.size != 1:
            raise ShapeError(
                f"item(): needs a tensor with one element, got shape {self.shape} "
                f"[at {user_line()}]"
            )
        if type(self._data) is not np.ndarray:
            backend.report_device_checks()
        return self._data.item()

    def astype(self, dtype) -> Tensor:
        return _ops.cast(self, dtype=dtypes.as_dtype(dtype))

    def to(self, device: str) -> Tensor:
        """A copy of this tensor on ``device`` ('cpu', 'gpu', 'gpu:N')."""
        return _ops.to_device(self, device=backend.parse_device(device))

    # ---- Python protocols ------------------------------------------------------------
    def __len__(self) -> int:
        if self.ndim == 0:
            raise TypeError("len() of a 0-d tensor")
        return self.shape[0]

    def __iter__(self):
        if self.ndim == 0:
            raise TypeError("iteration over a 0-d tensor")
        for i in range(self.shape[0]):
            yield self[i]

    def __bool__(self) -> bool:
        _check_not_tracing("bool()")
        if self.size != 1:
            raise ValueError(
                f"the truth value of a tensor of shape {self.shape} is ambiguous; "
                "use tape.any or tape.all"
            )
        if type(self._data) is not np.ndarray:
            backend.report_device_checks()
        return bool(self._data)

    def __float__(self) -> float:
        _check_not_tracing("float()")
        return float(self.item())

    def __format__(self, spec: str) -> str:
        """``f"{loss:.2f}"`` formats the value as NumPy does (a one-element tensor as its
        scalar); an empty spec gives ``str``."""
        if not spec:
            return str(self)
        _check_not_tracing("format()")
        value = self.numpy()
        return format(value.item() if value.size == 1 else value, spec)

    def __int__(self) -> int:
        _check_not_tracing("int()")
        return int(self.item())

    def __index__(self) -> int:
        if self.dtype.kind not in "iu" or self.ndim != 0:
            raise TypeError(f"only 0-d integer tensors can be used as an index, got {self!r}")
        return int(self._data)

    __hash__ = object.__hash__  # by identity, as in PyTorch: __eq__ is elementwise

    def __repr__(self) -> str:
        body = np.array2string(backend.to_device(self._data, "cpu"), separator=", ")
        body = body.replace("\n", "\n" + " " * 7)
        return f"Tensor({body}, dtype={self.dtype}, device={self.device})"

    def __array__(self, dtype=None, copy=None):
        _check_not_tracing("conversion to a NumPy array")
        array = backend.to_device(self._data, "cpu")
        if dtype is not None and array.dtype != dtype:
            return array.astype(dtype)
        if copy:
            return array.copy()
        # np.asarray(t) must not become a writable alias of an immutable tensor's buffer.
        view = array.view()
        view.flags.writeable = False
        return view

    def __array_ufunc__(self, ufunc, method, *inputs, **kwargs):
        return _ops.array_ufunc(ufunc, method, inputs, kwargs)

    def __array_function__(self, func, types, args, kwargs):
        return _ops.array_function(func, args, kwargs)

    def __getitem__(self, index) -> Tensor:
        return _ops.getitem(self, index)

    def __setitem__(self, index, value):
        raise TypeError(
            "tape tensors are immutable: build a new tensor (tape.where, concatenate...) or "
            "use a Variable and its assign()"
        )

    # ---- arithmetic: every operator is an op from the table ---------------------------
    def __add__(self, other):
        return _ops.add(self, other)

    def __radd__(self, other):
        return _ops.add(other, self)

    def __sub__(self, other):
        return _ops.subtract(self, other)

    def __rsub__(self, other):
        return _ops.subtract(other, self)

    def __mul__(self, other):
        return _ops.multiply(self, other)

    def __rmul__(self, other):
        return _ops.multiply(other, self)

    def __truediv__(self, other):
        return _ops.divide(self, other)

    def __rtruediv__(self, other):
        return _ops.divide(other, self)

    def __floordiv__(self, other):
        return _ops.floor_divide(self, other)

    def __rfloordiv__(self, other):
        return _ops.floor_divide(other, self)

    def __mod__(self, other):
        return _ops.mod(self, other)

    def __rmod__(self, other):
        return _ops.mod(other, self)

    def __pow__(self, other):
        if type(other) is int and other == 2:
            # x * x, as JAX's integer_pow: exact on every device, and so is its gradient
            # (2 * x), where CUDA's float64 pow(x, 1.0) in power's VJP is off by an ulp
            return _ops.square(self)
        return _ops.power(self, other)

    def __rpow__(self, other):
        return _ops.power(other, self)

    def __matmul__(self, other):
        return _ops.matmul(self, other)

    def __rmatmul__(self, other):
        return _ops.matmul(other, self)

    def __neg__(self):
        return _ops.negative(self)

    def __pos__(self):
        return self

    def __abs__(self):
        return _ops.abs(self)

    def __invert__(self):
        return _ops.logical_not(self)

    def __and__(self, other):
        return _ops.logical_and(self, other)

    def __or__(self, other):
        return _ops.logical_or(self, other)

    def __xor__(self, other):
        return _ops.logical_xor(self, other)

    def __eq__(self, other):
        return _ops.equal(self, other)

    def __ne__(self, other):
        return _ops.not_equal(self, other)

    def __lt__(self, other):
        return _ops.less(self, other)

    def __le__(self, other):
        return _ops.less_equal(self, other)

    def __gt__(self, other):
        return _ops.greater(self, other)

    def __ge__(self, other):
        return _ops.greater_equal(self, other)

    # ---- NumPy-style methods ------------------------------------------------------------
    def sum(self, axis=None, keepdims=False):
        return _ops.sum(self, axis=axis, keepdims=keepdims)

    def mean(self, axis=None, keepdims=False):
        return _ops.mean(self, axis=axis, keepdims=keepdims)

    def max(self, axis=None, keepdims=False):
        return _ops.max(self, axis=axis, keepdims=keepdims)

    def min(self, axis=None, keepdims=False):
        return _ops.min(self, axis=axis, keepdims=keepdims)

    def prod(self, axis=None, keepdims=False):
        return _ops.prod(self, axis=axis, keepdims=keepdims)

    def var(self, axis=None, keepdims=False, ddof=0):
        return _ops.var(self, axis=axis, keepdims=keepdims, ddof=ddof)

    def std(self, axis=None, keepdims=False, ddof=0):
        return _ops.std(self, axis=axis, keepdims=keepdims, ddof=ddof)

    def all(self, axis=None, keepdims=False):
        return _ops.all(self, axis=axis, keepdims=keepdims)

    def any(self, axis=None, keepdims=False):
        return _ops.any(self, axis=axis, keepdims=keepdims)

    def argmax(self, axis=None):
        return _ops.argmax(self, axis=axis)

    def argmin(self, axis=None):
        return _ops.argmin(self, axis=axis)

    def argsort(self, axis=-1):
        return _ops.argsort(self, axis=axis)

    def cumsum(self, axis=None):
        return _ops.cumsum(self, axis=axis)

    def clip(self, min=None, max=None):  # noqa: A002 - NumPy's names
        return _ops.clip(self, min=min, max=max)

    def round(self):
        return _ops.round(self)

    def swapaxes(self, axis1, axis2):
        return _ops.swapaxes(self, axis1, axis2)

    def reshape(self, *shape):
        if len(shape) == 1 and isinstance(shape[0], tuple | list):
            shape = tuple(shape[0])
        return _ops.reshape(self, shape)

    def transpose(self, *axes):
        if len(axes) == 1 and isinstance(axes[0], tuple | list):
            axes = tuple(axes[0])
        return _ops.transpose(self, axes or None)

    def flatten(self):
        return _ops.flatten(self)

    def tolist(self):
        """The values as nested Python lists (copied to the host), as ``ndarray.tolist``."""
        return self.numpy().tolist()

    def squeeze(self, axis=None):
        return _ops.squeeze(self, axis)


class Variable(Tensor):
    """A mutable tensor: model weights. Trainable Variables are watched by tapes on use.

    ``assign`` replaces the value (the old array is never changed in place, so a tape
    that saved it still computes correct gradients). As Keras 3's ``keras.Variable``, the
    value may be an initializer called with ``shape`` (and ``dtype``): ``Variable(
    initializer=tape.initializers.Ones(), shape=(2,))``.

    Example:
        >>> import tape
        >>> v = tape.Variable([1.0, 2.0], name="v")
        >>> v.assign_add([0.5, 0.5]).numpy().tolist()
        [1.5, 2.5]
    """

    __slots__ = ("trainable", "name", "_version")
    _count = itertools.count()

    def __init__(self, initial_value=None, trainable: bool = True, name: str | None = None,
                 dtype=None, *, shape=None, initializer=None):
        self.name = name if name is not None else f"Variable_{next(Variable._count)}"
        recorder = _state.recorder.get() or _state.lifted_recorder.get()
        if recorder is not None:
            recorder.new_variable(self)
        if isinstance(trainable, tuple | list):  # Keras 3's order: (initializer, shape, ...)
            shape, trainable = trainable, True
        initial_value = initializer if initial_value is None else initial_value
        if initial_value is None:
            raise TypeError("Variable needs an initial value (or initializer= and shape=)")
        if shape is not None and callable(initial_value):  # Keras 3: an initializer
            initial_value = initial_value(tuple(shape), dtype or "float32")
        elif callable(initial_value):
            initial_value = initial_value()
        super().__init__(initial_value, dtype)
        if not isinstance(initial_value, Tensor):  # host data: on the default device, as
            self._data = backend.to_default_device(self._data)  # TF places tf.Variable
        self.trainable = bool(trainable)
        self._version = 0

    def move_to(self, device: str) -> Variable:
        """Move the value to ``device`` (``'cpu'``, ``'gpu'``, ``'gpu:N'``) in place: the same
        Variable, so the models, optimizers and tapes that hold it keep holding it. Returns
        the Variable. (``v.to(device)`` is a copy, as for any tensor.)

        Example:
            >>> import tape
            >>> tape.Variable([1.0, 2.0]).move_to("cpu").device
            'cpu'
        """
        device = backend.parse_device(device)
        if self.device != device:
            self._data = backend.to_device(self._data, device)
        return self

    def _snapshot(self) -> Tensor:
        """A plain tensor with this Variable's identity and current value, for a tape."""
        return Tensor._wrap(self._data, self._id)

    def assign(self, value) -> Variable:
        """Replace the value; shape and dtype must stay the same."""
        data = self._checked(value, "assign")
        recorder = _state.recorder.get()
        if recorder is not None:  # a graph node: replay assigns in program order
            recorder.assign(self, value, data)
        self._data = data
        self._version += 1
        return self

    def assign_add(self, delta) -> Variable:
        """``self = self + delta``."""
        if _state.recorder.get() is not None:
            return self.assign(_ops.add(self, _ops.convert(delta, self.dtype, like=self)))
        return self._update(np.add, self._delta(delta, "assign_add"))

    def assign_sub(self, delta) -> Variable:
        """``self = self - delta``."""
        if _state.recorder.get() is not None:
            return self.assign(_ops.subtract(self, _ops.convert(delta, self.dtype, like=self)))
        return self._update(np.subtract, self._delta(delta, "assign_sub"))

    def _delta(self, delta, method: str):
        """``delta`` for ``_update``: a Python number added to a GPU scalar stays a scalar
        argument of the kernel (no copy to the device: ``iterations += 1`` every step)."""
        if type(delta) in (int, float) and not self.shape and type(self._data) is not np.ndarray:
            return self.dtype.type(delta)
        return self._checked(delta, method)

    def _update(self, ufunc, delta) -> Variable:
        """``self = ufunc(self, delta)``: in place when the reference count shows that only
        this Variable holds its array (no tape snapshot, no user view, as NumPy's own
        temporary elision reasons), else into a new array, so what others hold never
        changes."""
        data = self._data
        if (type(data) is np.ndarray and sys.getrefcount(data) == _OWN_REFS
                and data.flags.writeable and delta.shape == data.shape):
            ufunc(data, delta, out=data)
            self._version += 1
            return self
        return self.assign(ufunc(data, delta) if type(data) is np.ndarray else
                           (data + delta if ufunc is np.add else data - delta))

    def _checked(self, value, method: str):
        if type(value) is Tensor:  # the common case: a tensor of the right dtype and shape
            data, own = value._data, self._data
            if type(data) is type(own) and data.dtype == own.dtype and data.shape == own.shape:
                return data
        xp = backend.get_array_module(self._data)
        try:
            if isinstance(value, Tensor):  # from another device it is copied here, as an
                # assignment copies in any case (torch's copy_ across devices does too)
                data = xp.asarray(backend.to_device(value._data, self.device),
                                  dtype=self.dtype)  # immutable: no copy needed
            else:
                # Copy: a caller's array changed in place later must not change the
                # Variable (nor the value a tape saved for backward).
                data = xp.array(value, dtype=self.dtype, copy=True)
        except (TypeError, ValueError) as e:
            raise DTypeError(f"Variable {self.name!r}.{method}: cannot use {value!r}") from e
        if data.shape != self.shape:
            raise ShapeError(
                f"Variable {self.name!r}.{method}: value of shape {data.shape} does not match "
                f"the variable's shape {self.shape} [at {user_line()}]"
            )
        return data

    def __repr__(self) -> str:
        body = np.array2string(backend.to_device(self._data, "cpu"), separator=", ")
        return (
            f"<Variable {self.name!r} shape={self.shape} dtype={self.dtype} "
            f"trainable={self.trainable} device={self.device}, value={body}>"
        )


# The exact types the hot paths (op dispatch, a layer call) take as they are; an
# AutocastVariable, read in its layer's compute dtype, goes the general way.
PLAIN_TENSOR_TYPES = frozenset({Tensor, Variable})


class AutocastVariable(Variable):
    """A float Variable that ops read in the compute dtype of the layer calling them: a
    mixed-precision layer (policy ``mixed_bfloat16``/``mixed_float16``) keeps its weights
    in float32 and, inside its call, every op given one of them reads it through a
    recorded ``cast`` (so its gradient arrives in float32). Elsewhere (the optimizer,
    regularizers, saving) it is the float32 Variable it holds, as Keras' autocast
    variables are.

    Example:
        >>> import tape
        >>> from tape import _state
        >>> w = AutocastVariable([1.0, 2.0])
        >>> with _state.using(_state.autocast, tape.dtypes.as_dtype("float16")):
        ...     (w * 2.0).dtype
        dtype('float16')
        >>> w.dtype
        dtype('float32')
    """

    __slots__ = ()


def _check_not_tracing(what: str) -> None:
    function = _state.tracing.get()
    if function:
        raise TraceError(
            f"{what} reads a tensor's value into Python while tracing {function}, which a "
            f"static graph cannot do (data-dependent control flow); use tape.where(...) to "
            f"choose between values, or pass the value as a non-tensor argument "
            f"[at {user_line()}]"
        )

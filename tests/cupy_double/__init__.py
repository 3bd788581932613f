"""The CuPy double: a NumPy-backed stand-in for CuPy, so that a machine without a GPU runs
tape's GPU code paths (``TAPE_CUPY_DOUBLE=1 pytest -m gpu``, part of ``make test``).

``install()`` puts modules named ``cupy``, ``cupy.cuda``, ``cupyx``, ... in ``sys.modules``.
Their arrays hold NumPy arrays, and they are stricter than NumPy where CuPy is:

- the names are CuPy's own, recorded from CuPy 14 in ``cupy_api.json`` (``record_api.py``):
  a NumPy function, array method, flag or generator method that CuPy lacks is an
  AttributeError here, as it would be on a GPU (``flags.writeable``, ``Generator.normal``);
- a NumPy array never mixes in: passed to a function, a ufunc or an operator it raises
  TypeError, and ``np.asarray(gpu_array)`` raises as CuPy's does (only ``asarray``/``array``
  copy host data in, ``.get()``/``asnumpy`` copy it out, indices may be host arrays);
- reductions and scalar indexing give 0-d arrays, not NumPy scalars;
- an out-of-bounds integer array index wraps around, as CuPy's does (NumPy raises): only
  tape's own checks can catch a bad index on the GPU path;
- ``count_transfers()`` counts the copies between host and device (tests/test_gpu_transfers.py);
- float16/bfloat16 as CuPy 14 holds them (lowp.py): matrix products accumulate in float32 and
  record their compute type (TF32 under ``set_compute_type``/the cuBLAS math mode) in
  ``lowp().gemms``; where CuPy 14 has no bfloat16 loop (rounding, FFTs, cupyx) it raises;
- ``cupy.RawModule`` compiles the kernel source with g++ under kernels/emulation/cuda_emu.h
  and launches through the kernel's own C signature (as CUDA's kernelParams do), checking
  each argument's kind and size against it; a NumPy array passed to a kernel is refused,
  and a device address (``ndarray.data.ptr``) is not a host address: a kernel given a host
  pointer as an address (the fused optimizers' arguments) fails its launch, as it faults
  on a GPU; parameters over CUDA's 4 KiB are refused;
- streams, stream capture and CUDA graphs (capture.py): work on a capturing stream is
  recorded and runs at the graph's launch; host reads, synchronizes, pageable copies,
  CuPy's cuBLAS and allocations a warm private ``MemoryPool`` cannot serve are refused in
  a capture; ``cublas_lib.py`` stands in for libcublas behind tape.cublas (installed by
  tests/conftest.py).

What it cannot see: anything about the hardware (speed, memory, races, warp timing), CuPy's
own numerics (its transcendental functions, reduction order, float-to-int casts), NVRTC's
compiler, the asynchrony of streams (each stream's work runs at once, in program order), and
CuPy behaviour that differs from NumPy's with the same name and arguments. It is a check of
tape's code on the GPU path, not a GPU.
"""

from __future__ import annotations

import ctypes
import functools
import importlib.util
import inspect
import json
import numbers
import sys
import types
import weakref
from pathlib import Path

import numpy as np
import scipy.special

HERE = Path(__file__).resolve().parent
API = {key: set(names) if isinstance(names, list) else names
       for key, names in json.loads((HERE / "cupy_api.json").read_text()).items()}
DEVICE_COUNT = 1
# Small launch limits keep the emulated launches (an OS thread per CUDA thread) cheap.
PROPERTIES = {"name": b"CuPy double (NumPy)", "multiProcessorCount": 2,
              "maxThreadsPerBlock": 1024, "maxThreadsPerMultiProcessor": 2048,
              "totalGlobalMem": 16 << 30, "major": 9, "minor": 0, "warpSize": 32}


class CUDARuntimeError(RuntimeError):
    """What CuPy raises for a failed CUDA runtime call."""


def _load_capture():
    """capture.py (streams, stream capture, graphs, pools), loaded by path as lowp.py is."""
    spec = importlib.util.spec_from_file_location("tape_cupy_double_capture",
                                                  HERE / "capture.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    module.CUDARuntimeError = CUDARuntimeError
    return module


_cap = _load_capture()
_MUTATES = {"copyto", "put", "place", "putmask", "fill_diagonal", "ndarray.fill",
            "ndarray.sort", "ndarray.put", "ndarray.partition"}


def _capture():
    """The capture the current stream records into, or None (cheap when none runs)."""
    return _cap.capturing() if _cap.CAPTURING else None


def _host_array_error(where: str) -> TypeError:
    return TypeError(f"{where}: Unsupported type <class 'numpy.ndarray'> (CuPy double: a NumPy "
                     "array reached a CuPy call; move it with cupy.asarray first)")


# ---- transfers between host and device ---------------------------------------------------------


class Transfers:
    """The copies between host and device seen while ``count_transfers()`` is active: ``h2d``
    (host data made a device array: ``asarray``/``array`` of numbers, lists or NumPy arrays,
    ``set``, host index arrays) and ``d2h`` (a device value read on the host: ``get``,
    ``asnumpy``, ``item``, ``tolist``, ``bool``/``float``/``int`` of an array, its repr),
    each also in ``log`` as (kind, what, the caller's file:line outside the double)."""

    def __init__(self):
        self.h2d = self.d2h = 0
        self.log: list[tuple[str, str, str]] = []

    def add(self, kind: str, what: str) -> None:
        setattr(self, kind, getattr(self, kind) + 1)
        frame = sys._getframe(2)
        while frame is not None and frame.f_code.co_filename in (__file__, np.__file__):
            frame = frame.f_back
        where = "?" if frame is None else (f"{frame.f_code.co_filename}:{frame.f_lineno} "
                                           f"({frame.f_code.co_name})")
        self.log.append((kind, what, where))


_counters: list[Transfers] = []


class count_transfers:
    """``with count_transfers() as t: ...``: the transfers made inside, in ``t``."""

    def __enter__(self) -> Transfers:
        self.transfers = Transfers()
        _counters.append(self.transfers)
        return self.transfers

    def __exit__(self, *exc):
        _counters.remove(self.transfers)


def _transfer(kind: str, what: str) -> None:
    for counter in _counters:
        counter.add(kind, what)


def _holds_host_array(index) -> bool:
    """An index that CuPy must copy to the device (a NumPy array or a list in it)."""
    if isinstance(index, tuple):
        return any(_holds_host_array(i) for i in index)
    return isinstance(index, np.ndarray | list)


def _wrapped_index(shape: tuple, index):
    """``index`` with its integer arrays taken modulo their axis's length: CuPy wraps an
    out-of-bounds integer array index around where NumPy raises (its documented
    difference), so a bad index surfaces only through tape's own checks, as on a GPU."""
    items = list(index) if isinstance(index, tuple) else [index]
    items = [np.asarray(i) if isinstance(i, list) else i for i in items]

    def axes(item):
        if item is None or item is Ellipsis:
            return 0
        if isinstance(item, np.ndarray) and item.dtype == bool:
            return item.ndim
        return 1

    axis, out = 0, []
    for item in items:
        if item is Ellipsis:
            axis = len(shape) - sum(axes(i) for i in items[items.index(item) + 1:])
        elif (isinstance(item, np.ndarray) and item.dtype.kind in "iu" and axis < len(shape)
              and shape[axis] > 0):
            item = item % shape[axis]
        axis += axes(item)
        out.append(item)
    return tuple(out) if isinstance(index, tuple) else out[0]


# ---- wrapping: arrays in, arrays out ---------------------------------------------------------


def _unwrap(value, where: str, host_ok: bool = False):
    """NumPy values of the double's arrays, recursively through lists and tuples."""
    kind = type(value)
    if kind is ndarray:
        return value._a
    if isinstance(value, np.ndarray):
        if host_ok:
            return value
        raise _host_array_error(where)
    if kind is list or kind is tuple:
        return kind(_unwrap(v, where, host_ok) for v in value)
    return value


def _unwrap_all(where, args, kwargs, host_ok=False):
    return (tuple(_unwrap(a, where, host_ok) for a in args),
            {k: _unwrap(v, where, host_ok) for k, v in kwargs.items()})


def _wrap(result):
    """The double's arrays for NumPy arrays and scalars (CuPy returns 0-d arrays)."""
    if isinstance(result, np.ndarray):
        return ndarray._of(result)
    if isinstance(result, np.generic):
        return ndarray._of(np.asarray(result))
    if isinstance(result, tuple):
        items = [_wrap(r) for r in result]
        return type(result)(*items) if hasattr(result, "_fields") else tuple(items)
    if isinstance(result, list):
        return [_wrap(r) for r in result]
    return result


def _signature(spec) -> inspect.Signature:
    """A recorded CuPy signature (``record_api.signatures``), defaults left out."""
    return inspect.Signature([
        inspect.Parameter(name, inspect._ParameterKind(kind),
                          default=None if has_default else inspect.Parameter.empty)
        for name, kind, has_default in spec])


_READS = {"ndarray.item", "ndarray.tolist"}  # array methods that return host values


def _function(name: str, fn, host_ok: bool = False, signature=None):
    @functools.wraps(fn)
    def call(*args, **kwargs):
        if signature is not None:  # CuPy's own parameters, not NumPy's
            try:
                signature.bind(*args, **kwargs)
            except TypeError as e:
                raise TypeError(f"cupy.{name}{signature}: {e} (CuPy's signature)") from None
        if host_ok and _counters and args and type(args[0]) is not ndarray:
            _transfer("h2d", f"cupy.{name}")
        elif name in _READS and _counters:
            _transfer("d2h", f"cupy.{name}")
        if _cap.CAPTURING or _cap.ALLOCATORS:
            return _function_in_capture(name, fn, host_ok, args, kwargs)
        args, kwargs = _unwrap_all(f"cupy.{name}", args, kwargs, host_ok)
        return _wrap(fn(*args, **kwargs))

    return call


def _function_in_capture(name, fn, host_ok, args, kwargs):
    """A function while a stream captures or a pool is tracked: recorded when the current
    stream captures (host copies and reads refused), and an array that comes back as it
    went in keeps its wrapper (it is no new allocation)."""
    wrappers = {id(a._a): a for a in (*args, *kwargs.values()) if type(a) is ndarray}
    capture = _capture()
    if capture is not None:
        if host_ok and args and type(args[0]) is not ndarray:
            _cap.refuse(f"a copy of host data to the device (cupy.{name})")
        if name in _READS:
            _cap.refuse(f"a read of a device value on the host (cupy.{name})")
    args, kwargs = _unwrap_all(f"cupy.{name}", args, kwargs, host_ok)
    if capture is None:
        result = fn(*args, **kwargs)
    else:
        owner = [x for x in (getattr(fn, "__self__", None), *getattr(fn, "args", ()))
                 if isinstance(x, np.ndarray)]  # a bound method's array, a partial's
        result = capture.call(f"cupy.{name}", fn, args, kwargs,
                              mutates=name in _MUTATES or kwargs.get("out") is not None,
                              related=owner)
    same = wrappers.get(id(result))
    return same if same is not None else _wrap(result)


def _scalar_or_array(value, where: str):
    """A ufunc operand: one of the double's arrays or a scalar, as CuPy's ufuncs take."""
    if type(value) is ndarray:
        return value._a
    if isinstance(value, np.ndarray):
        raise _host_array_error(where)
    if isinstance(value, numbers.Number | np.generic | bool):
        return value
    raise TypeError(f"{where}: Unsupported type {type(value)} (CuPy's ufuncs take CuPy arrays "
                    "and scalars only)")


class ufunc:
    """CuPy's ufunc: operands must be CuPy arrays or scalars; ``out`` a CuPy array."""

    def __init__(self, np_ufunc):
        self._u = np_ufunc
        self.name, self.nin, self.nout, self.nargs = (np_ufunc.__name__, np_ufunc.nin,
                                                      np_ufunc.nout, np_ufunc.nargs)

    def _call(self, method, operands, kwargs, host_index=None):
        where = f"cupy.{self.name}" + ("" if method == "__call__" else f".{method}")
        values = [(_unwrap(v, where, host_ok=True) if i == host_index
                   else _scalar_or_array(v, where)) for i, v in enumerate(operands)]
        out = kwargs.get("out")
        if out is not None:
            outs = out if isinstance(out, tuple) else (out,)
            if any(type(o) is not ndarray for o in outs):
                raise TypeError(f"{where}: out must be a cupy.ndarray")
            kwargs["out"] = tuple(o._a for o in outs) if isinstance(out, tuple) else out._a
        kwargs = {k: (v if k == "out" else _unwrap(v, where)) for k, v in kwargs.items()}
        if self.name in lowp().NO_BF16_UFUNCS or method == "at":
            lowp().refuse_bfloat16(where, values)
        capture = _capture()
        if capture is not None:
            result = capture.call(where, getattr(self._u, method), tuple(values), kwargs,
                                  mutates=out is not None or method == "at")
        else:
            result = getattr(self._u, method)(*values, **kwargs)
        return out if out is not None else _wrap(result)

    def __call__(self, *operands, **kwargs):
        return self._call("__call__", operands, kwargs)

    def reduce(self, array, *args, **kwargs):
        return self._call("reduce", (array, *args), kwargs)

    def accumulate(self, array, *args, **kwargs):
        return self._call("accumulate", (array, *args), kwargs)

    def outer(self, a, b, **kwargs):
        return self._call("outer", (a, b), kwargs)

    def at(self, a, indices, b=None):
        if _counters and _holds_host_array(indices):
            _transfer("h2d", f"cupy.{self.name}.at index")
        if _holds_host_array(indices):
            _cap.refuse(f"a copy of a host index to the device (cupy.{self.name}.at)")
        operands = (a, indices) if b is None else (a, indices, b)
        self._call("at", operands, {}, host_index=1)

    def __repr__(self):
        return f"<ufunc '{self.name}'>"


@functools.cache
def _ufunc(np_ufunc) -> ufunc:
    return ufunc(np_ufunc)


# ---- the array ------------------------------------------------------------------------------


class Flags:
    """CuPy's flags: only these three (no ``writeable``, no ``aligned``)."""

    def __init__(self, a):
        self.c_contiguous = bool(a.flags.c_contiguous)
        self.f_contiguous = bool(a.flags.f_contiguous)
        self.owndata = bool(a.flags.owndata)

    def __getitem__(self, name):
        return getattr(self, {"C_CONTIGUOUS": "c_contiguous", "F_CONTIGUOUS": "f_contiguous",
                              "OWNDATA": "owndata"}[name])


class MemoryPointer:
    """The device pointer of an array: the address of its NumPy buffer with the emulated
    device's address bit set (tests/kernels/emulator.py), so that a kernel given it as an
    address (the fused optimizers' arguments) reads the array, and a host address in its
    place fails the launch as it faults on a GPU. Pointers handed out by ``ndarray.data``
    are remembered (weakly), so that NCCL calls take only live device memory, as the real
    library faults on host pointers."""

    def __init__(self, ptr: int, device_id: int = 0, owner: np.ndarray | None = None):
        self.ptr = int(ptr) | _emulator().DEVICE_ADDRESS_BIT
        self.device = Device(device_id)
        self.device_id = device_id
        if owner is not None:  # the buffer a view looks into lives as long as its base
            _DEVICE_POINTERS[self.ptr] = weakref.ref(_cap.root_of(owner))


_DEVICE_POINTERS: dict = {}  # address -> weak reference to the NumPy buffer behind it


class ndarray:
    """A CuPy array of the double: a NumPy array behind CuPy's interface."""

    __slots__ = ("_a", "__weakref__")
    __array_priority__ = 100
    __hash__ = None

    def __init__(self, shape, dtype=float, memptr=None, strides=None, order="C"):
        if memptr is not None or strides is not None:
            raise NotImplementedError("the CuPy double makes arrays from shapes only")
        self._a = np.empty(shape, dtype=dtype, order=order)
        capture = _capture()
        if capture is not None:
            capture.allocated(self._a)
        if _cap.ALLOCATORS:
            _cap.track(self, self._a)

    @classmethod
    def _of(cls, array: np.ndarray) -> ndarray:
        new = object.__new__(cls)
        new._a = array
        if _cap.ALLOCATORS:
            _cap.track(new, array)
        return new

    # what CuPy computes itself
    device = property(lambda self: Device(0))
    flags = property(lambda self: Flags(self._a))
    data = property(lambda self: MemoryPointer(self._a.ctypes.data, owner=self._a))

    def get(self, stream=None, order="C", out=None, blocking=True):
        """A NumPy copy on the host (the one explicit way out, with ``asnumpy``)."""
        if _counters:
            _transfer("d2h", "cupy.ndarray.get")
        _cap.refuse("a read of a device value on the host (cupy.ndarray.get)")
        if out is not None:
            out[...] = self._a
            return out
        return np.array(self._a, order=order, copy=True)

    def set(self, arr, stream=None):
        if not isinstance(arr, np.ndarray) or arr.shape != self.shape:
            raise ValueError("set: needs a NumPy array of the same shape")
        if _counters:
            _transfer("h2d", "cupy.ndarray.set")
        _cap.refuse("a copy of pageable host memory to the device (cupy.ndarray.set)")
        self._a[...] = arr

    def __getattr__(self, name):
        if name not in API["ndarray"]:
            raise AttributeError(f"'cupy.ndarray' object has no attribute {name!r} (CuPy has "
                                 "no such attribute)")
        if name in ("sum", "mean"):
            return _function(f"ndarray.{name}", functools.partial(
                lowp().reduce_in_float32(getattr(np, name)), self._a))
        if name == "dot":
            return functools.partial(_gemm("dot", np.dot), self)
        value = getattr(self._a, name)
        if callable(value):
            return _function(f"ndarray.{name}", value)
        return _wrap(value) if isinstance(value, np.ndarray) else value

    def __array__(self, dtype=None, copy=None):
        raise TypeError("Implicit conversion to a NumPy array is not allowed. Please use "
                        "`.get()` to construct a NumPy array explicitly.")

    def __array_ufunc__(self, np_ufunc, method, *inputs, **kwargs):
        u = _ufunc(np_ufunc)
        return u(*inputs, **kwargs) if method == "__call__" else getattr(u, method)(*inputs,
                                                                                    **kwargs)

    def __array_function__(self, func, types_, args, kwargs):
        module = _MODULES.get(func.__module__.replace("numpy", "cupy", 1).replace("cupy._core",
                                                                                  "cupy"))
        name = func.__name__
        if module is None or name not in _names_of(module.__name__):
            raise TypeError(f"numpy.{name} has no CuPy counterpart the double knows of")
        return getattr(module, name)(*args, **kwargs)

    def __getitem__(self, index):
        if _counters and _holds_host_array(index):
            _transfer("h2d", "cupy.ndarray.__getitem__ index")
        host_index = _holds_host_array(index)  # before unwrapping: device arrays are fine
        index = _unwrap(index, "cupy.ndarray.__getitem__", host_ok=True)
        capture = _capture()
        if capture is not None:
            if host_index:
                _cap.refuse("a copy of a host index to the device (cupy.ndarray.__getitem__)")
            return _wrap(capture.call("cupy.ndarray.__getitem__", _take, (self._a, index), {}))
        return _wrap(self._a[_wrapped_index(self._a.shape, index)])

    def __setitem__(self, index, value):
        if isinstance(value, np.ndarray) and value.ndim:
            raise ValueError("non-scalar numpy.ndarray cannot be used for fill")
        if _counters and (_holds_host_array(index) or isinstance(value, list | tuple)):
            _transfer("h2d", "cupy.ndarray.__setitem__ index or value")
        host = _holds_host_array(index) or isinstance(value, list | tuple)
        index = _unwrap(index, "cupy.ndarray.__setitem__", host_ok=True)
        value = (_scalar_or_array(value, "cupy.ndarray.__setitem__")
                 if not isinstance(value, list | tuple) else value)
        capture = _capture()
        if capture is not None:
            if host:
                _cap.refuse("a copy of host data to the device (cupy.ndarray.__setitem__)")
            capture.record("cupy.ndarray.__setitem__", functools.partial(
                _put, self._a, index, value))
            return
        _put(self._a, index, value)

    def __len__(self):
        return len(self._a)

    def __iter__(self):
        return (_wrap(row) for row in self._a)

    def __copy__(self):
        capture = _capture()
        if capture is not None:
            return _wrap(capture.call("cupy.ndarray.copy", np.copy, (self._a,), {}))
        return ndarray._of(self._a.copy())

    def __deepcopy__(self, memo):
        return self.__copy__()


def _take(a: np.ndarray, index):
    """``a[index]`` as CuPy indexes (out-of-bounds integer arrays wrap around)."""
    return a[_wrapped_index(a.shape, index)]


def _put(a: np.ndarray, index, value) -> None:
    a[_wrapped_index(a.shape, index)] = value


def _operator(name: str):
    if name in ("__matmul__", "__rmatmul__"):  # a product: compute type recorded (lowp.py)
        def product(self, other):
            if isinstance(other, np.ndarray) or type(other) in (list, tuple):
                raise TypeError(f"cupy.ndarray.{name}: Unsupported type {type(other)}")
            if type(other) is not ndarray:
                return NotImplemented
            pair = (self, other) if name == "__matmul__" else (other, self)
            return _gemm("matmul", np.matmul)(*pair)

        product.__name__ = name
        return product
    in_place = name.startswith("__i") and name not in ("__invert__",)

    def method(self, other):
        if isinstance(other, np.ndarray) or type(other) in (list, tuple):
            raise TypeError(f"cupy.ndarray.{name}: Unsupported type {type(other)}")
        if not isinstance(other, ndarray | numbers.Number | np.generic | bool):
            return NotImplemented
        capture = _capture()
        if capture is not None:
            call = functools.partial(_apply, name)
            if in_place:
                capture.record(f"cupy.ndarray.{name}", functools.partial(
                    call, self._a, _unwrap(other, name)))
                return self
            return _wrap(capture.call(f"cupy.ndarray.{name}", call,
                                      (self._a, _unwrap(other, name)), {}))
        result = getattr(self._a, name)(_unwrap(other, name))
        if result is NotImplemented:
            return result
        return self if in_place else _wrap(result)

    method.__name__ = name
    return method


def _apply(name: str, a: np.ndarray, *other):
    return getattr(a, name)(*other)


def _unary(name: str):
    def method(self):
        capture = _capture()
        if capture is not None:
            return _wrap(capture.call(f"cupy.ndarray.{name}", functools.partial(_apply, name),
                                      (self._a,), {}))
        return _wrap(getattr(self._a, name)())

    method.__name__ = name
    return method


for _base in ("add", "sub", "mul", "truediv", "floordiv", "mod", "pow", "matmul", "and", "or",
              "xor", "lshift", "rshift"):
    for _name in (f"__{_base}__", f"__r{_base}__", f"__i{_base}__"):
        setattr(ndarray, _name, _operator(_name))
for _name in ("__divmod__", "__rdivmod__", "__eq__", "__ne__", "__lt__", "__le__", "__gt__",
              "__ge__"):
    setattr(ndarray, _name, _operator(_name))
for _name in ("__neg__", "__pos__", "__abs__", "__invert__"):
    setattr(ndarray, _name, _unary(_name))
def _host_read(convert):
    def method(self):
        if _counters:
            _transfer("d2h", f"{convert.__name__}(cupy.ndarray)")
        _cap.refuse(f"a read of a device value on the host ({convert.__name__}(cupy.ndarray))")
        return convert(self._a)

    method.__name__ = f"__{convert.__name__}__"
    return method


for _convert in (bool, float, int, complex, repr, str):  # as CuPy, through the host value
    setattr(ndarray, f"__{_convert.__name__}__", _host_read(_convert))
ndarray.__module__ = "cupy"


# ---- modules --------------------------------------------------------------------------------

# Functions that copy host data to the device; everything else rejects NumPy arrays.
_TAKES_HOST = {"asarray", "array", "asanyarray"}
_MODULES: dict[str, types.ModuleType] = {}


def _names_of(module_name: str) -> set:
    key = module_name[len("cupy."):] if module_name.startswith("cupy.") else module_name
    return API.get(key, set())


class _DoubleModule(types.ModuleType):
    """A module of CuPy's names, each answered from its NumPy (or SciPy) counterpart."""

    def __init__(self, name: str, source, names: set, own: dict | None = None):
        super().__init__(name)
        self._source, self._names = source, names
        for key, value in (own or {}).items():
            setattr(self, key, value)

    def __getattr__(self, name):
        if name.startswith("__") or name not in self._names:
            raise AttributeError(f"module {self.__name__!r} has no attribute {name!r}")
        if not hasattr(self._source, name):
            raise AttributeError(f"{self.__name__}.{name} is CuPy's, but the CuPy double does "
                                 "not emulate it")
        value = getattr(self._source, name)
        if name in ("sum", "mean") and self.__name__ == "cupy":
            value = lowp().reduce_in_float32(value)
        if isinstance(value, np.ufunc):
            value = _ufunc(value)
        elif callable(value) and not isinstance(value, type):
            spec = API["signatures"].get(self.__name__, {}).get(name)
            value = _function(name, value, host_ok=name in _TAKES_HOST,
                              signature=None if spec is None else _signature(spec))
        if callable(value) and not isinstance(value, type) and (
                self.__name__ in ("cupy.fft", "cupyx.scipy.special")
                or (self.__name__ == "cupy" and name in lowp().NO_BF16_FUNCTIONS)):
            value = _refusing_bfloat16(f"{self.__name__}.{name}", value)
        setattr(self, name, value)  # cached
        return value


def asarray(a, dtype=None, order=None, *, blocking=False):
    """The array itself when it needs no conversion, else a device copy (host data copied)."""
    if type(a) is ndarray:
        capture = _capture()
        if capture is not None:
            converted = capture.call("cupy.asarray", np.asarray, (a._a,),
                                     {"dtype": dtype, "order": order})
        else:
            converted = np.asarray(a._a, dtype=dtype, order=order)
        return a if converted is a._a else ndarray._of(converted)
    if _counters:
        _transfer("h2d", "cupy.asarray")
    _cap.refuse("a copy of pageable host memory to the device (cupy.asarray)")
    return ndarray._of(np.array(_unwrap(a, "cupy.asarray", host_ok=True), dtype=dtype,
                                order=order or "K", copy=True))


def asnumpy(a, stream=None, order="C", out=None, blocking=True):
    if type(a) is ndarray:
        return a.get(order=order, out=out)  # counted there
    return np.asarray(a, order=order)


def get_array_module(*args):
    return _MODULES["cupy"] if any(type(a) is ndarray for a in args) else np


class _MemoryPool:
    def used_bytes(self):
        return 0

    def total_bytes(self):
        return 0

    def free_all_blocks(self):
        pass


_POOL, _PINNED_POOL = _MemoryPool(), _MemoryPool()


# ---- cupy.cuda ------------------------------------------------------------------------------

_current_device = [0]


class Device:
    """A CUDA device of the double (one, ``gpu:0``)."""

    def __init__(self, device=None):
        self.id = _current_device[-1] if device is None else int(device)

    def _check(self):
        if not 0 <= self.id < DEVICE_COUNT:
            raise CUDARuntimeError("cudaErrorInvalidDevice: invalid device ordinal")

    def __enter__(self):
        self._check()
        _current_device.append(self.id)
        return self

    def __exit__(self, *exc):
        _current_device.pop()

    def use(self):
        self._check()
        _current_device[0] = self.id

    def synchronize(self):
        self._check()
        if _cap.CAPTURING:  # every capture is invalidated
            message = "cudaErrorStreamCaptureUnsupported: a device synchronize while a " \
                      "stream captures"
            for stream in _cap.CAPTURING:
                stream._capture.invalid = stream._capture.invalid or message
            raise CUDARuntimeError(message)

    compute_capability = property(lambda self: "90")
    mem_info = property(lambda self: _runtime_mem_get_info())

    def __eq__(self, other):
        return isinstance(other, Device) and other.id == self.id

    def __hash__(self):
        return hash(self.id)

    def __repr__(self):
        return f"<CUDA Device {self.id}>"


def _runtime_mem_get_info():
    return (PROPERTIES["totalGlobalMem"], PROPERTIES["totalGlobalMem"])


def _device_properties(device_id):
    Device(device_id)._check()
    return dict(PROPERTIES)


# ---- cupy.RawModule: kernels compiled by g++ under the CUDA emulation header ------------------


@functools.cache
def lowp():
    """tests/cupy_double/lowp.py (one instance: it holds the compute types and the log)."""
    spec = importlib.util.spec_from_file_location("tape_cupy_double_lowp", HERE / "lowp.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _gemm(name: str, fn):
    call = lowp().gemm(name, fn,
                       lambda args, kwargs: _unwrap_all(f"cupy.{name}", args, kwargs), _wrap)

    @functools.wraps(call)
    def product(*args, **kwargs):
        if _capture() is not None:  # CuPy's cuBLAS binding refuses before any CUDA call
            raise NotImplementedError(f"cupy.{name}: calling cuBLAS API during stream "
                                      "capture is currently unsupported")
        return call(*args, **kwargs)

    return product


def _refusing_bfloat16(where: str, fn):
    """``fn`` (a double's function) refusing bfloat16 arrays, as CuPy 14 has no loop for it."""

    @functools.wraps(fn)
    def call(*args, **kwargs):
        lowp().refuse_bfloat16(where, [a._a for a in (*args, *kwargs.values())
                                       if type(a) is ndarray])
        return fn(*args, **kwargs)

    return call


@functools.cache
def _emulator():
    """tests/kernels/emulator.py, loaded by path (its package name clashes with kernels/)."""
    spec = importlib.util.spec_from_file_location("tape_tests_emulator",
                                                  HERE.parent / "kernels" / "emulator.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


# The launch shim: reads each argument through the kernel's own parameter types, as CUDA's
# kernelParams are read, and reports those types so that the caller can check its arguments.
_SHIM = """
#include <cstddef>
#include <tuple>
#include <type_traits>
#include <utility>

namespace tape_double {
template <typename P> int kind() {  // 0 pointer, 1 integer, 2 floating point
    return std::is_pointer<P>::value ? 0 : std::is_floating_point<P>::value ? 2 : 1;
}
template <typename P> long pointee_size() {
    if constexpr (std::is_pointer<P>::value) return sizeof(std::remove_pointer_t<P>);
    else return 0;
}
template <typename... P> int describe(void (*)(P...), long* out, int capacity) {
    int i = 0;
    ((i < capacity ? (out[3 * i] = kind<P>(), out[3 * i + 1] = sizeof(P),
                      out[3 * i + 2] = pointee_size<P>(), ++i) : ++i), ...);
    return static_cast<int>(sizeof...(P));
}
template <typename... P, std::size_t... I>
int invoke(void (*f)(P...), unsigned grid, unsigned block, void** args,
           std::index_sequence<I...>) {
    return tape_emu::launch(grid, block, [=] {
        f(*static_cast<std::remove_cv_t<std::remove_reference_t<P>>*>(args[I])...);
    });
}
template <typename... P>
int launch(void (*f)(P...), unsigned grid, unsigned block, void** args) {
    return invoke(f, grid, block, args, std::index_sequence_for<P...>{});
}
}  // namespace tape_double

extern "C" int tape_double_describe(long* out, int capacity) {
    return tape_double::describe(&SYMBOL, out, capacity);
}
extern "C" int tape_double_launch(unsigned grid, unsigned block, void** args) {
    return tape_double::launch(&SYMBOL, grid, block, args);
}
extern "C" const char* tape_emu_last_error() { return tape_emu::last_error.c_str(); }
"""

_C_SCALARS = {np.dtype(np.int64): ctypes.c_int64, np.dtype(np.int32): ctypes.c_int32,
              np.dtype(np.uint64): ctypes.c_uint64, np.dtype(np.uint32): ctypes.c_uint32,
              np.dtype(np.float64): ctypes.c_double, np.dtype(np.float32): ctypes.c_float}


class RawKernel:
    """One ``extern "C" __global__`` function of a RawModule, launched on the emulation."""

    def __init__(self, code: str, name: str):
        self.code, self.name = code, name

    @functools.cached_property
    def _library(self):
        program = f"{self.code}\n{_SHIM.replace('SYMBOL', self.name)}"
        return _emulator().library(program)

    @functools.cached_property
    def _params(self) -> list[tuple[int, int, int]]:
        """(kind, size, pointee size) per parameter. CUDA refuses a kernel whose parameters
        take more than 4 KiB (before CUDA 12.1, and on any GPU older than Volta)."""
        capacity = 1024
        out = (ctypes.c_long * (3 * capacity))()
        count = self._library.tape_double_describe(out, capacity)
        if count > capacity:
            raise NotImplementedError(f"{self.name}: over {capacity} parameters")
        params = [tuple(out[3 * i:3 * i + 3]) for i in range(count)]
        size = 0
        for _, param_size, _ in params:  # each at an offset aligned to its size, as CUDA does
            size = -(-size // param_size) * param_size + param_size
        if size > 4096:
            raise CUDARuntimeError(f"{self.name}: its parameters take {size} bytes; a "
                                   "kernel's parameters may take at most 4096")
        return params

    def __call__(self, grid, block, args, shared_mem=0, stream=None):
        grid, block = (tuple(grid) + (1, 1))[:3], (tuple(block) + (1, 1))[:3]
        if grid[1:] != (1, 1) or block[1:] != (1, 1):
            raise NotImplementedError("the CUDA emulation runs 1-d grids and blocks only")
        if not (1 <= block[0] <= PROPERTIES["maxThreadsPerBlock"] and grid[0] >= 1):
            raise CUDARuntimeError(f"cudaErrorInvalidConfiguration: grid {grid}, block {block}")
        params = self._params
        if len(args) != len(params):
            raise TypeError(f"{self.name}: {len(args)} arguments for {len(params)} parameters")
        storage = [self._argument(i, a, p) for i, (a, p) in enumerate(zip(args, params))]
        pointers = (ctypes.c_void_p * len(storage))(
            *[ctypes.cast(ctypes.pointer(s), ctypes.c_void_p) for s in storage])
        arrays = [a._a for a in args if type(a) is ndarray]  # alive until the launch runs

        def launch():
            if self._library.tape_double_launch(ctypes.c_uint(grid[0]),
                                                ctypes.c_uint(block[0]), pointers):
                self._library.tape_emu_last_error.restype = ctypes.c_char_p
                raise CUDARuntimeError(f"{self.name}: "
                                       f"{self._library.tape_emu_last_error().decode()}")

        launch.keep = (storage, arrays)
        on = stream if isinstance(stream, _cap.Stream) else _cap.current_stream()
        enqueue(f"kernel {self.name}", on.ptr, launch)

    def _argument(self, index: int, value, param):
        kind, size, pointee = param
        where = f"{self.name}, argument {index}"
        if type(value) is ndarray:
            if kind != 0:
                raise TypeError(f"{where}: an array for a scalar parameter")
            if value.itemsize != pointee:
                raise TypeError(f"{where}: {value.dtype} elements for a parameter that "
                                f"points to {pointee}-byte values")
            return ctypes.c_void_p(value._a.ctypes.data)
        if isinstance(value, np.ndarray):
            raise _host_array_error(where)
        if isinstance(value, bool | np.bool_):
            raise TypeError(f"{where}: a bool (pass an int)")
        if isinstance(value, int):
            value = np.int64(value)  # CuPy passes a Python int as a 64-bit integer ...
        elif isinstance(value, float):
            value = np.float64(value)  # ... and a Python float as a double
        if not isinstance(value, np.generic) or value.dtype not in _C_SCALARS:
            raise TypeError(f"{where}: unsupported argument {value!r}")
        if kind == 0 or (kind == 2) != (value.dtype.kind == "f") or value.itemsize != size:
            raise TypeError(f"{where}: {value.dtype} for a parameter of {size} bytes "
                            f"({('pointer', 'integer', 'floating point')[kind]})")
        return _C_SCALARS[value.dtype](value)


class RawModule:
    """``cupy.RawModule(code=...)``: functions by name, compiled at first launch."""

    def __init__(self, code=None, path=None, options=(), backend="nvrtc", **kwargs):
        if code is None:
            raise NotImplementedError("the CuPy double compiles source code only")
        self.code, self.options = code, tuple(options)

    def get_function(self, name: str) -> RawKernel:
        return RawKernel(self.code, name)


_NP_OF_C = {"float32": "float", "float64": "double", "bool": "bool", "int8": "signed char",
            "int16": "short", "int32": "int", "int64": "long long", "uint8": "unsigned char",
            "uint16": "unsigned short", "uint32": "unsigned int",
            "uint64": "unsigned long long"}


def _params(text: str) -> list[tuple[np.dtype, str]]:
    """``"float32 x, int64 y"`` as [(dtype, name)]; type placeholders are not emulated."""
    out = []
    for item in filter(None, (p.strip() for p in text.split(","))):
        dtype, name = item.split()
        if dtype not in _NP_OF_C:
            raise NotImplementedError(f"ElementwiseKernel: the double takes fixed dtypes "
                                      f"({', '.join(_NP_OF_C)}), got {dtype!r}")
        out.append((np.dtype(dtype), name))
    return out


class ElementwiseKernel:
    """``cupy.ElementwiseKernel`` with fixed dtypes: the operation compiled by g++ as the
    body of a loop over the broadcast elements (inputs by value, outputs by reference)."""

    def __init__(self, in_params, out_params, operation, name="kernel", **kwargs):
        self.inputs, self.outputs = _params(in_params), _params(out_params)
        self.operation, self.name = operation, name

    @functools.cached_property
    def _library(self):
        loads = "".join(
            f"        [[maybe_unused]] const {_NP_OF_C[d.name]} {n} = "
            f"static_cast<const {_NP_OF_C[d.name]}*>(in[{k}])[i];\n"
            for k, (d, n) in enumerate(self.inputs))
        refs = "".join(
            f"        {_NP_OF_C[d.name]}& {n} = static_cast<{_NP_OF_C[d.name]}*>(out[{k}])[i];\n"
            for k, (d, n) in enumerate(self.outputs))
        code = ("#include <cmath>\nusing namespace std;\n"
                'extern "C" void tape_double_elementwise(long long size, void** in, '
                "void** out) {\n    for (long long i = 0; i < size; ++i) {\n"
                f"{loads}{refs}        {{\n{self.operation}\n        }}\n    }}\n}}\n")
        return _emulator().library(code)

    def __call__(self, *args, size=None, block_size=None):
        if len(args) not in (len(self.inputs), len(self.inputs) + len(self.outputs)):
            raise TypeError(f"{self.name}: wrong number of arguments ({len(args)})")
        where = f"ElementwiseKernel {self.name}"
        ins = [_scalar_or_array(a, where) for a in args[:len(self.inputs)]]
        outs = list(args[len(self.inputs):])
        if any(type(o) is not ndarray for o in outs):
            raise TypeError(f"{where}: outputs must be cupy.ndarray")
        shape = np.broadcast_shapes(*(np.shape(a) for a in ins), *(o.shape for o in outs))
        capture = _capture()
        if not outs:
            outs = [ndarray._of(np.empty(shape, d)) for d, _ in self.outputs]
            if capture is not None:
                for o in outs:
                    capture.allocated(o._a)
        targets = [o._a for o in outs]
        if capture is not None:
            capture.record(where, functools.partial(self._run, ins, targets, shape))
        else:
            self._run(ins, targets, shape)
        return outs[0] if len(outs) == 1 else tuple(outs)

    def _run(self, ins: list, targets: list, shape: tuple) -> None:
        ins = [np.ascontiguousarray(np.broadcast_to(np.asarray(a).astype(d, copy=False), shape))
               for a, (d, _) in zip(ins, self.inputs)]
        results = [np.empty(shape, d) for d, _ in self.outputs]
        pointer_array = ctypes.c_void_p * max(1, len(ins))
        in_ptrs = pointer_array(*[a.ctypes.data for a in ins])
        out_ptrs = (ctypes.c_void_p * len(results))(*[r.ctypes.data for r in results])
        self._library.tape_double_elementwise(ctypes.c_longlong(int(np.prod(shape))), in_ptrs,
                                              out_ptrs)
        for target, r in zip(targets, results):
            target[...] = r


# ---- work on a stream: run now, or recorded while the stream captures -----------------------


def is_capturing(stream_ptr: int) -> bool:
    """Whether the stream ``stream_ptr`` is capturing a CUDA graph."""
    return _cap.stream_of(stream_ptr).is_capturing()


def enqueue(where: str, stream_ptr: int, run) -> None:
    """Work queued on the stream ``stream_ptr`` (a kernel, or a call of a library the double
    emulates: NCCL, the fake cuBLAS of cublas_lib.py): ``run()`` now, or recorded while that
    stream captures (capture.py). ``run`` must hold the arrays it reads alive itself."""
    _cap.enqueue(where, stream_ptr, run)


# ---- random ----------------------------------------------------------------------------------


class Generator:
    """``cupy.random.Generator``: CuPy's methods only, on NumPy's generator."""

    def __init__(self, np_generator):
        self._g = np_generator

    def __getattr__(self, name):
        if name not in API["random.Generator"]:
            raise AttributeError(f"'cupy.random.Generator' object has no attribute {name!r}")
        return _function(f"random.Generator.{name}", getattr(self._g, name))


def default_rng(seed=None):
    return Generator(np.random.default_rng(seed))


def scatter_add(a, slices, value):
    """``cupyx.scatter_add``: ``a[slices] += value`` with repeats accumulating."""
    if type(a) is not ndarray:
        raise TypeError("cupyx.scatter_add: a must be a cupy.ndarray")
    lowp().refuse_bfloat16("cupyx.scatter_add", [a._a, getattr(value, "_a", value)])
    if _counters and _holds_host_array(slices):
        _transfer("h2d", "cupyx.scatter_add index")
    host_index = _holds_host_array(slices)
    slices = _unwrap(slices, "cupyx.scatter_add", host_ok=True)
    capture = _capture()
    if capture is not None:
        if host_index:
            _cap.refuse("a copy of a host index to the device (cupyx.scatter_add)")
        capture.record("cupyx.scatter_add", functools.partial(
            _scatter_add, a._a, slices, _unwrap(value, "cupyx.scatter_add")))
        return
    _scatter_add(a._a, slices, _unwrap(value, "cupyx.scatter_add"))


def _scatter_add(a: np.ndarray, slices, value) -> None:
    np.add.at(a, _wrapped_index(a.shape, slices), value)


def _profiler_benchmark(fn, args=(), kwargs=None, n_repeat=10000, n_warmup=10, **_):
    """``cupyx.profiler.benchmark``: host clock times in place of CUDA events."""
    import time

    for _ in range(n_warmup):
        fn(*args, **(kwargs or {}))
    times = []
    for _ in range(n_repeat):
        start = time.perf_counter()
        fn(*args, **(kwargs or {}))
        times.append(time.perf_counter() - start)
    times = np.asarray(times)
    return types.SimpleNamespace(cpu_times=times, gpu_times=np.asarray([times]))


# ---- install ----------------------------------------------------------------------------------


# ---- cupy.cuda.nccl: a communicator of one rank (the double has one device) -------------------

_NCCL_ITEMSIZE = {0: 1, 1: 1, 2: 4, 3: 4, 4: 8, 5: 8, 6: 2, 7: 4, 8: 8, 9: 2}  # by ncclDataType_t


class NcclError(RuntimeError):
    pass


def _host_address(ptr) -> int:
    """The NumPy buffer behind a device pointer of the double (its address bit cleared)."""
    return int(ptr) & ~_emulator().DEVICE_ADDRESS_BIT


class NcclCommunicator:
    """``cupy.cuda.nccl.NcclCommunicator`` of one rank: a sum over one rank is a copy, a
    broadcast from rank 0 leaves the buffer as it is. Buffers must be live device memory
    (``ndarray.data.ptr``) large enough for ``count`` elements of ``datatype``."""

    def __init__(self, ndev: int, commId: tuple, rank: int):  # noqa: N803 - CuPy's names
        if not (isinstance(commId, tuple) and len(commId) == 128):
            raise TypeError("NcclCommunicator: commId must be the 128-number tuple of "
                            "get_unique_id()")
        if ndev != DEVICE_COUNT or rank != 0:
            raise NcclError(f"NCCL_ERROR_INVALID_ARGUMENT: the CuPy double runs one rank on "
                            f"one device, got ndev={ndev}, rank={rank}")

    @staticmethod
    def _buffer(ptr, count, datatype, where) -> int:
        if datatype not in _NCCL_ITEMSIZE:
            raise NcclError(f"{where}: NCCL_ERROR_INVALID_ARGUMENT: datatype {datatype}")
        nbytes = int(count) * _NCCL_ITEMSIZE[datatype]
        owner = _DEVICE_POINTERS.get(int(ptr))
        array = owner() if owner is not None else None
        if array is None or array.nbytes < nbytes:
            raise NcclError(f"{where}: NCCL_ERROR_INVALID_ARGUMENT: {ptr:#x} is not device "
                            f"memory of {nbytes} bytes")
        return nbytes

    def allReduce(self, sendbuf, recvbuf, count, datatype, op, stream):  # noqa: N802
        nbytes = self._buffer(sendbuf, count, datatype, "allReduce")
        self._buffer(recvbuf, count, datatype, "allReduce")
        if op not in range(5):
            raise NcclError(f"allReduce: NCCL_ERROR_INVALID_ARGUMENT: op {op}")
        run = functools.partial(ctypes.memmove, _host_address(recvbuf),
                                _host_address(sendbuf), nbytes)
        buffers = (_DEVICE_POINTERS[int(sendbuf)](), _DEVICE_POINTERS[int(recvbuf)]())
        enqueue("nccl allReduce", int(stream), lambda: (buffers, run()))

    def bcast(self, buff, count, datatype, root, stream):
        self._buffer(buff, count, datatype, "bcast")
        if root != 0:
            raise NcclError(f"bcast: NCCL_ERROR_INVALID_ARGUMENT: root {root} of one rank")


def _nccl_module() -> types.ModuleType:
    nccl = types.ModuleType("cupy.cuda.nccl")
    names = ("INT8 UINT8 INT32 UINT32 INT64 UINT64 FLOAT16 FLOAT32 FLOAT64 BFLOAT16").split()
    nccl.__dict__.update({f"NCCL_{n}": i for i, n in enumerate(names)})
    nccl.__dict__.update(NCCL_SUM=0, NCCL_PROD=1, NCCL_MAX=2, NCCL_MIN=3, NCCL_AVG=4,
                         NcclCommunicator=NcclCommunicator, NcclError=NcclError,
                         get_unique_id=lambda: tuple(range(128)),
                         get_version=lambda: 22800)
    return nccl


def _module(name, source, own=None):
    module = _DoubleModule(name, source, _names_of(name), own)
    _MODULES[name] = module
    return module


def install() -> None:
    """Register the double as ``cupy`` and ``cupyx`` in ``sys.modules``."""
    sys.modules.update(build())


def build() -> dict[str, types.ModuleType]:
    """The double's modules by name (``cupy``, ``cupy.cuda``, ``cupyx``...), unregistered."""
    runtime = types.SimpleNamespace(
        getDeviceCount=lambda: DEVICE_COUNT, getDeviceProperties=_device_properties,
        memGetInfo=_runtime_mem_get_info, getDevice=lambda: _current_device[-1],
        runtimeGetVersion=lambda: 13000, driverGetVersion=lambda: 13000,  # CUDA 13.0's
        CUDARuntimeError=CUDARuntimeError)
    cuda = types.ModuleType("cupy.cuda")
    cuda.__dict__.update(
        is_available=lambda: True, runtime=runtime, Device=Device,
        get_device_id=lambda: _current_device[-1], MemoryPointer=MemoryPointer,
        nccl=_nccl_module(), get_current_stream=_cap.current_stream, Stream=_cap.Stream,
        Graph=_cap.Graph, MemoryPool=_cap.MemoryPool, using_allocator=_cap.using_allocator,
        Event=_cap.Event,
        device=types.SimpleNamespace(get_cublas_handle=lambda: 1))
    routines_linalg = lowp().routines_linalg()
    core = types.ModuleType("cupy._core")
    core._routines_linalg = routines_linalg
    cublas = lowp().cublas_module()
    backends = {name: types.ModuleType(name) for name in ("cupy_backends", "cupy_backends.cuda",
                                                          "cupy_backends.cuda.libs")}
    backends["cupy_backends"].cuda = backends["cupy_backends.cuda"]
    backends["cupy_backends.cuda"].libs = backends["cupy_backends.cuda.libs"]
    backends["cupy_backends.cuda.libs"].cublas = cublas
    stride_tricks = _module("cupy.lib.stride_tricks", np.lib.stride_tricks)
    lib = _module("cupy.lib", np.lib, {"stride_tricks": stride_tricks})
    random = _module("cupy.random", np.random, {"default_rng": default_rng,
                                                "Generator": Generator})
    cupy = _module("cupy", np, {
        "__version__": f"{API['version']}+double", "ndarray": ndarray, "ufunc": ufunc,
        "asarray": asarray, "asnumpy": asnumpy, "get_array_module": get_array_module,
        "cuda": cuda, "RawModule": RawModule, "RawKernel": RawKernel,
        "ElementwiseKernel": ElementwiseKernel,
        "get_default_memory_pool": lambda: _POOL,
        "get_default_pinned_memory_pool": lambda: _PINNED_POOL,
        "linalg": _module("cupy.linalg", np.linalg), "fft": _module("cupy.fft", np.fft),
        "random": random, "lib": lib, "_core": core,
        **{name: _gemm(name, getattr(np, name)) for name in ("matmul", "dot", "tensordot",
                                                             "einsum")}})
    special = _module("cupyx.scipy.special", scipy.special)
    scipy_module = types.ModuleType("cupyx.scipy")
    scipy_module.special = special
    profiler = types.ModuleType("cupyx.profiler")
    profiler.benchmark = _profiler_benchmark
    cupyx = _module("cupyx", types.SimpleNamespace(), {"scatter_add": scatter_add,
                                                      "scipy": scipy_module,
                                                      "profiler": profiler})
    return {
        "cupy": cupy, "cupy.cuda": cuda, "cupy.cuda.nccl": cuda.nccl,
        "cupy.linalg": cupy.linalg, "cupy.fft": cupy.fft,
        "cupy.random": random, "cupy.lib": lib, "cupy.lib.stride_tricks": stride_tricks,
        "cupyx": cupyx, "cupyx.scipy": scipy_module, "cupyx.scipy.special": special,
        "cupyx.profiler": profiler, "cupy._core": core,
        "cupy._core._routines_linalg": routines_linalg, "cupy_backends.cuda.libs.cublas": cublas,
        **backends}

"""tape's raw CUDA kernels (installed as ``tape.kernels``) and their one loader.

The ``.cu``/``.cuh`` files sit beside this module (package data). Each kernel is described
once, in ``KERNELS``: its source file and its parameters. That description serves the CuPy
path (argument checks and exact scalar types for ``cupy.RawModule`` launches) and the CPU
emulation in tests/kernels (a ctypes shim per kernel). A module is compiled once per
(source text, options, device) and kept in memory; CuPy keeps the compiled binary on disk
under ``CUPY_CACHE_DIR`` (or, when that is unset and ``~/.cupy`` is not writable, a
per-user folder in the temporary directory). Nothing here imports CuPy until a kernel runs
on a GPU, and nothing from ``tape`` but ``backend`` and ``errors``.

Example:
    >>> from tape import kernels
    >>> kernels.KERNELS["softmax_forward"].symbol("float32")
    'softmax_forward_f32'
    >>> kernels.row_launch(rows=1000, cols=10, props=kernels.DeviceProps(2, 1024, 2048))
    (128, 32)
"""

from __future__ import annotations

import functools
import hashlib
import os
import re
import tempfile
from dataclasses import dataclass
from importlib import resources

import numpy as np

_SUFFIXES = (".cu", ".cuh")
SUFFIX = {"float32": "f32", "float64": "f64", "float16": "f16", "bfloat16": "bf16"}
# bfloat16 is ml_dtypes' NumPy dtype (CuPy 14 holds it too); it is named, never imported here.
FLOATS = ("float32", "float64", "float16", "bfloat16")

# What each parameter spelling in a Kernel's ``params`` means: (kind, dtype, C type), where
# "T" is the kernel's float type and kind is "in"/"out" (arrays) or "scalar".
PARAM_TYPES = {
    "const T*": ("in", None, "const {T}*"),
    "T*": ("out", None, "{T}*"),
    "const index_t*": ("in", "int64", "const tape::index_t*"),
    "const long long*": ("in", "int64", "const long long*"),
    "const u64*": ("in", "uint64", "const unsigned long long*"),
    "index_t": ("scalar", "int64", "tape::index_t"),
    "int": ("scalar", "int32", "int"),
    "double": ("scalar", "float64", "double"),
    "u64": ("scalar", "uint64", "unsigned long long"),
    # A tensor's device address (numpy.uint64) that the launcher took from an array it
    # checked, passed by value (the fused optimizers' lists; 0 where unused).
    "address": ("address", "uint64", "tape::u64"),
}
# Tensors per launch of a kernel that takes its tensors' addresses as arguments (optim.cu's
# TAPE_GROUP): with 7 lists of them, Adam's arguments stay within CUDA's 4 KiB.
GROUP = 16
C_FLOAT = {"float32": "float", "float64": "double", "float16": "tape::half_t",
           "bfloat16": "tape::bfloat16_t"}


def dtype_name(dtype) -> str:
    """``"float32"`` for float32 or its name; a dtype's name ("bfloat16" needs no ml_dtypes)."""
    return dtype if isinstance(dtype, str) and dtype in SUFFIX else np.dtype(dtype).name


@dataclass(frozen=True)
class Kernel:
    """One ``extern "C" __global__`` kernel family: ``{name}_{f32,f64,f16,bf16}`` in ``source``
    (a file name here, or generated code in ``code``), with ``params`` spelled as in
    ``PARAM_TYPES``."""

    name: str
    source: str
    params: tuple
    dtypes: tuple = FLOATS
    code: str | None = None

    def symbol(self, dtype) -> str:
        dtype = dtype_name(dtype)
        if dtype not in self.dtypes:
            raise TypeError(f"kernel {self.name} has no {dtype} version (it has "
                            f"{', '.join(self.dtypes)})")
        return f"{self.name}_{SUFFIX[dtype]}"

    def text(self) -> str:
        """The full source: ``#include "common.cuh"`` replaced by the header's text, so the
        compiler needs no include path and the cache key covers the header too."""
        return expand_includes(self.code if self.code is not None else source(self.source))


def _kernels(*kernels: Kernel) -> dict:
    return {k.name: k for k in kernels}


KERNELS = _kernels(
    Kernel("bias_act_forward", "bias_act.cu",
           ("const T*", "const T*", "T*", "index_t", "index_t", "int")),
    Kernel("bias_act_backward", "bias_act.cu",
           ("const T*", "const T*", "const T*", "T*", "index_t", "index_t", "int")),
    Kernel("softmax_forward", "softmax.cu", ("const T*", "T*", "index_t", "index_t", "int")),
    Kernel("softmax_backward", "softmax.cu",
           ("const T*", "const T*", "T*", "index_t", "index_t", "int")),
    Kernel("softmax_xent_forward", "softmax.cu",
           ("const T*", "const T*", "T*", "index_t", "index_t")),
    Kernel("softmax_xent_backward", "softmax.cu",
           ("const T*", "const T*", "const T*", "T*", "index_t", "index_t")),
    Kernel("layer_norm_forward", "layer_norm.cu",
           ("const T*", "const T*", "const T*", "T*", "index_t", "index_t", "double")),
    Kernel("layer_norm_backward", "layer_norm.cu",
           ("const T*", "const T*", "const T*", "T*", "index_t", "index_t", "double")),
    Kernel("dropout", "dropout.cu", ("const T*", "T*", "index_t", "const u64*", "double")),
    Kernel("sgd_update", "optim.cu", ("const index_t*", "int", "index_t", "const T*",
                                      "double", "int") + ("address",) * (5 * GROUP),
           dtypes=("float32", "float64")),
    Kernel("adam_update", "optim.cu", ("const index_t*", "int", "index_t", "const T*",
                                       "const long long*", "double", "double", "double")
           + ("address",) * (7 * GROUP), dtypes=("float32", "float64")),
)


# ---- sources -----------------------------------------------------------------------------


def list_sources() -> list[str]:
    """Names of the CUDA source files shipped in this package, sorted."""
    return sorted(
        entry.name
        for entry in resources.files(__name__).iterdir()
        if entry.is_file() and entry.name.endswith(_SUFFIXES)
    )


def source(name: str) -> str:
    """Text of the CUDA source file ``name`` (e.g. ``"common.cuh"``).

    Raises:
        ValueError: ``name`` is not a bare ``.cu``/``.cuh`` file name.
        FileNotFoundError: no such file ships with tape; the message lists those that do.
    """
    if not name.endswith(_SUFFIXES) or "/" in name or "\\" in name:
        raise ValueError(f"kernel source must be a bare .cu or .cuh file name. Received: {name!r}")
    path = resources.files(__name__) / name
    if not path.is_file():
        raise FileNotFoundError(
            f"no kernel source {name!r} in tape.kernels; available: {', '.join(list_sources())}"
        )
    return path.read_text(encoding="utf-8")


_INCLUDE = re.compile(r'^#include "([\w.]+\.cuh)"\s*$', re.MULTILINE)


def expand_includes(code: str) -> str:
    """``code`` with each ``#include "x.cuh"`` of a shipped header replaced by its text."""
    return _INCLUDE.sub(lambda m: source(m.group(1)), code)


# ---- launch sizes ---------------------------------------------------------------------------


@dataclass(frozen=True)
class DeviceProps:
    """What launch sizes depend on: multiprocessors, threads per block and per SM."""

    sm_count: int
    max_threads_per_block: int
    max_threads_per_sm: int


def _resident_blocks(block: int, props: DeviceProps) -> int:
    """Blocks that fit on the device at once: more only queue behind them."""
    return props.sm_count * max(1, props.max_threads_per_sm // block)


def _block_cap(props: DeviceProps, cap: int) -> int:
    return max(32, min(cap, props.max_threads_per_block) // 32 * 32)


def elementwise_launch(n: int, props: DeviceProps, block: int = 256) -> tuple[int, int]:
    """(grid, block) for a grid-stride loop over ``n`` elements: enough blocks to fill the
    device, never more than there are elements for."""
    block = _block_cap(props, block)
    return max(1, min(-(-n // block), _resident_blocks(block, props))), block


def row_launch(rows: int, cols: int, props: DeviceProps, cap: int = 512) -> tuple[int, int]:
    """(grid, block) for a one-block-per-row kernel: a multiple of 32 threads (the block
    reductions need whole warps) near ``cols``, at most ``cap``."""
    block = min(_block_cap(props, cap), max(32, -(-cols // 32) * 32))
    return max(1, min(rows, _resident_blocks(block, props))), block


# ---- arguments ------------------------------------------------------------------------------


def check_device(where: str, arg, runtime) -> None:
    """Raise unless ``arg`` is an array in the memory of ``runtime``'s device: a kernel
    reads its arguments, and the addresses it is given, as addresses on its own device,
    and a host (NumPy) array or one on another GPU is an illegal address there (a fault
    that poisons the process's CUDA context). TypeError for a non-array, DeviceError
    naming ``where`` and both devices for an array elsewhere."""
    device = runtime.device_of(arg)
    if device is None:
        raise TypeError(f"{where}: expected an array, got {type(arg).__name__}")
    if device != runtime.device:
        from tape.errors import DeviceError

        raise DeviceError(
            f"{where}: a {tuple(arg.shape)} {arg.dtype} array on {device}, but the kernel "
            f"runs on {runtime.device} and reads only that device's memory; move it there "
            "first (Tensor.to, cupy.asarray)")


@functools.cache
def _param_specs(kernel: Kernel) -> tuple:
    """(kind, NumPy dtype or None for the kernel's float type) per parameter."""
    return tuple((PARAM_TYPES[p][0], None if PARAM_TYPES[p][1] is None
                  else np.dtype(PARAM_TYPES[p][1])) for p in kernel.params)


_PY_NUMBERS = frozenset({int, float, bool})


def check_args(kernel: Kernel, dtype, args, runtime) -> list:
    """The arguments of a launch on ``runtime``, checked against ``kernel.params``: arrays
    on the runtime's device (``check_device``), of the right dtype and C-contiguous (a
    view is never read as its base buffer), outputs writable, scalars converted to their
    exact C type. Raises TypeError, ValueError or DeviceError naming the kernel and the
    parameter. Messages are only built for an argument that fails (launches are hot)."""
    dtype = np.dtype(dtype)
    if dtype.name not in kernel.dtypes:
        kernel.symbol(dtype)  # raises: the kernel has no version for this dtype
    specs = _param_specs(kernel)
    if len(args) != len(specs):
        raise TypeError(f"kernel {kernel.name} takes {len(specs)} arguments, got {len(args)}")
    device = runtime.device
    out = []
    for index, ((kind, want), arg) in enumerate(zip(specs, args)):
        if kind == "address":
            if type(arg) is not np.uint64:
                raise TypeError(f"{_where(kernel, index)}: expected a device address as "
                                f"numpy.uint64, got {arg!r}")
            out.append(arg)
        elif kind == "scalar":
            out.append(_scalar(kernel, index, want, arg, runtime))
        else:
            if runtime.device_of(arg) != device:
                check_device(_where(kernel, index), arg, runtime)
            expected = dtype if want is None else want
            if arg.dtype != expected:
                raise TypeError(f"{_where(kernel, index)}: expected {expected}, got {arg.dtype}")
            flags = arg.flags
            if not flags.c_contiguous:
                raise ValueError(f"{_where(kernel, index)}: the array is not C-contiguous (a "
                                 "strided view); pass a contiguous copy")
            # CuPy's flags have no ``writeable`` (its arrays are always writable); NumPy's do.
            if kind == "out" and not getattr(flags, "writeable", True):
                raise ValueError(f"{_where(kernel, index)}: the output array is read-only")
            out.append(arg)
    return out


def _where(kernel: Kernel, index: int) -> str:
    return f"kernel {kernel.name}, argument {index} ({kernel.params[index]})"


def _scalar(kernel: Kernel, index: int, want: np.dtype, arg, runtime):
    """``arg`` as a NumPy scalar of exactly ``want``; an error if it is no number or does
    not fit (an integer out of range, a fraction for an integer)."""
    if type(arg) not in _PY_NUMBERS:
        if runtime.device_of(arg) is not None:
            raise TypeError(f"{_where(kernel, index)}: expected a scalar, got an array")
        value = np.asarray(arg)
        if value.dtype.kind not in "biuf" or value.shape:
            raise TypeError(f"{_where(kernel, index)}: expected a scalar, got {arg!r}")
    try:
        converted = want.type(arg)
    except OverflowError:
        converted = None
    if converted is None or (converted != arg and not (np.isnan(converted) and np.isnan(arg))):
        raise ValueError(f"{_where(kernel, index)}: {arg!r} does not fit {want.name}")
    return converted


# ---- the CuPy path -------------------------------------------------------------------------


def cache_dir() -> str:
    """Where CuPy keeps compiled kernels: ``CUPY_CACHE_DIR`` if set, else ``~/.cupy/
    kernel_cache`` when writable, else a per-user folder under the temporary directory
    (then exported as ``CUPY_CACHE_DIR`` so that CuPy uses it too)."""
    configured = os.environ.get("CUPY_CACHE_DIR")
    if configured:
        return configured
    for candidate in (os.path.join(os.path.expanduser("~"), ".cupy", "kernel_cache"),
                      os.path.join(tempfile.gettempdir(), f"tape-cupy-cache-{os.getuid()}")):
        try:
            os.makedirs(candidate, exist_ok=True)
        except OSError:
            continue
        if os.access(candidate, os.W_OK):
            if not candidate.startswith(os.path.join(os.path.expanduser("~"), ".cupy")):
                os.environ["CUPY_CACHE_DIR"] = candidate
            return candidate
    raise OSError("no writable folder for compiled CUDA kernels; set CUPY_CACHE_DIR")


@functools.cache
def _module(code: str, options: tuple, device_id: int):
    """The ``cupy.RawModule`` of ``code``, compiled once per (code, options, device)."""
    from tape.backend import _cupy

    cupy = _cupy()
    cache_dir()
    with cupy.cuda.Device(device_id):
        return cupy.RawModule(code=code, options=options)


@functools.cache
def _function(kernel: Kernel, dtype: str, options: tuple, device_id: int):
    from tape.backend import _cupy

    with _cupy().cuda.Device(device_id):
        return _module(kernel.text(), options, device_id).get_function(kernel.symbol(dtype))


class CupyRuntime:
    """Launches kernels with CuPy on one device (``device``, e.g. ``"gpu:0"``); ``xp`` is
    cupy, ``props`` its limits."""

    options: tuple = ()

    def __init__(self, device_id: int):
        from tape.backend import _cupy

        self.xp = _cupy()
        self.device_id = device_id
        self.device = f"gpu:{device_id}"
        attrs = self.xp.cuda.runtime.getDeviceProperties(device_id)
        self.props = DeviceProps(int(attrs["multiProcessorCount"]),
                                 int(attrs["maxThreadsPerBlock"]),
                                 int(attrs["maxThreadsPerMultiProcessor"]))

    def device_of(self, value) -> str | None:
        """Where an array lives (``gpu:N``, or ``cpu`` for host memory); None: no array."""
        if isinstance(value, self.xp.ndarray):
            return f"gpu:{value.device.id}"
        return "cpu" if isinstance(value, np.ndarray) else None

    def pointer(self, array) -> int:
        """The device address of ``array`` (a fused optimizer launch's ``address``)."""
        return int(array.data.ptr)

    def launch(self, kernel: Kernel, dtype, grid: int, block: int, args) -> None:
        args = check_args(kernel, dtype, args, self)
        function = _function(kernel, dtype_name(dtype), self.options, self.device_id)
        with self.xp.cuda.Device(self.device_id):
            function((grid,), (block,), tuple(args))


@functools.cache
def runtime(device_id: int = 0) -> CupyRuntime:
    """The CuPy runtime of ``gpu:device_id`` (one per device)."""
    return CupyRuntime(device_id)


def runtime_for(array) -> CupyRuntime:
    """The runtime of the device ``array`` lives on."""
    return runtime(array.device.id)


# ---- generated elementwise kernels (trace fusion) -----------------------------------------

_IDENTIFIER = re.compile(r"^[A-Za-z_]\w*$")


class ElementwiseKernel:
    """A kernel generated from a C expression body over same-shaped float arrays; see
    ``compile_elementwise``. Call it with the input arrays (CuPy, or NumPy with an
    emulation runtime): it returns the outputs, one array each."""

    def __init__(self, name: str, body: str, inputs: tuple, outputs: tuple):
        for ident in (name, *inputs, *outputs):
            if not _IDENTIFIER.match(ident):
                raise ValueError(f"compile_elementwise: {ident!r} is not a C identifier")
        if len(set(inputs) | set(outputs)) != len(inputs) + len(outputs):
            raise ValueError("compile_elementwise: input and output names must be distinct")
        self.name, self.body, self.inputs, self.outputs = name, body, inputs, outputs
        params = ("const T*",) * len(inputs) + ("T*",) * len(outputs) + ("index_t",)
        self.kernel = Kernel(name, f"<generated {name}>", params, code=self._code())

    def _code(self) -> str:
        loads = "".join(f"        const A {n} = tape::load(in_{n}, i);\n" for n in self.inputs)
        decls = "".join(f"        A {n};\n" for n in self.outputs)
        stores = "".join(f"        tape::store(out_{n}, i, {n});\n" for n in self.outputs)
        params = ", ".join([f"const T* in_{n}" for n in self.inputs]
                           + [f"T* out_{n}" for n in self.outputs] + ["tape::index_t n"])
        args = ", ".join([f"in_{n}" for n in self.inputs] + [f"out_{n}" for n in self.outputs]
                         + ["n"])
        body = "\n".join("        " + line for line in self.body.strip().splitlines())
        instances = "".join(
            f'extern "C" __global__ void {self.name}_{SUFFIX[d]}('
            f"{params.replace('T*', C_FLOAT[d] + '*')}) {{ {self.name}_impl({args}); }}\n"
            for d in FLOATS)
        return (
            '#include "common.cuh"\n\n'
            f"template <typename T>\n__device__ void {self.name}_impl({params}) {{\n"
            "    typedef typename tape::Acc<T>::type A;\n"
            f"    TAPE_GRID_STRIDE_LOOP(i, n) {{\n{loads}{decls}        {{\n{body}\n"
            f"        }}\n{stores}    }}\n}}\n\n{instances}")

    @property
    def code(self) -> str:
        return self.kernel.code

    def __call__(self, *arrays, runtime=None):
        if len(arrays) != len(self.inputs):
            raise TypeError(f"{self.name}: takes {len(self.inputs)} arrays, got {len(arrays)}")
        rt = runtime or runtime_for(arrays[0])
        xp = rt.xp
        shape = np.broadcast_shapes(*(a.shape for a in arrays))
        dtype = np.result_type(*arrays)
        # Broadcast inputs are materialized: the kernel indexes every input by i.
        arrays = [xp.ascontiguousarray(xp.broadcast_to(xp.asarray(a, dtype=dtype), shape))
                  for a in arrays]
        outs = [xp.empty(shape, dtype=dtype) for _ in self.outputs]
        n = int(np.prod(shape))
        if n:
            grid, block = elementwise_launch(n, rt.props)
            rt.launch(self.kernel, dtype, grid, block, (*arrays, *outs, n))
        return outs


@functools.cache
def compile_elementwise(name: str, body: str, inputs: tuple, outputs: tuple
                        ) -> ElementwiseKernel:
    """A cached elementwise kernel from a C body, for the trace issue's fused chains.

    ``body`` assigns every name in ``outputs`` from the names in ``inputs`` (each a scalar
    in the accumulation type ``A``: float for float16/bfloat16/float32, double for float64),
    e.g. ``"y = x * w + b;"``. The generated source (``kernel.code``) is a grid-stride loop
    with float32/float64/float16/bfloat16 instantiations; on a GPU it compiles through the same
    cache as the shipped kernels (per source text, options and device), at first call.

    Example:
        >>> from tape import kernels
        >>> k = kernels.compile_elementwise("axpy", "y = a * x + b;", ("a", "x", "b"), ("y",))
        >>> "axpy_f32" in k.code
        True
    """
    return ElementwiseKernel(name, body, tuple(inputs), tuple(outputs))


def source_digest(code: str) -> str:
    """A short hash of a kernel source (cache file names, test builds)."""
    return hashlib.sha256(code.encode()).hexdigest()[:16]

"""Runs tape.kernels on the CPU: each kernel's source compiled by g++ under
kernels/emulation/cuda_emu.h with a generated ctypes shim, behind a runtime with the same
interface as the CuPy one (``xp``, ``props``, ``device``, ``device_of``, ``pointer``,
``launch``). The launchers in tape.kernels.launch then run unchanged on NumPy arrays."""

from __future__ import annotations

import ctypes
import functools
import os
import shutil
import subprocess
import tempfile
from pathlib import Path

import numpy as np

from tape import kernels
from tape.kernels import C_FLOAT, FLOATS, PARAM_TYPES, DeviceProps, Kernel, check_args

REPO_ROOT = Path(__file__).resolve().parents[2]
EMU_HEADER = REPO_ROOT / "kernels" / "emulation" / "cuda_emu.h"
BUILD_DIR = REPO_ROOT / "build" / "kernels-emu"
# The emulated device's addresses, as a kernel reads them from a launch's table: host
# addresses with this bit set (cuda_emu.h's tape_emu::DEVICE_ADDRESS_BIT). A host address read
# there fails the launch, as reading host memory faults on a GPU. The runtimes here and in the
# CuPy double hand out such addresses (``pointer``, ``MemoryPointer.ptr``).
DEVICE_ADDRESS_BIT = 1 << 62
CTYPES = {"index_t": ctypes.c_longlong, "int": ctypes.c_int, "double": ctypes.c_double,
          "u64": ctypes.c_ulonglong, "address": ctypes.c_ulonglong}


def gxx() -> str | None:
    return shutil.which(os.environ.get("CXX", "g++"))


def shim(kernel: Kernel) -> str:
    """``extern "C" int emu_<symbol>(grid, block, args...)`` for every dtype of ``kernel``."""
    out = []
    for dtype in kernel.dtypes:
        params, names = [], []
        for i, param in enumerate(kernel.params):
            params.append(f"{PARAM_TYPES[param][2].format(T=C_FLOAT[dtype])} a{i}")
            names.append(f"a{i}")
        symbol = kernel.symbol(dtype)
        out.append(
            f'extern "C" int emu_{symbol}(unsigned grid, unsigned block, {", ".join(params)}) '
            f"{{\n    return tape_emu::launch(grid, block, [=] {{ {symbol}({', '.join(names)}); "
            "});\n}\n")
    return "\n".join(out)


def program(kernel_list) -> str:
    """One translation unit: the (shared) kernel source and the shims of ``kernel_list``."""
    text = kernel_list[0].text()
    shims = "\n".join(shim(k) for k in kernel_list)
    return (f"{text}\n\n// ---- ctypes shims ----\n"
            'extern "C" const char* tape_emu_last_error() '
            "{ return tape_emu::last_error.c_str(); }\n\n" + shims)


@functools.cache
def library(code: str) -> ctypes.CDLL:
    """Compile ``code`` once (cached on disk by its hash and the emulation header's)."""
    digest = kernels.source_digest(code + EMU_HEADER.read_text())
    BUILD_DIR.mkdir(parents=True, exist_ok=True)
    target = BUILD_DIR / f"{digest}.so"
    if not target.exists():
        with tempfile.TemporaryDirectory(dir=BUILD_DIR) as tmp:
            src = Path(tmp) / "kernel.cpp"
            src.write_text(code)
            out = Path(tmp) / "kernel.so"
            cmd = [gxx(), "-std=c++17", "-O1", "-fPIC", "-shared", "-pthread", "-Wall",
                   "-Wextra", "-Werror", "-Wno-unused-parameter", "-include", str(EMU_HEADER),
                   "-x", "c++", str(src), "-o", str(out)]
            result = subprocess.run(cmd, capture_output=True, text=True)
            if result.returncode:
                raise RuntimeError(f"g++ failed on the emulated kernel:\n{result.stderr}")
            os.replace(out, target)  # atomic: parallel test workers may build it too
    return ctypes.CDLL(str(target))


class EmuRuntime:
    """The CPU stand-in of kernels.CupyRuntime: NumPy arrays, emulated launches. Records
    every launch's (kernel name, dtype, grid, block) in ``launches``."""

    xp = np

    def __init__(self, props: DeviceProps | None = None):
        self.props = props or DeviceProps(2, 1024, 2048)
        self.launches: list[tuple] = []

    device = "emulated"

    @staticmethod
    def device_of(value) -> str | None:
        return "emulated" if isinstance(value, np.ndarray) else None

    @staticmethod
    def pointer(array) -> int:
        """The emulated device address of ``array`` (see ``DEVICE_ADDRESS_BIT``)."""
        return array.ctypes.data | DEVICE_ADDRESS_BIT

    def launch(self, kernel: Kernel, dtype, grid: int, block: int, args) -> None:
        args = check_args(kernel, dtype, args, self)
        assert 1 <= block <= self.props.max_threads_per_block, (kernel.name, block)
        assert grid >= 1, (kernel.name, grid)
        siblings = [k for k in kernels.KERNELS.values() if k.source == kernel.source]
        lib = library(program(siblings or [kernel]))
        function = getattr(lib, "emu_" + kernel.symbol(dtype))
        function.restype = ctypes.c_int
        function.argtypes = [ctypes.c_uint, ctypes.c_uint] + [
            CTYPES[p] if PARAM_TYPES[p][0] in ("scalar", "address") else ctypes.c_void_p
            for p in kernel.params]
        converted = [a.ctypes.data if isinstance(a, np.ndarray) else a.item() for a in args]
        self.launches.append((kernel.name, np.dtype(dtype).name, grid, block))
        if function(grid, block, *converted):
            lib.tape_emu_last_error.restype = ctypes.c_char_p
            raise RuntimeError(f"emulated {kernel.symbol(dtype)}: "
                               f"{lib.tape_emu_last_error().decode()}")


__all__ = ["EmuRuntime", "FLOATS", "gxx", "library", "program", "shim"]

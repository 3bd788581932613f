"""Record the names CuPy defines, for the CuPy double (tests/cupy_double).

Run with CuPy installed; no GPU is needed (only names are read, nothing runs on a device):

    python tests/cupy_double/record_api.py > tests/cupy_double/cupy_api.json
"""

from __future__ import annotations

import json


def public(obj) -> list[str]:
    return sorted(name for name in dir(obj) if not name.startswith("_"))


def signatures(module) -> dict:
    """``{name: [[parameter, kind, has_default], ...]}`` for the module's Python functions
    (ufuncs and other compiled callables have no signature to read)."""
    import inspect

    out = {}
    for name in public(module):
        fn = getattr(module, name)
        if not callable(fn) or isinstance(fn, type):
            continue
        try:
            parameters = inspect.signature(fn).parameters.values()
        except (TypeError, ValueError):
            continue
        out[name] = [[p.name, int(p.kind), p.default is not p.empty] for p in parameters]
    return out


def main() -> None:
    import cupy
    import cupyx
    import cupyx.scipy.special

    record = {
        "version": cupy.__version__,
        "cupy": public(cupy),
        "ndarray": sorted(name for name in dir(cupy.ndarray)
                          if not name.startswith("_") or name.startswith("__")),
        "flags": public(cupy._core.flags.Flags),
        "ufunc": public(cupy.add),
        "linalg": public(cupy.linalg),
        "fft": public(cupy.fft),
        "random": public(cupy.random),
        "random.Generator": public(cupy.random.Generator),
        "cupyx": public(cupyx),
        "cupyx.scipy.special": public(cupyx.scipy.special),
        "cuda": public(cupy.cuda),
        "cuda.runtime": public(cupy.cuda.runtime),
        "cuda.Device": public(cupy.cuda.Device),
        "lib": public(cupy.lib),
        "lib.stride_tricks": public(cupy.lib.stride_tricks),
        "signatures": {"cupy": signatures(cupy), "cupy.linalg": signatures(cupy.linalg),
                       "cupy.lib.stride_tricks": signatures(cupy.lib.stride_tricks)},
    }
    print(json.dumps(record, indent=1))


if __name__ == "__main__":
    main()

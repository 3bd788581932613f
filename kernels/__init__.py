"""Raw CUDA sources for tape's GPU kernels, installed as the subpackage ``tape.kernels``.

The ``.cu``/``.cuh`` files sit beside this module (package data, so they ship in wheels and
resolve in editable installs alike). This stub only reads them; the GPU issue adds the
``cupy.RawModule`` loader with its cache per (file, function, dtype, device). Nothing from
``tape`` is imported here, so reading a source never pulls in CuPy or the rest of the package.
"""

from __future__ import annotations

from importlib import resources

_SUFFIXES = (".cu", ".cuh")


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

"""Test-session setup: hypothesis profiles and, when JAX is installed, its oracle settings.

Pick a hypothesis profile with HYPOTHESIS_PROFILE=dev|ci|intense (default ci).
"""

from __future__ import annotations

import importlib.util
import os
import sys
from pathlib import Path

from hypothesis import settings

# deadline=None: the first call of an op (or a JAX compile) is much slower than the rest.
settings.register_profile("dev", max_examples=20, deadline=None)
settings.register_profile("ci", max_examples=40, deadline=None)
settings.register_profile("intense", max_examples=500, deadline=None)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))

REPO_ROOT = Path(__file__).resolve().parent.parent

# TAPE_CUPY_DOUBLE=1 (`make gpu-double-test`, part of `make test`): the GPU cases run on the
# CuPy double, a NumPy-backed stand-in for CuPy that is as strict as CuPy about what crosses
# between host and device (tests/cupy_double). Installed before anything imports tape.
if os.environ.get("TAPE_CUPY_DOUBLE"):
    _spec = importlib.util.spec_from_file_location(
        "cupy_double", REPO_ROOT / "tests" / "cupy_double" / "__init__.py")
    cupy_double = importlib.util.module_from_spec(_spec)
    sys.modules["cupy_double"] = cupy_double
    _spec.loader.exec_module(cupy_double)
    cupy_double.install()
    # The double's libcublas (tests/cupy_double/cublas_lib.py) where tape.cublas would open
    # CuPy's: replacing the one function that opens the library keeps tape free of test hooks.
    # Importing tape here is safe: the double is installed, and tape imports CuPy lazily.
    _spec = importlib.util.spec_from_file_location(
        "cupy_double_cublas", REPO_ROOT / "tests" / "cupy_double" / "cublas_lib.py")
    _cublas_lib = importlib.util.module_from_spec(_spec)
    _spec.loader.exec_module(_cublas_lib)
    _fake_libcublas = _cublas_lib.Library(cupy_double)
    import tape.cublas

    tape.cublas._open_library = lambda: _fake_libcublas

# TAPE_DEFAULT_DEVICE=gpu runs tests with tensors and weights created on that device (with the
# double or a GPU; `make gpu-double-test` runs the device-agnostic files so). Tests that build
# CPU tensors explicitly or read NumPy internals fail there by design.
if os.environ.get("TAPE_DEFAULT_DEVICE"):
    from tape import _state, backend

    _state.default_device.set(backend.parse_device(os.environ["TAPE_DEFAULT_DEVICE"]))

# JAX is an optional oracle: configure it only where it is installed, and never import it
# otherwise (find_spec looks without importing).
if importlib.util.find_spec("jax") is not None:
    # The oracle is a CPU reference even on a GPU machine; `make test` sets this too.
    os.environ.setdefault("JAX_PLATFORMS", "cpu")
    # XLA's CPU compiler (jax 0.10.2) aborts the whole process, a failed CHECK in its
    # algebraic simplifier ("Window dimensions do not match RHS shape"), when it compiles
    # the gradient of some strided, dilated, asymmetrically padded convolutions that
    # hypothesis draws, e.g. x (2, 4, 4, 1), kernel (3, 2, 1, 2), strides (2, 2), padding
    # ((1, 2), (1, 2)), dilation (2, 1). The pass only simplifies; without it the oracle
    # computes the same values.
    flags = os.environ.get("XLA_FLAGS", "")
    if "xla_disable_hlo_passes" not in flags:
        os.environ["XLA_FLAGS"] = f"{flags} --xla_disable_hlo_passes=algsimp".strip()
    import jax

    # Oracles compare in float64, as tape.testing.gradcheck does.
    jax.config.update("jax_enable_x64", True)
    # Reuse compiled oracle functions across runs and xdist workers.
    jax.config.update("jax_compilation_cache_dir", str(REPO_ROOT / ".jax_cache"))
    jax.config.update("jax_persistent_cache_min_compile_time_secs", 0)
    if hasattr(jax.config, "jax_persistent_cache_min_entry_size_bytes"):
        # -1: cache entries of any size, and let no filesystem heuristic override that.
        jax.config.update("jax_persistent_cache_min_entry_size_bytes", -1)


# ---- GPU cases: run where a GPU is usable, skip with the reason elsewhere ------------------
# `make gpu-test` sets TAPE_REQUIRE_GPU=1: there a GPU case that cannot run fails instead, so
# a machine without a working GPU never passes the GPU suite by skipping all of it.
def pytest_runtest_setup(item):
    if item.get_closest_marker("gpu") is None:
        return
    import pytest

    import tape

    reason = tape.cuda.why_unavailable()
    if reason is None:
        return
    if os.environ.get("TAPE_REQUIRE_GPU"):
        pytest.fail(f"TAPE_REQUIRE_GPU is set, but no GPU can be used: {reason}", pytrace=False)
    pytest.skip(f"needs a GPU: {reason}")


def pytest_generate_tests(metafunc):
    """A test with a ``device`` argument and no parametrization of its own runs on 'cpu'
    and on 'gpu' (the GPU case marked ``gpu``)."""
    own = [m for m in metafunc.definition.iter_markers("parametrize") if "device" in m.args[0]]
    if "device" in metafunc.fixturenames and not own:
        import pytest

        metafunc.parametrize("device", ["cpu", pytest.param("gpu", marks=pytest.mark.gpu)])


def pytest_runtest_teardown(item):
    """Value checks kept on the GPU are reported at the next host read: one a test left
    unread must not fail a later test."""
    backend = sys.modules.get("tape.backend")
    if backend is not None:
        backend._device_checks.clear()


# ---- the CuPy double under test (tests/test_cupy_double*.py) -------------------------------
import pytest  # noqa: E402 - after the double's installation above, as that must come first


@pytest.fixture(scope="module")
def cp():
    """The CuPy double's ``cupy`` module: the installed one under TAPE_CUPY_DOUBLE=1, else
    one loaded by path and not installed (that process keeps seeing no CuPy)."""
    if "cupy_double" in sys.modules:
        return sys.modules["cupy"]
    spec = importlib.util.spec_from_file_location("cupy_double_under_test",
                                                  REPO_ROOT / "tests" / "cupy_double" /
                                                  "__init__.py")
    double = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(double)
    return double.build()["cupy"]

"""Mode state as ContextVars: active tapes, anomaly detection, tracing and training flags.

Everything here is thread- and async-safe because it lives in ContextVars (STYLE P10);
each mode has a ``with`` helper that restores the previous value on exit.
"""

from __future__ import annotations

import contextlib
import os
from contextvars import ContextVar

# The tapes that record right now, innermost last. A paused tape is simply absent.
active_tapes: ContextVar[tuple] = ContextVar("tape_active_tapes", default=())
# When on, recording keeps the user's line and backward checks every gradient for NaN/inf.
anomaly_mode: ContextVar[bool] = ContextVar("tape_anomaly_mode", default=False)
# The traced function's name while @trace captures a graph (reading a value into Python
# is then an error), and the recorder that turns each op call into a graph node.
tracing: ContextVar[str | None] = ContextVar("tape_tracing", default=None)
recorder: ContextVar = ContextVar("tape_recorder", default=None)
# Every @trace function runs as plain Python (tape.run_eagerly(True), TAPE_RUN_EAGERLY=1).
run_eagerly: ContextVar[bool] = ContextVar(
    "tape_run_eagerly",
    default=os.environ.get("TAPE_RUN_EAGERLY", "").lower() in ("1", "true", "yes"))
# The compute dtype inside a mixed-precision layer's call (None elsewhere): ops read an
# AutocastVariable in it (tape.tensor.AutocastVariable, tape.mixed_precision).
autocast: ContextVar = ContextVar("tape_autocast", default=None)
# True while a traced replay is warmed up and captured into a CUDA graph (trace/cuda_graph.py):
# GEMMs then go through tape.cublas, whose calls a capture records (CuPy's refuse).
capturing: ContextVar[bool] = ContextVar("tape_capturing", default=False)
# Keras-style training flag (dropout, batch norm).
training: ContextVar[bool] = ContextVar("tape_training", default=False)


@contextlib.contextmanager
def using(var: ContextVar, value):
    """Set ``var`` to ``value`` inside the block, restoring the old value afterwards."""
    token = var.set(value)
    try:
        yield value
    finally:
        var.reset(token)


class without_tapes:  # noqa: N801 - used like the function-style context managers here
    """Pause recording on the given tapes (all tapes when none are given). A class rather
    than a generator: every gradient() and optimizer step enters one."""

    __slots__ = ("tapes", "token")

    def __init__(self, *tapes):
        self.tapes = tapes

    def __enter__(self) -> None:
        tapes = self.tapes
        kept = tuple(t for t in active_tapes.get() if t not in tapes) if tapes else ()
        self.token = active_tapes.set(kept)

    def __exit__(self, *exc) -> None:
        active_tapes.reset(self.token)


# Where creation ops (tape.zeros, tape.random.normal, tape.tensor...) put new tensors:
# 'cpu' or 'gpu:N', set by ``with tape.device(...)`` (backend.device).
default_device: ContextVar[str] = ContextVar("tape_default_device", default="cpu")

# The recorder that init_scope set aside, so Variable creation can still be checked.
lifted_recorder: ContextVar = ContextVar("tape_lifted_recorder", default=None)


@contextlib.contextmanager
def init_scope():
    """Run the block outside any trace and tape: for computing a new Variable's initial
    value (which is state, not part of the traced graph), as TF's ``init_scope``."""
    lifted = recorder.get() or lifted_recorder.get()
    tokens = [(var, var.set(value)) for var, value in (
        (recorder, None), (tracing, None), (active_tapes, ()), (lifted_recorder, lifted))]
    try:
        yield
    finally:
        for var, token in reversed(tokens):
            var.reset(token)


@contextlib.contextmanager
def environ(name: str, value: str):
    """The environment variable ``name`` set to ``value`` inside the block, then restored
    (unset if it was): for the ``TAPE_*`` switches read at each call (``TAPE_CUDA_GRAPHS``,
    ``TAPE_FUSION_CPU``)."""
    before = os.environ.get(name)
    os.environ[name] = value
    try:
        yield
    finally:
        if before is None:
            del os.environ[name]
        else:
            os.environ[name] = before

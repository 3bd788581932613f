"""What stays out of reach: a clear error naming the Keras feature and why, instead of a bare
AttributeError, from the module ``__getattr__`` of each ``tape.keras`` namespace."""

from __future__ import annotations

from ..errors import TapeError


class OutOfReachError(TapeError, NotImplementedError, AttributeError):
    """A Keras or TensorFlow feature that tape does not provide (``hasattr`` still answers
    False, as it is also an AttributeError)."""


def missing(namespace: str, name: str, why: dict | None = None):
    """A module ``__getattr__`` body: AttributeError for private names (import machinery
    probes them), else OutOfReachError saying what is missing and why."""
    if name.startswith("_"):
        return AttributeError(f"module {namespace!r} has no attribute {name!r}")
    reason = (why or {}).get(name) or ("it is not mapped onto tape yet; see the renaming "
                                       "contract in tape's README for what is")
    return OutOfReachError(f"{namespace}.{name} is out of reach in tape: {reason}")

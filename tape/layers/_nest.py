"""Helpers shared by the layers: nested structures of tensors and shapes (lists/tuples/dicts
of leaves), automatic layer names, and config serialization."""

from __future__ import annotations

import numpy as np

from .. import _config
from .._config import to_snake_case  # noqa: F401 - the layers' name for it
from ..nest import flatten, map_structure  # noqa: F401 - the layers' names for them

_name_counts: dict[str, int] = {}


def unique_name(base: str) -> str:
    """``base`` the first time, then ``base_1``, ``base_2``... (per base name)."""
    count = _name_counts.get(base, 0)
    _name_counts[base] = count + 1
    return base if count == 0 else f"{base}_{count}"


def reset_names() -> None:
    """Restart automatic layer names (``dense``, ``dense_1``...), as ``clear_session`` does."""
    _name_counts.clear()


def is_shape(value) -> bool:
    """True for one shape (a tuple/list of ints and Nones), False for a structure of them."""
    return isinstance(value, tuple | list) and all(
        d is None or isinstance(d, int | np.integer) for d in value)


def map_shapes(fn, shapes, *parallel):
    """Apply ``fn`` to each shape in a shape or a (nested) list of shapes (and to the matching
    leaves of ``parallel`` structures of the same layout)."""
    if is_shape(shapes):
        return fn(tuple(shapes), *parallel)
    return [map_shapes(fn, *items) for items in zip(shapes, *parallel, strict=True)]


def flatten_shapes(shapes) -> list:
    """The shapes in a shape or nested list of shapes, in order."""
    if is_shape(shapes):
        return [tuple(shapes)]
    if isinstance(shapes, dict):
        shapes = list(shapes.values())
    return [s for item in shapes for s in flatten_shapes(item)]


def serialize_object(obj):
    """``{'class_name', 'config'}`` for objects with ``get_config`` (``registered_name`` too
    when registered; objects inside the config serialized likewise); others unchanged."""
    if obj is None or isinstance(obj, type) or not hasattr(obj, "get_config"):
        return obj
    out = {"class_name": type(obj).__name__, "config": serialize_config(obj.get_config())}
    registered = _config.registered_name(type(obj))
    if registered is not None:
        out["registered_name"] = registered
    return out


def serialize_config(value):
    """A config with every object in it (at any depth) serialized: objects with
    ``get_config`` by ``serialize_object``; functions and plain values unchanged (a file
    holds a named function by ``activations.function_config``)."""
    if isinstance(value, dict):
        return {k: serialize_config(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return type(value)(serialize_config(v) for v in value)
    if hasattr(value, "get_config") and not isinstance(value, type):
        return serialize_object(value)
    return value


_LEAVES = frozenset({str, int, float, bool, type(None)})  # never searched, never found


def instances_in(values, types) -> list:
    """The instances of ``types`` among ``values`` and inside lists/tuples/dicts there, in order
    (other objects are not searched)."""
    out: list = []
    _collect(values, types, out)
    return out


def _collect(values, types, out: list) -> None:
    for value in values:
        if type(value) in _LEAVES:  # most attributes and shape entries: skipped at once
            continue
        if isinstance(value, types):
            out.append(value)
        elif isinstance(value, list | tuple):
            _collect(value, types, out)
        elif isinstance(value, dict):
            _collect(value.values(), types, out)

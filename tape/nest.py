"""Nested structures of leaves (lists, tuples and dicts of tensors, shapes, anything): the
one flatten/unflatten that the tape, trace and layers share (TensorFlow's ``tf.nest``).

Example:
    >>> from tape.nest import flatten, unflatten
    >>> flatten({"a": [1, 2], "b": (3,)})
    [1, 2, 3]
    >>> unflatten({"a": [0, 0], "b": (0,)}, [4, 5, 6])
    {'a': [4, 5], 'b': (6,)}
"""

from __future__ import annotations


def flatten(structure) -> list:
    """The leaves of a nested list/tuple/dict, in order (a dict's in its key order)."""
    return _flatten_into(structure, [])


def _flatten_into(structure, out: list) -> list:
    if isinstance(structure, dict):
        for value in structure.values():
            _flatten_into(value, out)
    elif isinstance(structure, list | tuple):
        for item in structure:
            _flatten_into(item, out)
    else:
        out.append(structure)
    return out


def unflatten(structure, leaves):
    """``structure`` with its leaves replaced, in order, by ``leaves`` (an iterable)."""
    return _unflatten_from(structure, iter(leaves))


def _unflatten_from(structure, leaves):
    if isinstance(structure, dict):
        return {key: _unflatten_from(value, leaves) for key, value in structure.items()}
    if isinstance(structure, list | tuple):
        return type(structure)(_unflatten_from(item, leaves) for item in structure)
    return next(leaves)


def map_structure(fn, *structures):
    """Apply ``fn`` to the leaves of parallel nested lists/tuples/dicts."""
    first = structures[0]
    if isinstance(first, list | tuple):
        return type(first)(map_structure(fn, *items) for items in zip(*structures, strict=True))
    if isinstance(first, dict):
        return {k: map_structure(fn, *(s[k] for s in structures)) for k in first}
    return fn(*structures)

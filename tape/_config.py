"""Keras-style identifiers shared by initializers, regularizers, losses and metrics:
``resolve`` turns a name, config dict, class or instance into an object (their ``get``),
and ``Configurable`` gives the get_config/from_config/repr they have in common."""

from __future__ import annotations

import contextlib
import re
from contextvars import ContextVar


class Configurable:
    """``get_config``/``from_config`` round trip and a repr built from the config."""

    def get_config(self) -> dict:
        return {}

    @classmethod
    def from_config(cls, config: dict):
        return cls(**config)

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.get_config().items())
        return f"{type(self).__name__}({args})"


def check_serialized(config, what: str) -> None:
    """A TypeError naming ``what`` unless ``config`` has serialize's form
    ``{'class_name': str, 'config': dict}`` (a file's metadata may hold anything)."""
    if not isinstance(config, dict) or not isinstance(config.get("class_name"), str) \
            or not isinstance(config.get("config", {}), dict):
        raise TypeError(f"{what} takes serialize's dict {{'class_name': ..., 'config': {{...}}}}"
                        f"; received {type(config).__name__} {str(config)[:80]}")


def resolve(identifier, *, kind: str, base: type, aliases: dict, wrap_callable=None):
    """Resolve a Keras identifier for ``kind`` (e.g. ``'loss'``).

    None and ``base`` instances pass through; a string is looked up in ``aliases`` (exactly,
    then lower-cased) and the class is instantiated with its defaults; a dict
    ``{'class_name', 'config'}`` goes through ``from_config``; a ``base`` subclass is
    instantiated; another callable is returned as is, or passed to ``wrap_callable``.
    An unknown string is a ValueError listing every valid name.
    """
    if identifier is None or isinstance(identifier, base):
        return identifier
    if isinstance(identifier, dict):
        check_serialized(identifier, f"a {kind} config")
        custom = lookup(identifier.get("class_name"), identifier.get("registered_name"))
        if isinstance(custom, type):
            return custom.from_config(identifier.get("config", {}))
        cls = type(resolve(identifier.get("class_name", ""), kind=kind, base=base,
                           aliases=aliases))
        return cls.from_config(identifier.get("config", {}))
    if isinstance(identifier, str):
        cls = aliases.get(identifier) or aliases.get(identifier.lower()) or lookup(identifier)
        if cls is not None and not isinstance(cls, type):  # a registered function
            return wrap_callable(cls) if wrap_callable is not None else cls
        if cls is None:
            raise ValueError(f"Unknown {kind} {identifier!r}; valid names: "
                             f"{', '.join(sorted(aliases))}")
        return cls()
    if isinstance(identifier, type) and issubclass(identifier, base):
        return identifier()
    if callable(identifier):
        return wrap_callable(identifier) if wrap_callable is not None else identifier
    raise ValueError(f"Could not interpret {kind} identifier: {identifier!r}")


def to_snake_case(name: str) -> str:
    """``'Dense'`` -> ``'dense'``, ``'KLDivergence'`` -> ``'kl_divergence'``: how Keras names
    layers, losses and metrics after their class."""
    name = re.sub(r"(.)([A-Z][a-z0-9]+)", r"\1_\2", name)
    return re.sub(r"([a-z])([A-Z])", r"\1_\2", name).lower()
# ---- custom objects: Keras' register_keras_serializable / custom_object_scope -----------------
# One registry for every kind (layers, activations, losses...), read by each ``get`` and by
# ``tape.layers.deserialize``. ``GLOBAL_CUSTOM_OBJECTS`` is the live dict Keras'
# ``get_custom_objects()`` returns (keys ``'package>Name'``); scopes add a dict for a while.
GLOBAL_CUSTOM_OBJECTS: dict = {}
_REGISTERED_NAMES: dict = {}  # the registered object -> its 'package>Name'
_scopes = ContextVar("tape_custom_object_scopes", default=())


def register(obj, name: str) -> None:
    """Register ``obj`` (a class or function) under ``name`` for every deserializer."""
    GLOBAL_CUSTOM_OBJECTS[name] = obj
    _REGISTERED_NAMES[obj] = name


def registered_name(obj) -> str | None:
    """The name ``obj`` was registered under, or None."""
    try:
        return _REGISTERED_NAMES.get(obj)
    except TypeError:  # an unhashable object is never registered
        return None


def custom_objects() -> dict:
    """The registered objects, then those of the active scopes (the innermost wins)."""
    merged = dict(GLOBAL_CUSTOM_OBJECTS)
    for scope in _scopes.get():
        merged.update(scope)
    return merged


@contextlib.contextmanager
def custom_object_scope(*dicts):
    """Make the objects in ``dicts`` known to every deserializer inside the ``with``."""
    merged = {}
    for d in dicts:
        merged.update(d or {})
    token = _scopes.set((*_scopes.get(), merged))
    try:
        yield
    finally:
        _scopes.reset(token)


def lookup(class_name: str | None, registered: str | None = None):
    """A custom object by its registered name, then by its class name; None if unknown."""
    found = custom_objects()
    for key in (registered, class_name):
        if key is not None and key in found:
            return found[key]
    return None

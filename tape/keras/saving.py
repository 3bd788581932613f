"""``keras.saving``: registering your own classes and functions, custom object scopes,
``serialize_keras_object``/``deserialize_keras_object``, and ``load_model``/``save_model``.

One registry serves every deserializer in tape (layers, activations, losses, metrics,
initializers, regularizers, optimizers), so a registered class needs no ``custom_objects``.

Example:
    >>> from tape.keras import layers, saving
    >>> @saving.register_keras_serializable(package="Docs")
    ... class Twice(layers.Layer):
    ...     def call(self, x):
    ...         return x * 2
    >>> saving.get_registered_name(Twice)
    'Docs>Twice'
    >>> type(saving.deserialize_keras_object(saving.serialize_keras_object(Twice()))).__name__
    'Twice'
"""

from __future__ import annotations

from .. import (
    _config,
    activations,
    initializers,
    losses,
    metrics,
    optimizers,
    regularizers,
)
from .. import layers as _layers
from ..layers._nest import serialize_config
from ..models import Model, Sequential, load_model
from .models import save_model

__all__ = ["register_keras_serializable", "custom_object_scope", "CustomObjectScope",
           "get_custom_objects", "get_registered_name", "get_registered_object",
           "serialize_keras_object", "deserialize_keras_object", "load_model", "save_model"]


def register_keras_serializable(package: str = "Custom", name: str | None = None):
    """A decorator registering a class or function as ``'package>name'`` (name: its own
    ``__name__``), so configs that mention it deserialize without ``custom_objects``."""
    def decorator(obj):
        key = f"{package}>{name or obj.__name__}"
        if isinstance(obj, type) and not hasattr(obj, "get_config"):
            raise ValueError(f"Cannot register {obj.__name__}: a class must have get_config")
        _config.register(obj, key)
        return obj

    return decorator


def get_custom_objects() -> dict:
    """The live dict of registered objects (``'package>name'`` keys); entries you add are
    known to every deserializer."""
    return _config.GLOBAL_CUSTOM_OBJECTS


def get_registered_name(obj) -> str:
    """The name ``obj`` is registered under, else its ``__name__``."""
    return _config.registered_name(obj) or obj.__name__


def get_registered_object(name: str, custom_objects=None, module_objects=None):
    """The object registered (or in ``custom_objects``/``module_objects``) as ``name``."""
    with _config.custom_object_scope(module_objects, custom_objects):
        return _config.lookup(name)


class CustomObjectScope:
    """``with custom_object_scope({'MyLayer': MyLayer}):`` makes the objects known to every
    deserializer inside the block."""

    def __init__(self, *custom_objects):
        self._context = _config.custom_object_scope(*custom_objects)

    def __enter__(self):
        self._context.__enter__()
        return self

    def __exit__(self, *exc):
        return self._context.__exit__(*exc)


custom_object_scope = CustomObjectScope


def serialize_keras_object(obj):
    """A JSON-ready description of ``obj``: ``{'class_name', 'config'[, 'registered_name']}``
    for objects with ``get_config`` (objects inside the config too), Keras 3's function
    dict for a named function, and plain values, lists and dicts as they are."""
    if isinstance(obj, _layers.Layer):
        return _layers.serialize(obj)
    if isinstance(obj, list | tuple | dict):
        return serialize_config(obj)
    if hasattr(obj, "get_config") and not isinstance(obj, type):
        return serialize_config(obj)
    if callable(obj) and not isinstance(obj, type):
        name = activations.serialize(obj)
        return name if isinstance(name, dict) else activations.function_config(obj)
    return obj


def _builtin_class(name: str):
    tables = [_layers.ALL_LAYERS, {"Model": Model, "Sequential": Sequential,
                                   "Functional": Model}, losses.ALIASES, metrics.ALIASES,
              initializers.ALIASES, regularizers.ALIASES,
              {c.__name__: c for c in vars(optimizers).values() if isinstance(c, type)}]
    for table in tables:
        if name in table and isinstance(table[name], type):
            return table[name]
    return None


def deserialize_keras_object(config, custom_objects=None, safe_mode=True, **kwargs):
    """The object ``serialize_keras_object`` described (a registered or custom class, or a
    tape class by its Keras name); plain values, lists and dicts of them come back as they
    are, with the objects inside deserialized. Never unpickles or runs saved code."""
    with _config.custom_object_scope(custom_objects):
        if isinstance(config, list):
            return [deserialize_keras_object(c) for c in config]
        if isinstance(config, str):
            found = _config.lookup(config)
            return config if found is None else found
        if not isinstance(config, dict):
            return config
        if "class_name" not in config or "config" not in config:
            return {k: deserialize_keras_object(v) for k, v in config.items()}
        name, registered = config["class_name"], config.get("registered_name")
        if name == "function":
            return activations.function_from_config(config)
        cls = _config.lookup(name, registered) or _builtin_class(name)
        if cls is None:
            raise ValueError(f"Could not deserialize class {registered or name!r}: pass it in "
                             "custom_objects or register it with register_keras_serializable")
        if isinstance(cls, type) and issubclass(cls, _layers.Layer):
            return _layers.deserialize(config, {"Model": Model, "Sequential": Sequential})
        return cls.from_config(config["config"])

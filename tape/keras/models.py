"""``keras.models``: ``Model``, ``Sequential``, ``load_model``, ``save_model``,
``clone_model``, ``model_from_json`` over tape's models (the same classes).

Example:
    >>> from tape.keras import layers, models
    >>> model = models.Sequential([layers.Input((3,)), layers.Dense(2)])
    >>> clone = models.clone_model(model)
    >>> clone is not model and clone.count_params() == model.count_params()
    True
"""

from __future__ import annotations

import json

from .. import _config
from .. import layers as _layers
from ..models import Model, Sequential, load_model
from ._reach import missing

__all__ = ["Model", "Sequential", "load_model", "save_model", "clone_model", "model_from_json"]

_MODEL_CLASSES = {"Model": Model, "Sequential": Sequential, "Functional": Model}


def save_model(model, filepath, overwrite=True, **kwargs) -> None:
    """``model.save(filepath)``."""
    model.save(filepath)


def model_from_json(json_string: str, custom_objects: dict | None = None) -> Model:
    """A new model (fresh weights) from ``model.to_json()``'s string."""
    return _layers.deserialize(json.loads(json_string), {**_MODEL_CLASSES,
                                                         **(custom_objects or {})})


def clone_model(model, input_tensors=None, clone_function=None, call_function=None,
                recursive=False, **kwargs) -> Model:
    """A new model of the same architecture with new weights (as Keras: initialized afresh,
    not copied; ``set_weights(model.get_weights())`` copies them). For a Sequential model
    ``clone_function(layer)`` makes each new layer (default: from its config)."""
    if input_tensors is not None or call_function is not None:
        raise missing("keras.models", "clone_model", {
            "clone_model": "input_tensors= and call_function= are not implemented"})
    if clone_function is not None:
        if not isinstance(model, Sequential):
            raise missing("keras.models", "clone_model", {
                "clone_model": "clone_function= is implemented for Sequential models only"})
        clone = Sequential([clone_function(layer) for layer in model.layers], name=model.name)
        if model.built and model._input_batch_shape is not None:
            clone.build(model._input_batch_shape)
        return clone
    with _config.custom_object_scope(_MODEL_CLASSES):
        return _layers.deserialize(_layers.serialize(model))


def __getattr__(name):
    raise missing("keras.models", name)

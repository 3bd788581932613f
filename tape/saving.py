"""Weights and whole models on disk: safetensors by default, NumPy ``.npz`` by extension.

Loading never unpickles (safetensors holds raw bytes; ``.npz`` is read with
``allow_pickle=False``). Saving writes a temporary file in the target's folder and renames it
over the target (``os.replace``), so a failed save leaves the old file intact. A file that is
truncated, corrupt, or not written by tape raises ``WeightsFileError`` naming the path.

Layout: tensors ``model/00000``... (weights in ``model.weights`` order) and, for a full save,
``optimizer/00000``...; string metadata ``tape_format`` (``weights`` or ``model``),
``weight_names`` (JSON list) and for a model ``config``, ``compile`` and ``optimizer`` (JSON).
"""

from __future__ import annotations

import json
import os
import tempfile
import warnings

import numpy as np

from . import activations, losses, metrics, optimizers
from .errors import TapeError

__all__ = ["WeightsFileError", "save_weights", "load_weights", "save_model", "load_model",
           "write_file", "read_file"]

FORMAT_VERSION = "1"


class WeightsFileError(TapeError, ValueError):
    """A weights or model file that cannot be read (truncated, corrupt, wrong kind)."""


# ---- raw files --------------------------------------------------------------------------
def _is_npz(path: str) -> bool:
    return str(path).lower().endswith(".npz")


def write_file(path, tensors: dict[str, np.ndarray], metadata: dict[str, str]) -> None:
    """Write ``tensors`` and string ``metadata`` atomically (temp file + rename)."""
    path = os.fspath(path)
    folder = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(dir=folder, prefix=f".{os.path.basename(path)}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            if _is_npz(path):
                arrays = {k: np.asarray(v, order="C") for k, v in tensors.items()}
                arrays["__metadata__"] = np.array(json.dumps(metadata))
                np.savez(f, **arrays)
            else:
                from safetensors.numpy import save

                f.write(save({k: np.asarray(v, order="C") for k, v in tensors.items()},
                             metadata=metadata))
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def read_file(path) -> tuple[dict[str, np.ndarray], dict[str, str]]:
    """``(tensors, metadata)`` from a file ``write_file`` wrote; never unpickles."""
    path = os.fspath(path)
    if not os.path.exists(path):
        raise FileNotFoundError(f"No such weights file: {path}")
    try:
        if _is_npz(path):
            with np.load(path, allow_pickle=False) as data:
                tensors = {k: np.array(data[k]) for k in data.files}
            metadata = json.loads(str(tensors.pop("__metadata__")))
        else:
            from safetensors import safe_open

            with safe_open(path, framework="np") as f:
                metadata = dict(f.metadata() or {})
                tensors = {k: f.get_tensor(k) for k in f.keys()}  # noqa: SIM118
    except Exception as error:  # zipfile, NumPy, JSON and safetensors each raise their own
        raise WeightsFileError(f"Cannot read {path}: the file is truncated, corrupt or not a "
                               f"tape weights file ({type(error).__name__}: {error})") from None
    if metadata.get("tape_format") not in ("weights", "model"):
        raise WeightsFileError(f"{path} was not written by tape (no 'tape_format' metadata)")
    return tensors, metadata


# ---- weights ----------------------------------------------------------------------------
def _weight_tensors(model) -> tuple[dict, list[str]]:
    weights = model.weights
    tensors = {f"model/{i:05d}": np.asarray(v.numpy()) for i, v in enumerate(weights)}
    return tensors, [str(v.name) for v in weights]


def save_weights(model, path) -> None:
    """Write ``model.weights`` to ``path``."""
    tensors, names = _weight_tensors(model)
    write_file(path, tensors, {"tape_format": "weights", "version": FORMAT_VERSION,
                               "weight_names": json.dumps(names)})


def _assign_weights(model, tensors: dict, metadata: dict, path) -> None:
    values = [tensors[k] for k in sorted(k for k in tensors if k.startswith("model/"))]
    weights = model.weights
    if not weights and values:
        raise WeightsFileError(f"{path} holds {len(values)} weights but model '{model.name}' "
                               "has none yet: build it first (call it on data or build())")
    names = json.loads(metadata.get("weight_names", "[]"))
    if len(values) != len(weights):
        raise WeightsFileError(
            f"{path} holds {len(values)} weights {names} but model '{model.name}' has "
            f"{len(weights)} {[v.name for v in weights]}")
    for i, (var, value) in enumerate(zip(weights, values)):
        if tuple(value.shape) != tuple(var.shape):
            saved = names[i] if i < len(names) else f"#{i}"
            raise WeightsFileError(f"{path}: weight '{saved}' has shape {value.shape}, but the "
                                   f"model's '{var.name}' has shape {var.shape}")
    for var, value in zip(weights, values):
        var.assign(value.astype(var.dtype, copy=False))


def load_weights(model, path) -> None:
    """Assign the weights in ``path`` to ``model`` (counts and shapes checked first)."""
    tensors, metadata = read_file(path)
    _assign_weights(model, tensors, metadata, path)


# ---- whole models -----------------------------------------------------------------------
def _json(value, what: str) -> str:
    def refuse(obj):
        named = activations.function_config(obj)  # a def'd function goes by its name
        if isinstance(named, dict):
            return named
        raise TypeError(f"{type(obj).__name__} {obj!r}")

    try:
        return json.dumps(value, default=refuse)
    except TypeError as error:
        raise ValueError(f"Cannot save the {what} to a file: it holds a Python object that "
                         f"has no JSON form ({error}); code is never pickled. Save the "
                         "weights with save_weights and rebuild the model in code") from None


def _serialize_compile_value(value):
    if value is None or isinstance(value, str | int | float):
        return value
    if isinstance(value, list | tuple):
        return [_serialize_compile_value(v) for v in value]
    if isinstance(value, dict) and "class_name" not in value:
        return {k: _serialize_compile_value(v) for k, v in value.items()}
    if isinstance(value, dict) or hasattr(value, "get_config"):
        if isinstance(value, dict):
            return value
        return {"class_name": type(value).__name__, "config": value.get_config()}
    named = activations.function_config(value)  # a function of your own, by its name
    if isinstance(named, dict):
        return named
    raise TypeError(f"{value!r} has no config")


def save_model(model, path) -> None:
    """Architecture, weights, compile arguments and optimizer state in one file."""
    from . import layers

    config = _json(layers.serialize(model), "model architecture")
    tensors, names = _weight_tensors(model)
    metadata = {"tape_format": "model", "version": FORMAT_VERSION,
                "weight_names": json.dumps(names), "config": config}
    if getattr(model, "compiled", False):
        args = model._compile_args
        try:
            compile_config = {k: _serialize_compile_value(args.get(k))
                              for k in ("loss", "metrics", "loss_weights")}
            metadata["compile"] = json.dumps(compile_config)
        except TypeError as error:
            warnings.warn(f"save: the compile arguments are not saved ({error}); compile the "
                          "loaded model yourself", stacklevel=3)
        optimizer = model.optimizer
        metadata["optimizer"] = json.dumps(optimizers.serialize(optimizer))
        if optimizer.built:
            state = optimizer.variables
            metadata["optimizer_variables"] = json.dumps([str(v.name) for v in state])
            tensors.update({f"optimizer/{i:05d}": np.asarray(v.numpy())
                            for i, v in enumerate(state)})
    write_file(path, tensors, metadata)


def load_model(path, custom_objects=None, compile: bool = True, classes=None):
    """The model ``save_model`` wrote (see ``tape.models.load_model``)."""
    from . import layers

    tensors, metadata = read_file(path)
    if metadata.get("tape_format") != "model":
        raise WeightsFileError(f"{path} holds only weights (save_weights); build the model in "
                               "code and call load_weights, or save it with model.save")
    model = layers.deserialize(json.loads(metadata["config"]),
                               {**(classes or {}), **(custom_objects or {})})
    _assign_weights(model, tensors, metadata, path)
    if compile and "optimizer" in metadata:
        compile_config = json.loads(metadata.get("compile", "null")) or {}
        optimizer = optimizers.deserialize(json.loads(metadata["optimizer"]), custom_objects)
        model.compile(optimizer=optimizer, **{k: _resolve_compile(k, v)
                                              for k, v in compile_config.items()})
        if "optimizer_variables" in metadata:
            _restore_optimizer(model, tensors, metadata, path)
    return model


def _resolve_compile(key: str, value):
    def one(v, get):
        if isinstance(v, dict) and v.get("class_name") == "function":
            return activations.function_from_config(v)  # registered, custom or in a module
        return get(v) if isinstance(v, dict) and "class_name" in v else v

    if key == "loss" and isinstance(value, dict) and "class_name" in value:
        return one(value, losses.get)
    if key == "metrics" and isinstance(value, list):
        return [one(v, metrics.get) for v in value]
    return value


def _restore_optimizer(model, tensors: dict, metadata: dict, path) -> None:
    optimizer = model.optimizer
    optimizer.build(model.trainable_variables)
    names = json.loads(metadata["optimizer_variables"])
    values = [tensors[k] for k in sorted(k for k in tensors if k.startswith("optimizer/"))]
    state = optimizer.variables
    if len(state) != len(values):
        raise WeightsFileError(f"{path}: the saved optimizer state has {len(values)} variables "
                               f"{names}, the rebuilt optimizer {len(state)} "
                               f"{[v.name for v in state]}")
    for var, value, name in zip(state, values, names):
        if tuple(var.shape) != tuple(value.shape):
            raise WeightsFileError(f"{path}: optimizer variable '{name}' has shape "
                                   f"{value.shape}, the rebuilt one {var.shape}")
        var.assign(value.astype(var.dtype, copy=False))

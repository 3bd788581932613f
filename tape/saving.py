"""Weights and whole models on disk: safetensors by default, NumPy ``.npz`` by extension.

Loading never unpickles (safetensors holds raw bytes; ``.npz`` is read with
``allow_pickle=False``). Saving writes a temporary file in the target's folder and renames it
over the target (``os.replace``), so a failed save leaves the old file intact; a save over a
symlink writes the file it points to, an existing file keeps its permissions, and the temp
files of a save that was killed (their writer's process is gone) are removed by the next save
of the same target. A file that is truncated, corrupt, or not written by tape raises
``WeightsFileError`` naming the path: the metadata holds a SHA-256 of the tensors and the
other metadata (``checksum``), checked on load, and every tensor's stated shape and size is
checked against the file before it is read; ``load_model`` lets the config create no more
weight numbers than the file holds, so a crafted config fails before allocating.

Layout: tensors ``model/00000``... (weights in ``model.weights`` order) and, for a full save,
``optimizer/00000``...; string metadata ``tape_format`` (``weights`` or ``model``),
``weight_names`` (JSON list) and for a model ``config``, ``compile`` and ``optimizer`` (JSON),
and ``checksum`` (files written before it existed load without the check).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import math
import os
import re
import secrets
import stat
import warnings
import zipfile

import numpy as np

from . import activations, losses, metrics, optimizers
from .errors import TapeError, names_user_line

__all__ = ["WeightsFileError", "save_weights", "load_weights", "save_model", "load_model",
           "write_file", "read_file"]

FORMAT_VERSION = "1"


class WeightsFileError(TapeError, ValueError):
    """A weights or model file that cannot be read (truncated, corrupt, wrong kind)."""


# ---- raw files --------------------------------------------------------------------------
def _is_npz(path: str) -> bool:
    return str(path).lower().endswith(".npz")


def write_file(path, tensors: dict[str, np.ndarray], metadata: dict[str, str]) -> None:
    """Write ``tensors`` and string ``metadata`` atomically (temp file + rename), with their
    checksum in the metadata. A symlink stays a symlink (its target is written), an existing
    file keeps its mode, and a new one gets the umask's (as ``open`` gives)."""
    target = os.path.realpath(os.fspath(path))
    if not os.path.isdir(os.path.dirname(target)):
        raise FileNotFoundError(f"Cannot save {os.fspath(path)}: the folder "
                                f"{os.path.dirname(target)} does not exist")
    tensors = {k: np.asarray(v, order="C") for k, v in tensors.items()}
    metadata = {**metadata, "checksum": _checksum(tensors, metadata)}
    _remove_stale_temps(target)
    fd, tmp = _create_temp(target)
    try:
        with os.fdopen(fd, "wb") as f:
            if _is_npz(target):
                np.savez(f, **tensors, __metadata__=np.array(json.dumps(metadata)))
            else:
                from safetensors.numpy import save

                f.write(save(tensors, metadata=metadata))
            f.flush()
            os.fsync(f.fileno())
        with contextlib.suppress(FileNotFoundError):  # an existing file keeps its mode
            os.chmod(tmp, stat.S_IMODE(os.stat(target).st_mode))
        os.replace(tmp, target)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def _temp_prefix(target: str) -> str:
    return f".{os.path.basename(target)}."


def _create_temp(target: str) -> tuple[int, str]:
    """A new file beside ``target`` named ``.NAME.PID.RANDOM.tmp`` (the writer's process id
    tells a later save whether it is stale), created as ``open`` creates files (mode 0o666
    less the umask; mkstemp's 0o600 would stick to the saved file)."""
    folder = os.path.dirname(target)
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0)
    while True:
        tmp = os.path.join(folder, f"{_temp_prefix(target)}{os.getpid()}."
                                   f"{secrets.token_hex(4)}.tmp")
        try:
            return os.open(tmp, flags, 0o666), tmp
        except FileExistsError:
            continue


def _remove_stale_temps(target: str) -> None:
    """Remove the temp files that saves of ``target`` left when their process was killed
    (their process id no longer runs); a save in progress elsewhere is left alone."""
    folder, prefix = os.path.dirname(target), _temp_prefix(target)
    pattern = re.compile(re.escape(prefix) + r"(\d+)\.[0-9a-f]+\.tmp")
    try:
        names = os.listdir(folder)
    except OSError:
        return  # the save itself reports a missing folder
    for name in names:
        match = pattern.fullmatch(name)
        if match and not _process_runs(int(match.group(1))):
            with contextlib.suppress(OSError):
                os.unlink(os.path.join(folder, name))


def _process_runs(pid: int) -> bool:
    if pid == os.getpid():
        return True  # another thread of this process may be saving the same target
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:
        return True  # it runs under another user, or the platform cannot tell: keep it
    return True


def _checksum(tensors: dict, metadata: dict) -> str:
    """SHA-256 over the metadata (but the checksum) and each tensor's name, dtype, shape and
    bytes, in name order."""
    digest = hashlib.sha256()
    for key in sorted(k for k in metadata if k != "checksum"):
        digest.update(json.dumps([key, metadata[key]]).encode())
    for key in sorted(tensors):
        array = np.ascontiguousarray(tensors[key])
        digest.update(json.dumps([key, array.dtype.str, list(array.shape)]).encode())
        digest.update(array.reshape(-1).view(np.uint8))
    return "sha256:" + digest.hexdigest()


def read_file(path) -> tuple[dict[str, np.ndarray], dict[str, str]]:
    """``(tensors, metadata)`` from a file ``write_file`` wrote; never unpickles."""
    path = os.fspath(path)
    if not os.path.exists(path):
        raise FileNotFoundError(f"No such weights file: {path}")
    try:
        if _is_npz(path):
            _check_npz_sizes(path)
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
    if "checksum" in metadata and metadata["checksum"] != _checksum(tensors, metadata):
        raise WeightsFileError(f"{path} is corrupt: its contents do not match the checksum "
                               "written with them (changed on disk or in transfer)")
    return tensors, metadata


def _check_npz_sizes(path) -> None:
    """Each ``.npy`` member's header (dtype and shape) against the member's size, before
    NumPy allocates what a header states; object arrays are refused (never unpickled)."""
    from numpy.lib import format as npy

    readers = {(1, 0): npy.read_array_header_1_0, (2, 0): npy.read_array_header_2_0}
    with zipfile.ZipFile(path) as archive:
        for info in archive.infolist():
            with archive.open(info) as member:
                version = npy.read_magic(member)
                if version not in readers:
                    raise ValueError(f"{info.filename}: .npy format {version} is not read")
                shape, _, dtype = readers[version](member)
                stated = member.tell() + math.prod(shape) * dtype.itemsize  # exact, no wrap
                if (dtype.hasobject or stated != info.file_size
                        or info.compress_type != zipfile.ZIP_STORED):  # tape stores them
                    raise ValueError(f"{info.filename}: its header states {dtype} {shape} "
                                     f"({stated} bytes), the member holds {info.file_size} "
                                     "(stored uncompressed, as tape writes them)")


# ---- weights ----------------------------------------------------------------------------
def _weight_tensors(model) -> tuple[dict, list[str]]:
    weights = model.weights
    tensors = {f"model/{i:05d}": np.asarray(v.numpy()) for i, v in enumerate(weights)}
    return tensors, [str(v.name) for v in weights]


@names_user_line
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
    with _rebuilding(path, "weight names"):
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


@names_user_line
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


@names_user_line
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


@names_user_line
def load_model(path, custom_objects=None, compile: bool = True, classes=None):
    """The model ``save_model`` wrote (see ``tape.models.load_model``). A config that cannot
    be rebuilt (not JSON, nested too deep, wrong types) is a ``WeightsFileError``, and so is
    one asking for more weight numbers than the file holds, before they are allocated."""
    from . import layers
    from .layers.weight_budget import weight_budget

    tensors, metadata = read_file(path)
    if metadata.get("tape_format") != "model":
        raise WeightsFileError(f"{path} holds only weights (save_weights); build the model in "
                               "code and call load_weights, or save it with model.save")
    numbers = sum(int(v.size) for k, v in tensors.items() if k.startswith("model/"))

    def refuse(name, shape):
        return WeightsFileError(
            f"{path}: the model config asks for weight '{name}' of shape {shape}, beyond the "
            f"{numbers} weight numbers the file holds: the config does not match the weights "
            "(a corrupt or crafted file); nothing was allocated for it")

    with _rebuilding(path, "model"), weight_budget(numbers, refuse):
        model = layers.deserialize(json.loads(metadata["config"]),
                                   {**(classes or {}), **(custom_objects or {})})
    _assign_weights(model, tensors, metadata, path)
    if compile and "optimizer" in metadata:
        with _rebuilding(path, "compile arguments and optimizer"):
            compile_config = json.loads(metadata.get("compile", "null")) or {}
            optimizer = optimizers.deserialize(json.loads(metadata["optimizer"]),
                                               custom_objects)
            model.compile(optimizer=optimizer, **{k: _resolve_compile(k, v)
                                                  for k, v in compile_config.items()})
        if "optimizer_variables" in metadata:
            _restore_optimizer(model, tensors, metadata, path)
    return model


@contextlib.contextmanager
def _rebuilding(path, what: str):
    """Errors from rebuilding objects out of a file's metadata (json's, Python's own, a
    from_config's) as a WeightsFileError naming the file; tape's own errors pass as they are."""
    try:
        yield
    except TapeError:
        raise
    except Exception as error:  # JSONDecodeError, RecursionError, TypeError, AttributeError...
        detail = str(error).split(" [at ")[0]
        raise WeightsFileError(f"{path}: cannot rebuild the {what} from the file's metadata "
                               f"({type(error).__name__}: {detail})") from error


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
    with _rebuilding(path, "optimizer state"):
        names = json.loads(metadata["optimizer_variables"])
    values = [tensors[k] for k in sorted(k for k in tensors if k.startswith("optimizer/"))]
    state = optimizer.variables
    rebuilt = [str(v.name) for v in state]
    if len(state) != len(values) or names != rebuilt:  # each value goes to its own variable
        raise WeightsFileError(f"{path}: the saved optimizer state has {len(values)} values "
                               f"named {names}, the rebuilt optimizer {len(state)} variables "
                               f"{rebuilt}")
    for var, value, name in zip(state, values, names):
        if tuple(var.shape) != tuple(value.shape):
            raise WeightsFileError(f"{path}: optimizer variable '{name}' has shape "
                                   f"{value.shape}, the rebuilt one {var.shape}")
        var.assign(value.astype(var.dtype, copy=False))

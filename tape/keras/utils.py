"""``keras.utils``: label and sequence helpers, ``PyDataset``, ``set_random_seed``,
``plot_model`` (through graphviz), image array helpers, ``timeseries_dataset_from_array``,
and the serialization functions (the same as ``keras.saving``'s).

Example:
    >>> from tape.keras import utils
    >>> utils.to_categorical([0, 2], num_classes=3).tolist()
    [[1.0, 0.0, 0.0], [0.0, 0.0, 1.0]]
    >>> utils.pad_sequences([[1, 2], [3]], maxlen=3).tolist()
    [[0, 1, 2], [0, 0, 3]]
"""

from __future__ import annotations

import os
import random as _py_random

import numpy as np

from .. import data as _data
from ..ops import random as _random
from ._reach import missing
from .saving import (
    CustomObjectScope,
    custom_object_scope,
    deserialize_keras_object,
    get_custom_objects,
    get_registered_name,
    get_registered_object,
    register_keras_serializable,
    serialize_keras_object,
)

__all__ = [
    "CustomObjectScope", "PyDataset", "Sequence", "array_to_img", "custom_object_scope",
    "deserialize_keras_object", "get_custom_objects", "get_registered_name",
    "get_registered_object", "img_to_array", "load_img", "model_to_dot", "normalize",
    "pack_x_y_sample_weight", "pad_sequences", "plot_model", "register_keras_serializable",
    "save_img", "serialize_keras_object", "set_random_seed", "timeseries_dataset_from_array",
    "to_categorical", "unpack_x_y_sample_weight"]

unpack_x_y_sample_weight = _data.unpack_x_y_sample_weight
pack_x_y_sample_weight = _data.pack_x_y_sample_weight


def to_categorical(x, num_classes=None):
    """One-hot rows of the integer labels ``x`` (a trailing axis of 1 is dropped), as
    Keras: float64 NumPy array of shape ``x.shape + (num_classes,)``."""
    x = np.asarray(x, dtype="int64")
    shape = x.shape
    if len(shape) > 1 and shape[-1] == 1:
        shape = shape[:-1]
    x = x.reshape(-1)
    num_classes = int(np.max(x)) + 1 if not num_classes else int(num_classes)
    out = np.zeros((x.shape[0], num_classes))
    out[np.arange(x.shape[0]), x] = 1
    return out.reshape(shape + (num_classes,))


def normalize(x, axis=-1, order=2):
    """``x`` divided by its ``order``-norm along ``axis`` (NumPy in, NumPy out)."""
    x = np.asarray(x)
    norm = np.atleast_1d(np.linalg.norm(x, order, axis))
    norm[norm == 0] = 1
    return x / np.expand_dims(norm, axis)


def pad_sequences(sequences, maxlen=None, dtype="int32", padding="pre", truncating="pre",
                  value=0.0):
    """Sequences of different lengths as one array ``(len(sequences), maxlen)``, padded
    with ``value`` and cut to ``maxlen``, at the start ('pre') or the end ('post')."""
    if padding not in ("pre", "post") or truncating not in ("pre", "post"):
        raise ValueError(f"pad_sequences: padding and truncating must be 'pre' or 'post'. "
                         f"Received: padding={padding!r}, truncating={truncating!r}")
    sequences = [np.asarray(s) for s in sequences]
    lengths = [len(s) for s in sequences]
    maxlen = max(lengths, default=0) if maxlen is None else int(maxlen)
    sample_shape = next((s.shape[1:] for s in sequences if len(s)), ())
    out = np.full((len(sequences), maxlen, *sample_shape), value, dtype=dtype)
    for i, s in enumerate(sequences):
        if not len(s) or not maxlen:
            continue
        s = s[-maxlen:] if truncating == "pre" else s[:maxlen]
        if padding == "post":
            out[i, :len(s)] = s
        else:
            out[i, -len(s):] = s
    return out


class PyDataset:
    """Batches by index: subclass it with ``__len__`` (the number of batches) and
    ``__getitem__(i)`` (batch ``i``: ``x``, ``(x, y)`` or ``(x, y, sample_weight)``), and
    optionally ``on_epoch_end``; ``fit`` reads every batch once per epoch, in order.
    ``workers``/``use_multiprocessing`` are accepted and ignored (batches load in the
    training thread).

    Example:
        >>> import numpy as np
        >>> from tape.keras import utils
        >>> class Squares(utils.PyDataset):
        ...     def __len__(self):
        ...         return 2
        ...     def __getitem__(self, i):
        ...         x = np.arange(3.0) + 3 * i
        ...         return x[:, None], x[:, None] ** 2
        >>> [x.shape for x, y in Squares()]
        [(3, 1), (3, 1)]
    """

    def __init__(self, workers=1, use_multiprocessing=False, max_queue_size=10):
        self.workers, self.use_multiprocessing = workers, use_multiprocessing
        self.max_queue_size = max_queue_size

    def __len__(self) -> int:
        raise NotImplementedError(f"{type(self).__name__} must implement __len__ (batches)")

    def __getitem__(self, index):
        raise NotImplementedError(f"{type(self).__name__} must implement __getitem__(index)")

    def on_epoch_end(self) -> None:
        """Called after each epoch's last batch (e.g. to reshuffle)."""

    @property
    def num_batches(self) -> int:
        return len(self)

    def __iter__(self):
        for index in range(len(self)):
            yield self[index]
        self.on_epoch_end()


Sequence = PyDataset


def set_random_seed(seed: int) -> None:
    """Seed tape's random stream, NumPy's global one and Python's ``random``."""
    _random.seed(int(seed))
    np.random.seed(int(seed))
    _py_random.seed(int(seed))


def timeseries_dataset_from_array(data, targets, sequence_length, sequence_stride=1,
                                  sampling_rate=1, batch_size=128, shuffle=False, seed=None,
                                  start_index=None, end_index=None):
    """Sliding windows over ``data`` as a batched ``tape.data.Dataset``, as Keras: window
    ``i`` is ``data[s:s + sequence_length * sampling_rate:sampling_rate]`` for
    ``s = start_index + i * sequence_stride``, with target ``targets[s]``."""
    data = np.asarray(data)
    start = start_index or 0
    end = len(data) if end_index is None else end_index
    span = (sequence_length - 1) * sampling_rate + 1
    starts = np.arange(start, end - span + 1, sequence_stride)
    if shuffle:
        starts = np.random.default_rng(seed).permutation(starts)
    windows = data[starts[:, None] + np.arange(sequence_length) * sampling_rate]
    parts = windows if targets is None else (windows, np.asarray(targets)[starts])
    return _data.Dataset.from_tensor_slices(parts).batch(batch_size or len(starts))


def model_to_dot(model, show_shapes=False, show_dtype=False, show_layer_names=True,
                 rankdir="TB", **kwargs) -> str:
    """The model's layers and connections as Graphviz DOT source."""
    lines = [f'digraph "{model.name}" {{', f"  rankdir={rankdir};", "  node [shape=record];"]
    nodes = getattr(model, "_nodes", None)
    model_layers = model.layers
    for layer in model_layers:
        label = f"{layer.name}: {type(layer).__name__}" if show_layer_names \
            else type(layer).__name__
        if show_shapes:
            label += f" | {model._summary_shape(layer)}"
        if show_dtype:
            label += f" | {layer.dtype}"
        label = label.replace('"', "'").replace("{", "(").replace("}", ")")
        lines.append(f'  "{layer.name}" [label="{label}"];')
    if nodes:
        for node in nodes:
            for parent in node.parents:
                lines.append(f'  "{parent.node.layer.name}" -> "{node.layer.name}";')
    else:
        for a, b in zip(model_layers, model_layers[1:]):
            lines.append(f'  "{a.name}" -> "{b.name}";')
    lines.append("}")
    return "\n".join(lines) + "\n"


def plot_model(model, to_file="model.png", show_shapes=False, show_dtype=False,
               show_layer_names=True, rankdir="TB", dpi=200, **kwargs):
    """Draw the model to ``to_file`` through graphviz (``pip install graphviz`` and the
    Graphviz programs); a ``.dot`` file is written as DOT source without them."""
    source = model_to_dot(model, show_shapes, show_dtype, show_layer_names, rankdir)
    to_file = os.fspath(to_file)
    base, ext = os.path.splitext(to_file)
    if ext.lower() == ".dot":
        with open(to_file, "w") as f:
            f.write(source)
        return source
    try:
        import graphviz
    except ImportError:
        raise ImportError("plot_model draws through graphviz: pip install graphviz (or "
                          "'tape[plot]') and install the Graphviz programs (e.g. apt-get "
                          "install graphviz); or save to a .dot file, which needs neither"
                          ) from None
    try:
        graphviz.Source(source).render(outfile=to_file, format=ext.lstrip(".") or "png",
                                       cleanup=True)
    except graphviz.ExecutableNotFound:
        raise ImportError("plot_model: the graphviz package is installed but the Graphviz "
                          "programs (dot) are not on PATH; install them (e.g. apt-get "
                          "install graphviz), or save to a .dot file") from None
    return source


def _pil(what: str):
    try:
        from PIL import Image
    except ImportError:
        raise ImportError(f"{what} needs Pillow: pip install pillow") from None
    return Image


def array_to_img(x, data_format=None, scale=True, dtype=None):
    """A PIL image from an ``(height, width, channels)`` array (scaled to 0-255)."""
    Image = _pil("array_to_img")
    x = np.asarray(x, dtype="float32")
    if x.ndim != 3:
        raise ValueError(f"array_to_img expects (height, width, channels); got shape {x.shape}")
    if scale:
        x = x - x.min()
        top = x.max()
        x = x / top * 255 if top else x
    x = x.astype("uint8")
    return Image.fromarray(x[..., 0] if x.shape[-1] == 1 else x)


def img_to_array(img, data_format=None, dtype="float32"):
    """An ``(height, width, channels)`` array from a PIL image."""
    x = np.asarray(img, dtype=dtype)
    return x[..., None] if x.ndim == 2 else x


def load_img(path, color_mode="rgb", target_size=None, **kwargs):
    """A PIL image read from a local file (resized to ``target_size=(h, w)`` if given)."""
    Image = _pil("load_img")
    img = Image.open(path)
    img = img.convert({"grayscale": "L", "rgb": "RGB", "rgba": "RGBA"}[color_mode])
    return img.resize((target_size[1], target_size[0])) if target_size else img


def save_img(path, x, data_format=None, file_format=None, scale=True, **kwargs):
    """Write the array ``x`` as an image file."""
    array_to_img(x, scale=scale).save(path, format=file_format)


def __getattr__(name):
    raise missing("keras.utils", name, {
        "get_file": "it downloads, and tape makes no network requests; fetch the file "
                    "yourself and read it from disk",
        "image_dataset_from_directory": "it is not implemented; load the images with "
                                        "load_img/img_to_array into arrays",
        "text_dataset_from_directory": "it is not implemented; read the files into arrays",
        "audio_dataset_from_directory": "it is not implemented",
        "split_dataset": "it is not implemented; slice the arrays"})

"""Input pipelines: ``Dataset`` (from arrays or a generator; shuffle, batch, map, repeat, take)
and the adapter that turns what ``fit``/``evaluate``/``predict`` are given into batches.

A Dataset is a recipe: each ``iter()`` starts it again from its source, so one Dataset serves
every epoch. Elements are nested tuples/dicts of arrays inside the pipeline; iteration yields
them as Tensors (``map`` functions receive Tensors too).

Example:
    >>> import numpy as np
    >>> from tape.data import Dataset
    >>> ds = Dataset.from_tensor_slices((np.arange(5.0), np.arange(5))).batch(2)
    >>> [tuple(x.shape) for x, y in ds]
    [(2,), (2,), (1,)]
"""

from __future__ import annotations

import itertools
import math
import warnings
from collections.abc import Callable, Iterable, Iterator

import numpy as np

from . import ops
from .errors import user_stacklevel
from .layers._nest import flatten, map_structure
from .ops import random
from .tensor import Tensor

__all__ = ["Dataset", "DataAdapter", "pack_x_y_sample_weight", "unpack_x_y_sample_weight",
           "to_numpy"]


def to_numpy(x):
    """A structure of arrays from a structure of Tensors/lists/arrays (float64 -> float32,
    as Keras casts inputs to floatx)."""
    def one(v):
        a = v.numpy() if isinstance(v, Tensor) else np.asarray(v)
        return a.astype(np.float32) if a.dtype == np.float64 else a

    return map_structure(one, _as_structure(x))


def _as_structure(x):
    # A list of numbers is one array, a list of arrays is several inputs (as Keras).
    if isinstance(x, list) and x and not isinstance(x[0], np.ndarray | Tensor | list | dict
                                                    | tuple):
        return np.asarray(x)
    return x


def _to_tensors(element):
    return map_structure(lambda a: a if isinstance(a, Tensor) else ops.convert(np.asarray(a)),
                         element)


def unpack_x_y_sample_weight(data):
    """``(x, y, sample_weight)`` from a batch given as ``x``, ``(x,)``, ``(x, y)`` or
    ``(x, y, sample_weight)`` (missing parts are None), as Keras does."""
    if isinstance(data, list):
        data = tuple(data)
    if not isinstance(data, tuple):
        return data, None, None
    if len(data) == 1:
        return data[0], None, None
    if len(data) == 2:
        return data[0], data[1], None
    if len(data) == 3:
        return data
    raise ValueError("Data is expected to be x, (x,), (x, y) or (x, y, sample_weight); "
                     f"received a tuple of {len(data)} parts")


def pack_x_y_sample_weight(x, y=None, sample_weight=None):
    """What ``fit`` hands ``train_step``, as Keras does: ``x`` alone (``(x,)`` when ``x`` is
    a tuple or list), ``(x, y)``, or ``(x, y, sample_weight)`` when there are weights.

    Example:
        >>> from tape.data import pack_x_y_sample_weight
        >>> pack_x_y_sample_weight(1, 2), pack_x_y_sample_weight(1, 2, 3)
        ((1, 2), (1, 2, 3))
    """
    if y is None:
        return (x,) if isinstance(x, list | tuple) else x
    if sample_weight is None:
        return (x, y)
    return (x, y, sample_weight)


class Dataset:
    """An iterable pipeline of elements (nested tuples/dicts of tensors).

    Build one with ``from_tensor_slices`` or ``from_generator``; chain ``shuffle``,
    ``batch``, ``map``, ``repeat``, ``take``. ``len()`` works when the size is known.
    """

    def __init__(self, make_iterator: Callable[[], Iterator], cardinality: int | None = None):
        self._make_iterator = make_iterator
        self._cardinality = cardinality
        self._arrays = None  # from_tensor_slices' arrays: a full shuffle permutes row indices

    # ---- sources ---------------------------------------------------------------------
    @classmethod
    def from_tensor_slices(cls, tensors) -> Dataset:
        """One element per row of ``tensors`` (an array, or a tuple/dict of arrays that all
        have the same first dimension)."""
        arrays = to_numpy(tensors)
        lengths = {len(a) if a.ndim else -1 for a in flatten(arrays)}
        if -1 in lengths or len(lengths) != 1:
            raise ValueError("Dataset.from_tensor_slices: every array needs the same first "
                             "dimension; got first dimensions "
                             f"{[a.shape[:1] for a in flatten(arrays)]}")
        n = lengths.pop()

        def rows():
            for i in range(n):
                yield map_structure(lambda a, i=i: a[i], arrays)

        dataset = cls(rows, n)
        dataset._arrays = arrays
        return dataset

    @classmethod
    def from_generator(cls, generator: Callable[[], Iterable], output_signature=None,
                       cardinality: int | None = None) -> Dataset:
        """Elements from ``generator()``, called afresh at each iteration (pass the
        function, not a generator object, so that every epoch can start over)."""
        if not callable(generator):
            raise TypeError("Dataset.from_generator takes a callable that returns an iterator "
                            f"(e.g. a generator function); received {type(generator).__name__}")
        return cls(lambda: (to_numpy(e) for e in generator()), cardinality)

    # ---- transformations -------------------------------------------------------------
    def shuffle(self, buffer_size: int, seed: int | None = None,
                reshuffle_each_iteration: bool = True) -> Dataset:
        """Shuffle through a buffer of ``buffer_size`` elements (as tf.data: a buffer as
        large as the data gives a uniform shuffle). Without ``seed``, the order comes from
        ``tape.random``'s generator, so ``tape.random.seed`` makes it repeat."""
        if buffer_size < 1:
            raise ValueError(f"shuffle: buffer_size must be >= 1, got {buffer_size}")
        fixed = np.random.default_rng(seed) if seed is not None else None
        first_seed = int(np.random.default_rng(seed).integers(2**63)) if seed is not None \
            else None

        def shuffled():
            if fixed is None:
                rng = np.random.default_rng(int(random.randint(2**62).numpy()))
            elif reshuffle_each_iteration:
                rng = fixed
            else:
                rng = np.random.default_rng(first_seed)
            arrays = self._arrays
            if arrays is not None and buffer_size >= self._cardinality:
                for i in rng.permutation(self._cardinality):
                    yield map_structure(lambda a, i=i: a[i], arrays)
                return
            buffer = []
            for element in self._make_iterator():
                if len(buffer) < buffer_size:
                    buffer.append(element)
                    continue
                j = int(rng.integers(buffer_size))
                buffer[j], element = element, buffer[j]
                yield element
            order = rng.permutation(len(buffer))
            for j in order:
                yield buffer[j]

        return Dataset(shuffled, self._cardinality)

    def batch(self, batch_size: int, drop_remainder: bool = False, num_parallel_calls=None,
              deterministic=None) -> Dataset:
        """Stack ``batch_size`` consecutive elements into one (the last may be smaller
        unless ``drop_remainder``)."""
        if batch_size < 1:
            raise ValueError(f"batch: batch_size must be >= 1, got {batch_size}")

        def batches():
            it = self._make_iterator()
            while True:
                chunk = list(itertools.islice(it, batch_size))
                if not chunk or (drop_remainder and len(chunk) < batch_size):
                    return
                yield map_structure(lambda *xs: np.stack(xs), *chunk)

        n = self._cardinality
        if n is not None:
            n = n // batch_size if drop_remainder else math.ceil(n / batch_size)
        return Dataset(batches, n)

    def map(self, fn: Callable, num_parallel_calls=None, deterministic=None) -> Dataset:
        """Apply ``fn`` to each element (a tuple element is passed as separate arguments,
        as tf.data does). ``num_parallel_calls`` is accepted; elements map in order."""
        def mapped():
            for element in self._make_iterator():
                tensors = _to_tensors(element)
                out = fn(*tensors) if isinstance(tensors, tuple) else fn(tensors)
                yield to_numpy(out)

        return Dataset(mapped, self._cardinality)

    def repeat(self, count: int | None = None) -> Dataset:
        """The elements ``count`` times over (forever when None)."""
        def repeated():
            for _ in itertools.count() if count is None else range(count):
                yield from self._make_iterator()

        n = None if count is None or self._cardinality is None else self._cardinality * count
        if count is not None and self._cardinality == 0:
            n = 0
        return Dataset(repeated, n)

    def take(self, count: int) -> Dataset:
        """At most the first ``count`` elements."""
        n = count if self._cardinality is None else min(count, self._cardinality)
        return Dataset(lambda: itertools.islice(self._make_iterator(), count), n)

    def shard(self, num_shards: int, index: int) -> Dataset:
        """Every ``num_shards``-th element from element ``index`` on (tf.data's ``shard``):
        shard ``index`` of ``num_shards`` equal parts, for one rank of a custom
        data-parallel loop (``tape.distribute``; ``fit`` shards each global batch itself).

        Example:
            >>> import tape
            >>> ds = tape.data.Dataset.from_tensor_slices(tape.arange(7))
            >>> [int(e) for e in ds.shard(3, 1)]
            [1, 4]
        """
        if not isinstance(num_shards, int | np.integer) or num_shards < 1:
            raise ValueError(f"shard: num_shards must be a positive integer, got {num_shards!r}")
        if not isinstance(index, int | np.integer) or not 0 <= index < num_shards:
            raise ValueError(f"shard: index must be in [0, {num_shards}), got {index!r}")
        n = self._cardinality
        if n is not None:
            n = len(range(index, n, num_shards))
        return Dataset(lambda: itertools.islice(self._make_iterator(), index, None, num_shards),
                       n)

    def prefetch(self, buffer_size=None) -> Dataset:
        """A no-op kept for tf.data code (iteration is synchronous)."""
        return self

    def cache(self, filename="") -> Dataset:
        """A no-op kept for tf.data code (array sources are in memory already)."""
        return self

    # ---- iteration -------------------------------------------------------------------
    def __iter__(self):
        for element in self._make_iterator():
            yield _to_tensors(element)

    def __len__(self) -> int:
        if self._cardinality is None:
            raise TypeError("The length of this Dataset is unknown (a generator source or "
                            "an endless repeat)")
        return self._cardinality

    def cardinality(self) -> int | None:
        """The number of elements, or None when unknown."""
        return self._cardinality

    def __repr__(self) -> str:
        return f"<Dataset cardinality={self._cardinality}>"


class DataAdapter:
    """What ``fit``/``evaluate``/``predict`` iterate: batches of ``(x, y, sample_weight)``.

    Arrays (or Tensors, lists, tuples/dicts of them) are checked for equal lengths and
    sliced into batches, shuffled per epoch from ``tape.random``'s generator. A ``Dataset``
    or any iterable is taken as already batched; a generator object (consumed once) is
    read ``steps`` batches per epoch.
    """

    def __init__(self, x, y=None, sample_weight=None, batch_size: int | None = 32,
                 shuffle: bool = False, steps: int | None = None):
        if x is None:
            raise ValueError("No input data: pass x (arrays, tensors, a Dataset or a generator)")
        self.steps = steps
        self.shuffle = shuffle
        self._iterator = None
        self._available = None  # batches the data holds, when fewer than steps
        if isinstance(x, Dataset) or _is_iterable_source(x):
            if y is not None or sample_weight is not None:
                raise ValueError("`y` and `sample_weight` must not be given when `x` is a "
                                 "Dataset or a generator: it yields (x, y[, sample_weight])")
            self.arrays = None
            self.source = x
            if isinstance(x, Dataset):
                self.size = None
                self.num_batches = x.cardinality() if steps is None else steps
                if steps is not None and x.cardinality() is not None:
                    self._short_of(x.cardinality())
            else:  # a PyDataset (or any iterable with a length) knows its batch count
                self.num_batches = steps if steps is not None or not hasattr(x, "__len__") \
                    else len(x)
            return
        if not isinstance(batch_size, int | np.integer) or batch_size < 1:
            raise ValueError(f"batch_size must be a positive integer, got {batch_size!r}")
        self.batch_size = int(batch_size)
        self.arrays = tuple(None if part is None else to_numpy(part)
                            for part in (x, y, sample_weight))
        lengths = {}
        for label, part in zip(("x", "y", "sample_weight"), self.arrays):
            for a in flatten(part) if part is not None else []:
                if a.ndim == 0:
                    raise ValueError(f"{label} must have a batch dimension; got a scalar")
                lengths.setdefault(label, []).append(len(a))
        sizes = {n for ns in lengths.values() for n in ns}
        if len(sizes) > 1:
            detail = ", ".join(f"{k}: {v if len(v) > 1 else v[0]}" for k, v in lengths.items())
            raise ValueError(f"Data cardinality is ambiguous: x, y and sample_weight must have "
                             f"the same number of samples; got {detail}")
        self.size = sizes.pop() if sizes else 0
        self.num_batches = math.ceil(self.size / self.batch_size)
        if steps is not None:
            self._short_of(self.num_batches)
            self.num_batches = min(steps, self.num_batches)

    def _short_of(self, available: int) -> None:
        """Note when ``steps`` (``steps_per_epoch``) asks for more batches than the data
        holds: the first epoch then warns as Keras does, and each epoch runs ``available``."""
        self._available = available if self.steps > available else None

    def _warn_if_short(self) -> None:
        available, self._available = self._available, None  # once
        if available is not None:
            warnings.warn(
                f"Your input ran out of data: {self.steps} steps per epoch were asked for, but "
                f"the data gives {available} batches, so each epoch runs {available}. Make "
                "sure that your dataset or generator can generate at least `steps_per_epoch * "
                "epochs` batches (you may need `.repeat()` on a Dataset)",
                stacklevel=user_stacklevel())

    def epoch(self) -> Iterator:
        """The batches of one epoch as Keras hands them to ``train_step``: ``x``, ``(x, y)``
        or ``(x, y, sample_weight)`` of Tensors (``pack_x_y_sample_weight``)."""
        self._warn_if_short()
        return (pack_x_y_sample_weight(*parts) for parts in self._epoch_parts())

    def _epoch_parts(self) -> Iterator:
        if self.arrays is not None:
            return self._array_batches()
        if isinstance(self.source, Dataset):
            batches = (unpack_x_y_sample_weight(b) for b in self.source)
            return batches if self.steps is None else itertools.islice(batches, self.steps)
        return self._generator_batches()

    def _array_batches(self):
        order = np.arange(self.size)
        if self.shuffle:
            order = random.permutation(self.size).numpy()
        for b in range(self.num_batches):
            index = order[b * self.batch_size:(b + 1) * self.batch_size]
            yield tuple(None if part is None else
                        map_structure(lambda a, i=index: ops.convert(a[i]), part)
                        for part in self.arrays)

    def _generator_batches(self):
        # A generator object can be read once: later epochs continue where the last stopped.
        if self._iterator is None or not isinstance(self.source, Iterator):
            self._iterator = iter(self.source)
        source = self._iterator if self.steps is None else itertools.islice(self._iterator,
                                                                            self.steps)
        for batch in source:
            yield tuple(None if p is None else _to_tensors(to_numpy(p))
                        for p in unpack_x_y_sample_weight(batch))

    def split(self, fraction: float) -> tuple[DataAdapter, tuple]:
        """(self without the last ``fraction`` of the samples, the held-out arrays), the
        held-out part taken before any shuffling, as Keras documents."""
        if self.arrays is None:
            raise ValueError("validation_split needs array inputs; with a Dataset or a "
                             "generator pass validation_data instead")
        if not 0 < fraction < 1:
            raise ValueError(f"validation_split must be in (0, 1), got {fraction}")
        cut = int(self.size * (1 - fraction))
        if cut == 0 or cut == self.size:
            raise ValueError(f"validation_split={fraction} leaves no samples on one side "
                             f"({self.size} samples)")
        head = tuple(None if p is None else map_structure(lambda a: a[:cut], p)
                     for p in self.arrays)
        tail = tuple(None if p is None else map_structure(lambda a: a[cut:], p)
                     for p in self.arrays)
        train = DataAdapter(*head, batch_size=self.batch_size, shuffle=self.shuffle,
                            steps=self.steps)
        return train, tail


def _is_iterable_source(x) -> bool:
    """A generator, iterator or other iterable of batches (but not arrays/lists/dicts)."""
    if isinstance(x, np.ndarray | Tensor | list | tuple | dict | str | bytes) or x is None:
        return False
    return isinstance(x, Iterable | Iterator)


def class_sample_weights(class_weight: dict, y, sample_weight):
    """Per-sample weights from ``{class: weight}`` (labels as integers or one-hot rows),
    times ``sample_weight`` when given: what ``fit(class_weight=...)`` trains with.

    Example:
        >>> import numpy as np
        >>> from tape.data import class_sample_weights
        >>> class_sample_weights({1: 2.0}, np.array([0, 1, 1]), None).tolist()
        [1.0, 2.0, 2.0]
    """
    if y is None or isinstance(y, dict | list | tuple):
        raise ValueError("class_weight needs y as one array of labels (one model output)")
    labels = np.asarray(to_numpy(y))
    if labels.ndim > 1 and labels.shape[-1] > 1:
        labels = labels.argmax(-1)
    labels = labels.reshape(len(labels)).astype(np.int64)
    weights = np.array([class_weight.get(int(c), 1.0) for c in labels], np.float32)
    return weights if sample_weight is None else weights * np.asarray(to_numpy(sample_weight))

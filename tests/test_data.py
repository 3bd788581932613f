"""tape.data.Dataset: sources, shuffle/batch/map/repeat/take, seeds, and tensors out."""

import numpy as np
import pytest

import tape
from tape.data import Dataset


def rows(ds):
    return [tuple(np.asarray(part).tolist() for part in e) if isinstance(e, tuple)
            else np.asarray(e).tolist() for e in ds]


def test_from_tensor_slices_yields_tensors_per_row():
    ds = Dataset.from_tensor_slices((np.arange(6).reshape(3, 2), np.array([7, 8, 9])))
    elements = list(ds)
    assert len(ds) == 3 and len(elements) == 3
    x, y = elements[1]
    assert isinstance(x, tape.Tensor) and x.numpy().tolist() == [2, 3] and int(y) == 8


def test_dict_elements_and_float64_becomes_float32():
    ds = Dataset.from_tensor_slices({"a": np.zeros((4, 2)), "b": np.ones(4, np.int32)}).batch(3)
    first = next(iter(ds))
    assert set(first) == {"a", "b"}
    assert first["a"].dtype == np.float32 and first["a"].shape == (3, 2)
    assert first["b"].dtype == np.int32


def test_mismatched_first_dimensions_are_an_error():
    with pytest.raises(ValueError, match="same first dimension"):
        Dataset.from_tensor_slices((np.zeros(3), np.zeros(4)))


def test_batch_sizes_and_drop_remainder():
    ds = Dataset.from_tensor_slices(np.arange(10))
    assert [len(b) for b in ds.batch(4)] == [4, 4, 2]
    assert [len(b) for b in ds.batch(4, drop_remainder=True)] == [4, 4]
    assert len(ds.batch(4)) == 3 and len(ds.batch(4, drop_remainder=True)) == 2


def test_seeded_shuffle_is_a_permutation_that_repeats_and_reshuffles_each_iteration():
    ds = Dataset.from_tensor_slices(np.arange(20)).shuffle(20, seed=1)
    first, second = rows(ds), rows(ds)
    assert sorted(first) == list(range(20)) and first != list(range(20))
    assert first != second  # a new order each epoch
    again = Dataset.from_tensor_slices(np.arange(20)).shuffle(20, seed=1)
    assert rows(again) == first and rows(again) == second
    fixed = Dataset.from_tensor_slices(np.arange(20)).shuffle(
        20, seed=1, reshuffle_each_iteration=False)
    assert rows(fixed) == rows(fixed)


def test_small_buffer_shuffle_keeps_every_element():
    out = rows(Dataset.from_tensor_slices(np.arange(50)).shuffle(5, seed=0))
    assert sorted(out) == list(range(50)) and out != list(range(50))
    # A buffer of 5 moves nothing far forward: element k is read after 5 + p outputs.
    assert all(out.index(k) >= k - 5 for k in range(50))


def test_unseeded_shuffle_follows_tape_random_seed():
    ds = Dataset.from_tensor_slices(np.arange(30)).shuffle(30)
    tape.random.seed(3)
    a = rows(ds)
    tape.random.seed(3)
    assert rows(ds) == a


def test_map_repeat_take():
    ds = Dataset.from_tensor_slices((np.arange(4.0), np.arange(4)))
    mapped = ds.map(lambda x, y: (x * 2, y + 1))
    assert rows(mapped) == [(0.0, 1), (2.0, 2), (4.0, 3), (6.0, 4)]
    assert len(ds.repeat(3)) == 12 and len(rows(ds.repeat(3))) == 12
    assert rows(ds.repeat().take(6))[4:] == [(0.0, 0), (1.0, 1)]
    assert len(ds.take(2)) == 2 and len(ds.take(10)) == 4


def test_from_generator_restarts_at_each_iteration():
    calls = []

    def gen():
        calls.append(1)
        yield from ((np.full(2, i), i) for i in range(3))

    ds = Dataset.from_generator(gen).batch(2)
    assert [len(b[1]) for b in ds] == [2, 1]
    assert [len(b[1]) for b in ds] == [2, 1]
    assert len(calls) == 2
    with pytest.raises(TypeError, match="length"):
        len(ds)
    with pytest.raises(TypeError, match="callable"):
        Dataset.from_generator(gen())

"""keras.utils and keras.random against hand-written expectations (Keras' documented
behaviour) and statistics."""

import sys

import numpy as np
import pytest

import tape
from tape import keras
from tape.keras import layers, utils


def test_to_categorical_is_one_hot_rows():
    labels = np.array([[1], [0], [3]])
    got = utils.to_categorical(labels)
    assert got.shape == (3, 4) and np.array_equal(got, np.eye(4)[[1, 0, 3]])
    assert utils.to_categorical([0, 1], num_classes=5).shape == (2, 5)


def test_pad_sequences_pads_and_truncates_as_keras_documents():
    seqs = [[1, 2, 3, 4], [5], [6, 7]]
    assert utils.pad_sequences(seqs).tolist() == [[1, 2, 3, 4], [0, 0, 0, 5], [0, 0, 6, 7]]
    assert utils.pad_sequences(seqs, maxlen=2).tolist() == [[3, 4], [0, 5], [6, 7]]
    assert utils.pad_sequences(seqs, maxlen=3, padding="post", truncating="post",
                               value=-1).tolist() == [[1, 2, 3], [5, -1, -1], [6, 7, -1]]
    assert utils.pad_sequences(seqs).dtype == np.int32
    with pytest.raises(ValueError, match="padding"):
        utils.pad_sequences(seqs, padding="middle")


def test_normalize_gives_unit_rows():
    x = np.array([[3.0, 4.0], [0.0, 0.0]])
    assert np.allclose(utils.normalize(x), [[0.6, 0.8], [0.0, 0.0]])


def test_timeseries_windows_match_the_keras_docstring_example():
    data = np.arange(100)
    ds = utils.timeseries_dataset_from_array(data[:-10], data[10:], sequence_length=10,
                                             batch_size=16)
    inputs, targets = next(iter(ds))
    assert inputs.shape == (16, 10)
    assert inputs.numpy()[0].tolist() == list(range(10)) and int(targets[0]) == 10
    assert inputs.numpy()[1].tolist() == list(range(1, 11)) and int(targets[1]) == 11
    sampled = utils.timeseries_dataset_from_array(data, None, sequence_length=3,
                                                  sampling_rate=2, sequence_stride=5,
                                                  batch_size=100)
    windows = next(iter(sampled)).numpy()
    assert windows[:2].tolist() == [[0, 2, 4], [5, 7, 9]] and len(windows) == 20


def test_pydataset_feeds_fit_every_batch_once_per_epoch_and_calls_on_epoch_end():
    seen, ends = [], []

    class Batches(utils.PyDataset):
        def __len__(self):
            return 3

        def __getitem__(self, index):
            seen.append(index)
            x = np.full((4, 2), index, np.float32)
            return x, x.sum(1, keepdims=True)

        def on_epoch_end(self):
            ends.append(len(seen))

    model = keras.Sequential([keras.Input((2,)), layers.Dense(1)])
    model.compile("sgd", "mse")
    history = model.fit(Batches(), epochs=2, verbose=0)
    assert seen == [0, 1, 2, 0, 1, 2] and ends == [3, 6]
    assert len(history.history["loss"]) == 2


def test_set_random_seed_repeats_tape_numpy_and_python_draws():
    import random

    def draws():
        return (keras.random.normal((3,)).numpy().tolist(), np.random.rand(), random.random())

    utils.set_random_seed(3)
    first = draws()
    utils.set_random_seed(3)
    assert draws() == first


def test_plot_model_writes_dot_and_says_how_to_get_graphviz(tmp_path, monkeypatch):
    inputs = keras.Input((4,), name="features")
    hidden = layers.Dense(3, name="hidden")(inputs)
    model = keras.Model(inputs, layers.Dense(1, name="out")(hidden))
    source = utils.plot_model(model, to_file=tmp_path / "model.dot", show_shapes=True)
    text = (tmp_path / "model.dot").read_text()
    assert text == source and '"features" -> "hidden"' in text and '"hidden" -> "out"' in text
    assert "(None, 3)" in text
    monkeypatch.setitem(sys.modules, "graphviz", None)  # as if not installed
    with pytest.raises(ImportError, match="pip install graphviz"):
        utils.plot_model(model, to_file=tmp_path / "model.png")


def test_array_to_img_round_trip():
    pytest.importorskip("PIL")
    x = np.zeros((4, 5, 3), np.float32)
    x[1, 2] = [1.0, 0.5, 0.0]
    img = utils.array_to_img(x)
    assert img.size == (5, 4)
    back = utils.img_to_array(img)
    assert back.shape == (4, 5, 3) and back[1, 2].tolist() == [255.0, 127.0, 0.0]


def test_random_functions_shapes_ranges_and_seeds():
    from tape.keras import random

    assert random.normal((2, 3), seed=1).shape == (2, 3)
    assert np.array_equal(random.uniform((5,), seed=4).numpy(),
                          random.uniform((5,), seed=4).numpy())
    ints = random.randint((1000,), 2, 5, seed=0).numpy()
    assert set(np.unique(ints)) == {2, 3, 4}
    t = random.truncated_normal((5000,), mean=1.0, stddev=2.0, seed=0).numpy()
    assert np.abs(t - 1.0).max() <= 4.0 + 1e-6 and abs(t.mean() - 1.0) < 0.1
    shuffled = random.shuffle(tape.arange(10), seed=2).numpy()
    assert sorted(shuffled.tolist()) == list(range(10))
    d = random.dropout(tape.ones((1000,)), 0.5, seed=0).numpy()
    assert set(np.unique(d)) == {0.0, 2.0}


def test_seed_generator_repeats_its_stream_and_differs_per_call():
    from tape.keras import random

    a, b = random.SeedGenerator(7), random.SeedGenerator(7)
    first_a, first_b = random.normal((4,), seed=a), random.normal((4,), seed=b)
    second_a = random.normal((4,), seed=a)
    assert np.array_equal(first_a.numpy(), first_b.numpy())
    assert not np.array_equal(first_a.numpy(), second_a.numpy())


def test_categorical_draws_follow_the_softmax_probabilities():
    from tape.keras import random

    probs = np.array([0.2, 0.5, 0.3])
    draws = random.categorical(np.log(probs)[None], 20000, seed=0).numpy()
    assert draws.shape == (1, 20000)
    freq = np.bincount(draws[0], minlength=3) / 20000
    assert np.abs(freq - probs).max() < 0.02  # ~6 standard errors at n=20000


def test_seed_generator_draws_afresh_at_each_replay_of_a_trace():
    from tape.keras import random

    def make():
        gen = random.SeedGenerator(11)

        @tape.trace
        def noisy(x):
            return x + random.normal((3,), seed=gen)

        return noisy

    noisy, again = make(), make()
    zeros = tape.zeros((3,))
    first, second = noisy(zeros).numpy(), noisy(zeros).numpy()
    assert noisy.trace_count == 1 and not np.array_equal(first, second)
    assert np.array_equal(again(zeros).numpy(), first)  # same seed, same sequence
    assert np.array_equal(again(zeros).numpy(), second)

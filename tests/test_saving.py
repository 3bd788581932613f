"""Saving: weights and whole models (config + weights + optimizer state) round-trip exactly in
safetensors and npz; corrupt files are clear errors; a failed save keeps the old file;
nothing is ever unpickled."""

import os

import numpy as np
import pytest

import tape
from tape import optimizers, saving
from tape.layers import Dense, Input, Lambda
from tape.models import Model, Sequential, load_model
from tape.saving import WeightsFileError


def trained(seed=0, optimizer=None):
    tape.random.seed(seed)
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(40, 5)).astype(np.float32)
    y = rng.integers(0, 3, 40)
    model = Sequential([Dense(8, activation="relu", input_dim=5), Dense(3, activation="softmax")])
    model.compile(optimizer or optimizers.Adam(0.01), "sparse_categorical_crossentropy",
                  metrics=["accuracy"])
    model.fit(x, y, epochs=2, batch_size=8, verbose=0)
    return model, x, y


@pytest.mark.parametrize("suffix", [".safetensors", ".npz"])
def test_weights_round_trip_exactly(tmp_path, suffix):
    model, x, _ = trained()
    path = tmp_path / f"w{suffix}"
    model.save_weights(str(path))
    other, _, _ = trained(seed=1)
    assert not np.array_equal(other.predict(x, verbose=0), model.predict(x, verbose=0))
    other.load_weights(str(path))
    np.testing.assert_array_equal(other.predict(x, verbose=0), model.predict(x, verbose=0))


@pytest.mark.parametrize("suffix,optimizer", [
    (".safetensors", "adam"), (".npz", "adam"), (".safetensors", "nadam"),
    (".safetensors", "adamax"), (".safetensors", "adadelta"), (".safetensors", "lion"),
])
def test_model_round_trip_includes_optimizer_state(tmp_path, suffix, optimizer):
    optimizer = optimizers.get({"class_name": optimizer, "config": {"learning_rate": 0.01}})
    model, x, y = trained(optimizer=optimizer)
    path = tmp_path / f"m{suffix}"
    model.save(str(path))
    loaded = load_model(str(path))
    assert isinstance(loaded, Sequential) and type(loaded.optimizer) is type(optimizer)
    assert loaded.optimizer.get_config() == optimizer.get_config()
    np.testing.assert_array_equal(loaded.predict(x, verbose=0), model.predict(x, verbose=0))
    assert [v.name for v in loaded.optimizer.variables] == [
        v.name for v in model.optimizer.variables]
    for a, b in zip(loaded.optimizer.variables, model.optimizer.variables):
        np.testing.assert_array_equal(a.numpy(), b.numpy())
    assert int(loaded.optimizer.iterations.numpy()) == 10
    # Training on from here gives the very same weights as the original would (the slots,
    # Nadam's u_product and the step count came along).
    model.train_on_batch(x[:8], y[:8])
    loaded.train_on_batch(x[:8], y[:8])
    for a, b in zip(model.get_weights(), loaded.get_weights()):
        np.testing.assert_array_equal(a, b)
    assert loaded.evaluate(x, y, verbose=0) == model.evaluate(x, y, verbose=0)


def test_functional_multi_io_model_round_trips(tmp_path):
    tape.random.seed(0)
    a, b = Input(shape=(3,), name="a"), Input(shape=(2,), name="b")
    h = tape.layers.Concatenate()([Dense(4, activation="tanh")(a), b])
    model = Model([a, b], [Dense(1, name="y1")(h), Dense(2, name="y2")(h)], name="two")
    model.compile("sgd", ["mse", "mse"])
    path = tmp_path / "two.safetensors"
    model.save(str(path))
    loaded = load_model(str(path))
    xs = [np.ones((4, 3), np.float32), np.zeros((4, 2), np.float32)]
    for p, q in zip(loaded.predict(xs, verbose=0), model.predict(xs, verbose=0)):
        np.testing.assert_array_equal(p, q)
    assert loaded.name == "two" and loaded.output_names == ["y1", "y2"]


@pytest.mark.parametrize("suffix", [".safetensors", ".npz"])
def test_truncated_or_garbage_files_are_clear_errors(tmp_path, suffix):
    model, _, _ = trained()
    path = tmp_path / f"w{suffix}"
    model.save_weights(str(path))
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(WeightsFileError, match="truncated, corrupt"):
        model.load_weights(str(path))
    path.write_bytes(b"\x00garbage" * 10)
    with pytest.raises(WeightsFileError, match=str(path.name)):
        model.load_weights(str(path))
    with pytest.raises(FileNotFoundError):
        model.load_weights(str(tmp_path / f"missing{suffix}"))


def test_npz_with_pickled_objects_is_refused(tmp_path):
    path = tmp_path / "evil.npz"
    np.savez(path, payload=np.array([{"a": 1}], dtype=object))
    model, _, _ = trained()
    with pytest.raises(WeightsFileError):
        model.load_weights(str(path))


def test_a_failed_save_leaves_the_old_file_intact(tmp_path, monkeypatch):
    model, x, y = trained()
    path = tmp_path / "w.safetensors"
    model.save_weights(str(path))
    before = path.read_bytes()
    model.fit(x, y, epochs=1, verbose=0)

    def explode(*args, **kwargs):
        raise OSError("disk full")

    import safetensors.numpy

    monkeypatch.setattr(safetensors.numpy, "save", explode)
    with pytest.raises(OSError, match="disk full"):
        model.save_weights(str(path))
    assert path.read_bytes() == before
    assert os.listdir(tmp_path) == ["w.safetensors"]  # no temporary file left behind


def test_unserializable_models_fail_without_touching_the_file(tmp_path):
    tape.random.seed(0)
    inp = Input(shape=(2,))
    model = Model(inp, Lambda(lambda t: t * 2)(Dense(2)(inp)))
    path = tmp_path / "m.safetensors"
    path.write_bytes(b"old")
    with pytest.raises(ValueError, match="never pickled"):
        model.save(str(path))
    assert path.read_bytes() == b"old"


def test_mismatched_weights_and_weights_only_files_are_named(tmp_path):
    model, _, _ = trained()
    path = tmp_path / "w.safetensors"
    model.save_weights(str(path))
    other = Sequential([Dense(4, input_dim=5), Dense(3)])
    with pytest.raises(WeightsFileError, match=r"shape \(5, 8\).*\(5, 4\)"):
        other.load_weights(str(path))
    with pytest.raises(WeightsFileError, match="only weights"):
        load_model(str(path))
    tensors, metadata = saving.read_file(str(path))
    assert metadata["tape_format"] == "weights" and len(tensors) == 4


class Doubler(tape.layers.Layer):
    """A user's layer with no weights."""

    def call(self, x):
        return 2.0 * x


class MinimalCell(tape.layers.Layer):
    """A user's RNN cell: h = tanh(x W + h U)."""

    def __init__(self, units, **kwargs):
        super().__init__(**kwargs)
        self.units = self.state_size = units

    def build(self, input_shape):
        self.w = self.add_weight("w", (input_shape[-1], self.units))
        self.u = self.add_weight("u", (self.units, self.units))

    def call(self, x, states):
        h = tape.tanh(x @ self.w + states[0] @ self.u)
        return h, [h]

    def get_config(self):
        return {**super().get_config(), "units": self.units}


def test_custom_objects_reach_layers_nested_in_models_rnns_and_wrappers(tmp_path):
    tape.random.seed(0)
    inputs = Input(shape=(4, 3))
    rnn = tape.layers.Bidirectional(tape.layers.RNN(MinimalCell(2)))
    model = Model(inputs, Doubler()(rnn(inputs)))
    path = tmp_path / "custom.safetensors"
    model.save(str(path))
    with pytest.raises(ValueError, match="Unknown layer class '(MinimalCell|Doubler)'"):
        load_model(str(path))
    loaded = load_model(str(path), custom_objects={"Doubler": Doubler,
                                                   "MinimalCell": MinimalCell})
    x = np.random.default_rng(0).normal(size=(2, 4, 3)).astype(np.float32)
    np.testing.assert_array_equal(loaded.predict(x, verbose=0), model.predict(x, verbose=0))

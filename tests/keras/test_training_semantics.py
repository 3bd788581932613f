"""Keras 3's semantics where Keras code depends on them: add_weight without a name, what
train_step receives, how a plain loss function is called, layer(a, b) in the functional API,
f-strings on tensors, ModelCheckpoint(save_freq=N), TensorBoard event files, and the
compiled metrics a guide-style train_step reads from self.metrics."""

import os

import numpy as np
import pytest

import tape
from tape import keras, tf
from tape.keras import layers, ops

RNG = np.random.default_rng(0)
X = RNG.normal(size=(32, 3)).astype(np.float32)
Y = (X @ np.array([[1.0], [-2.0], [0.5]], np.float32)).astype(np.float32)


def test_add_weight_without_a_name_as_keras_3():
    class Linear(layers.Layer):
        def build(self, input_shape):
            self.w = self.add_weight(shape=(input_shape[-1], 2), initializer="ones")
            self.b = self.add_weight((2,), "zeros")  # Keras 3's positional order

        def call(self, x):
            return ops.matmul(x, self.w) + self.b

    layer = Linear(name="lin")
    out = layer(np.ones((1, 3), np.float32))
    assert out.numpy().tolist() == [[3.0, 3.0]]
    assert [v.name for v in layer.weights] == ["lin/variable", "lin/variable_1"]
    assert [v.shape for v in layer.weights] == [(3, 2), (2,)]


@pytest.mark.parametrize("weights", [False, True])
def test_train_step_receives_x_y_or_x_y_sample_weight(weights):
    seen = []

    class Recorder(keras.Model):
        def train_step(self, data):
            seen.append(len(data))
            return super().train_step(data)

    inputs = keras.Input((3,))
    model = Recorder(inputs, layers.Dense(1)(inputs))
    model.compile("sgd", "mse", run_eagerly=True)
    sw = np.ones(32, np.float32) if weights else None
    model.fit(X, Y, sample_weight=sw, batch_size=16, epochs=1, verbose=0)
    assert seen == [3, 3] if weights else seen == [2, 2]
    assert tape.data.unpack_x_y_sample_weight((1, 2)) == (1, 2, None)


def test_plain_loss_function_gets_y_true_and_y_pred_only():
    calls = []

    def my_mae(y_true, y_pred):
        calls.append(1)
        return ops.mean(ops.abs(y_true - y_pred), axis=-1)

    inputs = keras.Input((3,))
    model = keras.Model(inputs, layers.Dense(1, kernel_initializer="zeros")(inputs))
    model.compile(keras.optimizers.SGD(learning_rate=0.0), loss=my_mae, run_eagerly=True)
    loss = model.evaluate(X, Y, batch_size=32, verbose=0)
    assert calls and loss == pytest.approx(float(np.mean(np.abs(Y))), rel=1e-6)
    w = np.linspace(0.0, 2.0, 32).astype(np.float32)
    weighted = model.evaluate(X, Y, sample_weight=w, batch_size=32, verbose=0)
    # Keras: the wrapper weights the per-sample losses, then sum over batch size.
    assert weighted == pytest.approx(float(np.sum(np.abs(Y[:, 0]) * w) / 32), rel=1e-5)


def test_layer_called_with_two_positional_tensors_in_the_functional_api():
    class Blend(layers.Layer):
        def call(self, a, b):
            return a * 2.0 - b

    a, b = keras.Input((3,)), keras.Input((3,))
    out = Blend()(a, b)
    assert out.shape == (None, 3)
    model = keras.Model([a, b], out)
    xa, xb = X[:4], X[4:8]
    np.testing.assert_allclose(model.predict([xa, xb], verbose=0), 2 * xa - xb, rtol=1e-6)


def test_format_spec_on_a_tensor():
    loss = tape.tensor(0.123456)
    assert f"{loss:.2f}" == "0.12" and f"{tape.tensor([2.5]):.1f}" == "2.5"
    assert f"{tape.tensor(3, dtype='int64'):03d}" == "003"
    assert f"{loss}" == str(loss)


def test_model_checkpoint_save_freq_counts_batches_across_epochs(tmp_path):
    model = keras.Sequential([keras.Input((3,)), layers.Dense(1)])
    model.compile("sgd", "mse")
    path = str(tmp_path / "ckpt-{epoch}-{batch}.weights.npz")
    cb = keras.callbacks.ModelCheckpoint(path, save_freq=3, save_weights_only=True)
    model.fit(X, Y, batch_size=8, epochs=2, callbacks=[cb], verbose=0, shuffle=False)
    # 4 batches per epoch, 8 in all: saved after batches 3 and 6 (epoch 2, its 2nd batch).
    assert sorted(os.listdir(tmp_path)) == ["ckpt-1-3.weights.npz", "ckpt-2-2.weights.npz"]
    with pytest.raises(ValueError, match="save_freq"):
        keras.callbacks.ModelCheckpoint(path, save_freq=0)


def test_tensorboard_writes_event_files_tensorboard_reads(tmp_path):
    accumulator = pytest.importorskip(
        "tensorboard.backend.event_processing.event_accumulator")
    model = keras.Sequential([keras.Input((3,)), layers.Dense(1)])
    model.compile("adam", "mse", metrics=["mae"])
    board = keras.callbacks.TensorBoard(log_dir=tmp_path, update_freq=2)
    history = model.fit(X, Y, batch_size=8, epochs=3, validation_split=0.25,
                        callbacks=[board], verbose=0)

    def scalars(which, tag):
        acc = accumulator.EventAccumulator(str(tmp_path / which))
        acc.Reload()
        return [(e.step, e.value) for e in acc.Scalars(tag)]

    for key, which, tag in (("loss", "train", "epoch_loss"), ("mae", "train", "epoch_mae"),
                            ("val_loss", "validation", "epoch_loss")):
        got = scalars(which, tag)
        assert [s for s, _ in got] == [0, 1, 2]
        np.testing.assert_allclose([v for _, v in got], history.history[key], rtol=1e-6)
    # 24 training rows in batches of 8: 9 batches, written every 2nd.
    assert [s for s, _ in scalars("train", "batch_loss")] == [2, 4, 6, 8]
    assert scalars("train", "epoch_learning_rate")[0][1] == pytest.approx(0.001)


def test_guide_style_train_step_keeps_compiled_metrics_in_logs_and_history():
    class CustomModel(keras.Model):
        def train_step(self, data):
            x, y = data
            with tf.GradientTape() as tape:
                y_pred = self(x, training=True)
                loss = self.compute_loss(y=y, y_pred=y_pred)
            grads = tape.gradient(loss, self.trainable_variables)
            self.optimizer.apply_gradients(zip(grads, self.trainable_variables))
            for metric in self.metrics:
                if metric.name == "loss":
                    metric.update_state(loss)
                else:
                    metric.update_state(y, y_pred)
            return {m.name: m.result() for m in self.metrics}

    inputs = keras.Input((3,))
    model = CustomModel(inputs, layers.Dense(1)(inputs))
    model.compile(optimizer=keras.optimizers.SGD(learning_rate=0.0), loss="mse",
                  metrics=["mae"])
    assert [m.name for m in model.metrics] == ["loss", "mae"]  # before any data, as Keras
    history = model.fit(X, Y, batch_size=32, epochs=1, verbose=0)
    pred = model.predict(X, verbose=0)
    assert set(history.history) == {"loss", "mae"}
    assert history.history["mae"][0] == pytest.approx(float(np.mean(np.abs(Y - pred))),
                                                      rel=1e-5)
    assert history.history["loss"][0] == pytest.approx(float(np.mean((Y - pred) ** 2)),
                                                       rel=1e-5)

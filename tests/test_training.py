"""Trainer: compile/fit/evaluate/predict, History, metrics and validation, the overridable
steps, sample weights, bad input caught before training, and seeded reproducibility."""

import numpy as np
import pytest

import tape
from tape import losses, optimizers
from tape.callbacks import LambdaCallback
from tape.data import Dataset
from tape.layers import Dense, Input
from tape.models import Model, Sequential


def blobs(n=120, features=4, classes=3, seed=0):
    """Separable Gaussian blobs: a problem a small MLP learns in a few epochs."""
    rng = np.random.default_rng(seed)
    centers = rng.normal(0, 3, (classes, features))
    y = rng.integers(0, classes, n)
    x = centers[y] + rng.normal(0, 0.5, (n, features))
    return x.astype(np.float32), y


def classifier(features=4, classes=3, seed=0):
    tape.random.seed(seed)
    model = Sequential([Dense(16, activation="relu", input_dim=features),
                        Dense(classes, activation="softmax")])
    model.compile(optimizer=optimizers.Adam(0.05), loss="sparse_categorical_crossentropy",
                  metrics=["accuracy"])
    return model


def test_fit_learns_and_history_has_loss_metrics_and_val_keys():
    x, y = blobs()
    model = classifier()
    history = model.fit(x, y, epochs=8, batch_size=16, validation_data=(x[:30], y[:30]),
                        verbose=0)
    assert history is model.history
    assert history.epoch == list(range(8))
    assert list(history.history) == ["loss", "accuracy", "val_loss", "val_accuracy"]
    assert all(len(v) == 8 for v in history.history.values())
    assert history.history["loss"][-1] < 0.5 * history.history["loss"][0]
    assert history.history["accuracy"][-1] > 0.9
    # 'accuracy' resolved to sparse categorical accuracy for this loss: it matches argmax.
    pred = model.predict(x[:30], verbose=0)
    assert history.history["val_accuracy"][-1] == pytest.approx(
        np.mean(pred.argmax(-1) == y[:30]), abs=1e-6)


def test_initial_epoch_continues_the_numbering():
    x, y = blobs(40)
    model = classifier()
    history = model.fit(x, y, epochs=5, initial_epoch=3, verbose=0)
    assert history.epoch == [3, 4]


def test_validation_split_holds_out_the_last_fraction_before_shuffling():
    x, y = blobs(100)
    model = classifier()
    history = model.fit(x, y, epochs=2, validation_split=0.25, shuffle=True, verbose=0)
    loss, accuracy = model.evaluate(x[75:], y[75:], verbose=0)
    assert history.history["val_loss"][-1] == pytest.approx(loss, rel=1e-5)
    assert history.history["val_accuracy"][-1] == pytest.approx(accuracy, rel=1e-5)
    loss_head, _ = model.evaluate(x[:25], y[:25], verbose=0)
    assert loss_head != pytest.approx(loss, rel=1e-5)


def test_epoch_loss_is_the_mean_over_the_epoch_and_metrics_reset_each_epoch():
    x, y = blobs(64)
    model = classifier()
    batch_losses = []
    record = LambdaCallback(on_train_batch_end=lambda b, logs: batch_losses.append(logs["loss"]),
                            on_epoch_begin=lambda e, logs: batch_losses.clear())
    # The running loss of the last batch of an epoch is the mean of the epoch's batch losses;
    # equal batches make it a plain mean of per-batch values, recovered from the running means.
    history = model.fit(x, y, epochs=2, batch_size=16, shuffle=False, callbacks=[record],
                        verbose=0)
    running = np.array(batch_losses)
    per_batch = running * np.arange(1, 5) - np.concatenate([[0], running[:-1] * np.arange(1, 4)])
    assert history.history["loss"][-1] == pytest.approx(per_batch.mean(), rel=1e-5)
    # Epoch 2 starts from fresh metrics: its first running value is its first batch alone.
    assert running[0] == pytest.approx(per_batch[0])


def test_evaluate_inside_a_callback_leaves_the_training_metrics_alone():
    x, y = blobs(64)

    def run(with_evaluate):
        model = classifier(seed=3)
        cbs = []
        if with_evaluate:
            cbs = [LambdaCallback(on_train_batch_end=lambda b, logs: model.evaluate(
                x[:8], y[:8], verbose=0))]
        return model.fit(x, y, epochs=2, batch_size=16, shuffle=False, callbacks=cbs,
                         verbose=0).history

    assert run(True) == run(False)


def test_evaluate_returns_scalar_list_or_dict_in_keras_order():
    x, y = blobs(40)
    model = classifier()
    result = model.evaluate(x, y, verbose=0)
    assert isinstance(result, list) and len(result) == 2
    assert model.evaluate(x, y, verbose=0, return_dict=True) == {
        "loss": result[0], "accuracy": result[1]}
    plain = Sequential([Dense(1, input_dim=4)])
    plain.compile("sgd", "mse")
    assert isinstance(plain.evaluate(x, y, verbose=0), float)


def test_predict_in_batches_matches_a_direct_call():
    x, _ = blobs(70)
    model = classifier()
    out = model.predict(x, batch_size=16, verbose=0)
    assert isinstance(out, np.ndarray) and out.shape == (70, 3)
    np.testing.assert_allclose(out, model(x).numpy(), rtol=1e-6)


def test_train_on_batch_and_test_on_batch():
    x, y = blobs(32)
    model = classifier()
    before = model.test_on_batch(x, y)
    for _ in range(20):
        loss, accuracy = model.train_on_batch(x, y)
    after = model.test_on_batch(x, y, return_dict=True)
    assert after["loss"] < before[0]
    assert set(after) == {"loss", "accuracy"}
    assert int(model.optimizer.iterations.numpy()) == 20


def test_sample_weight_zero_means_no_update():
    x, y = blobs(32)
    model = Sequential([Dense(3, input_dim=4)])
    model.compile(optimizers.SGD(0.1), losses.SparseCategoricalCrossentropy(from_logits=True))
    before = model.get_weights()
    model.fit(x, y, sample_weight=np.zeros(32), epochs=1, verbose=0)
    for a, b in zip(before, model.get_weights()):
        np.testing.assert_array_equal(a, b)
    model.fit(x, y, sample_weight=np.ones(32), epochs=1, verbose=0)
    assert not np.array_equal(before[0], model.get_weights()[0])


def test_regularization_losses_enter_the_training_loss():
    x, y = blobs(32)
    tape.random.seed(0)
    model = Sequential([Dense(1, input_dim=4, kernel_regularizer=tape.regularizers.L2(10.0))])
    model.compile("sgd", "mse")
    kernel = model.get_weights()[0]
    mse = np.mean((model.predict(x, verbose=0) - y[:, None]) ** 2)
    assert model.evaluate(x, y, verbose=0, batch_size=32) == pytest.approx(
        mse + 10.0 * np.sum(kernel ** 2), rel=1e-4)


def test_multi_output_losses_loss_weights_and_per_output_metrics():
    tape.random.seed(0)
    inp = Input(shape=(4,), name="features")
    hidden = Dense(8, activation="relu")(inp)
    reg = Dense(1, name="reg")(hidden)
    cls = Dense(3, activation="softmax", name="cls")(hidden)
    model = Model(inp, [reg, cls])
    model.compile("adam", loss={"reg": "mse", "cls": "sparse_categorical_crossentropy"},
                  loss_weights={"reg": 0.5, "cls": 2.0}, metrics={"cls": ["accuracy"]})
    x, y = blobs(40)
    targets = [x[:, :1], y]
    logs = model.evaluate(x, targets, verbose=0, return_dict=True, batch_size=40)
    assert list(logs) == ["loss", "reg_loss", "cls_loss", "cls_accuracy"]
    assert logs["loss"] == pytest.approx(0.5 * logs["reg_loss"] + 2.0 * logs["cls_loss"],
                                         rel=1e-5)
    history = model.fit(x, {"reg": x[:, :1], "cls": y}, epochs=2, verbose=0)
    assert history.history["loss"][1] < history.history["loss"][0]


def test_custom_train_step_is_what_fit_runs():
    class Counting(Sequential):
        steps = 0

        def train_step(self, data):
            Counting.steps += 1
            return super().train_step(data)

    x, y = blobs(40)
    model = Counting([Dense(3, input_dim=4)])
    model.compile("sgd", "sparse_categorical_crossentropy", run_eagerly=True)
    assert model.make_train_function() == model.train_step
    model.fit(x, y, batch_size=10, epochs=2, verbose=0)
    assert Counting.steps == 8  # eager: the Python step runs for each of the 8 batches
    model.compile("sgd", "sparse_categorical_crossentropy")  # traced (the default)
    assert model.make_train_function().python_function == model.train_step
    before = model.get_weights()
    model.fit(x, y, batch_size=10, epochs=2, verbose=0)
    # traced: the Python step ran once, to trace; the other 7 batches replayed the graph,
    # which still trained the weights
    assert Counting.steps == 9
    assert all(not np.array_equal(a, b) for a, b in zip(before, model.get_weights()))


def test_fit_takes_tensors_datasets_and_generators():
    x, y = blobs(40)
    model = classifier()
    model.fit(tape.tensor(x), tape.tensor(y), epochs=1, verbose=0)
    ds = Dataset.from_tensor_slices((x, y)).shuffle(40, seed=0).batch(8)
    history = model.fit(ds, epochs=2, validation_data=ds, verbose=0)
    assert "val_loss" in history.history
    assert model.evaluate(ds, verbose=0)[0] > 0

    def gen():
        while True:
            for i in range(0, 40, 10):
                yield x[i:i + 10], y[i:i + 10]

    seen = []
    model.fit(gen(), steps_per_epoch=3, epochs=2, verbose=0, callbacks=[LambdaCallback(
        on_train_batch_end=lambda b, logs: seen.append(b))])
    assert seen == [0, 1, 2, 0, 1, 2]
    assert model.predict(ds, verbose=0).shape == (40, 3)


def test_x_and_y_of_different_lengths_fail_before_training():
    x, y = blobs(40)
    model = classifier()
    before = model.get_weights()
    with pytest.raises(ValueError, match=r"x: 40.*y: 39"):
        model.fit(x, y[:39], epochs=1, verbose=0)
    assert all(np.array_equal(a, b) for a, b in zip(before, model.get_weights()))


def test_unknown_names_list_the_valid_ones():
    model = Sequential([Dense(1, input_dim=2)])
    with pytest.raises(ValueError, match=r"Unknown loss 'msq'.*mean_squared_error"):
        model.compile("adam", loss="msq")
    with pytest.raises(ValueError, match=r"Unknown optimizer 'adamm'.*adam"):
        model.compile("adamm", loss="mse")
    with pytest.raises(ValueError, match=r"Unknown metric 'acuracy'.*accuracy"):
        model.compile("adam", loss="mse", metrics=["acuracy"])


def test_sparse_labels_out_of_range_fail_before_any_step():
    x, y = blobs(64)
    y = y.copy()
    y[-1] = 3  # the model has 3 classes: 3 is out of range, and it is in the last batch
    model = classifier()
    before = model.get_weights()
    with pytest.raises(ValueError, match=r"\[0, 3\).*\[0, 3\]"):
        model.fit(x, y, epochs=1, batch_size=16, shuffle=False, verbose=0)
    assert int(model.optimizer.iterations.numpy()) == 0
    assert all(np.array_equal(a, b) for a, b in zip(before, model.get_weights()))


def test_wrong_feature_size_names_the_layer_and_both_shapes():
    model = classifier(features=4)
    with pytest.raises(ValueError) as info:
        model.predict(np.zeros((2, 5), np.float32), verbose=0)
    message = str(info.value)
    assert "dense" in message and "4" in message and "5" in message


def test_fit_before_compile_is_a_clear_error():
    with pytest.raises(RuntimeError, match="compile"):
        Sequential([Dense(1, input_dim=2)]).fit(np.zeros((2, 2)), np.zeros(2), verbose=0)


def test_seeded_fit_repeats_exactly():
    x, y = blobs(60)

    def run():
        tape.random.seed(7)
        model = Sequential([Dense(8, activation="relu", input_dim=4),
                            tape.layers.Dropout(0.3), Dense(3, activation="softmax")])
        model.compile("adam", "sparse_categorical_crossentropy", metrics=["accuracy"])
        history = model.fit(x, y, epochs=3, batch_size=8, validation_split=0.2, verbose=0)
        return history.history, model.get_weights()

    (h1, w1), (h2, w2) = run(), run()
    assert h1 == h2
    assert all(np.array_equal(a, b) for a, b in zip(w1, w2))


def test_losses_and_metrics_objects_are_accepted():
    x, y = blobs(30)
    model = Sequential([Dense(3, input_dim=4)])
    model.compile(optimizers.SGD(0.1), losses.SparseCategoricalCrossentropy(from_logits=True),
                  metrics=[tape.metrics.SparseCategoricalAccuracy(name="acc")])
    logs = model.evaluate(x, y, verbose=0, return_dict=True)
    assert set(logs) == {"loss", "acc"}


def test_class_weight_scales_each_class_loss():
    x, y = blobs(30)
    model = Sequential([Dense(3, input_dim=4)])
    model.compile(optimizers.SGD(0.1), losses.SparseCategoricalCrossentropy(from_logits=True))
    before = model.get_weights()
    # Only class 0 counts: the same step as sample weights that are 1 on class 0, else 0.
    model.fit(x, y, class_weight={0: 1.0, 1: 0.0, 2: 0.0}, epochs=1, batch_size=30,
              shuffle=False, verbose=0)
    by_class = model.get_weights()
    model.set_weights(before)
    model.fit(x, y, sample_weight=(y == 0).astype(np.float32), epochs=1, batch_size=30,
              shuffle=False, verbose=0)
    for a, b in zip(by_class, model.get_weights()):
        np.testing.assert_allclose(a, b, rtol=1e-6)
    assert not np.allclose(by_class[0], before[0])


def test_sparse_label_check_also_covers_models_of_unknown_output_shape():
    class Net(Model):
        def __init__(self):
            super().__init__()
            self.out = Dense(3)

        def call(self, x):
            return self.out(x)

    x, y = blobs(32)
    y = y.copy()
    y[-1] = -1
    model = Net()
    model.compile("sgd", losses.SparseCategoricalCrossentropy(from_logits=True))
    with pytest.raises(ValueError, match=r"\[0, 3\).*\[-1, 2\]"):
        model.fit(x, y, epochs=1, batch_size=8, shuffle=False, verbose=0)
    assert int(model.optimizer.iterations.numpy()) == 0


def test_missing_data_and_bad_verbose_are_clear_errors():
    x, y = blobs(16)
    model = classifier()
    with pytest.raises(ValueError, match="No input data"):
        model.fit(None, y, verbose=0)
    with pytest.raises(ValueError, match="verbose must be"):
        model.fit(x, y, verbose=3)

"""The issue's Keras snippet runs unchanged but for the imports (on random data)."""

import numpy as np

import tape


def test_the_keras_seed_snippet_runs_unchanged(capsys):
    tape.random.seed(0)
    rng = np.random.default_rng(0)
    x_train = rng.random((256, 100)).astype(np.float32)
    labels = (x_train[:, :10].argmax(axis=1))  # learnable: the largest of the first 10 inputs
    y_train = np.eye(10, dtype=np.float32)[labels]
    x_test, y_test = x_train[:64], y_train[:64]

    # ---- the snippet, verbatim but for the imports ----
    from tape.layers import Dense
    from tape.models import Sequential
    model = Sequential()
    model.add(Dense(units=64, activation='relu', input_dim=100))
    model.add(Dense(units=10, activation='softmax'))
    model.compile(optimizer='adam', loss='categorical_crossentropy', metrics=['accuracy'])
    model.fit(x_train, y_train, epochs=10, batch_size=32)
    loss, accuracy = model.evaluate(x_test, y_test)
    # ----------------------------------------------------

    out = capsys.readouterr().out
    assert out.count("Epoch ") == 10  # one line per epoch: pytest's stdout is not a terminal
    assert "Epoch 10/10" in out and "accuracy: " in out
    history = model.history.history
    assert history["loss"][-1] < history["loss"][0]
    assert 0.0 <= accuracy <= 1.0 and loss < history["loss"][0]
    # 'accuracy' with categorical crossentropy is categorical accuracy (argmax vs argmax).
    pred = model.predict(x_test, verbose=0)
    assert accuracy == np.float32(np.mean(pred.argmax(1) == y_test.argmax(1)))

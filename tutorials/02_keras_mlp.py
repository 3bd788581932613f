"""The Keras workflow on handwritten digits: Sequential, Dense, compile, fit, evaluate.

Teaches: porting Keras code by renaming the import; ``fit`` with a validation split and a
progress bar; ``evaluate`` on held-out data; reading ``History`` to plot learning curves;
mixed precision in one line (``mixed_bfloat16``: bfloat16 compute, float32 weights).

Prints: the test accuracy (about 0.97 after 30 epochs), the same model's under mixed_bfloat16,
and where the learning-curve PNG went.
Data: scikit-learn's digits (1797 8x8 images; ships inside scikit-learn, no download).

Run: python tutorials/02_keras_mlp.py      (TAPE_TUTORIAL_FAST=1 for a quick check)
"""

import os
import pathlib

import matplotlib

matplotlib.use("Agg")  # files only, no window
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from sklearn.datasets import load_digits  # noqa: E402
from sklearn.model_selection import train_test_split  # noqa: E402

import tape  # noqa: E402
from tape.layers import Dense  # noqa: E402  (Keras: from keras.layers import Dense)
from tape.models import Sequential  # noqa: E402

FAST = os.environ.get("TAPE_TUTORIAL_FAST") == "1"
OUT = pathlib.Path(os.environ.get("TAPE_TUTORIAL_OUT", "tutorials/output"))
OUT.mkdir(parents=True, exist_ok=True)

x, y = load_digits(return_X_y=True)
x = (x / 16.0).astype(np.float32)  # pixels 0..16 -> 0..1
x_train, x_test, y_train, y_test = train_test_split(x, y, test_size=0.2, random_state=0,
                                                    stratify=y)
tape.random.seed(0)

# The Keras snippet, unchanged but for the import (and a larger SGD step than the 0.01
# that optimizer="sgd" gives, so 30 epochs are enough).
model = Sequential()
model.add(Dense(units=64, activation="relu", input_dim=64))
model.add(Dense(units=10, activation="softmax"))
model.compile(loss="sparse_categorical_crossentropy",
              optimizer=tape.optimizers.SGD(learning_rate=0.1), metrics=["accuracy"])
model.summary()

epochs = 3 if FAST else 30
history = model.fit(x_train, y_train, epochs=epochs, batch_size=32, validation_split=0.1)
loss, accuracy = model.evaluate(x_test, y_test, verbose=0)
print(f"test loss {loss:.4f}, test accuracy {accuracy:.4f}")

# fit traced its training step (tape.trace): the Python body ran once per batch shape,
# then the captured graph replayed. compile(run_eagerly=True) would run it as Python.
print("traced train step signatures:", model.make_train_function().trace_count)

# Mixed precision, as in Keras: layers made under this policy compute in bfloat16 while their
# weights stay float32 (read through a cast, so gradients and updates stay float32). On a GPU
# that is what the tensor cores run; on the CPU it gives the same answers, more slowly. The
# last layer is kept float32 (dtype="float32"), the usual choice for the probabilities.
tape.mixed_precision.set_global_policy("mixed_bfloat16")
mixed = Sequential([Dense(units=64, activation="relu", input_dim=64),
                    Dense(units=10, activation="softmax", dtype="float32")])
tape.mixed_precision.set_global_policy("float32")  # layers made from here on: float32 again
mixed.compile(loss="sparse_categorical_crossentropy",
              optimizer=tape.optimizers.SGD(learning_rate=0.1), metrics=["accuracy"])
mixed.fit(x_train, y_train, epochs=epochs, batch_size=32, verbose=0)
_, mixed_accuracy = mixed.evaluate(x_test, y_test, verbose=0)
first = mixed.layers[0]
print(f"mixed_bfloat16: first layer computes in {first.compute_dtype}, its kernel is "
      f"{first.kernel.dtype}; test accuracy {mixed_accuracy:.4f}")

fig, (ax_loss, ax_acc) = plt.subplots(1, 2, figsize=(9, 3.5))
for key, ax in (("loss", ax_loss), ("accuracy", ax_acc)):
    ax.plot(history.history[key], label="train")
    ax.plot(history.history["val_" + key], label="validation")
    ax.set_xlabel("epoch")
    ax.set_title(key)
    ax.legend()
fig.tight_layout()
path = OUT / "02_learning_curve.png"
fig.savefig(path, dpi=80)
print(f"learning curve saved to {path}")
print(f"RESULT test_accuracy={accuracy:.4f} mixed_bfloat16_accuracy={mixed_accuracy:.4f}")

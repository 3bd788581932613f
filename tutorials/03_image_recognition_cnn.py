"""Image recognition with a convolutional network, compared with the MLP.

Teaches: images as ``(batch, height, width, channels)`` tensors (channels last, as Keras);
``Conv2D``, ``MaxPooling2D`` and ``Flatten``; why weight sharing helps on images: the CNN
beats an MLP of similar size on the same split; looking at the mistakes.

Data: scikit-learn's digits, 8x8 grey images (ships inside scikit-learn, no download).

Prints: test accuracy of the CNN and of the MLP, their parameter counts, and where the grid
of misclassified test images (with true and predicted labels) was saved as a PNG.

Run: python tutorials/03_image_recognition_cnn.py      (TAPE_TUTORIAL_FAST=1 for a quick check)
"""

import os
import pathlib

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from sklearn.datasets import load_digits  # noqa: E402
from sklearn.model_selection import train_test_split  # noqa: E402

import tape  # noqa: E402
from tape.layers import Conv2D, Dense, Flatten, MaxPooling2D  # noqa: E402
from tape.models import Sequential  # noqa: E402

FAST = os.environ.get("TAPE_TUTORIAL_FAST") == "1"
OUT = pathlib.Path(os.environ.get("TAPE_TUTORIAL_OUT", "tutorials/output"))
OUT.mkdir(parents=True, exist_ok=True)
EPOCHS = 2 if FAST else 30

x, y = load_digits(return_X_y=True)
images = (x / 16.0).astype(np.float32).reshape(-1, 8, 8, 1)  # NHWC
x_train, x_test, y_train, y_test = train_test_split(images, y, test_size=0.2, random_state=0,
                                                    stratify=y)


def fit_and_score(model, name, inputs_train, inputs_test):
    model.compile(optimizer=tape.optimizers.Adam(2e-3), loss="sparse_categorical_crossentropy",
                  metrics=["accuracy"])
    model.fit(inputs_train, y_train, epochs=EPOCHS, batch_size=32, validation_split=0.1,
              verbose=0)
    accuracy = model.evaluate(inputs_test, y_test, verbose=0)[1]
    print(f"{name}: test accuracy {accuracy:.4f} with {model.count_params()} parameters")
    return accuracy


tape.random.seed(0)
cnn = Sequential([
    Conv2D(16, 3, padding="same", activation="relu", input_shape=(8, 8, 1)),
    MaxPooling2D(2),
    Conv2D(32, 3, padding="same", activation="relu"),
    Flatten(),
    Dense(10, activation="softmax"),
])
cnn_accuracy = fit_and_score(cnn, "CNN", x_train, x_test)

tape.random.seed(0)
mlp = Sequential([Dense(128, activation="relu", input_dim=64), Dense(10, activation="softmax")])
mlp_accuracy = fit_and_score(mlp, "MLP", x_train.reshape(-1, 64), x_test.reshape(-1, 64))

predicted = cnn.predict(x_test, verbose=0).argmax(-1)
wrong = np.flatnonzero(predicted != y_test)[:24]
columns = 8
rows = max(1, int(np.ceil(len(wrong) / columns)))
fig, axes = plt.subplots(rows, columns, figsize=(columns * 1.1, rows * 1.3), squeeze=False)
for ax in axes.ravel():
    ax.axis("off")
for ax, i in zip(axes.ravel(), wrong):
    ax.imshow(x_test[i, :, :, 0], cmap="gray_r")
    ax.set_title(f"{y_test[i]} -> {predicted[i]}", fontsize=8)
fig.suptitle("CNN mistakes: true -> predicted", fontsize=9)
fig.tight_layout()
path = OUT / "03_misclassified.png"
fig.savefig(path, dpi=80)
print(f"{len(wrong)} of the CNN's {int((predicted != y_test).sum())} mistakes saved to {path}")
print(f"RESULT cnn_acc={cnn_accuracy:.4f} mlp_acc={mlp_accuracy:.4f}")

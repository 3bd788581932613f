"""Overfitting, and four ways to fight it: L2, L1, Dropout, EarlyStopping.

Teaches: how a model with far more weights than examples memorizes a small training split
(train accuracy 1.0, validation accuracy lagging); ``kernel_regularizer=L2(...)`` and
``L1(...)``; ``Dropout``; the ``EarlyStopping`` callback with ``restore_best_weights``. Each
variant trains from the same initial seed on the same split, and is scored on held-out data.

Prints: a table of train accuracy, test accuracy and the train/test gap per variant. Writes
the train/validation loss curves of all variants side by side in one PNG.
Data: 200 of scikit-learn's digits to train on, the rest to validate and test.

Run: python tutorials/06_overfitting.py      (TAPE_TUTORIAL_FAST=1 for a quick check)
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
from tape.callbacks import EarlyStopping  # noqa: E402
from tape.layers import Dense, Dropout  # noqa: E402
from tape.models import Sequential  # noqa: E402
from tape.regularizers import L1, L2  # noqa: E402

FAST = os.environ.get("TAPE_TUTORIAL_FAST") == "1"
OUT = pathlib.Path(os.environ.get("TAPE_TUTORIAL_OUT", "tutorials/output"))
OUT.mkdir(parents=True, exist_ok=True)
EPOCHS = 5 if FAST else 100

x, y = load_digits(return_X_y=True)
x = (x / 16.0).astype(np.float32)
x_train, x_rest, y_train, y_rest = train_test_split(x, y, train_size=200, random_state=0,
                                                    stratify=y)
x_val, x_test, y_val, y_test = train_test_split(x_rest, y_rest, test_size=0.5, random_state=0,
                                                stratify=y_rest)


def model(regularizer=None, dropout=0.0):
    layers = [Dense(256, activation="relu", input_dim=64, kernel_regularizer=regularizer)]
    layers += [Dropout(dropout)] if dropout else []
    layers += [Dense(256, activation="relu", kernel_regularizer=regularizer)]
    layers += [Dropout(dropout)] if dropout else []
    layers += [Dense(10, activation="softmax")]
    return Sequential(layers)


callbacks = {"EarlyStopping": [EarlyStopping(monitor="val_loss", patience=10,
                                             restore_best_weights=True)]}
builders = {"no regularization": lambda: model(), "L2(1e-3)": lambda: model(L2(1e-3)),
            "L1(1e-4)": lambda: model(L1(1e-4)), "Dropout(0.5)": lambda: model(dropout=0.5),
            "EarlyStopping": lambda: model()}

results, histories = {}, {}
for name, build in builders.items():
    tape.random.seed(0)  # the same initial weights and batches for every variant
    net = build()
    net.compile(optimizer=tape.optimizers.Adam(1e-3), loss="sparse_categorical_crossentropy",
                metrics=["accuracy"])
    history = net.fit(x_train, y_train, epochs=EPOCHS, batch_size=32,
                      validation_data=(x_val, y_val), verbose=0, callbacks=callbacks.get(name, []))
    train_acc = net.evaluate(x_train, y_train, verbose=0)[1]
    test_acc = net.evaluate(x_test, y_test, verbose=0)[1]
    results[name] = (train_acc, test_acc, len(history.history["loss"]))
    histories[name] = history.history

print(f"{'variant':20s} {'train acc':>9s} {'test acc':>9s} {'gap':>6s} {'epochs':>6s}")
for name, (train_acc, test_acc, epochs) in results.items():
    print(f"{name:20s} {train_acc:9.4f} {test_acc:9.4f} {train_acc - test_acc:6.3f} {epochs:6d}")

fig, axes = plt.subplots(1, len(histories), figsize=(3.2 * len(histories), 3), sharey=True)
for ax, (name, h) in zip(axes, histories.items()):
    ax.plot(h["loss"], label="train")
    ax.plot(h["val_loss"], label="validation")
    ax.set_title(name, fontsize=9)
    ax.set_xlabel("epoch")
    ax.set_ylim(0, 1.5)
axes[0].set_ylabel("loss")
axes[0].legend()
fig.tight_layout()
path = OUT / "06_overfitting.png"
fig.savefig(path, dpi=80)
print(f"curves saved to {path}")
best = max(results, key=lambda n: results[n][1])
print(f"RESULT baseline_test_acc={results['no regularization'][1]:.4f} best={best} "
      f"best_test_acc={results[best][1]:.4f}")

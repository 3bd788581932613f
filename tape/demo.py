"""The README's first command (``make demo``): a Keras-style MLP on scikit-learn's digits
(8x8 images of handwritten digits; the data ships inside scikit-learn, no download), trained
with ``fit`` and its progress bar on a training split, scored on a held-out test split.

    python -m tape.demo [--epochs N] [--batch-size N] [--seed N] [--policy mixed_bfloat16]
"""

from __future__ import annotations

import argparse
import time

import numpy as np

import tape
from tape.callbacks import EarlyStopping
from tape.layers import Dense, Dropout
from tape.models import Sequential


def load_data(seed: int = 0, test_fraction: float = 0.2):
    """Pixels scaled to [0, 1] and integer labels, split into train and held-out test sets
    (stratified, so every digit is in both)."""
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    x, y = load_digits(return_X_y=True)
    x = (x / 16.0).astype(np.float32)
    x_train, x_test, y_train, y_test = train_test_split(
        x, y, test_size=test_fraction, random_state=seed, stratify=y)
    return (x_train, y_train), (x_test, y_test)


def build_model() -> Sequential:
    return Sequential([
        Dense(128, activation="relu", input_dim=64),
        Dropout(0.1),
        Dense(64, activation="relu"),
        Dense(10, activation="softmax"),
    ])


def main(argv=None) -> float:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=40)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--policy", default="float32",
                        help="Keras dtype policy: float32, mixed_bfloat16 or mixed_float16")
    parser.add_argument("--verbose", default="auto",
                        help="'auto' (a live bar on a terminal, a line per epoch otherwise), "
                             "0, 1 or 2")
    args = parser.parse_args(argv)
    verbose = args.verbose if args.verbose == "auto" else int(args.verbose)

    (x_train, y_train), (x_test, y_test) = load_data(args.seed)
    tape.random.seed(args.seed)
    tape.mixed_precision.set_global_policy(args.policy)
    model = build_model()
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy",
                  metrics=["accuracy"])
    print(f"digits: {len(x_train)} train / {len(x_test)} held-out test images, "
          f"64 pixels -> 128 relu -> 64 relu -> 10 softmax, Adam, policy {args.policy}")
    start = time.perf_counter()
    model.fit(x_train, y_train, epochs=args.epochs, batch_size=args.batch_size,
              validation_split=0.1, verbose=verbose,
              callbacks=[EarlyStopping(monitor="val_loss", patience=8,
                                       restore_best_weights=True)])
    took = time.perf_counter() - start
    loss, accuracy = model.evaluate(x_test, y_test, verbose=0)
    print(f"test accuracy: {accuracy:.4f} (test loss {loss:.4f}; trained in {took:.1f}s)")
    return float(accuracy)


if __name__ == "__main__":
    main()

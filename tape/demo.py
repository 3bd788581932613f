"""The README's first command (``make demo``): fit a small network to scikit-learn's
diabetes data (it ships inside the package, no download) with a hand-written
GradientTape loop, showing a progress bar and the loss going down.

    python -m tape.demo [--epochs N]
"""

from __future__ import annotations

import argparse

import numpy as np
from tqdm import tqdm

import tape


def load_data(seed: int = 0):
    """Standardized diabetes features and targets, split 80/20 into train and test."""
    from sklearn.datasets import load_diabetes

    x, y = load_diabetes(return_X_y=True)
    x = (x - x.mean(0)) / x.std(0)
    y = (y - y.mean()) / y.std()
    order = np.random.default_rng(seed).permutation(len(x))
    x, y = x[order].astype(np.float32), y[order].astype(np.float32)[:, None]
    split = int(0.8 * len(x))
    return (x[:split], y[:split]), (x[split:], y[split:])


def main(argv=None) -> float:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=150)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--lr", type=float, default=0.01)
    args = parser.parse_args(argv)

    (x_train, y_train), (x_test, y_test) = load_data()
    tape.random.seed(0)
    w1 = tape.Variable(tape.random.normal((10, 32), stddev=(2 / 10) ** 0.5), name="w1")
    b1 = tape.Variable(tape.zeros(32), name="b1")
    w2 = tape.Variable(tape.random.normal((32, 1), stddev=(1 / 32) ** 0.5), name="w2")
    b2 = tape.Variable(tape.zeros(1), name="b2")
    params = [w1, b1, w2, b2]

    def predict(x):
        return tape.nn.relu(x @ w1 + b1) @ w2 + b2

    def mse(x, y):
        return tape.mean((predict(x) - y) ** 2)

    print(f"diabetes regression: {len(x_train)} train / {len(x_test)} test rows, "
          f"10 features -> 32 relu -> 1, SGD lr={args.lr}")
    initial = mse(tape.tensor(x_test), tape.tensor(y_test)).item()
    rng = np.random.default_rng(0)
    bar = tqdm(range(args.epochs), desc="training", unit="epoch")
    for epoch in bar:
        order = rng.permutation(len(x_train))
        losses = []
        for start in range(0, len(order), args.batch_size):
            batch = order[start:start + args.batch_size]
            with tape.GradientTape() as g:
                loss = mse(tape.tensor(x_train[batch]), tape.tensor(y_train[batch]))
            for p, grad in zip(params, g.gradient(loss, params)):
                p.assign_sub(grad * args.lr)
            losses.append(loss.item())
        bar.set_postfix(loss=f"{np.mean(losses):.4f}")
        if epoch % max(1, args.epochs // 10) == 0 or epoch == args.epochs - 1:
            tqdm.write(f"epoch {epoch + 1:3d}  train loss {np.mean(losses):.4f}")
    final = mse(tape.tensor(x_test), tape.tensor(y_test)).item()
    print(f"test MSE (standardized targets): {initial:.4f} before training -> {final:.4f} "
          f"after; R^2 = {1 - final:.3f}")
    return final


if __name__ == "__main__":
    main()

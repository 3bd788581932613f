"""Mixed precision on the CPU: accuracy and time of the same models trained under the
``float32``, ``mixed_bfloat16`` and ``mixed_float16`` policies (issue 20's accuracy target:
the mixed policies reach the float32 test accuracy within 0.01).

    python -m benchmarks.mixed_precision [--quick] [--epochs N] [--seeds N]

Two models through ``fit`` on scikit-learn's digits (the demo's stratified split, 1437
train / 360 held-out test images), Adam, batch 32, a fixed number of epochs (no early
stopping, so every policy trains the same number of steps), each policy from the same seeds:

- the digits MLP of ``tape.demo`` (64-128-dropout-64-10);
- the CNN of tutorial 03 on the 8x8x1 images (Conv2D 16 3x3, MaxPooling 2, Conv2D 32 3x3,
  Flatten, Dense 10).

It prints the mean test accuracy over ``--seeds`` seeds per policy, its difference from
float32's, and the median time per epoch with its ratio to float32's. On the CPU the low
dtypes are slower than float32 (NumPy has no BLAS for them: float16 and bfloat16 matmuls
are computed in float32 and cast, and bfloat16 elementwise math runs through ml_dtypes'
loops); the speed-up is a GPU matter (``benchmarks.gpu``).
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np

POLICIES = ("float32", "mixed_bfloat16", "mixed_float16")


def build_mlp():
    from tape.demo import build_model

    return build_model()


def build_cnn():
    from tape.layers import Conv2D, Dense, Flatten, MaxPooling2D
    from tape.models import Sequential

    return Sequential([
        Conv2D(16, 3, padding="same", activation="relu", input_shape=(8, 8, 1)),
        MaxPooling2D(2),
        Conv2D(32, 3, padding="same", activation="relu"),
        Flatten(),
        Dense(10, activation="softmax"),
    ])


MODELS = {"digits MLP": (build_mlp, lambda x: x),
          "digits CNN": (build_cnn, lambda x: x.reshape(-1, 8, 8, 1))}


def train(model_name: str, policy: str, seed: int, epochs: int, data) -> tuple[float, float]:
    """(test accuracy, median seconds per epoch) of one model trained under ``policy``."""
    import tape
    from tape import mixed_precision
    from tape.callbacks import Callback

    (x_train, y_train), (x_test, y_test) = data
    build, shape = MODELS[model_name]
    mixed_precision.set_global_policy(policy)
    try:
        tape.random.seed(seed)
        model = build()
        model.compile(optimizer="adam", loss="sparse_categorical_crossentropy",
                      metrics=["accuracy"])
        times = []

        class EpochTimes(Callback):
            def on_epoch_begin(self, epoch, logs=None):
                self.start = time.perf_counter()

            def on_epoch_end(self, epoch, logs=None):
                times.append(time.perf_counter() - self.start)

        model.fit(shape(x_train), y_train, epochs=epochs, batch_size=32, verbose=0,
                  callbacks=[EpochTimes()])
        _, accuracy = model.evaluate(shape(x_test), y_test, verbose=0)
    finally:
        mixed_precision.set_global_policy("float32")
    return float(accuracy), statistics.median(times[1:] or times)  # the first one traces


def run(epochs: int, seeds: int, models=tuple(MODELS)) -> dict:
    """{model: {policy: (mean accuracy, median s/epoch)}}."""
    from tape.demo import load_data

    data = load_data(0)
    results = {}
    for model_name in models:
        results[model_name] = {}
        for policy in POLICIES:
            runs = [train(model_name, policy, seed, epochs, data) for seed in range(seeds)]
            results[model_name][policy] = (float(np.mean([a for a, _ in runs])),
                                           statistics.median(t for _, t in runs))
    return results


def report(results: dict) -> str:
    lines = ["| model | policy | test accuracy | vs float32 | s/epoch | vs float32 |",
             "|---|---|---:|---:|---:|---:|"]
    for model_name, by_policy in results.items():
        base_accuracy, base_time = by_policy["float32"]
        for policy, (accuracy, seconds) in by_policy.items():
            lines.append(f"| {model_name} | {policy} | {accuracy:.4f} | "
                         f"{accuracy - base_accuracy:+.4f} | {seconds:.3f} | "
                         f"{seconds / base_time:.2f}x |")
    return "\n".join(lines)


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="2 epochs, 1 seed (a smoke run)")
    parser.add_argument("--epochs", type=int, default=30)
    parser.add_argument("--seeds", type=int, default=3)
    args = parser.parse_args(argv)
    epochs, seeds = (2, 1) if args.quick else (args.epochs, args.seeds)
    results = run(epochs, seeds)
    print(f"digits, Adam, batch 32, {epochs} epochs, mean over {seeds} seed(s)")
    print(report(results))
    return results


if __name__ == "__main__":
    main()

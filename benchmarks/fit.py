"""The cost of the Keras layer: one epoch of scikit-learn's digits (1797 images of 8x8,
batches of 64 in order) through ``Sequential`` + ``compile`` + ``fit(verbose=0)``, against
the same loop hand-written on the tape (GradientTape + ``optimizer.apply_gradients``, the
running mean loss read per batch as fit's logs do) and by hand in NumPy (the floor).

Model 64-128-10 (ReLU, logits), mean sparse softmax cross-entropy, plain SGD; every system
starts from the same weights, so after the epoch all must agree on the mean loss and on
every weight's change.
"""

from __future__ import annotations

import functools

import numpy as np

from . import floor, mlp, peers
from .harness import Trial, Workload

BATCH = 64
LR = 0.1
SIZES = (64, 128, 10)


def load_data(quick: bool) -> tuple:
    from sklearn.datasets import load_digits

    x, y = load_digits(return_X_y=True)
    x, y = (x / 16.0).astype(np.float32), y.astype(np.int64)
    return (x[:256], y[:256]) if quick else (x, y)


def _batches(n: int) -> list:
    return [(start, min(start + BATCH, n)) for start in range(0, n, BATCH)]


def numpy_trial(init, data) -> Trial:
    params = {name: value.copy() for name, value in init.items()}
    x, y = data

    def epoch():
        total = 0.0
        for s, e in _batches(len(x)):
            total += mlp.numpy_step(params, x[s:e], y[s:e], LR) * (e - s)
        return total / len(x)

    return Trial(epoch, lambda: floor.updates(params, init))


def tape_loop_trial(init, data, traced=False) -> Trial:
    import tape

    trace = peers.tape_trace() if traced else None
    params = {name: tape.Variable(value.copy(), name=name) for name, value in init.items()}
    variables = list(params.values())
    optimizer = tape.optimizers.SGD(learning_rate=LR)
    loss = mlp.tape_loss()
    x, y = data

    def train_step(xb, yb):
        with tape.GradientTape() as g:
            value = loss(params, xb, yb)
        optimizer.apply_gradients(zip(g.gradient(value, variables), variables))
        return value

    step = trace(train_step) if traced else train_step

    def epoch():
        total = 0.0
        for s, e in _batches(len(x)):
            total += float(step(tape.tensor(x[s:e]), tape.tensor(y[s:e]))) * (e - s)
        return total / len(x)

    return Trial(epoch, lambda: floor.updates(
        {name: v.numpy() for name, v in params.items()}, init))


def tape_fit_trial(init, data, run_eagerly=None) -> Trial:
    import tape
    from tape.layers import Dense
    from tape.models import Sequential

    model = Sequential([Dense(SIZES[1], activation="relu", input_dim=SIZES[0]),
                        Dense(SIZES[2])])
    model.compile(optimizer=tape.optimizers.SGD(learning_rate=LR),
                  loss=tape.losses.SparseCategoricalCrossentropy(from_logits=True),
                  run_eagerly=run_eagerly)
    model.set_weights(list(init.values()))  # W0, b0, W1, b1: Dense kernel then bias
    x, y = data

    def epoch():
        history = model.fit(x, y, batch_size=BATCH, epochs=1, shuffle=False, verbose=0)
        return history.history["loss"][-1]

    return Trial(epoch, lambda: floor.updates(dict(zip(init, model.get_weights())), init))


def build(name: str, quick: bool) -> Workload:
    data = load_data(quick)
    init, _ = mlp.make_problem(SIZES, BATCH)
    systems = {
        "numpy (floor)": lambda: numpy_trial(init, data),
        "tape hand loop, eager": lambda: tape_loop_trial(init, data),
        "tape hand loop, traced": lambda: tape_loop_trial(init, data, traced=True),
        "tape fit": lambda: tape_fit_trial(init, data),
        "tape fit, run_eagerly=True": lambda: tape_fit_trial(init, data, run_eagerly=True),
    }
    title = (f"one epoch of digits ({len(data[0])} images, batch {BATCH}), MLP "
             f"{'-'.join(map(str, SIZES))}: Sequential + compile + fit against a hand loop")
    return Workload(name, title, "numpy (floor)", systems, step="epoch",
                    compare=(("tape fit, run_eagerly=True", "tape hand loop, eager"),
                             ("tape fit", "tape hand loop, traced")))


WORKLOADS = {"fit": functools.partial(build, "fit")}

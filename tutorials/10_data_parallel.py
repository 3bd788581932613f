"""Data-parallel training on several processes: ``tape.distribute.DataParallel``.

Teaches: launching with ``mpiexec -n 2``; ``strategy.scope()`` around ``compile`` so that
``fit`` trains data-parallel (``batch_size`` is the global batch, each rank takes its share
of every batch, gradients are averaged over the ranks in buckets, each sent as soon as the
backward walk has finished its gradients, one progress bar, files written once by rank 0);
that two ranks train the same weights as one process on the same global batches; and the
pieces of a custom loop: ``Dataset.shard``, ``strategy.all_reduce`` of the gradients (after
the walk, there), ``strategy.rank`` and ``strategy.size``.

Prints: a line per rank as it starts; on rank 0 the progress of fit and of the custom loop, the
test accuracy, how far the weights are from a one-process run of the same batches, and the
custom loop's accuracy.
Data: scikit-learn's digits (1797 8x8 images; ships inside scikit-learn, no download).

Run: .venv/bin/mpiexec -n 2 .venv/bin/python tutorials/10_data_parallel.py
     (plain ``python tutorials/10_data_parallel.py`` relaunches itself that way;
     TAPE_TUTORIAL_FAST=1 for a quick check)
"""

import os
import pathlib
import subprocess
import sys

import numpy as np
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split

import tape
from tape.distribute.comm import launched
from tape.layers import Dense
from tape.models import Sequential

if not launched():  # started without mpiexec: start again under it, with two ranks
    mpiexec = pathlib.Path(sys.executable).parent / "mpiexec"
    env = dict(os.environ, OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1")
    raise SystemExit(subprocess.call([str(mpiexec), "-n", "2", sys.executable, __file__],
                                     env=env))

FAST = os.environ.get("TAPE_TUTORIAL_FAST") == "1"
OUT = pathlib.Path(os.environ.get("TAPE_TUTORIAL_OUT", "tutorials/output"))

# Every rank runs this same script. The strategy finds its rank and the number of ranks
# from the launch; outside mpiexec it would be one process that exchanges nothing.
strategy = tape.distribute.DataParallel()
print(f"rank {strategy.rank} of {strategy.size} starts", flush=True)

x, y = load_digits(return_X_y=True)
x = (x / 16.0).astype(np.float32)
x_train, x_test, y_train, y_test = train_test_split(x, y, test_size=0.2, random_state=0,
                                                    stratify=y)
epochs = 2 if FAST else 10


def make_model():
    model = Sequential([Dense(64, activation="relu", input_dim=64), Dense(10)])
    model.compile(tape.optimizers.Adam(1e-2),
                  tape.losses.SparseCategoricalCrossentropy(from_logits=True),
                  metrics=["accuracy"])
    return model


# 1. fit, data-parallel: compile inside the scope, then fit as usual. batch_size=128 is the
# global batch: each rank computes the gradient of its 64 rows, the ranks average them
# (weighted by rows, so a smaller last batch is exact too), and every rank applies the same
# update. The weights start as rank 0's (fit broadcasts them).
tape.random.seed(0)
with strategy.scope():
    model = make_model()
OUT.mkdir(parents=True, exist_ok=True)
checkpoint = tape.callbacks.ModelCheckpoint(str(OUT / "10_data_parallel.weights.safetensors"),
                                            monitor="loss", save_weights_only=True)
model.build((None, 64))
start_weights = [np.array(w) for w in model.get_weights()]
history = model.fit(x_train, y_train, batch_size=128, epochs=epochs, shuffle=False,
                    verbose=2, callbacks=[checkpoint])  # the bar and the file: rank 0 only
accuracy = model.evaluate(x_test, y_test, verbose=0)[1]

# The same batches in one process (each rank can compute it; rank 0 reports it): the two
# ranks trained the same weights, up to float32 rounding in the order of the additions.
reference = make_model()
reference.build((None, 64))
reference.set_weights(start_weights)
reference.fit(x_train, y_train, batch_size=128, epochs=epochs, shuffle=False, verbose=0)
difference = max(float(np.abs(a - b).max())
                 for a, b in zip(model.get_weights(), reference.get_weights()))

# 2. A custom loop: each rank reads its shard of the data (every other sample), computes
# gradients on it and averages them with the other ranks before the update.
tape.random.seed(1)
loop_model = Sequential([Dense(64, activation="relu", input_dim=64), Dense(10)])
loop_model.build((None, 64))
strategy.broadcast(loop_model.weights)  # same start: rank 0's weights everywhere
optimizer = tape.optimizers.Adam(1e-2)
loss_fn = tape.losses.SparseCategoricalCrossentropy(from_logits=True)
shard = tape.data.Dataset.from_tensor_slices((x_train, y_train)).shard(strategy.size,
                                                                       strategy.rank)


@tape.trace  # the all-reduce is a node of the traced step: it runs at every replay
def train_step(xb, yb):
    with tape.GradientTape() as g:
        loss = loss_fn(yb, loop_model(xb, training=True))
    grads = strategy.all_reduce(g.gradient(loss, loop_model.trainable_variables))
    optimizer.apply_gradients(zip(grads, loop_model.trainable_variables))
    return loss


for epoch in range(epochs):
    for xb, yb in shard.batch(128 // strategy.size, drop_remainder=True):
        loss = train_step(xb, yb)
    if strategy.rank == 0:  # every rank has a loss of its own shard; one line is enough
        print(f"custom loop epoch {epoch + 1}: loss on rank 0's shard {float(loss):.4f}")
predictions = np.argmax(loop_model.predict(x_test, verbose=0), axis=-1)
loop_accuracy = float(np.mean(predictions == y_test))

if strategy.rank == 0:
    print(f"fit on {strategy.size} ranks: test accuracy {accuracy:.4f}; largest weight "
          f"difference from one process on the same batches {difference:.2e}")
    print(f"custom loop: test accuracy {loop_accuracy:.4f}")
    print(f"RESULT ranks={strategy.size} fit_acc={accuracy:.4f} "
          f"max_weight_diff_vs_one_process={difference:.1e} loop_acc={loop_accuracy:.4f}")

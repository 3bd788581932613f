"""Moving a model to the GPU and back.

Teaches: ``tape.cuda.is_available()`` and ``why_unavailable()``; ``tape.device('gpu')`` for
creating tensors on the GPU; ``Tensor.to(device)``; ``model.to('gpu')``, which moves the
weights and the optimizer's state, so ``fit`` then trains on the GPU (batches follow the
weights); that ``fit``'s traced step runs on the GPU as one CUDA graph per batch shape
(``model.make_train_function().explain()`` says so, or why not); and back with
``model.to('cpu')``. With no GPU (or no CuPy) it says why and exits 0; install the GPU extra
with ``pip install -e '.[gpu]'`` on a machine with one.

Prints: whether a GPU is usable (and why not), and on a GPU the accuracy and time of the same
training on the GPU and on the CPU, and how each replayed its train step.

Run: python tutorials/09_gpu.py      (TAPE_TUTORIAL_FAST=1 for a quick check)
"""

import os
import time

import numpy as np
from sklearn.datasets import load_digits

import tape
from tape.layers import Dense
from tape.models import Sequential

FAST = os.environ.get("TAPE_TUTORIAL_FAST") == "1"

if not tape.cuda.is_available():
    print("No GPU here:", tape.cuda.why_unavailable())
    print("Everything below runs the same way on a machine with an NVIDIA GPU and CuPy.")
    print("RESULT gpu=unavailable")
    raise SystemExit(0)

print("GPU memory:", tape.cuda.memory_info())
with tape.device("gpu"):
    a = tape.random.normal((2048, 2048))
print("made on", a.device, "-> a @ a back on", (a @ a).to("cpu").device)

x, y = load_digits(return_X_y=True)
x = (x / 16.0).astype(np.float32)
results = {}
for device in ("gpu", "cpu"):
    tape.random.seed(0)
    model = Sequential([Dense(256, activation="relu", input_dim=64), Dense(10)])
    model.compile("adam", tape.losses.SparseCategoricalCrossentropy(from_logits=True),
                  metrics=["accuracy"])
    model.to(device)  # weights (and, once built, optimizer state) live there
    start = time.perf_counter()
    model.fit(x, y, epochs=2 if FAST else 10, batch_size=128, verbose=0)
    took = time.perf_counter() - start
    results[device] = (model.evaluate(x, y, verbose=0)[1], took)
    print(f"{device}: accuracy {results[device][0]:.4f}, fit took {took:.2f}s, weights on "
          f"{model.weights[0].device}")
    # fit's step is traced; on the GPU each batch shape's graph is captured once as a CUDA
    # graph and then launched whole (TAPE_CUDA_GRAPHS=0 replays op by op instead)
    print(f"{device}: train step {model.make_train_function().explain()}")
model.to("cpu")
print("moved back:", {w.device for w in model.weights})
print(f"RESULT gpu=available gpu_acc={results['gpu'][0]:.4f} cpu_acc={results['cpu'][0]:.4f}")

"""Tracing a training step, and the TF1-style Session.

Teaches: ``@tape.trace`` captures a step once per input signature and replays the graph
without running its Python; how to read the captured graph (printed, drawn as Graphviz dot,
and the generated replay source); ``input_signature`` with None for a varying batch size;
``tape.placeholder`` + ``Session.run(fetches, feed_dict)``. Python side effects inside a
traced function (print, appending to a list) happen while tracing only, as in
``tf.function``; reading a tensor's value into Python there is an error (use ``tape.where``).

Prints: eager and traced time per step side by side (medians), the speed-up, the graph, and
Session outputs. Writes the graph as a .dot file (and a PNG when Graphviz is installed).

Run: python tutorials/07_trace_and_session.py      (TAPE_TUTORIAL_FAST=1 for a quick check)
"""

import os
import pathlib
import shutil
import subprocess
import time

import numpy as np

import tape
from tape import layers, models, optimizers

FAST = os.environ.get("TAPE_TUTORIAL_FAST") == "1"
OUT = pathlib.Path(os.environ.get("TAPE_TUTORIAL_OUT", "tutorials/output"))
OUT.mkdir(parents=True, exist_ok=True)
rng = np.random.default_rng(0)

# ---- one training step, eager and traced --------------------------------------------------
tape.random.seed(0)
model = models.Sequential([layers.Dense(32, activation="tanh", input_dim=16),
                           layers.Dense(32, activation="tanh"), layers.Dense(4)])
optimizer = optimizers.SGD(0.05)
loss_fn = tape.losses.SparseCategoricalCrossentropy(from_logits=True)


def train_step(x, y):
    with tape.GradientTape() as g:
        loss = loss_fn(y, model(x, training=True))
    grads = g.gradient(loss, model.trainable_variables)
    optimizer.apply_gradients(zip(grads, model.trainable_variables))
    return loss


traced_step = tape.trace(train_step)
x = rng.normal(size=(16, 16)).astype(np.float32)
y = rng.integers(0, 4, 16)
traced_step(x, y)  # the first call traces (and runs eagerly while recording)

rounds = 20 if FAST else 200
times = {"eager": [], "traced": []}
for _ in range(rounds):  # interleaved, so both see the same machine
    for name, step in (("eager", train_step), ("traced", traced_step)):
        start = time.perf_counter()
        step(x, y)
        times[name].append(time.perf_counter() - start)
eager_ms, traced_ms = (np.median(times[k]) * 1e3 for k in ("eager", "traced"))
print(f"eager step {eager_ms:.3f} ms, traced step {traced_ms:.3f} ms "
      f"-> {eager_ms / traced_ms:.1f}x faster traced (median of {rounds})")
print("traces:", traced_step.trace_count)

# ---- reading the graph --------------------------------------------------------------------
graph = traced_step.graph
print(graph)
print("replay source (first lines):")
print("\n".join(traced_step.replay_source.splitlines()[:8]))
dot_path = OUT / "07_train_step.dot"
dot_path.write_text(graph.to_dot())
if shutil.which("dot"):
    subprocess.run(["dot", "-Tpng", str(dot_path), "-o", str(OUT / "07_train_step.png")],
                   check=True)
print(f"graph drawn to {dot_path} (render with: dot -Tpng {dot_path} -o graph.png)")

# ---- one graph for any batch size ---------------------------------------------------------


@tape.trace(input_signature=[tape.TensorSpec((None, 16), "float32")])
def predict(inputs):
    return tape.nn.softmax(model(inputs))


for n in (3, 50):
    print(f"predict on {n} rows ->", predict(rng.normal(size=(n, 16)).astype(np.float32)).shape)
print("predict traces:", predict.trace_count)

# ---- the TF1 door: placeholders and a Session ---------------------------------------------
images = tape.placeholder("float32", shape=(None, 16), name="images")
probabilities = predict(images)  # symbolic: a value of the graph, computed by Session.run
with tape.Session() as sess:
    batch = rng.normal(size=(5, 16)).astype(np.float32)
    out = sess.run(probabilities, feed_dict={images: batch})
    print("Session.run rows sum to one:", np.allclose(out.sum(1), 1.0))
    c = tape.matmul(tape.constant([[1.0, 2.0]]), tape.constant([[3.0], [4.0]]))
    print("an eager tensor fetched:", sess.run(c))
print(f"RESULT speedup={eager_ms / traced_ms:.2f} nodes={len(graph.nodes)}")

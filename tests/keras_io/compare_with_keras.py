"""Run a ported keras-io script on tape and on Keras 3 (JAX backend) with the same local
data and settings, and print what each reached: the renaming contract read backwards
(`from tape import keras` -> `import keras`...). Not a test: Keras is not a dependency.

    pip install --target /tmp/keras3 keras      # Keras 3; JAX comes with tape[test]
    KERAS_PATH=/tmp/keras3 python tests/keras_io/compare_with_keras.py mnist_convnet 0 1
    KERAS_PATH=/tmp/keras3 python tests/keras_io/compare_with_keras.py \
        timeseries_classification epochs=20 0 1   # a setting changed on both sides

Scripts that import tape.tf need TensorFlow for the Keras side and are refused; the Keras
side skips one-line plot_model calls (Keras needs pydot and the Graphviz programs for them).
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
# The value each script ends with: (variable, index or key) -> reported as "result".
RESULTS = {"mnist_convnet": "score[1]", "timeseries_classification": "test_acc",
           "text_classification_transformer": "history.history['val_accuracy'][-1]",
           "bidirectional_lstm_imdb": "history.history['val_accuracy'][-1]"}

RUNNER = """
import json, runpy, sys, time
import numpy as np
sys.path.insert(0, {here!r})
{seed_line}
np.random.seed({seed})
start = time.perf_counter()
out = runpy.run_path({script!r}, run_name="__main__")
print("RESULT " + json.dumps({{"result": float(eval({expr!r}, out)),
                              "seconds": time.perf_counter() - start}}))
"""


def to_keras(source: str) -> str:
    """The script with tape's renamed imports turned back into Keras'."""
    if re.search(r"^from tape import .*\btf\b", source, re.M):
        raise SystemExit("this script imports tape.tf: its Keras run needs TensorFlow")
    source = re.sub(r"^from tape import keras$", "import keras", source, flags=re.M)
    source = re.sub(r"^from tape\.keras import ", "from keras import ", source, flags=re.M)
    # Keras' plot_model needs pydot and the Graphviz programs even for a .dot file.
    return re.sub(r"^(keras\.utils\.plot_model\(.*)$", r"pass  # \1", source, flags=re.M)


def run(name: str, seed: int, framework: str, settings: dict | None = None) -> dict:
    source = (HERE / f"{name}.py").read_text()
    for key, value in (settings or {}).items():  # e.g. epochs=40, on both sides alike
        source = re.sub(rf"^{key} = .*$", f"{key} = {value}", source, flags=re.M)
    env = {**os.environ, "MPLBACKEND": "Agg", "JAX_PLATFORMS": "cpu"}
    if framework == "keras":
        source = to_keras(source)
        env.update(KERAS_BACKEND="jax",
                   PYTHONPATH=os.pathsep.join(filter(None, [os.environ.get("KERAS_PATH"),
                                                            env.get("PYTHONPATH")])))
        seed_line = f"import keras; keras.utils.set_random_seed({seed})"
    else:
        seed_line = f"from tape import keras; keras.utils.set_random_seed({seed})"
    with tempfile.TemporaryDirectory() as folder:
        script = Path(folder) / f"{name}.py"
        script.write_text(source)
        code = RUNNER.format(here=str(HERE), seed_line=seed_line, seed=seed,
                             script=str(script), expr=RESULTS[name])
        done = subprocess.run([sys.executable, "-c", code], cwd=folder, env=env,
                              capture_output=True, text=True)
    lines = [ln for ln in done.stdout.splitlines() if ln.startswith("RESULT ")]
    if done.returncode or not lines:
        raise SystemExit(f"{framework} {name} seed {seed} failed:\n{done.stderr[-3000:]}")
    return json.loads(lines[-1][len("RESULT "):])


if __name__ == "__main__":
    name, rest = sys.argv[1], sys.argv[2:]
    settings = dict(arg.split("=", 1) for arg in rest if "=" in arg)
    seeds = [int(s) for s in rest if "=" not in s] or [0]
    for seed in seeds:
        for framework in ("tape", "keras"):
            print(json.dumps({"script": name, "seed": seed, "framework": framework,
                              **settings, **run(name, seed, framework, settings)}), flush=True)

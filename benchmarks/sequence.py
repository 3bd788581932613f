"""Cost per time step of a recurrent layer's forward + backward as the sequence grows.

``tape.layers.LSTM(32)`` on a (32, T, 32) float32 input; the gradient with respect to the
input and the weights, eagerly and traced; CPU time of the process per time step, the
minimum of ``--repeats`` calls. A flat row means the backward pass is linear in T.

    python -m benchmarks.sequence [--lengths 50 400] [--repeats 5]
"""

from __future__ import annotations

import argparse
import time

import numpy as np


def per_step_ms(lengths, repeats: int) -> dict:
    import tape
    from tape import layers

    rng = np.random.default_rng(0)
    results = {}
    for steps in lengths:
        x = tape.tensor(rng.normal(size=(32, steps, 32)).astype(np.float32))
        lstm = layers.LSTM(32)
        lstm(x)

        def step(x, lstm=lstm):
            with tape.GradientTape() as g:
                g.watch(x)
                y = tape.sum(lstm(x))
            return g.gradient(y, [x, *lstm.trainable_variables])

        for mode, fn in (("eager", step), ("traced", tape.trace(step))):
            fn(x)  # warm-up (and the trace)
            times = []
            for _ in range(repeats):
                start = time.process_time()
                fn(x)
                times.append(time.process_time() - start)
            results[(mode, steps)] = min(times) * 1e3 / steps
    return results


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lengths", type=int, nargs="+", default=[50, 400])
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args(argv)
    results = per_step_ms(args.lengths, args.repeats)
    print("| mode | " + " | ".join(f"T={n}" for n in args.lengths) + " |")
    print("|---|" + "---:|" * len(args.lengths))
    for mode in ("eager", "traced"):
        cells = " | ".join(f"{results[(mode, n)]:.3f}" for n in args.lengths)
        print(f"| {mode} (ms per step) | {cells} |")


if __name__ == "__main__":
    main()

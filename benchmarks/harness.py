"""What every workload shares: systems as trials, the agreement check, round-robin timing,
peak-memory measurement, and the tables the runner prints.

A *workload* (one problem: the 200-op chain, an MLP step...) holds a factory per *system*
(NumPy by hand, tape eager, PyTorch...). A factory builds the system from the workload's
initial weights and data and returns a ``Trial``: ``step()`` runs one timed step and returns
its output (the loss, usually), ``read()`` returns named NumPy arrays of what the steps did
(usually each weight's change since the start). A factory that cannot run here raises
``Unavailable`` with the reason the table prints instead of a time.

Before anything is timed, ``check_agreement`` builds every system afresh, runs one step, and
compares the output and every array ``read()`` returns against the floor's (plus any
``references``) to ``tolerance``, norm-wise relative. A system that disagrees or fails is
reported and left out of the timing.
"""

from __future__ import annotations

import dataclasses
import gc
import math
import statistics
import time
import tracemalloc
from collections.abc import Callable

import numpy as np


class Unavailable(Exception):
    """A system that cannot run here (a peer not installed, a tape feature not there yet)."""


class AgreementError(AssertionError):
    """A system computed something other than the reference."""


@dataclasses.dataclass
class Trial:
    """One system built for one workload: ``step`` is what gets timed."""

    step: Callable[[], object]
    read: Callable[[], dict] = dict
    output: str = "loss"  # the name under which ``step()``'s return value is compared


@dataclasses.dataclass
class Workload:
    """One problem run by several systems; ``floor`` names the hand-written NumPy one."""

    name: str
    title: str
    floor: str
    systems: dict  # system name -> factory() -> Trial, in table order (the floor first)
    references: tuple = ()  # systems whose results join the floor's as the reference
    per: int = 1  # the time is reported per this many units (the chain's ops)
    unit: str = "ms"  # "ms" or "us" per step (or per unit), "MB" for memory workloads
    step: str = "step"  # what one timed call is ("op" when ``per`` divides it, "epoch")
    measure: str = "time"  # or "memory": tracemalloc peak of one step
    tolerance: float = 1e-4
    compare: tuple = ()  # (numerator, denominator) pairs printed under the table
    targets: tuple = ()  # (system, largest ratio to the floor) from issue 6
    notes: tuple = ()


@dataclasses.dataclass
class Outcome:
    """What the agreement check found for one system."""

    status: str  # "ok", "n/a", "mismatch" or "error"
    detail: str = ""
    error: float = 0.0  # worst norm-wise relative error against the reference
    trial: Trial | None = None  # the system as checked (one step done), timed next


@dataclasses.dataclass
class Result:
    """A workload's measurements: per system, the samples (seconds or bytes)."""

    workload: Workload
    outcomes: dict
    samples: dict

    def median(self, name: str) -> float | None:
        values = self.samples.get(name)
        return statistics.median(values) if values else None

    def ratio(self, name: str) -> float | None:
        value, floor = self.median(name), self.median(self.workload.floor)
        return None if value is None or not floor else value / floor


def to_numpy(value) -> np.ndarray:
    """An array from any system's value: NumPy, tape, PyTorch, JAX, TF or MyGrad."""
    if hasattr(value, "detach"):  # a torch tensor that may require grad
        value = value.detach()
    if hasattr(value, "numpy") and callable(value.numpy):
        value = value.numpy()
    return np.asarray(value, dtype=np.float64)


def relative_error(got: np.ndarray, want: np.ndarray) -> float:
    """``|got - want| / |want|`` in the 2-norm (absolute when ``want`` is all zeros)."""
    if got.shape != want.shape:
        raise AgreementError(f"shape {got.shape} where the reference has {want.shape}")
    scale = float(np.linalg.norm(want))
    return float(np.linalg.norm(got - want)) / (scale if scale > 0 else 1.0)


def run_check_step(factory) -> tuple[Trial, dict]:
    """Build a system afresh, run one step, and return it with everything it is compared
    on."""
    trial = factory()
    values = {trial.output: to_numpy(trial.step())}
    values.update({name: to_numpy(v) for name, v in trial.read().items()})
    return trial, values


def compare(values: dict, reference: dict, tolerance: float) -> float:
    """The worst relative error of ``values`` against ``reference``; raises AgreementError
    past ``tolerance`` or when a value has no reference (so nothing goes unchecked)."""
    if not values:
        raise AgreementError("computed nothing to compare")
    worst = 0.0
    for name, got in values.items():
        if name not in reference:
            raise AgreementError(f"'{name}' has no reference value")
        try:
            error = relative_error(got, reference[name])
        except AgreementError as e:
            raise AgreementError(f"'{name}': {e}") from None
        if not error <= tolerance:  # NaN fails too
            raise AgreementError(f"'{name}' differs by {error:.2g} relative "
                                 f"(tolerance {tolerance:g})")
        worst = max(worst, error)
    return worst


def check_agreement(workload: Workload) -> dict:
    """One step of every system from the same start, compared with the reference.

    Returns ``{system: Outcome}``. The reference systems (the floor and ``references``)
    must run; a failure there raises, since nothing else can be checked.
    """
    reference: dict = {}
    outcomes: dict = {}
    for name in (workload.floor, *workload.references):
        trial, values = run_check_step(workload.systems[name])
        reference.update(values)
        outcomes[name] = Outcome("ok", "reference", trial=trial)
    for name, factory in workload.systems.items():
        if name in outcomes:
            continue
        try:
            trial, values = run_check_step(factory)
            error = compare(values, reference, workload.tolerance)
        except Unavailable as e:
            outcomes[name] = Outcome("n/a", str(e))
        except AgreementError as e:
            outcomes[name] = Outcome("mismatch", str(e))
        except Exception as e:  # noqa: BLE001 - a broken system is reported, not fatal
            outcomes[name] = Outcome("error", f"{type(e).__name__}: {e}")
        else:
            outcomes[name] = Outcome("ok", f"{error:.1e}", error, trial)
    return {name: outcomes[name] for name in workload.systems}


def time_round_robin(steps: dict, repeats: int, warmup: int, min_sample_s: float,
                     clock=time.perf_counter) -> dict:
    """Seconds per call of each step, ``repeats`` samples each, read from ``clock`` (wall
    time; ``time.process_time`` counts only the CPU this process got, which a machine
    shared with other jobs distorts less).

    Every round times each system once, in an order rotated by one each round, so slow
    drifts of the machine spread over all systems. A sample is ``inner`` back-to-back calls
    (set from the warm-up rounds so a sample lasts about ``min_sample_s``), divided by
    ``inner``. Warm-up rounds (JIT compiles, caches, lazy builds) are not kept.
    """
    names = list(steps)
    inner = dict.fromkeys(names, 1)
    samples: dict = {name: [] for name in names}
    for r in range(warmup + repeats):
        k = r % len(names)
        for name in names[k:] + names[:k]:
            step, n = steps[name], inner[name]
            gc.collect()
            start = clock()
            for _ in range(n):
                step()
            seconds = (clock() - start) / n
            if r < warmup:
                inner[name] = max(1, math.ceil(min_sample_s / max(seconds, 1e-9)))
            else:
                samples[name].append(seconds)
    return samples


def peak_memory(steps: dict, repeats: int) -> dict:
    """Bytes allocated at the peak of one step above what was live before it (tracemalloc,
    which sees NumPy's array buffers and every Python object), interleaved like the timing.
    Each step runs once before measuring, so lazily built state is not counted."""
    for step in steps.values():
        step()
    samples: dict = {name: [] for name in steps}
    tracemalloc.start()
    try:
        for _ in range(repeats):
            for name, step in steps.items():
                gc.collect()
                tracemalloc.reset_peak()
                before = tracemalloc.get_traced_memory()[0]
                step()
                samples[name].append(tracemalloc.get_traced_memory()[1] - before)
    finally:
        tracemalloc.stop()
    return samples


def run_workload(workload: Workload, repeats: int, warmup: int, min_sample_s: float,
                 clock=time.perf_counter) -> Result:
    """Check agreement, then measure the systems that agreed."""
    outcomes = check_agreement(workload)
    steps = {name: o.trial.step for name, o in outcomes.items() if o.status == "ok"}
    # Everything built so far moves to a generation the collector never scans, so a
    # collection between samples costs microseconds, not the whole heap of four frameworks.
    gc.collect()
    gc.freeze()
    try:
        if workload.measure == "memory":
            samples = peak_memory(steps, max(3, repeats // 4))
        else:
            samples = time_round_robin(steps, repeats, warmup, min_sample_s, clock)
    finally:
        gc.unfreeze()
    for outcome in outcomes.values():
        outcome.trial = None  # let the frameworks' state go before the next workload
    return Result(workload, outcomes, samples)


# ---- tables -----------------------------------------------------------------------------

def _quantity(result: Result, name: str, value: float | None = None) -> str:
    w = result.workload
    value = result.median(name) if value is None else value
    if w.measure == "memory":
        return _number(value / 2**20)
    return _number(value / w.per * {"ms": 1e3, "us": 1e6}[w.unit])


def _number(x: float) -> str:
    return f"{x:.0f}" if x >= 100 else f"{x:.1f}" if x >= 10 else f"{x:.2f}"


def _spread(values: list) -> str:
    """The interquartile range as a share of the median: how noisy the samples were."""
    if len(values) < 4:
        return ""
    q1, _, q3 = statistics.quantiles(values, n=4)
    return f"{(q3 - q1) / statistics.median(values):.0%}"


def format_table(result: Result) -> str:
    """A Markdown table: median, ratio to the floor, spread and the agreement found."""
    w = result.workload
    what = "MB peak" if w.measure == "memory" else f"{'µs' if w.unit == 'us' else 'ms'}/{w.step}"
    lines = [f"### {w.name}: {w.title}", "",
             f"| system | {what}, median | ratio to floor | spread | min | agreement |",
             "|---|---:|---:|---:|---:|---|"]
    for name, outcome in result.outcomes.items():
        if outcome.status != "ok":
            label = "n/a" if outcome.status == "n/a" else outcome.status.upper()
            lines.append(f"| {name} | {label} ({outcome.detail}) | | | | |")
            continue
        agree = "reference" if outcome.detail == "reference" else f"rel err {outcome.detail}"
        samples = result.samples[name]
        lines.append(f"| {name} | {_quantity(result, name)} | {result.ratio(name):.2f} | "
                     f"{_spread(samples)} | {_quantity(result, name, min(samples))} | {agree} |")
    for num, den in w.compare:
        a, b = result.median(num), result.median(den)
        if a and b:
            lines.append(f"\n{num} / {den}: {a / b:.2f}x")
    for target_system, limit in w.targets:
        ratio = result.ratio(target_system)
        if ratio is None:
            got = "not measured"
        else:
            got = f"{ratio:.2f}x ({'met' if ratio <= limit else 'missed'})"
        lines.append(f"\nissue 6 target: {target_system} <= {limit}x the floor: {got}")
    lines.extend(f"\n{note}" for note in w.notes)
    return "\n".join(lines)


def format_summary(results: list, columns: list) -> str:
    """One row per workload, one column per system: the ratio to the floor; the systems
    only one workload has (the chain's forward-only rows, nn.RNN, fit) go in the last."""

    def cell(result, name):
        outcome = result.outcomes[name]
        return f"{result.ratio(name):.2f}x" if outcome.status == "ok" else outcome.status

    lines = ["| workload | floor | " + " | ".join(columns) + " | others |",
             "|---|---:|" + "---:|" * len(columns) + "---|"]
    for result in results:
        w = result.workload
        cells = [cell(result, name) if name in result.outcomes else "" for name in columns]
        others = [f"{name} {cell(result, name)}" for name in result.outcomes
                  if name not in columns and name != w.floor]
        unit = "MB" if w.measure == "memory" else f"{'µs' if w.unit == 'us' else 'ms'}/{w.step}"
        lines.append(f"| {w.name} | {_quantity(result, w.floor)} {unit} | "
                     + " | ".join(cells) + f" | {'; '.join(others)} |")
    return "\n".join(lines)

"""Benchmark: what the kernel guard's snapshot costs (``grader/execute/kernel/guard.py``).

    .venv/bin/python benchmarks/guard_snapshot.py [--runs 5]

Imports Keras once, then takes the snapshot (Keras classes, and by identity every callable of
the Keras, TensorFlow and numpy modules a model computes through) and compares it with the
present state for a small model (``changes`` and ``computing``, what the report does), ``--runs``
times, and prints the median of each in milliseconds. In the kernel the snapshot is taken once,
at the first ``import keras``; the comparison once, at the report. Timings on a shared machine
are inflated: say how loaded it was.
"""
from __future__ import annotations

import argparse
import statistics
import sys
import time


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    runs = parser.parse_args().runs
    import keras

    from grader.execute import kernel
    scope: dict = {"__name__": "guard_benchmark"}
    exec(compile(kernel.text("guard"), "<guard>", "exec"), scope)  # noqa: S102 - our own code
    checks: dict = {"__name__": "computing_benchmark"}  # what the report checks on the objects
    exec(compile(kernel.text("computing"), "<computing>", "exec"), checks)  # noqa: S102 - our own code
    model = keras.Sequential([keras.Input((28, 28, 1)), keras.layers.Conv2D(64, 3),
                              keras.layers.Flatten(), keras.layers.Dense(10)])
    model(keras.ops.zeros((1, 28, 28, 1)))  # built, as the report finds a notebook's model
    takes, compares = [], []
    for _ in range(runs):
        snapshot = scope["_Snapshot"](sys.modules, [], checks)
        t = time.perf_counter()
        snapshot.take()
        takes.append(time.perf_counter() - t)
        t = time.perf_counter()
        found = snapshot.changes() + snapshot.computing([model])
        compares.append(time.perf_counter() - t)
    print(f"snapshot: {statistics.median(takes) * 1000:.1f} ms ({len(snapshot.bindings)} "
          f"bindings, {len(snapshot.dicts)} classes); comparison: "
          f"{statistics.median(compares) * 1000:.1f} ms; found {len(found)} changes")


if __name__ == "__main__":
    main()

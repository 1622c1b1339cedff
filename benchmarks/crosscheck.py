"""Benchmark: what the cross-check (``grader.verify.crosscheck``) costs per submission.

    .venv/bin/python benchmarks/crosscheck.py [--runs 3] [--notebook reference/cnn2/solution.ipynb]

Grades the notebook ``--runs`` times with one grader and training off (``--no-verify``), and
prints per run: the whole cross-check stage as the grader sees it (``timings["crosscheck"]``:
sending the weights, the worker's rebuild and probe, the answer) and the worker's own part
(``crosscheck["seconds"]``). The first run also starts the worker (TensorFlow's import), which a
grading with training on has started anyway; the median of the later runs is the steady cost.
The kernel-side export (weights and probe outputs) is part of ``timings["execute"]``; compare
with ``git stash`` to see it. Timings on a shared machine are inflated: say how loaded it was.
"""
from __future__ import annotations

import argparse
import os
import statistics
from pathlib import Path

from grader import api
from grader.settings import Settings

ROOT = Path(__file__).resolve().parent.parent
DATA = Path(os.environ.get("GRADER_DATA") or ROOT.parent / "shared" / "data" / "mnist_4000.pkl.gz")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--notebook", type=Path, default=ROOT / "reference" / "cnn2" / "solution.ipynb")
    args = parser.parse_args()
    spec = api.load_spec(ROOT / "reference" / "cnn2")
    settings = Settings(sandbox="off", verify=False, data_path=DATA)
    stage, worker, execute = [], [], []
    with api.grader_for(spec, DATA, settings) as grader:
        for i in range(args.runs):
            result = grader.grade(args.notebook)
            stage.append(result.timings.get("crosscheck") or 0.0)
            worker.append((result.crosscheck or {}).get("seconds") or 0.0)
            execute.append(result.timings.get("execute") or 0.0)
            print(f"run {i + 1}: {result.status.value}, cross-check stage {stage[-1]:.2f} s "
                  f"(worker {worker[-1]:.2f} s), execute {execute[-1]:.2f} s, "
                  f"matched={(result.crosscheck or {}).get('matched')}", flush=True)
    later = stage[1:] or stage
    print(f"cross-check per submission (warm worker, median of {len(later)}): "
          f"{statistics.median(later):.2f} s; first run with the worker's start: {stage[0]:.2f} s")


if __name__ == "__main__":
    main()

"""Benchmark: what the baselines add to one report (no training: reading and drawing only).

    .venv/bin/python benchmarks/baselines.py [--runs 30] [--exercise cnn2]

Median of ``--runs`` for: ``grader.baselines.compare.beside`` (the pipeline's step: read the
cached ``baselines.json`` and put the result beside it), the HTML report rendered with and
without ``Result.baselines`` (the difference is the section and its one plot), the terminal
summary with and without, and the index for 200 results with and without. Checked here, never
by timed assertions in the tests.
"""
from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from grader.baselines import compare, store  # noqa: E402
from grader.exercise.spec import Spec  # noqa: E402
from grader.render import html, terminal  # noqa: E402
from grader.result import Result, Status  # noqa: E402


def median_ms(fn: Callable[[], object], runs: int) -> float:
    times = []
    for _ in range(runs):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return 1000 * statistics.median(times)


def sample(spec: Spec, accuracy: float = 0.92) -> Result:
    return Result(submission="s", status=Status.PASSED, score=1, max_score=1, totals=spec.totals,
                  training={"val_accuracy": accuracy, "epochs": 1,
                            "curves": {"val_accuracy": [accuracy], "accuracy": [0.6]}},
                  student_history={"accuracy": [0.8, 0.95], "val_accuracy": [0.9, 0.96]})


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=30)
    parser.add_argument("--exercise", default="cnn2")
    args = parser.parse_args()
    spec = Spec.load(ROOT / "reference" / args.exercise)
    plain = sample(spec)
    store.load(spec)  # the first read of the file (once per process)
    shown = replace(plain, baselines=compare.beside(spec, plain))
    html.render_report(plain)  # templates imported before timing
    cohort = [replace(shown, submission=f"s{i}", training={**(shown.training or {}),
                      "val_accuracy": 0.8 + i / 1000}) for i in range(200)]
    print(f"{args.exercise}, median of {args.runs} runs (ms)")
    step = median_ms(lambda: compare.beside(spec, plain), args.runs)
    print(f"  compare.beside (the pipeline's step): {step:.3f}")
    for name, fn in (("HTML report", html.render_report), ("terminal summary", terminal.summary)):
        without = median_ms(lambda fn=fn: fn(plain), args.runs)
        with_ = median_ms(lambda fn=fn: fn(shown), args.runs)
        print(f"  {name}: {without:.1f} without, {with_:.1f} with (+{with_ - without:.1f})")
    bare = [replace(r, baselines=None) for r in cohort]
    runs = max(3, args.runs // 10)
    print(f"  index of 200: {median_ms(lambda: html.render_index(bare), runs):.1f} without, "
          f"{median_ms(lambda: html.render_index(cohort), runs):.1f} with")


if __name__ == "__main__":
    main()

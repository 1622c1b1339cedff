"""Benchmark: what the written answers add to grading one submission.

    .venv/bin/python benchmarks/answers.py [--runs 50] [--students 200]

Per sample submission (``submissions/*.ipynb``, and a copy with a saved training log): the
pipeline's answer stage (read the notebook JSON, find every question's answer, read the saved
run; ``Grader.read_answers``) and the facts check (``registry.run(..., ANSWERS)``), median of
``--runs``. Then the once-per-batch work: rendering every question's TA page for
``--students`` copies of the samples (grouping and near-identical marks are quadratic in the
distinct answers). Checked here, never by timed assertions in the tests.
"""
from __future__ import annotations

import argparse
import statistics
import sys
import time
from dataclasses import replace
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from grader.answers import extract, manual, ta_page  # noqa: E402
from grader.checks import facts, registry  # noqa: E402
from grader.checks.kind import ANSWERS, CheckContext  # noqa: E402
from grader.exercise.spec import Spec  # noqa: E402

from tests import reports  # noqa: E402


def per_submission(spec: Spec, path: Path, runs: int) -> float:
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        cells = extract.notebook_cells(path)
        found = extract.find_answers(cells, spec.questions)
        registry.run(CheckContext(spec, answers=found, saved_run=facts.saved_run(cells)), ANSWERS)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def pages(spec: Spec, students: int) -> float:
    base = reports.passing(spec)
    results = []
    for k in range(students):
        answers = [{**a, "text": f"{a['text']} (variant {k % 50})"} for a in base.answers]
        results.append(replace(base, submission=f"s{k:04d}", answers=answers))
    start = time.perf_counter()
    for question in spec.questions:
        ta_page.render(question, results, manual.empty_store(), spec.exercise)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=50)
    parser.add_argument("--students", type=int, default=200)
    args = parser.parse_args()
    spec = Spec.load(ROOT / "reference" / "cnn2")
    samples = sorted((ROOT / "submissions").glob("*.ipynb"))
    medians = [per_submission(spec, path, args.runs) for path in samples]
    print(f"answers + facts per submission: median {1000 * statistics.median(medians):.2f} ms, "
          f"max {1000 * max(medians):.2f} ms over {len(samples)} samples ({args.runs} runs each)")
    print(f"TA pages for {args.students} students, {len(spec.questions)} questions: "
          f"{pages(spec, args.students):.2f} s once per batch")


if __name__ == "__main__":
    main()

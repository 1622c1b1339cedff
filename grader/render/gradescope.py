"""Gradescope's ``results.json`` for one submission (the autograder specification at
https://gradescope-autograders.readthedocs.io/en/latest/specs/).

Top level: ``score`` (the grader's score, which Gradescope then uses instead of summing the
tests), ``execution_time`` (whole seconds), ``output`` (the verdict for the student), the
visibilities and ``tests``: one test per check with ``name``, ``score``, ``max_score``,
``status`` (``passed``/``failed``), ``output`` and ``visibility``. A notebook that could not be
graded is one failed test that says why and what to do, worth the whole score. The grader's
traceback stays out of what students see; ``stdout`` (instructors only) has the terminal summary.
"""
from __future__ import annotations

from pathlib import Path

from ..result import Check, Result
from .files import write_json
from .junit import GRADING_CASE

VISIBILITIES = ("hidden", "after_due_date", "after_published", "visible")


def _test(check: Check, visibility: str) -> dict:
    output = [check.message]
    if check.hint and not check.passed:
        output.append(f"Hint: {check.hint}")
    return {"name": check.name, "score": float(check.points), "max_score": float(check.max_points),
            "status": "passed" if check.passed else "failed", "output": "\n".join(output),
            "output_format": "text", "tags": [check.category], "visibility": visibility}


def _error_test(result: Result, visibility: str) -> dict:
    error = result.error
    lines = [f"The notebook could not be graded ({error.kind}): {error.message}"]
    if error.cell_index is not None:
        lines.append(f"In cell {error.cell_index}:\n{error.cell_source or ''}")
    if error.advice:
        lines.append(f"What to do: {error.advice}")
    return {"name": GRADING_CASE, "score": 0.0, "max_score": float(result.max_score),
            "status": "failed", "output": "\n\n".join(lines), "output_format": "text",
            "tags": ["grading"], "visibility": visibility}


def _overview(result: Result) -> str:
    lines = [f"{result.status.value.upper()}: {result.score:g}/{result.max_score:g} points.",
             result.summary]
    lines += [f"Warning: {w}" for w in result.warnings]
    return "\n".join(line for line in lines if line)


def gradescope_results(result: Result, visibility: str = "visible") -> dict:
    if visibility not in VISIBILITIES:
        raise ValueError(f"visibility must be one of {', '.join(VISIBILITIES)}")
    tests = [_test(c, visibility) for c in result.checks]
    if result.error is not None:
        tests.append(_error_test(result, visibility))
    total = result.timings.get("total", 0)
    return {
        "score": float(result.score),
        "execution_time": int(round(total)) if isinstance(total, (int, float)) else 0,
        "output": _overview(result),
        "output_format": "text",
        "visibility": visibility,
        "stdout_visibility": "hidden",
        "tests": tests,
    }


def grader_failure(message: str) -> dict:
    """When the grader itself cannot run (no data, bad spec): 0 points and a clear word."""
    return {"score": 0.0, "execution_time": 0, "output_format": "text", "visibility": "visible",
            "stdout_visibility": "hidden", "tests": [],
            "output": "The autograder failed before grading this submission; this is not your "
                      f"fault, please tell the course staff.\n\n{message}"}


def write_gradescope(result: Result, path: Path, visibility: str = "visible") -> Path:
    return write_json(Path(path), gradescope_results(result, visibility))

"""Stages 3–4 without the notebook's execution: from the kernel's JSON report to the checks.

The grader (``pipeline``) and the in-notebook self-check (``grader.notebook``) both call
``grade_structure`` on the report that ``kernel/extract_model.py`` writes, so a student's
instant check and the final grading choose the same model and give the same checks, hints and
"Fix first" line. Pure Python: nothing here imports TensorFlow, nbclient or the kernel machinery.
"""
from __future__ import annotations

from grader import layers as L
from grader.checks import registry
from grader.checks.kind import STRUCTURE, CheckContext
from grader.compare import align as compare
from grader.exercise.spec import Spec
from grader.extract import select
from grader.result import Check, Result, Status, first_failed

NUMBERS = ("no", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten",
           "eleven", "twelve")


def check_layers(spec: Spec, stu: list[L.LayerInfo]) -> tuple[list[Check], list[compare.Row]]:
    """The exercise's structure checks (those declared in the spec) on the student's layers,
    and the aligned rows they were made from."""
    comparison = compare.compare(spec, stu)
    return registry.run(CheckContext(spec, comparison), STRUCTURE), comparison.rows


def grade_structure(report: dict, spec: Spec, max_params_factor: float,
                    result: Result) -> select.Choice:
    """Select the model, infer its layers, compare them: fills ``result`` (not the score)."""
    chosen = select.choose(report, spec, max_params_factor)
    model = chosen.model
    result.model_variable, result.other_models = model.variable, chosen.others
    result.warnings.extend(chosen.warnings)
    infos = chosen.infos  # inferred, and checked against the parameter limit, by the selection
    result.layers = [i.to_dict() for i in infos]
    result.totals = chosen.totals
    result.reference_totals = spec.totals
    checks, rows = check_layers(spec, infos)
    result.alignment = [r.to_dict() for r in rows]
    result.checks = checks
    return chosen


def score(result: Result) -> None:
    """Points, status and the "Fix first" summary from the checks."""
    result.score = float(sum(c.points for c in result.checks))
    failed = first_failed(result.checks)
    result.status = Status.FAILED if failed else Status.PASSED
    if failed is None:
        result.summary = passed_summary(sum(bool(r.get("to_add")) for r in result.alignment))
    else:
        result.summary = f"Fix first: {failed.hint or failed.message}"


def passed_summary(added: int) -> str:
    """The summary of a passed result, for the number of layers the exercise has students add
    (the spec's, as the alignment marks them)."""
    count = NUMBERS[added] if added < len(NUMBERS) else f"{added:,}"
    layers = f"the {count} layers match" if added != 1 else "the one layer matches"
    return f"All checks passed: {layers} the reference."

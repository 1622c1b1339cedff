"""The cross-check: is the described network the one the notebook computes with?

Everything the kernel says about a model is written by code in the student's process, so a
description can lie. The backstop: the kernel exports the graded model's weights (its initial
ones: the grader skips the student's ``fit``) and its outputs on a fixed probe batch; the
verification worker (a grader process) rebuilds the *described* architecture from the
allow-list, loads those weights, runs the same probe and compares (``crosscheck_worker``). A
mismatch beyond float tolerance means the description is not the network: every point the
structure (and the training of that structure) gave is withdrawn, a failed check says what
disagreed, and ``Result.review`` carries an entry with source ``crosscheck``. A cross-check that
cannot run (no weights or outputs for the graded model) withdraws them the same way: a
description that no computation in the kernel backs never passes. So does one the grader
refuses to run because the kernel's guard saw the notebook change the code the model computes
with (``changed_computation``): such code can tell the probe apart and be honest only for it.

It is never memoized (the weights are the submission's own) and runs whenever a model is graded,
also with ``--no-verify`` and when the memo holds the architecture's training: it costs one
forward pass of a small batch in a worker that is already running (or, with ``--no-verify``,
one started for it; ``benchmarks/crosscheck.py`` measures both).
"""
from __future__ import annotations

from dataclasses import dataclass, field

from grader.extract.report import ExtractedModel
from grader.result import Check, Result

CHECK_NAME = "Cross-check: the network computes what its description says"
HINT = ("The grader rebuilt the network the notebook describes, gave it the weights of your "
        "model and ran both on the same images: they disagree, so the description is not the "
        "network (code that changes Keras, the model or the grader's extraction). Build the "
        "model with standard Keras layers and nothing else; an instructor reviews this result.")


@dataclass
class Outcome:
    """What the cross-check found: ``matched`` None when it could not run (``reason``)."""

    matched: bool | None
    reason: str = ""
    found: dict = field(default_factory=dict)

    def to_dict(self) -> dict:
        return {"matched": self.matched, "reason": self.reason or None, **self.found}


def job_for(model: ExtractedModel, report: dict, seed: int | None = None) -> dict | str:
    """The worker's job for the graded model, or why there is none (a sentence)."""
    entry = next((m for m in report.get("models") or [] if isinstance(m, dict)
                  and m.get("variable") == model.variable), None)
    probe = entry.get("probe") if entry is not None else None
    if not isinstance(probe, dict):
        why = str(entry.get("probe_error", ""))[:200] if entry is not None else ""
        return ("the kernel gave no weights and outputs for the graded model"
                + (f" ({why})" if why else ""))
    return {"kind": "crosscheck", "probe": probe, "seed": seed, "input_shape": list(model.input_shape),
            "layers": [{"kind": layer.kind, "args": layer.args} for layer in model.layers],
            "names": [layer.name for layer in model.layers]}


def changed_computation(report: dict) -> str:
    """Why the kernel's computation cannot be vouched for, or "": the guard saw the notebook
    change the code the graded model computes with (a Keras class in its layers' MRO, a
    function of the backend, TensorFlow or numpy). Probing such a kernel proves nothing: the
    changed code can recognise the probe and compute honestly only then."""
    found = report.get("guard")
    listed = found.get("computation") if isinstance(found, dict) else None
    if not isinstance(listed, list) or not listed:
        return ""
    items = [str(item)[:200] for item in listed[:5]]
    more = f" and {len(listed) - len(items)} more" if len(listed) > len(items) else ""
    return ("the notebook changed the code the network computes with: " + ", ".join(items)
            + more + "; the grader cannot vouch for what it computes")


def run(verifier, model: ExtractedModel, report: dict, settings, seed: int | None = None) -> Outcome:
    """Ask the verifier's worker (a grader process) to cross-check ``model``; none when the
    notebook changed the code it computes with (``changed_computation``)."""
    changed = changed_computation(report)
    if changed:
        return Outcome(None, changed)
    job = job_for(model, report, seed)
    if isinstance(job, str):
        return Outcome(None, job)
    found = verifier.crosscheck(job, settings)
    if found.get("error"):
        return Outcome(None, str(found["error"])[:300])
    return Outcome(bool(found.get("matched")), found=found)


def review_entries(report: dict) -> list[dict]:
    """What the kernel's guard saw changed in Keras or added around the grader's code."""
    found = report.get("guard")
    guard: dict = found if isinstance(found, dict) else {}
    entries: list[dict] = []
    for key, code in (("changed", "keras-changed"), ("hooks", "hook-removed")):
        listed = guard.get(key)
        items: list = listed if isinstance(listed, list) else []
        entries += [_entry(code, f"{str(item)[:200]} (seen by the grader's guard in the kernel)")
                    for item in items[:20]]
    return entries


def apply(result: Result, outcome: Outcome) -> None:
    """Record the outcome; on a mismatch or no cross-check, withdraw the structure's points."""
    result.crosscheck = outcome.to_dict()
    if outcome.matched:
        return
    why = outcome.reason or describe(outcome.found)
    for check in result.checks:
        if check.points or check.passed:
            check.points, check.passed = 0.0, False
            check.follows_from = "the cross-check"
    result.checks.insert(0, Check(name=CHECK_NAME, passed=False, message=why, points=0.0,
                                  max_points=0.0, category="structure", hint=HINT,
                                  mistake="crosscheck"))
    result.review.append(_entry("crosscheck-mismatch" if outcome.matched is False
                                else "crosscheck-unavailable", why))


def describe(found: dict) -> str:
    """The first disagreement, in words: where, and the largest difference."""
    first = (found.get("mismatches") or [{}])[0]
    where = f" at {first['layer']}" if first.get("layer") else ""
    diff = first.get("max_abs_diff")
    size = "" if diff is None else f" (largest difference {diff:.3g})"
    return (f"the described network and the notebook's model disagree: {first.get('what', '?')}"
            f"{where}{size}; {found.get('compared', 0)} outputs compared")


#: the review entry of a kernel whose first description (``runner.PREVIEW``) and report
#: describe different networks: code that watches the grader (``grader.verify.early``)
PREVIEW_DIFFERS = {"source": "crosscheck", "cell_index": None, "line": None,
                   "code": "preview-differs",
                   "message": "the kernel described one network when first asked and another in "
                              "its report (code that acts while the grader reads the model); "
                              "the report's network was graded"}


def _entry(code: str, message: str) -> dict:
    return {"source": "crosscheck", "cell_index": None, "line": None, "code": code,
            "message": message}

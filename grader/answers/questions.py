"""The ``"questions"`` of ``exercise.json``, checked once when the spec is built or loaded.

Each question: ``id`` (unique, what the TA's file names), ``title``, ``points`` (what the TA
gives, 0 or more), ``answer`` (``{"tag": ...}`` and/or ``{"heading": ...}``:
``grader.answers.extract``), ``rubric`` (levels ``{"points", "text"}`` for the TA, within
``points``) and ``facts`` (``grader.checks.facts``, automatic points).
"""
from __future__ import annotations

from grader.exceptions import SpecError


def validate(questions: object) -> list[dict]:
    """The questions as declared, or a ``SpecError`` naming what is wrong."""
    if not isinstance(questions, list):
        raise SpecError("the exercise's questions must be a list")
    seen: set[str] = set()
    for q in questions:
        if not isinstance(q, dict) or not str(q.get("id", "")).strip():
            raise SpecError(f"every question needs an id: {q!r}")
        qid = str(q["id"])
        if qid in seen:
            raise SpecError(f"question {qid!r} is declared twice")
        seen.add(qid)
        place = q.get("answer") or {}
        if not (place.get("tag") or place.get("heading")):
            raise SpecError(f"question {qid!r}: say where its answer is (answer.tag or "
                            "answer.heading)")
        top = float(q.get("points", 0))
        for level in q.get("rubric", []):
            if not 0 <= float(level.get("points", -1)) <= top:
                raise SpecError(f"question {qid!r}: a rubric level's points must be within "
                                f"0..{top:g}")
        for fact in q.get("facts", []):
            if sum(key in fact for key in ("number", "claim", "baseline")) != 1:
                raise SpecError(f"question {qid!r}: a fact is a number, a claim or a baseline: "
                                f"{fact!r}")
    return questions


def manual_max(spec) -> float:
    """The points the TA gives, all questions together."""
    return float(sum(float(q.get("points", 0)) for q in getattr(spec, "questions", None) or []))

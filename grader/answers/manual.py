"""A person's points: the TA's per question and an instructor's overrides of automatic checks.

The file is a CSV ``student,question,points,comment`` (what the TA page downloads, or a
spreadsheet): ``question`` is a question id of the exercise, or ``check:<check name>`` to
override an automatic check (``comment`` is then the reason, required). A row with empty
points is skipped (not graded yet). Merging checks every row first and refuses the whole file,
naming each bad line, for an unknown student or question, points that are not a number or out
of range, a duplicate row, or an override without reason: nothing is half-merged.

Merged grades are kept in ``DIR/manual.json`` (the results folder), keyed by the student id
the results use, so every later run applies them, also to a resubmitted notebook: a grade
remembers the digest of the answer it graded and says "answer changed since graded" when the
answer is no longer the same. ``view`` gives the result every output shows: ``score`` and
``max_score`` with the TA's points (the maximum always counts every question, so a gradebook
column keeps one maximum), ``manual`` with the detail, and ``manual_pending`` (the questions a
person has yet to grade); the status stays the automatic one unless an override changes a check.
"""
from __future__ import annotations

import copy
import csv
import io
import json
import math
from dataclasses import replace
from pathlib import Path

from grader.answers.questions import manual_max
from grader.exceptions import UsageError
from grader.render.files import write_json
from grader.result import Result, Status, of_the_code

STORE = "manual.json"
COLUMNS = ["student", "question", "points", "comment"]
OVERRIDE = "check:"


class ManualFileError(UsageError):
    """A manual-points file that cannot be merged (exit 2), with its bad lines."""


def empty_store() -> dict:
    return {"grades": {}, "overrides": {}}


def load_store(out: Path) -> dict:
    """The merged grades of ``out`` (none yet: an empty store)."""
    try:
        data = json.loads((Path(out) / STORE).read_text(encoding="utf-8"))
    except FileNotFoundError:
        return empty_store()
    except (OSError, ValueError) as exc:
        raise UsageError(f"{Path(out) / STORE} is not readable ({exc}): restore it, or remove "
                         "it to start the manual grading again") from None
    store = empty_store()
    store.update({k: v for k, v in data.items() if k in store and isinstance(v, dict)})
    return store


def parse_rows(text: str) -> list[tuple[int, dict]]:
    """The CSV's rows with their line numbers; a wrong header is refused."""
    reader = csv.reader(io.StringIO(text.lstrip("\ufeff")))
    rows = list(reader)
    if not rows or [c.strip().lower() for c in rows[0]] != COLUMNS:
        raise ManualFileError(f"the manual-points file must start with the header "
                              f"{','.join(COLUMNS)}")
    return [(n, dict(zip(COLUMNS, [c.strip() for c in (r + [""] * 4)[:4]], strict=True)))
            for n, r in enumerate(rows[1:], start=2) if any(c.strip() for c in r)]


def validate(text: str, spec, results: dict[str, Result]) -> list[tuple[int, dict]]:
    """The rows to merge (points read as numbers), or ``ManualFileError`` listing every bad
    line. ``results``: the current result of every student of the batch, by id."""
    tops = {str(q["id"]): float(q.get("points", 0)) for q in spec.questions}
    good: list = []
    bad: list = []
    seen: dict = {}
    for line, row in parse_rows(text):
        student, question, raw = row["student"], row["question"], row["points"]
        problem = None
        top = None
        if student not in results:
            problem = f"unknown student {student!r}"
        elif question.startswith(OVERRIDE):
            check = _check(results[student], question[len(OVERRIDE):])
            top = check.max_points if check is not None else None
            if check is None:
                problem = f"no automatic check {question[len(OVERRIDE):]!r} for {student!r}"
            elif not row["comment"]:
                problem = "an override needs its reason in the comment column"
        elif question not in tops:
            problem = f"unknown question {question!r} (the exercise's: {', '.join(tops)})"
        else:
            top = tops[question]
        if problem is None and raw:
            points = _number(raw)
            if points is None:
                problem = f"points {raw!r} are not a number"
            elif top is not None and not 0 <= points <= top:
                problem = f"points {raw} out of range 0..{top:g}"
            else:
                row["points"] = points
        key = (student, question)
        if problem is None and key in seen:
            problem = f"duplicate of line {seen[key]}"
        seen.setdefault(key, line)
        if problem:
            bad.append(f"line {line}: {problem}")
        elif raw:
            good.append((line, row))
    if bad:
        raise ManualFileError("the manual-points file was not merged (nothing of it): "
                              + "; ".join(bad))
    return good


def _number(raw: str) -> float | None:
    try:
        value = float(raw.replace(",", "."))
    except ValueError:
        return None
    return value if math.isfinite(value) else None


def _check(result: Result, name: str):
    return next((c for c in result.checks if c.name == name and of_the_code(c)), None)


def merge(out: Path, text: str, spec, results: dict[str, Result]) -> dict:
    """Validate ``text`` and merge its rows into ``out/manual.json`` (a row replaces the
    earlier grade of the same student and question); the new store."""
    rows = validate(text, spec, results)
    store = load_store(out)
    for _, row in rows:
        student, question = row["student"], row["question"]
        if question.startswith(OVERRIDE):
            store["overrides"].setdefault(student, {})[question[len(OVERRIDE):]] = {
                "points": row["points"], "reason": row["comment"]}
        else:
            answer = _answer(results[student], question)
            store["grades"].setdefault(student, {})[question] = {
                "points": row["points"], "comment": row["comment"],
                "sha256": answer.get("sha256", "")}
    write_json(Path(out) / STORE, store)
    return store


def _answer(result: Result, question: str) -> dict:
    return next((a for a in result.answers if str(a.get("id")) == question), {})


def view(result: Result, spec, store: dict | None) -> Result:
    """``result`` as every output shows it: TA points and overrides applied (a copy)."""
    questions = [q for q in spec.questions if float(q.get("points", 0)) > 0]
    if not questions and not (store or {}).get("overrides", {}).get(result.submission):
        return result
    store = store or empty_store()
    shown = replace(result, checks=copy.deepcopy(result.checks))
    overrides = _override(shown, store["overrides"].get(result.submission, {}))
    graded = store["grades"].get(result.submission, {})
    detail, points = {}, 0.0
    for q in questions:
        qid = str(q["id"])
        if qid in graded:
            grade = graded[qid]
            changed = bool(grade.get("sha256")) and grade["sha256"] != _answer(
                result, qid).get("sha256", "")
            detail[qid] = {"points": float(grade["points"]), "max_points": float(q["points"]),
                           "comment": grade.get("comment", ""), "changed": changed}
            points += float(grade["points"])
    auto = shown.score
    shown.manual_pending = [str(q["id"]) for q in questions if str(q["id"]) not in graded]
    shown.manual = {"auto_score": auto, "auto_max": result.max_score, "points": points,
                    "max_points": manual_max(spec), "questions": detail, "overrides": overrides}
    shown.score = auto + points
    shown.max_score = result.max_score + manual_max(spec)
    return shown


def _override(result: Result, wanted: dict) -> list[dict]:
    """Apply the overrides to the checks (a graded result's status follows them)."""
    done = []
    for name, change in wanted.items():
        check = _check(result, name)
        if check is None:
            continue
        done.append({"check": name, "was": check.points, "points": float(change["points"]),
                     "reason": change.get("reason", "")})
        check.points = float(change["points"])
        check.passed = check.points >= check.max_points
        check.message = f"{check.message} (changed by a person: {change.get('reason', '')})"
    if done and result.status in (Status.PASSED, Status.FAILED):
        from grader.checks.scoring import score
        score(result)
    return done

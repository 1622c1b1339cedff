"""The ``facts`` check kind: what an answer must contain, checked automatically.

A question (``exercise.json`` → ``"questions"``) may list ``"facts"``, each with a ``label``
(what the report names) and ``points``:

- ``{"number": 392500, "tolerance": 0}``: the answer contains the number in any spelling
  ``grader.answers.numbers`` reads (``392,500``, ``392'500``, ``3.925e5``, …);
- ``{"claim": ["val_accuracy", "val_acc"], "tolerance": 0.02}``: a number the answer quotes
  (``0.93``, ``93 %``) is, within the tolerance, the last value of that metric in the
  training log the student's own run left in the submitted notebook (the grader reruns
  nothing for this). A notebook without such a log cannot be checked: the fact says so and
  gives nothing (passed only when it is worth nothing);
- ``{"baseline": "cnn1", "metric": "val_accuracy", "tolerance": 0.03}``: a number the answer
  quotes lies within the range the grader itself measured for that declared reference model
  (``grader baselines``: min..max over its stored runs, widened by the tolerance;
  ``"runs": "verification" | "course"`` narrows the runs, default all of them). Without a
  measured ``baselines.json`` the fact says so and gives nothing.

Facts give their points here; the rest of a question's points are the TA's (``"points"``).
These checks never decide the status (``grader.result.first_failed``): that is the code's.
"""
from __future__ import annotations

import re

from grader.answers import numbers
from grader.answers.extract import Answer
from grader.checks.kind import ANSWERS, CheckContext, CheckKind
from grader.checks.registry import register
from grader.result import ANSWERS_CATEGORY, Check

CATEGORY = ANSWERS_CATEGORY


def declared_facts(spec) -> list[tuple[dict, dict]]:
    """(question, fact) for every fact of every question of the spec, in order."""
    return [(q, f) for q in getattr(spec, "questions", None) or [] for f in q.get("facts", [])]


@register
class Facts(CheckKind):
    """Numbers and claims the written answers must contain."""

    kind = "facts"
    stage = ANSWERS
    category, title, section = CATEGORY, "Written answers", ANSWERS
    phrase = "the written answers"

    def max_points(self, spec, verified: bool) -> float:
        return float(sum(float(f.get("points", 0)) for _, f in declared_facts(spec)))

    def run(self, context: CheckContext) -> list[Check]:
        answers = {a.id: a for a in context.answers or []}
        return [check_fact(q, f, answers.get(str(q.get("id"))), context.saved_run, context.spec)
                for q, f in declared_facts(context.spec)]


def check_fact(question: dict, fact: dict, answer: Answer | None, saved_run: dict | None,
               spec=None) -> Check:
    qid = str(question.get("id"))
    full = float(fact.get("points", 0))
    label = str(fact.get("label") or fact.get("number") or "claim")
    base = Check(name=f"Answer {qid}: {label}", passed=False, message="", max_points=full,
                 category=CATEGORY, group=qid,
                 aspect="number" if "number" in fact else "claim")
    text = answer.text if answer is not None else ""
    if not text.strip():
        base.message = "no answer found"
        return base
    if "claim" in fact:
        return _claim(base, fact, text, saved_run)
    if "baseline" in fact:
        from grader.baselines import facts as baseline_facts

        return baseline_facts.check(base, fact, text, spec)
    wanted = float(fact["number"])
    token = numbers.find(text, wanted, float(fact.get("tolerance", 0)))
    base.expected = wanted
    base.actual = token
    if token is None:
        base.message = f"the answer does not give {label}"
        return base
    base.passed, base.points = True, full
    base.message = f"found “{token}”"
    return base


def last_value(saved_run: dict | None, metrics: list[str]) -> float | None:
    for key in metrics:
        series = (saved_run or {}).get(key)
        if series:
            return float(series[-1])
    return None


def _claim(base: Check, fact: dict, text: str, saved_run: dict | None) -> Check:
    metrics = fact["claim"] if isinstance(fact["claim"], list) else [fact["claim"]]
    own = last_value(saved_run, [str(m) for m in metrics])
    tolerance = float(fact.get("tolerance", 0.01))
    quoted = [(token, v) for token, values in numbers.numbers_in(text) for v in values
              if 0 <= v <= 1]
    base.expected = own
    base.actual = [t for t, _ in quoted][:5] or None
    if own is None:
        base.message = "not checked: the notebook holds no saved training run to compare with"
        base.passed = base.max_points == 0
        return base
    return numbers.settle(
        base, quoted, lambda v: numbers.close(v, own, tolerance),
        f"“{{hit}}” agrees with the last {metrics[0]} of your own run ({own:.4g})",
        f"quoted {{quoted}}, but your own run ended at {metrics[0]} {own:.4g}",
        f"no accuracy quoted (your own run ended at {metrics[0]} {own:.4g})")


EPOCH_LINE = re.compile(r"^Epoch \d+/\d+", re.MULTILINE)


def saved_run(cells: list[dict]) -> dict | None:
    """The training log of the last code cell whose saved outputs hold Keras epoch lines."""
    from grader.extract.report import METRIC

    found = None
    for cell in cells:
        if cell.get("cell_type") != "code" or not isinstance(cell.get("outputs"), list):
            continue
        text = "".join(_text(o) for o in cell["outputs"] if isinstance(o, dict))[:1_000_000]
        curves: dict[str, list[float]] = {}
        for chunk in EPOCH_LINE.split(text)[1:]:
            lines = [line for line in re.split(r"[\r\n]", chunk) if "loss:" in line]
            for key, value in METRIC.findall(lines[-1] if lines else ""):
                if value != "nan":
                    curves.setdefault(key, []).append(float(value))
        found = curves or found
    return found


def _text(output: dict) -> str:
    text = output.get("text", "") if output.get("output_type") == "stream" else ""
    if isinstance(text, list):
        text = "".join(t for t in text if isinstance(t, str))
    return text if isinstance(text, str) else ""

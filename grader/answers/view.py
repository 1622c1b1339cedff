"""What a report shows of the written answers: per question the answer (safe HTML), where it
was found, the facts checked on it and the TA's points (plain values for the templates)."""
from __future__ import annotations

from grader.answers import markdown
from grader.result import Result
from grader.util.text import plain

NOT_FOUND = "no answer found"


def answers(result: Result) -> list[dict]:
    """One card per question, in the exercise's order (empty without questions)."""
    manual = (result.manual or {}).get("questions", {})
    cards = []
    for answer in result.answers:
        qid = str(answer.get("id"))
        facts = [{"name": plain(c.name), "passed": c.passed, "message": plain(c.message),
                  "points": f"{c.points:g}", "max_points": f"{c.max_points:g}"}
                 for c in result.checks if c.category == "answers" and c.group == qid]
        graded = manual.get(qid)
        cards.append({
            "id": qid, "title": plain(answer.get("title")), "found": bool(answer.get("found")),
            "where": plain(answer.get("where") or NOT_FOUND),
            "html": markdown.render(plain(answer.get("text", ""))), "facts": facts,
            "manual": None if graded is None else {
                "points": f"{graded['points']:g}", "max_points": f"{graded['max_points']:g}",
                "comment": plain(graded.get("comment", "")),
                "changed": bool(graded.get("changed"))},
            "pending": qid in result.manual_pending})
    return cards


def overrides(result: Result) -> list[dict]:
    """The automatic checks a person overrode, with the reason (shown in the report)."""
    return [{"check": plain(o["check"]), "points": f"{o['points']:g}",
             "was": f"{o['was']:g}", "reason": plain(o["reason"])}
            for o in (result.manual or {}).get("overrides", [])]


def text_lines(result: Result) -> list[str]:
    """The answers for the terminal: one line per question (where, or not found; TA points;
    the facts are among the checks above)."""
    lines = []
    for card in answers(result):
        head = f"  {card['id']}) {card['where']}"
        if card["manual"]:
            head += f"; TA: {card['manual']['points']}/{card['manual']['max_points']}"
        elif card["pending"]:
            head += "; waits for the TA"
        lines.append(head)
    return lines

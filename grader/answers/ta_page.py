"""The TA's page: per question, every student's answer with a points box, offline.

``grade`` writes ``DIR/questions/<id>.html`` for every question with points for a person. The
page is self-contained (its style and script inline, allowed by hash in its
Content-Security-Policy, nothing loaded). Answers whose normalized text
(``grader.answers.extract.normalized``: case, whitespace and punctuation ignored) is the same
are one group; two answers of different groups whose ``difflib`` ratio over the words of the
normalized texts is at least ``SIMILAR`` (0.9; answers of at least ``MIN_SIMILAR_CHARS``) are
marked near-identical: a copy with a word or two changed in twenty. Points and
comments autosave in the browser's localStorage (one entry per exercise, question and
student: a save writes its own student's entry only, so a second tab, which follows by
``storage`` events, never overwrites another score) and download as the CSV
``student,question,points,comment`` that ``grade --manual`` merges.
"""
from __future__ import annotations

import difflib
from pathlib import Path

from grader.answers import markdown
from grader.answers.extract import normalized
from grader.result import Result
from grader.util.text import plain

QUESTIONS_DIR = "questions"
#: two answers at least this alike (difflib ratio of the normalized texts) are marked
SIMILAR = 0.9
#: answers shorter than this (normalized characters) are never marked as near-identical
MIN_SIMILAR_CHARS = 40


def page_path(out: Path, question: str) -> Path:
    from grader.batch.outdir import file_stem
    return Path(out) / QUESTIONS_DIR / f"{file_stem(question)}.html"


def groups(question: dict, results: list[Result], store: dict) -> list[dict]:
    """The answers to ``question`` grouped by normalized text (found ones first)."""
    qid = str(question["id"])
    by_text: dict[str, dict] = {}
    for result in sorted(results, key=lambda r: r.submission.lower()):
        answer = next((a for a in result.answers if str(a.get("id")) == qid), None)
        text = plain((answer or {}).get("text", ""))
        key = normalized(text) if answer and answer.get("found") else ""
        group = by_text.setdefault(key, {"found": bool(key), "html": markdown.render(text),
                                         "students": [], "key": key})
        grade = store.get("grades", {}).get(result.submission, {}).get(qid)
        group["students"].append({
            "id": result.submission, "where": plain((answer or {}).get("where") or ""),
            "facts": [{"name": plain(c.name), "passed": c.passed, "message": plain(c.message),
                       "points": f"{c.points:g}", "max_points": f"{c.max_points:g}"}
                      for c in result.checks if c.category == "answers" and c.group == qid],
            "points": f"{grade['points']:g}" if grade else "",
            "comment": grade.get("comment", "") if grade else "",
            "changed": bool(grade and grade.get("sha256")
                            and grade["sha256"] != (answer or {}).get("sha256")),
            "similar": []})
    found = [g for g in by_text.values() if g["found"]]
    _mark_similar(found)
    return found + [g for g in by_text.values() if not g["found"]]


def _mark_similar(found: list[dict]) -> None:
    for i, a in enumerate(found):
        for b in found[i + 1:]:
            if min(len(a["key"]), len(b["key"])) < MIN_SIMILAR_CHARS:
                continue
            matcher = difflib.SequenceMatcher(None, a["key"].split(), b["key"].split(),
                                              autojunk=False)
            if matcher.quick_ratio() >= SIMILAR and matcher.ratio() >= SIMILAR:
                for one, other in ((a, b), (b, a)):
                    for s in one["students"]:
                        s["similar"] += [t["id"] for t in other["students"]]


def render(question: dict, results: list[Result], store: dict, exercise: str) -> str:
    from grader.render.html import _asset, _page
    q = {"id": str(question["id"]), "title": plain(question.get("title", question["id"])),
         "points": f"{float(question.get('points', 0)):g}",
         "rubric": [{"points": f"{float(r.get('points', 0)):g}", "text": plain(r.get("text", ""))}
                    for r in question.get("rubric", [])]}
    return _page("ta_page.html.j2", script=_asset("ta_page.js"), q=q, exercise=exercise,
                 groups=groups(question, results, store), threshold=round(SIMILAR * 100))


def write_pages(out: Path, spec, results: list[Result], store: dict) -> list[Path]:
    """One page per question a person grades."""
    from grader.render.files import write_text
    written = []
    for question in spec.questions:
        if float(question.get("points", 0)) > 0:
            path = page_path(out, str(question["id"]))
            path.parent.mkdir(parents=True, exist_ok=True)
            written.append(write_text(path, render(question, results, store, spec.exercise)))
    return written

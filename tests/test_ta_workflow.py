"""The TA workflow end to end through ``grader grade``: answers in different places and styles,
a filled CSV merged without running any notebook again, a broken one refused, reruns keep it.

Kernel runs are few: three model-only notebooks graded once, ``--no-verify``; every later
``grade`` reuses their results (the summary line says so)."""
from __future__ import annotations

import csv
import io
import json

import nbformat
import pytest
from nbformat.v4 import new_markdown_cell

from grader.cli import main

from tests import notebooks

pytestmark = pytest.mark.kernel


def _with(nb, *cells):
    nb.cells += list(cells)
    return nb


def _tagged(text: str, tag: str):
    cell = new_markdown_cell(text)
    cell.metadata["tags"] = [tag]
    return cell


@pytest.fixture(scope="module")
def course(tmp_path_factory):
    """alice: tagged cells (the solution's answers); bob: the course's style, answers under
    headings, copied from alice with other spacing; carol: no answer cells at all."""
    folder = tmp_path_factory.mktemp("course")
    alice = _with(notebooks.model_only_notebook(notebooks.SOLUTION),
                  *[_tagged(text, f"answer:{key}") for key, text in notebooks.ANSWERS.items()])
    bob = _with(notebooks.model_only_notebook(notebooks.SOLUTION),
                new_markdown_cell("#### Answer a)\n" + notebooks.ANSWERS["a"].upper()),
                new_markdown_cell("#### Answer b\nI do not know.\n\n#### Answer c\n"))
    carol = notebooks.model_only_notebook(notebooks.SOLUTION)
    for name, nb in (("alice", alice), ("bob", bob), ("carol", carol)):
        nbformat.write(nb, str(folder / f"{name}.ipynb"))
    return folder


def grade(data_file, course, out, *extra):
    return main(["grade", str(course), "--out", str(out), "--data", str(data_file),
                 "--sandbox", "off", "--no-verify", "--workers", "1", *extra])


def rows(path):
    return {r["student"]: r for r in csv.DictReader(io.StringIO(path.read_text()))}


def test_answers_grade_merge_refuse_and_survive_a_rerun(data_file, course, tmp_path, capsys):
    out = tmp_path / "out"
    assert grade(data_file, course, out) == 0
    first = capsys.readouterr().out
    alice = json.loads((out / "students" / "alice.json").read_text())
    bob = json.loads((out / "students" / "bob.json").read_text())
    carol = json.loads((out / "students" / "carol.json").read_text())
    assert [a["found"] for a in alice["answers"]] == [True, True, True]
    assert [a["found"] for a in bob["answers"]] == [True, True, False]  # c: an empty heading
    assert "under “Answer a”" in bob["answers"][0]["where"]
    assert [a["found"] for a in carol["answers"]] == [False, False, False]
    facts = {s["submission"]: [c["passed"] for c in s["checks"] if c["category"] == "answers"]
             for s in (alice, bob, carol)}
    assert facts["alice"][:3] == [True, True, True] and facts["bob"][:2] == [True, True]
    assert facts["bob"][2] is False and not any(facts["carol"])
    assert {s["status"] for s in (alice, bob, carol)} == {"passed"}  # the code decides
    assert alice["manual_pending"] == ["a", "b", "c"]
    page = (out / "questions" / "a.html").read_text()
    assert "identical answer: 2 students" in page  # bob's copy, upper-cased, grouped
    assert "graded 3" in first

    filled = out.parent / "filled.csv"
    filled.write_text("student,question,points,comment\nalice,a,2,fine\nbob,a,1,copied?\n"
                      "alice,b,3,\nalice,c,2,\n")
    assert grade(data_file, course, out, "--manual", str(filled)) == 0
    merged = capsys.readouterr().out
    assert "3 unchanged since an earlier run" in merged and "graded" not in merged.split(
        "submissions:")[1].split(";")[1]  # no notebook ran again
    grades = rows(out / "grades.csv")
    assert grades["alice"]["score"] == grades["alice"]["max_score"]
    assert grades["alice"]["manual_pending"] == "" and grades["bob"]["manual_pending"] == "b;c"
    assert "Graded by a person:" in (out / "students" / "alice.html").read_text()
    assert "waits for a person" in (out / "index.html").read_text()

    broken = out.parent / "broken.csv"
    broken.write_text("student,question,points,comment\nalice,a,1,\nzed,a,1,\nbob,a,9,\n")
    assert grade(data_file, course, out, "--manual", str(broken)) == 2
    err = capsys.readouterr().err
    assert "line 3: unknown student 'zed'" in err and "line 4: points 9 out of range" in err
    assert rows(out / "grades.csv")["alice"]["score"] == grades["alice"]["score"]

    report = out / "students" / "alice.html"
    written = report.stat().st_mtime_ns
    assert grade(data_file, course, out) == 0  # a rerun without the file keeps the grades
    capsys.readouterr()
    assert rows(out / "grades.csv") == grades
    assert report.stat().st_mtime_ns == written  # nothing changed: the report is not rewritten

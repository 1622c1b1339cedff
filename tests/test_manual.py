"""A person's points: the TA's CSV merged (or refused whole), kept across runs, shown everywhere."""
from __future__ import annotations

import csv
import io
import json
from dataclasses import replace

import pytest

from grader.answers import extract, manual, ta_page, workflow
from grader.batch.outputs import Outputs, chosen
from grader.lms import gradebook as lms
from grader.render import csv_out
from grader.result import Status

from tests import reports

HEADER = "student,question,points,comment\n"


@pytest.fixture()
def results(spec):
    """alice (the solution's answers), bob (the same answers), carol (no answers at all)."""
    alice = reports.passing(spec)
    bob = replace(reports.no_padding(spec), answers=[dict(a) for a in alice.answers])
    carol = replace(reports.no_pooling(spec), answers=[
        {**a, "text": "", "found": False, "where": None, "sha256": ""} for a in alice.answers])
    return {r.submission: r for r in (alice, bob, carol)}


def merged(tmp_path, spec, results, text):
    return manual.merge(tmp_path, HEADER + text, spec, results)


def test_a_filled_csv_adds_the_ta_points_to_score_and_maximum_and_keeps_the_status(tmp_path, spec,
                                                                                   results):
    store = merged(tmp_path, spec, results, "alice_solution,a,2,clear\nalice_solution,b,1.5,\n")
    shown = manual.view(results["alice_solution"], spec, store)
    full_manual = sum(q["points"] for q in spec.questions)
    assert shown.max_score == results["alice_solution"].max_score + full_manual
    assert shown.score == results["alice_solution"].score + 3.5
    assert shown.status is Status.PASSED and shown.manual_pending == ["c"]
    assert shown.manual["questions"]["a"] == {"points": 2.0, "max_points": 2.0,
                                              "comment": "clear", "changed": False}


def test_before_any_grading_every_question_is_pending_and_the_maximum_counts_them(spec, results):
    shown = manual.view(results["carol_no_pooling"], spec, manual.empty_store())
    assert shown.manual_pending == [str(q["id"]) for q in spec.questions]
    assert shown.score == results["carol_no_pooling"].score
    assert shown.status is results["carol_no_pooling"].status


@pytest.mark.parametrize("rows, bad_lines", [
    ("mallory,a,1,\n", ["line 2: unknown student"]),
    ("alice_solution,z,1,\n", ["line 2: unknown question"]),
    ("alice_solution,a,3,\n", ["line 2: points 3 out of range"]),
    ("alice_solution,a,-1,\n", ["line 2: points -1 out of range"]),
    ("alice_solution,a,two,\n", ["line 2: points 'two' are not a number"]),
    ("alice_solution,a,nan,\n", ["line 2: points 'nan' are not a number"]),
    ("alice_solution,a,1,\nbob_no_padding,b,1,\nalice_solution,a,2,\n",
     ["line 4: duplicate of line 2"]),
    ("bob_no_padding,check:{check},1,\n", ["line 2: an override needs its reason"]),
    ("bob_no_padding,check:{check},7,why\n", ["line 2: points 7 out of range"]),
    ("bob_no_padding,check:No such check,1,why\n", ["line 2: no automatic check"]),
    ("alice_solution,a,1,\nmallory,a,1,\nalice_solution,b,9,\n",
     ["line 3: unknown student", "line 4: points 9 out of range"]),
])
def test_a_bad_row_refuses_the_whole_file_naming_its_lines(tmp_path, spec, results, rows,
                                                           bad_lines):
    check = next(c for c in results["bob_no_padding"].checks if "," not in c.name)
    with pytest.raises(manual.ManualFileError) as refused:
        merged(tmp_path, spec, results, rows.replace("{check}", check.name))
    for line in bad_lines:
        assert line in str(refused.value)
    assert refused.value.exit_code == 2
    assert not (tmp_path / manual.STORE).exists()  # nothing half-merged


def test_a_wrong_header_is_refused(tmp_path, spec, results):
    with pytest.raises(manual.ManualFileError, match="header"):
        manual.merge(tmp_path, "name,points\nalice_solution,2\n", spec, results)


def test_a_row_without_points_is_not_graded_yet_and_later_files_add_up(tmp_path, spec, results):
    merged(tmp_path, spec, results, "alice_solution,a,,not yet\nbob_no_padding,a,1,\n")
    store = merged(tmp_path, spec, results, "alice_solution,a,2,\nbob_no_padding,a,0.5,fixed\n")
    assert store["grades"]["alice_solution"]["a"]["points"] == 2
    assert store["grades"]["bob_no_padding"]["a"] == {"points": 0.5, "comment": "fixed",
                                                      "sha256": results["bob_no_padding"].answers[0]["sha256"]}


def test_a_changed_answer_keeps_its_points_and_says_it_changed(tmp_path, spec, results):
    store = merged(tmp_path, spec, results, "alice_solution,a,2,\n")
    resubmitted = replace(results["alice_solution"], answers=[
        {**a, "text": a["text"] + " More.", "sha256": extract.digest(a["text"] + " More.")}
        for a in results["alice_solution"].answers])
    shown = manual.view(resubmitted, spec, manual.load_store(tmp_path))
    assert shown.manual["questions"]["a"]["changed"] and shown.manual["questions"]["a"]["points"] == 2
    same = manual.view(results["alice_solution"], spec, store)
    assert not same.manual["questions"]["a"]["changed"]


def test_an_override_changes_a_check_with_its_reason_and_the_status_follows(tmp_path, spec,
                                                                              results):
    bob = results["bob_no_padding"]
    failed = [c for c in bob.checks if not c.passed and c.category != "answers"]
    buffer = io.StringIO()
    csv.writer(buffer).writerows(["bob_no_padding", f"check:{c.name}", f"{c.max_points:g}",
                                  "accepted, see mail"] for c in failed)
    rows = buffer.getvalue()
    shown = manual.view(bob, spec, merged(tmp_path, spec, results, rows))
    assert shown.status is Status.PASSED
    assert shown.score == bob.score + sum(c.max_points - c.points for c in failed)
    assert {o["reason"] for o in shown.manual["overrides"]} == {"accepted, see mail"}
    assert all("accepted, see mail" in c.message for c in shown.checks if c.name in
               {f.name for f in failed})
    assert bob.status is Status.FAILED  # the automatic result itself is unchanged


def test_kept_grades_reach_grades_csv_gradebooks_reports_and_the_record(tmp_path, spec, results):
    merged(tmp_path, spec, results, "alice_solution,a,2,good\nalice_solution,b,3,\n"
                                    "alice_solution,c,2,\n")
    outputs = Outputs(tmp_path, chosen(None, None))
    (tmp_path / "students").mkdir()
    shown, refused = workflow.apply(tmp_path, spec, list(results.values()), None, outputs, {})
    assert refused is None
    alice = next(r for r in shown if r.submission == "alice_solution")
    assert alice.score == alice.max_score and alice.manual_pending == []
    rows = {r.split(",")[0]: r.split(",") for r in csv_out.grades_csv(shown).splitlines()}
    assert rows["alice_solution"][1] == rows["alice_solution"][2] == f"{alice.max_score:g}"
    assert rows["carol_no_pooling"][csv_out.COLUMNS.index("manual_pending")] == "a;b;c"
    record = json.loads((tmp_path / "students" / "alice_solution.json").read_text())
    assert record["score"] == results["alice_solution"].score  # automatic: a rerun reuses it
    assert record["manual"]["total"] == alice.max_score and record["manual_pending"] == []
    report = (tmp_path / "students" / "alice_solution.html").read_text()
    assert "Graded by a person:" in report and "good" in report
    assert "Waiting for a person: a, b, c" in (tmp_path / "students" / "carol_no_pooling.html").read_text()
    book = lms.GradebookOptions("moodle")
    assert book  # the LMS files read the same shown results (score, max_score)
    page = (tmp_path / "questions" / "a.html").read_text()
    assert "alice_solution" in page and "identical answer: 2 students" in page


def test_a_refused_file_keeps_the_grades_merged_before(tmp_path, spec, results):
    merged(tmp_path, spec, results, "alice_solution,a,2,\n")
    outputs = Outputs(tmp_path, chosen(None, None))
    (tmp_path / "students").mkdir()
    shown, refused = workflow.apply(tmp_path, spec, list(results.values()),
                                    HEADER + "alice_solution,a,1,\nnobody,a,1,\n", outputs, {})
    assert refused is not None and "line 3" in str(refused)
    alice = next(r for r in shown if r.submission == "alice_solution")
    assert alice.manual["questions"]["a"]["points"] == 2


def test_the_ta_page_groups_identical_answers_and_marks_near_identical_ones(spec, results):
    text = ("Most parameters sit in the first dense layer: 784 inputs times 500 units plus 500 "
            "biases gives 392,500.")
    near = text.replace("sit", "are")
    dave = replace(results["carol_no_pooling"], submission="dave", answers=[
        {**results["alice_solution"].answers[0], "text": near}])
    eve = replace(dave, submission="eve", answers=[{**dave.answers[0], "text": text.upper()}])
    frank = replace(dave, submission="frank", answers=[{**dave.answers[0], "text": text}])
    groups = ta_page.groups(spec.questions[0], [dave, eve, frank, results["carol_no_pooling"]],
                            manual.empty_store())
    assert [[s["id"] for s in g["students"]] for g in groups] == [["dave"], ["eve", "frank"],
                                                                  ["carol_no_pooling"]]
    assert groups[0]["students"][0]["similar"] == ["eve", "frank"]
    assert not groups[-1]["found"]


def test_short_answers_are_never_marked_near_identical(spec, results):
    one = replace(results["carol_no_pooling"], submission="x", answers=[
        {**results["alice_solution"].answers[0], "text": "dense_1"}])
    two = replace(one, submission="y", answers=[{**one.answers[0], "text": "dense_2"}])
    groups = ta_page.groups(spec.questions[0], [one, two], manual.empty_store())
    assert all(not s["similar"] for g in groups for s in g["students"])

"""LMS gradebooks: rosters laid out as Canvas and Moodle export them, the produced files parsed
back column by column; nobody on either side is dropped silently."""
import csv
import io

import pytest

from grader.exceptions import UsageError
from grader.lms import gradebook as lms
from grader.lms.gradebook import GradebookOptions

from tests import reports, rosters


@pytest.fixture()
def results(spec):
    """Four submissions: three in the roster (one not graded), one that is not."""
    out = [reports.passing(spec), reports.no_padding(spec), reports.no_pooling(spec),
           reports.error(spec, name="mallory_typo")]
    return out


def parse(path):
    return list(csv.reader(io.StringIO(path.read_text(encoding="utf-8"))))


def test_canvas_file_keeps_the_export_layout_and_fills_the_assignment_column(tmp_path, results):
    roster = rosters.canvas_roster(tmp_path / "export.csv")
    lines = lms.write_gradebook(results, tmp_path, GradebookOptions("canvas", roster), "ignored")
    rows = parse(tmp_path / "gradebook-canvas.csv")
    full = f"{results[0].max_score:g}"  # the exercise's maximum, written answers' facts included
    assert results[0].score == results[0].max_score
    assert rows[0] == ["Student", "ID", "SIS User ID", "SIS Login ID", "Section",
                       f"{rosters.ASSIGNMENT} ({rosters.ASSIGNMENT_ID})"]
    assert rows[1][0].strip() == "Points Possible" and rows[1][5] == full
    by_login = {r[3]: r for r in rows[2:]}
    assert [r[3] for r in rows[2:]] == [s[3] for s in rosters.STUDENTS]  # roster order, all kept
    assert by_login["alice_solution"] == ["Alice Solution", "101", "S1001", "alice_solution",
                                          "Section A", full]
    assert by_login["bob_no_padding"][5] == f"{results[1].score:g}" != full
    assert by_login["carol_no_pooling"][5] == f"{results[2].score:g}"
    assert by_login["zoe_absent"][5] == ""  # no submission: left empty, Canvas keeps the cell
    assert by_login["dave_32_filters"][0].startswith("'=")  # formula guard on roster text
    assert any("not in the roster" in line and "mallory_typo" in line for line in lines)


def test_moodle_file_has_user_ids_the_grade_and_feedback(tmp_path, results):
    roster = rosters.moodle_roster(tmp_path / "export.csv")
    lms.write_gradebook(results, tmp_path, GradebookOptions("moodle", roster, assignment="A1"), "x")
    rows = parse(tmp_path / "gradebook-moodle.csv")
    assert rows[0] == ["First name", "Last name", "ID number", "Email address", "A1", "Feedback"]
    by_id = {r[2]: r for r in rows[1:]}
    assert by_id["S1001"][3] == "alice_solution@example.edu" and by_id["S1001"][4] == f"{results[0].max_score:g}"
    assert by_id["S1002"][4] == f"{results[1].score:g}"
    assert "padding='same'" in by_id["S1002"][5]
    assert by_id["S1999"][4] == by_id["S1999"][5] == ""


def test_every_unmatched_student_and_submission_is_listed(tmp_path, results):
    roster = rosters.moodle_roster(tmp_path / "export.csv")
    lms.write_gradebook(results, tmp_path, GradebookOptions("moodle", roster), "x")
    rows = parse(tmp_path / lms.UNMATCHED_FILE)
    assert rows[0] == ["problem", "submission", "student", "ids"]
    problems = {(r[0], r[3].split(" / ")[0] if "roster, no" in r[0] else r[1]) for r in rows[1:]}
    assert problems == {("in the roster, no submission", "S1004"),
                        ("in the roster, no submission", "S1999"),
                        ("submission, not in the roster", "mallory_typo")}


def test_a_mapping_file_pairs_a_submission_name_with_a_roster_id(tmp_path, results):
    roster = rosters.canvas_roster(tmp_path / "export.csv")
    (tmp_path / "map.csv").write_text("submission,student\nmallory_typo,S1999\n")
    lms.write_gradebook(results, tmp_path, GradebookOptions("canvas", roster, tmp_path / "map.csv"),
                        "x")
    zoe = next(r for r in parse(tmp_path / "gradebook-canvas.csv") if r[1] == "199")
    assert zoe[5] == "0"  # the not-graded notebook scores 0; it is no longer unmatched
    assert "mallory_typo" not in (tmp_path / lms.UNMATCHED_FILE).read_text()


def test_a_grader_fault_leaves_the_grade_empty_rather_than_zero(tmp_path, spec):
    fault = reports.error(spec, name="S1001")
    fault.error.kind = "internal"
    lms.write_gradebook([fault], tmp_path, GradebookOptions("moodle"), "x")
    assert parse(tmp_path / "gradebook-moodle.csv")[1][2:5] == ["S1001", "", ""]


@pytest.mark.parametrize("system, other", [("canvas", rosters.moodle_roster),
                                           ("moodle", rosters.canvas_roster)])
def test_a_roster_of_the_wrong_lms_is_refused_before_grading(tmp_path, system, other):
    with pytest.raises(UsageError, match=f"not a {system} roster"):
        lms.load(GradebookOptions(system, other(tmp_path / "r.csv")))


def test_canvas_without_a_roster_is_a_usage_error():
    with pytest.raises(UsageError, match="--roster"):
        lms.load(GradebookOptions("canvas"))


def test_grade_refuses_a_bad_roster_with_exit_2_before_grading(tmp_path, data_file, capsys):
    from grader.cli import main

    from tests.test_batch import code_notebook, course
    folder = course(tmp_path / "course", {"alice": code_notebook("1")})
    args = ["grade", str(folder), "--out", str(tmp_path / "out"), "--sandbox", "off",
            "--data", str(data_file)]
    moodle = rosters.moodle_roster(tmp_path / "moodle.csv")
    assert main([*args, "--gradebook", "canvas", "--roster", str(moodle)]) == 2
    assert main([*args, "--roster", str(moodle)]) == 2
    assert main([*args, "--gradebook", "moodle", "--roster", str(tmp_path / "absent.csv")]) == 2
    err = capsys.readouterr().err
    assert "not a canvas roster" in err and "go with --gradebook" in err and "absent.csv" in err
    assert "Traceback" not in err and not (tmp_path / "out" / "students").exists()

"""The LMS and CI formats: grades.csv, JUnit XML (Ant schema) and Gradescope's results.json."""
from __future__ import annotations

import csv
import io
import json
import re
import xml.etree.ElementTree as ET

import pytest

from grader.cli import main
from grader.render.csv_out import COLUMNS, grades_csv
from grader.render.gradescope import VISIBILITIES, grader_failure, gradescope_results
from grader.render.junit import junit_xml
from grader.result import Check, ErrorInfo, Result, Status

from tests.notebooks import code_notebook, write


def graded(name: str = "alice") -> Result:
    checks = [Check("Added layer 1: type", True, "Conv2D(64, 3x3)", 1, 1),
              Check("Added layer 1: output shape", False, "output (None, 12, 12, 64)", 0, 1,
                    hint="did you forget padding='same'?", expected=[None, 14, 14, 64],
                    actual=[None, 12, 12, 64]),
              Check("Parameter totals", False, "529,570 parameters", 0, 1, category="totals")]
    return Result(name, Status.FAILED, 1, 3, checks=checks, summary="Fix first: padding",
                  timings={"total": 12.4}, spec={"exercise": "cnn2"})


def not_gradable(name: str = "bob") -> Result:
    return Result(name, Status.ERROR, 0, 3, summary="Not graded (cell 3): NameError",
                  error=ErrorInfo("cell_error", "cell 3 raised NameError", cell_index=3,
                                  cell_source="MaxPoolling2D()", traceback="Traceback\x1b[0m ...",
                                  advice="Run the notebook top to bottom."),
                  timings={"total": 3.0}, spec={"exercise": "cnn2"})


# -- grades.csv ----------------------------------------------------------------------------------

def test_grades_csv_has_a_header_and_one_row_per_student():
    rows = list(csv.reader(io.StringIO(grades_csv([graded(), not_gradable(), graded("Zoë")]))))
    assert rows[0] == list(COLUMNS)
    assert rows[1] == ["alice", "1", "3", "failed", "Added layer 1: output shape", "", ""]
    assert rows[2] == ["bob", "0", "3", "error", "cell_error: cell 3 raised NameError", "", ""]
    assert rows[3][0] == "Zoë" and len(rows) == 4


@pytest.mark.parametrize("name", ["=HYPERLINK(\"http://x\")", "+1", "-2+3", "@SUM(A1)", "\tx"])
def test_student_text_cannot_become_a_spreadsheet_formula(name):
    result = graded(name)
    result.checks[1].name = name
    row = list(csv.reader(io.StringIO(grades_csv([result]))))[1]
    assert row[0] == "'" + name and row[4] == "'" + name


# -- JUnit XML -----------------------------------------------------------------------------------

SUITE_ATTRS = ("name", "package", "id", "timestamp", "hostname", "tests", "failures", "errors", "time")


def assert_ant_junit(root: ET.Element) -> None:
    """The required structure of the Apache Ant JUnit schema (windyroad/JUnit-Schema)."""
    assert root.tag == "testsuites"
    for index, suite in enumerate(root):
        assert suite.tag == "testsuite" and all(suite.get(a) for a in SUITE_ATTRS)
        assert int(suite.get("id")) == index
        assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d", suite.get("timestamp"))
        float(suite.get("time"))
        tags = [child.tag for child in suite]
        assert tags == ["properties"] + ["testcase"] * (len(tags) - 3) + ["system-out", "system-err"]
        assert all(p.tag == "property" and p.get("name") and p.get("value") is not None
                   for p in suite.find("properties"))
        cases = suite.findall("testcase")
        assert int(suite.get("tests")) == len(cases)
        for case in cases:
            assert case.get("name") and case.get("classname") and float(case.get("time")) >= 0
            assert len(case) <= 1 and all(c.tag in ("failure", "error", "skipped") for c in case)
            assert all(c.get("type") for c in case if c.tag in ("failure", "error"))
        assert int(suite.get("failures")) == len(suite.findall("testcase/failure"))
        assert int(suite.get("errors")) == len(suite.findall("testcase/error"))


def test_junit_has_a_suite_per_student_and_a_case_per_check():
    root = ET.fromstring(junit_xml([graded(), not_gradable()]))
    assert_ant_junit(root)
    alice, bob = root
    assert alice.get("name") == "alice" and alice.get("tests") == "3" and alice.get("failures") == "2"
    failure = alice.find("testcase[@name='Added layer 1: output shape']/failure")
    assert failure.get("message") == "output (None, 12, 12, 64)"
    assert "hint: did you forget padding='same'?" in failure.text
    assert {p.get("name"): p.get("value") for p in alice.find("properties")}["score"] == "1"


def test_a_notebook_that_could_not_be_graded_is_a_junit_error():
    suite = ET.fromstring(junit_xml([not_gradable()]))[0]
    error = suite.find("testcase/error")
    assert suite.get("errors") == "1" and suite.get("failures") == "0"
    assert error.get("type") == "cell_error" and error.get("message") == "cell 3 raised NameError"
    assert "MaxPoolling2D()" in error.text and "\x1b" not in error.text  # XML cannot hold it


# -- Gradescope ----------------------------------------------------------------------------------

def assert_gradescope(data: dict) -> None:
    """Field by field, Gradescope's autograder results specification."""
    assert isinstance(data["score"], float) and isinstance(data["execution_time"], int)
    assert isinstance(data["output"], str) and data["visibility"] in VISIBILITIES
    assert data["stdout_visibility"] in VISIBILITIES and data["output_format"] in ("text", "md")
    for test in data["tests"]:
        assert isinstance(test["name"], str) and test["name"]
        assert isinstance(test["score"], float) and isinstance(test["max_score"], float)
        assert 0 <= test["score"] <= test["max_score"] or test["max_score"] == 0
        assert test["status"] in ("passed", "failed") and isinstance(test["output"], str)
        assert test["visibility"] in VISIBILITIES and isinstance(test["tags"], list)
    json.dumps(data)


def test_gradescope_has_one_test_per_check_and_the_grader_score():
    data = gradescope_results(graded())
    assert_gradescope(data)
    assert data["score"] == 1.0 and data["execution_time"] == 12
    assert [t["name"] for t in data["tests"]] == [c.name for c in graded().checks]
    assert [t["status"] for t in data["tests"]] == ["passed", "failed", "failed"]
    assert sum(t["score"] for t in data["tests"]) == data["score"]
    assert "**Hint:** did you forget padding='same'?" in data["tests"][1]["output"]
    assert data["output_format"] == data["test_output_format"] == data["tests"][1]["output_format"] \
        == "md"  # Markdown, so the hint stands out


def test_gradescope_explains_a_notebook_that_could_not_be_graded_without_the_traceback():
    data = gradescope_results(not_gradable(), visibility="after_published")
    assert_gradescope(data)
    (test,) = data["tests"]
    assert test["status"] == "failed" and test["score"] == 0 and test["max_score"] == 3
    assert "cell 3 raised NameError" in test["output"] and "Run the notebook" in test["output"]
    assert "Traceback" not in json.dumps(data) and test["visibility"] == "after_published"


@pytest.mark.parametrize("hostile, shown", [
    ("[click](http://evil)", "\\[click\\](http://evil)"),
    ("![x](http://evil/img.png)", "\\!\\[x\\](http://evil/img.png)"),
    ("<script>alert(1)</script>", "\\<script\\>alert(1)\\</script\\>"),
    ("# heading\n- item", "\\# heading\n\\- item")])
def test_gradescope_markdown_shows_submission_text_as_text(hostile, shown):
    result = not_gradable()
    result.error.message = hostile
    result.error.cell_source = "x = 1  # ```` four backticks"
    output = gradescope_results(result)["tests"][0]["output"]
    assert shown in output
    assert "`````\nx = 1  # ```` four backticks\n`````" in output  # a longer fence


def test_gradescope_visibility_is_set_per_category_with_a_default():
    data = gradescope_results(graded(), {"totals": "after_published", "*": "after_due_date"})
    assert [t["visibility"] for t in data["tests"]] == ["after_due_date", "after_due_date",
                                                       "after_published"]
    assert data["visibility"] == "after_due_date"
    with pytest.raises(ValueError, match="visibility must be one of"):
        gradescope_results(graded(), {"training": "later"})


def test_gradescope_output_when_the_grader_itself_fails():
    data = grader_failure("no data file")
    assert_gradescope(data)
    assert data["score"] == 0 and "not your fault" in data["output"]


# -- the check command ---------------------------------------------------------------------------

@pytest.mark.kernel
def test_check_writes_junit_and_gradescope_files(tmp_path, data_file):
    nb = write(code_notebook("undefined_name"), tmp_path / "student.ipynb")
    junit, gradescope = tmp_path / "junit.xml", tmp_path / "results.json"
    code = main(["check", str(nb), "--data", str(data_file), "--sandbox", "off", "--no-verify",
                 "--junit", str(junit), "--gradescope", str(gradescope)])
    assert code == 3
    assert_ant_junit(ET.parse(junit).getroot())
    data = json.loads(gradescope.read_text())
    assert_gradescope(data)
    assert data["tests"][0]["status"] == "failed" and "NameError" in data["tests"][0]["output"]


def test_check_writes_gradescope_results_when_the_grader_cannot_run(tmp_path):
    nb = write(code_notebook("1"), tmp_path / "student.ipynb")
    out = tmp_path / "results.json"
    code = main(["check", str(nb), "--data", str(tmp_path / "absent.pkl.gz"), "--sandbox", "off",
                 "--gradescope", str(out)])
    assert code == 5 and json.loads(out.read_text())["score"] == 0


def test_gradescope_visibility_comes_from_exercise_json_and_the_command_line(tmp_path):
    from grader.cli import parser
    from grader.render.gradescope import visibility_option as gradescope_visibility
    (tmp_path / "exercise.json").write_text(json.dumps(
        {"gradescope": {"visibility": {"training": "after_published", "totals": "hidden"}}}))
    args = parser().parse_args(["check", "nb.ipynb", "--gradescope", "r.json", "--reference",
                                str(tmp_path), "--gradescope-visibility", "totals=visible",
                                "--gradescope-visibility", "after_due_date"])
    assert gradescope_visibility(args) == {"training": "after_published", "totals": "visible",
                                           "*": "after_due_date"}


def test_a_bad_gradescope_visibility_is_a_usage_error_before_grading(tmp_path, capsys):
    nb = write(code_notebook("1"), tmp_path / "student.ipynb")
    code = main(["check", str(nb), "--gradescope", str(tmp_path / "r.json"),
                 "--gradescope-visibility", "training=later"])
    assert code == 2 and "visibility must be one of" in capsys.readouterr().err
    assert not (tmp_path / "r.json").exists()

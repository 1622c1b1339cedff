"""Output formats are a registry: ``check`` and ``grade`` offer the same ones, and a format
registered from outside (here, by a test) is offered and written by both commands.

No notebook runs here: the submissions cannot be graded (a notebook that is not JSON, a
student folder without a notebook), which still gives every format a full result to present.
"""
from __future__ import annotations

import argparse
import csv
import io
import json
from pathlib import Path

import pytest

from grader.cli import main
from grader.render import writers
from grader.render.csv_out import grades_csv
from grader.result import Result


def tiny_one(result: Result, context: writers.FormatContext) -> str:
    return f"{result.submission} {result.status.value} {result.score:g}/{result.max_score:g}\n"


def tiny_course(results: list[Result], context: writers.FormatContext) -> str:
    return "".join(tiny_one(r, context) for r in results) + f"{len(results)} students\n"


@pytest.fixture
def tiny():
    """A format registered the way a new one would be: one Writer and ``register``."""
    writer = writers.register(writers.Writer(
        name="tiny", help="write a one-line summary here", file_name="tiny.txt",
        one=tiny_one, course=tiny_course, course_file="tiny-course.txt",
        student_file="tiny/{}.txt"))
    yield writer
    writers.unregister("tiny")


@pytest.fixture
def run(data_file, capsys):
    """run(command, *args) -> (exit code, stderr), unsandboxed, without verification."""
    def command(*args: str) -> tuple[int, str]:
        code = main([*args, "--data", str(data_file), "--sandbox", "off", "--no-verify"])
        return code, capsys.readouterr().err
    return command


@pytest.fixture
def broken_notebook(tmp_path) -> Path:
    path = tmp_path / "alice.ipynb"
    path.write_text("this is not a notebook")
    return path


@pytest.fixture
def course(tmp_path) -> Path:
    """Two students the batch can only refuse, quickly: no notebook, and a broken one."""
    folder = tmp_path / "course"
    (folder / "bob").mkdir(parents=True)
    (folder / "alice.ipynb").write_text("this is not a notebook")
    return folder


def test_a_registered_format_is_offered_by_both_commands(tiny):
    from grader.cli import parser
    for command in (["check", "nb.ipynb"], ["grade", "folder"]):
        args = parser().parse_args([*command, "--format", "tiny"])
        assert writers.parse_formats(args.format) == [tiny]
    assert parser().parse_args(["check", "nb.ipynb", "--tiny", "t.txt"]).tiny == Path("t.txt")


def test_check_writes_a_registered_format_to_its_flag_and_into_out(tiny, run, broken_notebook,
                                                                   tmp_path):
    out = tmp_path / "o"
    code, _ = run("check", str(broken_notebook), "--format", "tiny,json", "--out", str(out))
    assert code == 3
    points = json.loads((out / "result.json").read_text())["max_score"]
    assert (out / "tiny.txt").read_text() == f"alice error 0/{points:g}\n"
    code, _ = run("check", str(broken_notebook), "--tiny", str(tmp_path / "mine.txt"))
    assert (tmp_path / "mine.txt").read_text() == f"alice error 0/{points:g}\n"


def test_grade_writes_a_registered_format_per_student_and_for_the_course(tiny, run, course,
                                                                        tmp_path):
    out = tmp_path / "out"
    code, err = run("grade", str(course), "--out", str(out), "--format", "tiny")
    assert code == 0, err
    record = json.loads((out / "students" / "bob.json").read_text())
    # the record's max_score is the automatic one (a rerun reuses it); the outputs show the
    # total with the questions a person grades (grader.answers.manual)
    points = (record.get("manual") or {}).get("total_max", record["max_score"])
    assert (out / "tiny" / "alice.txt").read_text() == f"alice error 0/{points:g}\n"
    assert (out / "tiny" / "bob.txt").read_text() == f"bob error 0/{points:g}\n"
    assert (out / "tiny-course.txt").read_text() == \
        f"alice error 0/{points:g}\nbob error 0/{points:g}\n2 students\n"


def test_a_course_file_of_a_format_not_chosen_this_run_is_removed_as_stale(tiny, run, course,
                                                                           tmp_path):
    out = tmp_path / "out"
    run("grade", str(course), "--out", str(out), "--format", "tiny")
    run("grade", str(course), "--out", str(out))
    assert not (out / "tiny-course.txt").exists() and (out / "grades.csv").exists()


def test_check_writes_every_shipped_format_into_out_under_its_default_name(run, broken_notebook,
                                                                          tmp_path):
    out = tmp_path / "o"
    code, _ = run("check", str(broken_notebook), "--format", "json,html", "--format",
                  "csv,junit,gradescope", "--out", str(out))
    assert code == 3
    assert sorted(p.name for p in out.iterdir()) == \
        ["grades.csv", "junit.xml", "report.html", "result.json", "results.json"]
    result = Result.from_dict(json.loads((out / "result.json").read_text()))
    assert (out / "grades.csv").read_text() == grades_csv([result])
    rows = list(csv.reader(io.StringIO((out / "grades.csv").read_text())))
    assert rows[1][:4] == ["alice", "0", f"{result.max_score:g}", "error"]
    assert json.loads((out / "results.json").read_text())["tests"][0]["status"] == "failed"
    assert 'name="alice"' in (out / "junit.xml").read_text()


def test_grade_offers_check_formats_gradescope_per_student_and_junit_in_out(run, course,
                                                                           tmp_path):
    out = tmp_path / "out"
    code, err = run("grade", str(course), "--out", str(out), "--format", "gradescope,junit",
                    "--gradescope-visibility", "after_due_date")
    assert code == 0, err
    for student in ("alice", "bob"):
        data = json.loads((out / "gradescope" / f"{student}.json").read_text())
        assert data["score"] == 0.0 and data["tests"][-1]["status"] == "failed"
        assert data["visibility"] == data["tests"][-1]["visibility"] == "after_due_date"
    assert (out / "junit.xml").read_text().count("<testsuite ") == 2
    assert {"grades.csv", "index.html", "course.json"} <= {p.name for p in out.iterdir()}


@pytest.mark.parametrize("command", ["check", "grade"])
def test_an_unknown_format_is_a_usage_error_naming_the_formats(command, run, course,
                                                               broken_notebook, tmp_path):
    target = broken_notebook if command == "check" else course
    code, err = run(command, str(target), "--format", "json,pdf", "--out", str(tmp_path / "o"))
    assert code == 2 and "unknown format 'pdf'" in err and "gradescope" in err
    assert "Traceback" not in err and not (tmp_path / "o").exists()


def test_a_format_may_not_take_another_formats_files_or_render_nothing():
    with pytest.raises(ValueError, match="clashes with 'csv'"):
        writers.register(writers.Writer(name="sheet", help="", file_name="grades.csv",
                                        course=lambda results, context: ""))
    with pytest.raises(ValueError, match="clashes with 'json'"):
        writers.register(writers.Writer(name="record", help="", file_name="r.json",
                                        one=lambda result, context: "",
                                        student_file="students/{}.json"))
    with pytest.raises(ValueError, match="renders nothing"):
        writers.register(writers.Writer(name="empty", help="", file_name="x"))
    assert not {"sheet", "record", "empty"} & set(writers.available())


def test_a_format_that_fails_to_render_is_a_warning_and_the_batch_keeps_its_results(
        run, course, tmp_path):
    def broken(*args):
        raise RuntimeError("renderer bug")
    writers.register(writers.Writer(name="broken", help="", file_name="broken.txt", one=broken,
                                    course=broken, student_file="broken/{}.txt"))
    try:
        with pytest.warns(UserWarning) as warned:
            code, err = run("grade", str(course), "--out", str(tmp_path / "out"),
                            "--format", "broken")
    finally:
        writers.unregister("broken")
    assert code == 0 and "Traceback" not in err
    said = {str(w.message) for w in warned}
    assert "no BROKEN report for bob: RuntimeError('renderer bug')" in said
    assert "no BROKEN index: RuntimeError('renderer bug')" in said
    assert {p.name for p in (tmp_path / "out" / "students").iterdir()} >= {"alice.json", "bob.json"}
    assert (tmp_path / "out" / "grades.csv").exists() and not (tmp_path / "out" / "broken").exists()


def test_a_shipped_format_whose_module_cannot_be_imported_is_not_offered(monkeypatch):
    monkeypatch.setattr(writers, "BUILTIN", (*writers.BUILTIN, "grader.render.no_such_format"))
    assert list(writers.available()) == ["json", "html", "csv", "junit", "gradescope"]


@pytest.mark.kernel
def test_a_result_kept_from_an_earlier_run_gets_the_files_of_a_format_added_now(run, tmp_path):
    from tests.notebooks import code_notebook, write
    folder, out = tmp_path / "course", tmp_path / "out"
    write(code_notebook("x = 1"), folder / "carol.ipynb")
    assert run("grade", str(folder), "--out", str(out))[0] == 0
    first = (out / "students" / "carol.json").read_text()
    assert not (out / "gradescope").exists()
    assert run("grade", str(folder), "--out", str(out), "--format", "gradescope")[0] == 0
    assert (out / "students" / "carol.json").read_text() == first  # kept, not graded again
    data = json.loads((out / "gradescope" / "carol.json").read_text())
    assert data["score"] == json.loads(first)["score"]


def test_a_format_whose_flag_is_already_an_option_of_check_is_refused_at_registration():
    with pytest.raises(ValueError, match="--data"):
        writers.register(writers.Writer(name="data", help="x", file_name="x.txt",
                                        one=lambda result, context: "", student_file="{}.txt"))
    assert "data" not in writers.available()


def test_the_reserved_options_are_exactly_check_s_own_options():
    from grader.cli_args import parser

    sub = next(a for a in parser()._actions if isinstance(a, argparse._SubParsersAction))
    check = sub.choices["check"]
    own = {o for a in check._actions for o in a.option_strings if o.startswith("--")}
    flags = {w.option for w in writers.available().values()}
    assert own - flags == writers.reserved_options()

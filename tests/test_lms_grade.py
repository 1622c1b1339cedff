"""Each LMS export grades in one command into a gradebook that imports with every student
matched; a hostile zip grades what is safe and gives every refused entry its own row; a rerun
on the same zip extracts and grades nothing again. Kernel runs over tiny exports (3 students,
--no-verify, unsandboxed)."""
from __future__ import annotations

import csv
import io
import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests import lms_exports as ex
from tests.conftest import ROOT

pytestmark = pytest.mark.kernel


def grade(source: Path, out: Path, *flags: str, data_file: Path) -> subprocess.CompletedProcess:
    argv = [sys.executable, "-m", "grader", "grade", str(source), "--out", str(out),
            "--no-verify", "--sandbox", "off", "--timeout", "120", "--data", str(data_file),
            *flags]
    return subprocess.run(argv, cwd=ROOT, capture_output=True, text=True, timeout=900)


def rows(path: Path) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(path.read_text(encoding="utf-8-sig"))))


def unmatched(out: Path) -> list[dict[str, str]]:
    return rows(out / "gradebook-unmatched.csv")


@pytest.fixture(scope="module")
def late_reference(tmp_path_factory) -> Path:
    """The cnn2 exercise with a late policy: 10 % off a submission flagged late."""
    folder = tmp_path_factory.mktemp("ref") / "cnn2"
    shutil.copytree(ROOT / "reference" / "cnn2", folder)
    exercise = json.loads((folder / "exercise.json").read_text())
    exercise["late_policy"] = {"percent": 10}
    (folder / "exercise.json").write_text(json.dumps(exercise))
    return folder


@pytest.fixture(scope="module")
def canvas_run(tmp_path_factory, data_file, late_reference):
    root = tmp_path_factory.mktemp("canvas")
    zipped = ex.zip_folder(ex.canvas_export(root / "export"), root / "submissions.zip")
    roster = ex.canvas_roster(root / "roster.csv")
    flags = ("--gradebook", "canvas", "--roster", str(roster), "--reference", str(late_reference))
    first = grade(zipped, root / "out", *flags, data_file=data_file)
    second = grade(zipped, root / "out", *flags, data_file=data_file)
    return first, second, root / "out"


def test_canvas_zip_grades_into_a_gradebook_with_everyone_matched(canvas_run):
    first, _, out = canvas_run
    assert first.returncode == 0, first.stderr
    assert "layout canvas" in first.stderr and unmatched(out) == []
    grades = {r["student"]: r for r in rows(out / "grades.csv")}
    assert set(grades) == {"101", "102", "103"}
    assert grades["101"]["status"] == "passed"  # the resubmission, not the first upload
    assert grades["101"]["original_name"] == "cnn2-1.ipynb"
    assert grades["101"]["superseded"] == "cnn2.ipynb"
    bob = grades["102"]
    assert bob["late"] == "late" and float(bob["late_penalty"]) > 0
    assert float(bob["final_score"]) == pytest.approx(0.9 * float(bob["score"]))
    book = {r["ID"]: r for r in rows(out / "gradebook-canvas.csv") if r["ID"]}
    assert set(book) == {"101", "102", "103"}
    column = next(c for c in book["101"] if c.startswith("CNN exercise"))
    assert book["102"][column] == bob["final_score"]  # the gradebook imports the final score
    assert "LATE" in (out / "index.html").read_text()


def test_a_rerun_on_the_same_zip_extracts_and_grades_nothing(canvas_run):
    _, second, _ = canvas_run
    assert second.returncode == 0, second.stderr
    assert "already unpacked" in second.stderr
    assert "3 unchanged since an earlier run" in second.stdout


def test_moodle_folders_grade_into_the_filled_grading_worksheet(tmp_path, data_file):
    export = ex.moodle_export(tmp_path / "export")
    worksheet = ex.moodle_worksheet(tmp_path / "worksheet.csv")
    run = grade(export, tmp_path / "out", "--gradebook", "moodle", "--roster", str(worksheet),
                data_file=data_file)
    assert run.returncode == 0, run.stderr
    assert unmatched(tmp_path / "out") == []
    book = rows(tmp_path / "out" / "gradebook-moodle.csv")
    assert [r["Identifier"] for r in book] == ["Participant 501", "Participant 502",
                                               "Participant 503"]
    grades = {r["student"]: r for r in rows(tmp_path / "out" / "grades.csv")}
    assert set(grades) == {"501", "502", "503"} and grades["501"]["status"] == "passed"
    assert all(r["Grade"] for r in book) and book[0]["Grade"] == grades["501"]["score"]


def test_gradescope_export_grades_into_a_scores_csv_matched_by_sid(tmp_path, data_file):
    zipped = ex.zip_folder(ex.gradescope_export(tmp_path / "export"), tmp_path / "export.zip")
    roster = ex.gradescope_roster(tmp_path / "roster.csv")
    run = grade(zipped, tmp_path / "out", "--gradebook", "gradescope", "--roster", str(roster),
                data_file=data_file)
    assert run.returncode == 0, run.stderr
    assert unmatched(tmp_path / "out") == []
    book = {r["SID"]: r for r in rows(tmp_path / "out" / "gradebook-gradescope.csv")}
    grades = {r["student"]: r for r in rows(tmp_path / "out" / "grades.csv")}
    assert set(book) == {"S1001", "S1002", "S1003"} and grades["S1001"]["status"] == "passed"
    assert book["S1001"]["Score"] == grades["S1001"]["score"]
    assert grades["S1002"]["submitted_at"].startswith("2026-12-03T09:30")


def test_a_hostile_zip_grades_the_safe_entries_and_gives_each_refused_one_a_row(tmp_path,
                                                                                data_file):
    zipped = ex.hostile_zip(tmp_path / "hostile.zip")
    run = grade(zipped, tmp_path / "out", data_file=data_file)
    assert run.returncode == 0 and "Traceback" not in run.stderr, run.stderr
    grades = rows(tmp_path / "out" / "grades.csv")
    refused = [r for r in grades if r["student"].startswith("archive-entry-")]
    assert len(refused) == 8 and all(r["status"] == "error" for r in refused)
    assert {"ann", "José", "Zoë", "bell%07"} <= {r["student"] for r in grades}
    assert not (tmp_path / "escaped.ipynb").exists() and not Path("/tmp/absolute.ipynb").exists()

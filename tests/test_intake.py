"""Intake and output integrity: links, FIFOs, loops, odd names and huge files never leak, abort a
batch or collide with the batch's own files. Most cases fail at intake (no kernel at all); one
batch through the real CLI and the sandbox is shared by the assertions about its outputs."""
from __future__ import annotations

import csv
import io
import json
import os
import secrets
import shutil
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path
from urllib.parse import quote

import pytest

from grader.batch import folder as batch
from grader.checks import registry
from grader.exceptions import InvalidNotebook, NotARegularFile, SubmissionMissing
from grader.intake import lms_layout
from grader.intake.submissions import find_submissions, ident, read_submission

from tests.conftest import ROOT
from tests.notebooks import code_notebook, write

CANARY = f"CANARY-{secrets.token_hex(8)}"
NON_UTF8 = os.fsdecode(b"jos\xe9")  # a file name that is not valid UTF-8
SHOWN = ident(NON_UTF8)  # how every output shows that student: jos\xe9~<hash of the bytes>
LIMIT = 50 * 1024**2


def hostile_course(root: Path) -> Path:
    """A folder with every intake trap beside three real (quick, Keras-free) notebooks."""
    secret = root / "secret.txt"
    secret.write_text(f"{CANARY} root:*:19000:0:99999:7:::\n")
    course = root / "course"
    write(code_notebook("x = 1"), course / "ann.ipynb")
    write(code_notebook("x = 2"), course / "index.ipynb")  # the batch has an index.html too
    write(code_notebook("x = 3"), course / f"{NON_UTF8}.ipynb")
    (course / "eve.ipynb").symlink_to(secret)
    (course / "mal.ipynb").symlink_to(course / "ann.ipynb")  # another student's work
    (course / "loop.ipynb").symlink_to("loop.ipynb")
    (course / "dangling.ipynb").symlink_to(root / "nowhere.ipynb")
    os.mkfifo(course / "fifo.ipynb")
    write(code_notebook("x = 4"), course / "dir.ipynb" / "inside.ipynb")
    (course / "linked").mkdir()
    (course / "linked" / "hw.ipynb").symlink_to(secret)
    (course / "borrowed").symlink_to(course / "linked")  # a student folder that is a link
    with open(course / "big.ipynb", "wb") as f:
        f.truncate(LIMIT + 1)  # sparse: over the cap without filling the disk
    return course


REFUSED = {"eve": "not_a_regular_file", "mal": "not_a_regular_file", "loop": "not_a_regular_file",
           "dangling": "not_a_regular_file", "fifo": "not_a_regular_file",
           "dir": "not_a_regular_file", "linked": "not_a_regular_file",
           "borrowed": "not_a_regular_file", "big": "invalid_notebook"}
GRADED = {"ann", "index", SHOWN}  # Keras-free notebooks: graded, status error / no_model


def grade(course: Path, out: Path, *flags: str, data_file: Path) -> subprocess.CompletedProcess:
    argv = [sys.executable, "-m", "grader", "grade", str(course), "--out", str(out),
            "--no-verify", "--timeout", "60", "--data", str(data_file), *flags]
    return subprocess.run(argv, cwd=ROOT, capture_output=True, text=True, timeout=600)


@pytest.fixture(scope="module")
def hostile_batch(tmp_path_factory, data_file):
    root = tmp_path_factory.mktemp("intake")
    course = hostile_course(root)
    out = root / "out"
    run = grade(course, out, "--sandbox", "required", "--workers", "2", "--junit",
                str(out / "junit.xml"), data_file=data_file)
    rows = {r["student"]: r for r in csv.DictReader(io.StringIO(
        (out / "grades.csv").read_text(encoding="utf-8")))} if (out / "grades.csv").exists() else {}
    return {"root": root, "course": course, "out": out, "run": run, "rows": rows}


# -- reading one submission (no kernel) ----------------------------------------------------------

def test_intake_reads_a_regular_file_once_and_refuses_links_fifos_and_folders(tmp_path):
    nb = write(code_notebook("1"), tmp_path / "a.ipynb")
    assert read_submission(nb, LIMIT) == nb.read_bytes()
    (tmp_path / "link.ipynb").symlink_to(nb)
    os.mkfifo(tmp_path / "fifo.ipynb")
    (tmp_path / "dir.ipynb").mkdir()
    for name in ("link.ipynb", "fifo.ipynb", "dir.ipynb"):
        with pytest.raises(NotARegularFile):
            read_submission(tmp_path / name, LIMIT)
    assert read_submission(tmp_path / "link.ipynb", LIMIT, follow_links=True) == nb.read_bytes()


def test_intake_refuses_a_notebook_inside_a_linked_folder(tmp_path):
    write(code_notebook("1"), tmp_path / "real" / "hw.ipynb")
    (tmp_path / "course").mkdir()
    (tmp_path / "course" / "bob").symlink_to(tmp_path / "real")
    with pytest.raises(NotARegularFile, match="symbolic link"):
        read_submission(tmp_path / "course" / "bob" / "hw.ipynb", LIMIT, root=tmp_path / "course")


def test_a_notebook_over_the_size_cap_is_invalid_and_never_read(tmp_path):
    big = tmp_path / "big.ipynb"
    with open(big, "wb") as f:
        f.truncate(2000)
    with pytest.raises(InvalidNotebook, match="too large"):
        read_submission(big, limit=1000)


def test_a_submission_that_disappears_before_it_is_read_is_a_clean_error_row(tmp_path, monkeypatch,
                                                                             spec, fast_settings):
    write(code_notebook("1"), tmp_path / "course" / "gone.ipynb")
    found = find_submissions(tmp_path / "course")

    def found_then_deleted(folder, exclude=None):
        (tmp_path / "course" / "gone.ipynb").unlink()
        return found
    monkeypatch.setattr(lms_layout, "find_submissions", found_then_deleted)
    assert batch.grade_folder(tmp_path / "course", tmp_path / "out", settings=fast_settings) == 0
    saved = json.loads((tmp_path / "out" / "students" / "gone.json").read_text())
    assert saved["status"] == "error" and saved["error"]["kind"] == SubmissionMissing.kind
    assert "disappeared before it was graded" in saved["error"]["message"]


def test_a_symlink_loop_does_not_stop_the_scan(tmp_path):
    write(code_notebook("1"), tmp_path / "alice.ipynb")
    (tmp_path / "loop.ipynb").symlink_to("loop.ipynb")
    (tmp_path / "knot").symlink_to("knot")
    os.mkfifo(tmp_path / "pipe")
    (tmp_path / "notes.txt").symlink_to("notes.txt")  # not named like a submission: ignored
    found = {s.student: s for s in find_submissions(tmp_path)}
    assert sorted(found) == ["alice", "knot", "loop", "pipe"]
    assert {found[s].kind for s in ("loop", "knot", "pipe")} == {"not_a_regular_file"}


@pytest.mark.kernel
def test_a_notebook_changed_after_intake_is_graded_and_recorded_as_read(tmp_path, monkeypatch,
                                                                        fast_settings):
    import hashlib
    path = write(code_notebook("x = 1"), tmp_path / "course" / "ann.ipynb")  # no model
    first = path.read_bytes()
    real_read = batch.read_submission

    def read_then_changed(*args, **kwargs):
        data = real_read(*args, **kwargs)
        write(code_notebook("1 / 0"), path)  # the student pushes again mid-run
        return data
    monkeypatch.setattr(batch, "read_submission", read_then_changed)
    out = tmp_path / "out"
    batch.grade_folder(tmp_path / "course", out, settings=fast_settings, workers=1)
    saved = json.loads((out / "students" / "ann.json").read_text())
    assert saved["notebook_sha256"] == hashlib.sha256(first).hexdigest()
    assert saved["error"]["kind"] == "no_model"  # what was read, not what came later
    monkeypatch.setattr(batch, "read_submission", real_read)
    batch.grade_folder(tmp_path / "course", out, settings=fast_settings, workers=1)
    [row] = csv.DictReader(io.StringIO((out / "grades.csv").read_text(encoding="utf-8")))
    assert row["first_failed"].startswith("cell_error")  # changed bytes: graded again


# -- one hostile batch through the CLI and the sandbox --------------------------------------------

@pytest.mark.kernel
@pytest.mark.sandbox
def test_the_batch_gives_every_entry_a_row_and_never_aborts(hostile_batch, spec):
    run, rows = hostile_batch["run"], hostile_batch["rows"]
    assert run.returncode == 0 and "Traceback" not in run.stderr, run.stderr
    assert set(rows) == set(REFUSED) | GRADED
    for student, kind in REFUSED.items():
        assert rows[student]["status"] == "error" and rows[student]["first_failed"].startswith(kind)
    assert "too large" in rows["big"]["first_failed"]
    # --no-verify: one maximum for every row, that of the checks without the accuracy, plus
    # the written questions' points a person gives (grader.answers.manual)
    from grader.answers.questions import manual_max
    full = registry.max_score(spec, verified=False) + manual_max(spec)
    assert {r["max_score"] for r in rows.values()} == {f"{full:g}"}


@pytest.mark.kernel
@pytest.mark.sandbox
def test_no_byte_of_a_linked_secret_reaches_any_output(hostile_batch):
    run, out = hostile_batch["run"], hostile_batch["out"]
    written = [p for p in out.rglob("*") if p.is_file()]
    assert len(written) > 2 * len(hostile_batch["rows"])
    for path in written:
        assert CANARY.encode() not in path.read_bytes(), path
    assert CANARY not in run.stdout + run.stderr and "root:*" not in run.stdout + run.stderr


@pytest.mark.kernel
@pytest.mark.sandbox
def test_a_link_to_another_submission_is_not_graded_as_the_students_own(hostile_batch):
    rows = hostile_batch["rows"]
    assert rows["mal"]["score"] == "0" and rows["mal"]["status"] == "error"
    assert "symbolic link" in rows["mal"]["first_failed"]
    assert rows["ann"]["first_failed"].startswith("no_model")  # ann herself was graded


@pytest.mark.kernel
@pytest.mark.sandbox
def test_a_student_named_index_keeps_a_report_and_the_index_links_each_to_their_own(hostile_batch):
    out = hostile_batch["out"]
    own = (out / "students" / "index.html").read_text(encoding="utf-8")
    assert "no_model" in own or "model" in own
    index = (out / "index.html").read_text(encoding="utf-8")
    assert 'href="./students/index.html"' in index and 'href="./students/ann.html"' in index
    for student in hostile_batch["rows"]:
        assert (out / "students" / f"{student}.json").is_file()
        assert (out / "students" / f"{student}.html").is_file()


@pytest.mark.kernel
@pytest.mark.sandbox
def test_a_file_name_that_is_not_utf8_works_in_every_output(hostile_batch):
    out, rows = hostile_batch["out"], hostile_batch["rows"]
    assert rows[SHOWN]["first_failed"].startswith("no_model")
    assert json.loads((out / "students" / f"{SHOWN}.json").read_text())["submission"] == SHOWN
    suites = ET.parse(out / "junit.xml").getroot().findall("testsuite")
    assert SHOWN in {s.get("name") for s in suites}
    assert quote(f"{SHOWN}.html", safe="") in (out / "index.html").read_text(encoding="utf-8")
    assert SHOWN.startswith("jos\\xe9~")  # the escaped name, marked as escaped: unique
    assert SHOWN in hostile_batch["run"].stdout


@pytest.mark.kernel
@pytest.mark.sandbox
def test_a_rerun_reuses_results_and_the_gradebook_holds_only_current_submissions(hostile_batch,
                                                                                 data_file):
    course, out = hostile_batch["course"], hostile_batch["root"] / "out-again"
    shutil.copytree(hostile_batch["out"], out)  # the shared batch's own outputs stay as they were
    aside = hostile_batch["root"] / "aside"
    aside.mkdir()
    for name in ("ann.ipynb", "mal.ipynb"):
        os.rename(course / name, aside / name)
    try:
        rerun = grade(course, out, "--sandbox", "required", data_file=data_file)
    finally:
        for name in ("ann.ipynb", "mal.ipynb"):
            os.rename(aside / name, course / name)
    assert rerun.returncode == 0, rerun.stderr
    assert "2 unchanged since an earlier run" in rerun.stdout  # index and jos\xe9
    rows = csv.DictReader(io.StringIO((out / "grades.csv").read_text(encoding="utf-8")))
    assert {r["student"] for r in rows} == (set(REFUSED) | GRADED) - {"ann", "mal"}
    assert "students/ann.html" not in (out / "index.html").read_text(encoding="utf-8")


def test_the_gradescope_autograder_never_reads_a_linked_submission(tmp_path):
    secret = tmp_path / "secret.txt"
    secret.write_text(CANARY)
    (tmp_path / "submission").mkdir()
    (tmp_path / "submission" / "hw.ipynb").symlink_to(secret)
    env = {**os.environ, "AUTOGRADER": str(tmp_path), "GRADER": "/bin/false"}
    run = subprocess.run(["bash", str(ROOT / "reference" / "cnn2" / "gradescope" / "run_autograder")],
                         env=env, capture_output=True, text=True, timeout=60)
    results = json.loads((tmp_path / "results" / "results.json").read_text())
    assert run.returncode == 0 and results["score"] == 0.0
    assert "links" in results["output"] and CANARY not in json.dumps(results) + run.stdout


def test_a_student_id_too_long_for_a_file_name_gets_a_short_stable_distinct_one(tmp_path):
    from grader.batch.outdir import student_file, student_href
    one, other = "x" * 300, "x" * 299 + "y"
    path = student_file(tmp_path, one, ".json")
    assert len(path.name.encode()) <= 255 and path == student_file(tmp_path, one, ".json")
    assert path != student_file(tmp_path, other, ".json")
    assert student_href(one) == f"students/{student_file(tmp_path, one, '.html').name}"
    assert student_file(tmp_path, "index", ".html") == tmp_path / "students" / "index.html"

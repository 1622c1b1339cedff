"""A batch's edges: results reused only for the same student, a lost worker's log tail, an
interrupted re-run, where --out may be, the index's links.
"""
from __future__ import annotations

import pytest

from grader.result import Result, Status


def test_a_saved_result_of_another_student_is_never_reused_for_this_one(tmp_path, spec):
    """``students/<id>.json`` may hold another student's result (a case-insensitive file system
    maps ``Alice`` and ``alice`` to one file; a copied folder): with the same notebook bytes (two
    unchanged templates) it was reused under the other name, so this student had no result and
    the batch stopped with a KeyError before writing the gradebook."""
    import hashlib
    import json

    from grader.batch.folder import _Batch, _plan, grading_options
    from grader.batch.outdir import student_file
    from grader.intake.submissions import Submission
    from grader.pipeline import versions
    from grader.settings import Settings

    settings = Settings(sandbox="off", verify=False)
    data = b'{"cells": []}'
    (tmp_path / "in").mkdir()
    (tmp_path / "in" / "bob.ipynb").write_bytes(data)
    out = tmp_path / "out"
    (out / "students").mkdir(parents=True)
    batch = _Batch(out, grading_options(settings), 10.0)
    other = Result("alice", Status.FAILED, 8, 10.0, notebook_sha256=hashlib.sha256(data).hexdigest(),
                   versions=versions(), spec={"sha256": spec.sha256})
    student_file(out, "bob", ".json").write_text(
        json.dumps({**other.to_dict(), "options": batch.options}))
    sub = Submission("bob", tmp_path / "in" / "bob.ipynb", root=tmp_path / "in")
    (tmp_path / "intake").mkdir()
    todo, problems = _plan([sub], spec, batch, False, settings, tmp_path / "intake")
    assert "bob" in batch.results or [t.student for t in todo] == ["bob"]
    assert "alice" not in batch.results


def test_a_lost_workers_log_tail_holds_only_what_this_submission_wrote(tmp_path, spec):
    """A worker grades submissions one after another and its log (the worker's fd 1 and 2:
    library warnings, TensorFlow messages, tracebacks) keeps what was written while grading the
    earlier ones (kernels and the verifier have logs of their own): when the worker dies on
    student B, B's result (JSON, HTML report) must show only what belongs to B's grading."""
    from types import SimpleNamespace

    from grader.batch.local.workers import LocalPool, Task, worker_log

    results = []
    pool = LocalPool.__new__(LocalPool)
    pool.spec, pool.tmpdir = spec, str(tmp_path)
    pool.on_result = lambda task, data: results.append(data)
    process = SimpleNamespace(pid=4242, join=lambda timeout=None: None)
    worker = SimpleNamespace(process=process, conn=SimpleNamespace(close=lambda: None),
                             task=None, since=0.0)
    pool.workers = [worker]
    log = worker_log(str(tmp_path), 4242)
    with open(log, "w") as f:
        f.write("alice's kernel wrote: my secret answer\n")
    worker.log_start = len(open(log, "rb").read())  # where _staff/assign records it
    worker.task = Task("bob", tmp_path / "bob.ipynb")
    with open(log, "a") as f:
        f.write("Fatal Python error: Segmentation fault\n")
    pool._lost(worker, "the grading worker process died")
    detail = results[0]["error"]["traceback"]
    assert "Segmentation fault" in detail
    assert "alice" not in detail and "secret" not in detail


def test_an_interrupted_rerun_leaves_no_stale_gradebook(tmp_path, data_file, monkeypatch):
    """README: the gradebook files "never disagree with the per-student results" and "an
    interrupted batch writes no grades.csv". But the previous run's grades.csv (and index,
    course.json) stayed: after a rerun that regraded changed notebooks and was stopped, it still
    showed the old scores beside the new students/*.json, ready to be imported."""
    import pytest

    from grader.batch import folder as batch
    from grader.batch.local import workers
    from grader.settings import Settings

    folder, out = tmp_path / "in", tmp_path / "out"
    folder.mkdir()
    (folder / "alice.ipynb").write_bytes(b'{"cells": []}')
    out.mkdir()
    (out / "grades.csv").write_text("student,score,max_score,status,first_failed\nalice,15,15,passed,\n")
    (out / "index.html").write_text("<p>alice 15/15</p>")
    (out / "course.json").write_text("{}")

    def interrupted(self, tasks):
        raise KeyboardInterrupt

    monkeypatch.setattr(workers.LocalPool, "__init__", lambda self, *a, **k: None)
    monkeypatch.setattr(workers.LocalPool, "run", interrupted)
    settings = Settings(sandbox="off", verify=False, data_path=data_file)
    with pytest.raises(KeyboardInterrupt):
        batch.grade_folder(folder, out, settings=settings, workers=1,
                           progress_stream=open(tmp_path / "log", "w"))
    assert not (out / "grades.csv").exists()
    assert not (out / "index.html").exists()


def test_out_the_submissions_folder_itself_is_a_usage_error(tmp_path):
    """``grade SUBS --out SUBS``: the second run found ``students/`` (the results) as a student
    with no notebook, a phantom row in grades.csv and the LMS gradebooks."""
    import pytest

    from grader.batch import folder as batch
    from grader.exceptions import UsageError
    from grader.settings import Settings

    (tmp_path / "bob").mkdir()
    (tmp_path / "students").mkdir()
    with pytest.raises(UsageError, match="--out"):
        batch.grade_folder(tmp_path, tmp_path, settings=Settings(sandbox="off", verify=False))


def test_out_inside_a_students_folder_is_a_usage_error_not_a_missing_row(tmp_path):
    """``grade SUBS --out SUBS/bob`` left bob's submission out without a row."""
    import pytest

    from grader.batch import folder as batch
    from grader.exceptions import UsageError
    from grader.settings import Settings

    (tmp_path / "bob").mkdir()
    (tmp_path / "bob" / "work.ipynb").write_text("{}")
    with pytest.raises(UsageError, match="holds notebooks"):
        batch.grade_folder(tmp_path, tmp_path / "bob", settings=Settings(sandbox="off", verify=False))


# -- 8. index links: a student id with '#', '?' or '%' links to another file --------------------
@pytest.mark.parametrize("student", ["ann#2", "bob?v=1", "carl%41", "dina 100%"])
def test_the_index_link_to_a_report_reaches_that_report_file(student, tmp_path):
    """Ids are file names, and file names may hold '#', '?' or '%': the index's href was the raw
    name, so the link pointed to ``students/ann`` (fragment ``2.html``) or decoded ``%41``."""
    from urllib.parse import unquote, urlsplit

    from grader.batch.outdir import student_file, student_href
    href = urlsplit(student_href(student))
    assert not href.query and not href.fragment
    assert unquote(href.path) == student_file(tmp_path, student, ".html").relative_to(
        tmp_path).as_posix()

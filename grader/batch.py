"""Grading a course: every submission in a folder, in parallel, nothing ever lost.

Read top to bottom: find the submissions → reuse the results of an earlier run that are still
valid (same notebook bytes, grader version, reference spec and grading options) → grade the rest
in worker processes (``grader.workers``) → write each ``<student>.json`` atomically the moment it
is known → write the course files (``grades.csv``, ``index.html``, JUnit). A re-run after a
crash, Ctrl-C or ``kill -9`` therefore grades only what is missing.
"""
from __future__ import annotations

import hashlib
import json
import os
import sys
import time
import warnings
from dataclasses import dataclass
from pathlib import Path

import psutil

from . import __version__, api
from .exceptions import UsageError
from .exitcodes import ExitCode
from .render import csv_out, junit, terminal
from .render.files import write_json
from .render.progress import Progress, duration
from .result import ErrorInfo, Result, Status
from .settings import Settings
from .spec import Spec
from .workers import Task, WorkerPool, fault_result

#: memory one worker may need at once: a kernel with TensorFlow and the course data, plus the
#: verifier training the architecture; the default number of workers keeps within what is free
WORKER_MEMORY_BYTES = 2 * 1024**3
NOTEBOOK = ".ipynb"


@dataclass(frozen=True)
class Submission:
    """One student's notebook, or why there is no single notebook to grade."""

    student: str
    notebook: Path | None
    problem: str | None = None


# -- finding submissions -------------------------------------------------------------------------

def find_submissions(folder: Path, exclude: Path | None = None) -> list[Submission]:
    """``FOLDER/<student>.ipynb`` and ``FOLDER/<student>/<one>.ipynb``; hidden entries ignored."""
    folder = Path(folder)
    if not folder.is_dir():
        raise UsageError(f"no such folder: {folder}")
    skip = Path(exclude).resolve() if exclude else None
    found: dict[str, list[Submission]] = {}
    for entry in sorted(folder.iterdir()):
        if entry.name.startswith(".") or entry.resolve() == skip:
            continue
        if entry.is_file() and entry.suffix == NOTEBOOK:
            sub = Submission(student_id(entry.stem), entry)
        elif entry.is_dir():
            sub = _from_folder(entry)
        else:
            continue
        found.setdefault(sub.student, []).append(sub)
    return [subs[0] if len(subs) == 1 else _duplicate(name, subs) for name, subs in found.items()]


def student_id(name: str) -> str:
    """The id is the file or folder name; undecodable bytes are shown escaped."""
    return os.fsencode(name).decode("utf-8", "backslashreplace")


def _from_folder(folder: Path) -> Submission:
    student = student_id(folder.name)
    notebooks = sorted(p for p in folder.iterdir()
                       if p.suffix == NOTEBOOK and p.is_file() and not p.name.startswith("."))
    if len(notebooks) == 1:
        return Submission(student, notebooks[0])
    if notebooks:
        names = ", ".join(p.name for p in notebooks)
        return Submission(student, None, f"the folder {folder.name}/ holds {len(notebooks)} "
                                         f"notebooks ({names}); submit exactly one")
    others = sorted(p.name for p in folder.iterdir() if not p.name.startswith("."))[:5]
    seen = f" (found: {', '.join(others)})" if others else " (it is empty)"
    return Submission(student, None, f"the folder {folder.name}/ holds no notebook (.ipynb){seen}")


def _duplicate(student: str, subs: list[Submission]) -> Submission:
    where = ", ".join(str(s.notebook.name if s.notebook else "a folder") for s in subs)
    return Submission(student, None, f"{len(subs)} submissions are named {student!r} ({where}); "
                                     "keep exactly one")


def problem_result(sub: Submission, spec: Spec) -> Result:
    """The result for a student whose folder holds no single notebook (not gradable)."""
    return Result(submission=sub.student, status=Status.ERROR, max_score=spec.max_score(),
                  error=ErrorInfo(kind="submission_layout", message=sub.problem,
                                  advice="Submit exactly one notebook (.ipynb)."),
                  summary=f"Not graded: {sub.problem}",
                  spec={"exercise": spec.exercise, "sha256": spec.sha256, "path": spec.path})


# -- reusing earlier results ---------------------------------------------------------------------

def grading_options(settings: Settings) -> dict:
    """Settings that change what a result means: a result graded otherwise is not reused."""
    return {"verify": settings.verify, "verify_epochs": settings.verify_epochs,
            "notebook_epochs": settings.notebook_epochs, "notebook_steps": settings.notebook_steps}


def sha256_file(path: Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def reusable(path: Path, notebook_sha: str, spec: Spec, options: dict) -> Result | None:
    """The saved result if it was graded from the same inputs (and not a grader fault)."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        result = Result.from_dict(data)
    except (OSError, ValueError, TypeError, KeyError):
        return None
    same = (result.notebook_sha256 == notebook_sha
            and result.versions.get("grader") == __version__
            and result.spec.get("sha256") == spec.sha256
            and data.get("options") == options)
    return result if same and result.exit_code != ExitCode.GRADER_ERROR else None


# -- the machine ---------------------------------------------------------------------------------

def cores() -> int:
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:
        return max(1, os.cpu_count() or 1)


def default_workers(pending: int) -> int:
    """As many workers as cores, fewer if free memory cannot hold them, never more than work."""
    by_memory = psutil.virtual_memory().available // WORKER_MEMORY_BYTES
    return int(max(1, min(cores(), by_memory, max(1, pending))))


def threads_per_worker(workers: int) -> int:
    """TensorFlow threads per kernel/verifier, so that workers together fill the cores once."""
    return max(1, cores() // max(1, workers))


# -- the batch -----------------------------------------------------------------------------------

class _Batch:
    """Writes every result as soon as it is known, and keeps them for the course files."""

    def __init__(self, out: Path, options: dict, progress: Progress | None = None) -> None:
        self.out, self.options, self.progress = out, options, progress
        self.results: dict[str, Result] = {}
        self.reused = 0
        self.html = _html_renderer()

    def save(self, result: Result) -> None:
        data = result.to_dict()
        data["options"] = self.options
        write_json(self.out / f"{result.submission}.json", data)
        self.results[result.submission] = result
        if self.html:
            self._html_report(result)
        if self.progress:
            self.progress.result(result)

    def keep(self, result: Result) -> None:
        """A result from an earlier run: left as it is (its report written if missing)."""
        self.results[result.submission] = result
        self.reused += 1
        if self.html and not (self.out / f"{result.submission}.html").exists():
            self._html_report(result)

    def on_result(self, task: Task, data: dict) -> None:
        try:
            result = Result.from_dict(data)
        except (ValueError, TypeError, KeyError) as exc:
            result = fault_result(task.student, None, f"the worker sent an unreadable result: {exc!r}")
        result.submission = task.student
        self.save(result)

    def _html_report(self, result: Result) -> None:
        try:
            self.html.write_report(result, self.out / f"{result.submission}.html")
        except Exception as exc:  # a report is a view; never lose the batch over one
            warnings.warn(f"no HTML report for {result.submission}: {exc!r}", stacklevel=2)


def _html_renderer():
    try:
        from .render import html
    except ImportError:
        return None
    return html


def grade_folder(folder: Path, out: Path, *, reference: Path | None = None,
                 settings: Settings | None = None, workers: int | None = None,
                 force: bool = False, junit_path: Path | None = None,
                 progress_stream=None) -> ExitCode:
    """Grade every submission in ``folder`` into ``out``; see the module docstring."""
    settings = settings or Settings(sandbox="required")
    if workers is not None and workers < 1:
        raise UsageError("--workers must be at least 1")
    out = Path(out)
    submissions = find_submissions(folder, exclude=out)
    if not submissions:
        raise UsageError(f"no submissions in {folder}: expected <student>.ipynb files or "
                         "<student>/ folders with one notebook each")
    spec, data_file, settings = _prepare(reference, settings)
    out.mkdir(parents=True, exist_ok=True)
    batch = _Batch(out, grading_options(settings))
    todo, problems = _plan(submissions, spec, batch, force)
    n = min(workers or default_workers(len(todo)), max(1, len(todo)))
    settings = settings.with_(tf_threads=settings.tf_threads or threads_per_worker(n))
    batch.progress = Progress(len(submissions), len(todo) + len(problems), stream=progress_stream)
    batch.progress.begin(list(batch.results.values()), n, settings.tf_threads)
    start = time.monotonic()
    for result in problems:
        batch.save(result)
    try:
        if todo:
            WorkerPool(n, spec, data_file, settings, batch.on_result, batch.progress.tick).run(todo)
    except KeyboardInterrupt:
        batch.progress.close()
        print(f"grader: interrupted; {len(batch.results)} of {len(submissions)} results are saved "
              f"in {out}; run the same command again to grade the rest", file=sys.stderr)
        raise
    batch.progress.close()
    results = [batch.results[s.student] for s in submissions]
    write_course_files(results, out, junit_path, batch.html)
    print(terminal.batch_table(results))
    print(summary_line(results, len(todo), batch.reused, time.monotonic() - start, n, out))
    faults = any(r.exit_code == ExitCode.GRADER_ERROR for r in results)
    return ExitCode.GRADER_ERROR if faults else ExitCode.PASSED


def _prepare(reference: Path | None, settings: Settings) -> tuple[Spec, Path, Settings]:
    """Everything that can fail for the whole batch fails here, before any grading."""
    spec = api.load_spec(reference)
    data_file = api.resolve_data(spec, settings.data_path)
    if api.make_launcher(settings.sandbox).name == "off":  # raises if "required" cannot be met
        settings = settings.with_(sandbox="off")  # "auto" fell back: warn once, not per worker
    return spec, data_file, settings


def _plan(submissions: list[Submission], spec: Spec, batch: _Batch,
          force: bool) -> tuple[list[Task], list[Result]]:
    """Keep what was graded before; return what to grade and the submissions without a notebook."""
    todo, problems = [], []
    for sub in submissions:
        if sub.problem:
            problems.append(problem_result(sub, spec))
            continue
        saved = batch.out / f"{sub.student}.json"
        old = None if force else reusable(saved, sha256_file(sub.notebook), spec, batch.options)
        if old is not None:
            batch.keep(old)
        else:
            todo.append(Task(sub.student, sub.notebook))
    return todo, problems


def write_course_files(results: list[Result], out: Path, junit_path: Path | None, html) -> None:
    csv_out.write_grades(results, out / csv_out.GRADES_FILE)
    if junit_path:
        junit.write_junit(results, junit_path)
    if html is not None:
        try:
            html.write_index(results, out)
        except Exception as exc:
            warnings.warn(f"no HTML index: {exc!r}", stacklevel=2)


def summary_line(results: list[Result], graded: int, reused: int, seconds: float, workers: int,
                 out: Path) -> str:
    counts = {s: sum(r.status is s for r in results) for s in Status}
    faults = sum(r.exit_code == ExitCode.GRADER_ERROR for r in results)
    parts = ", ".join(f"{n} {s.value}" for s, n in counts.items())
    text = f"grader: {len(results)} submissions: {parts}"
    if faults:
        text += f" ({faults} grader faults: run again to retry)"
    if graded:
        text += f"; graded {graded} in {duration(seconds)} with {workers} worker{'s' * (workers > 1)}"
    if reused:
        text += f"; {reused} unchanged since an earlier run"
    levels = sorted({r.sandbox for r in results if r.sandbox})  # sandbox level(s) used
    return text + (f"; sandbox {', '.join(levels)}" if levels else "") + f"; results in {out}"

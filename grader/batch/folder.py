"""Grading a course: every submission in a folder, in parallel, nothing ever lost.

Read top to bottom: find the submissions and read each once without following links
(``grader.intake.submissions``) → test and lock the output folder (``grader.batch.outdir``) → reuse the results of
an earlier run that are still valid (same notebook bytes, grader version, reference spec,
grading options and maximum score) → grade the rest in worker processes (``grader.batch.local.workers``)
from private copies of the bytes read → write each ``students/<id>.json`` atomically the moment
it is known, with the other formats' per-student files → write the course files (``grades.csv``,
``index.html``, JUnit; ``grader.batch.outputs``) from the results of the submissions this run
found. A re-run after a crash, Ctrl-C, SIGTERM, ``kill -9`` or a full disk
therefore grades only what is missing.
"""
from __future__ import annotations

import json
import os
import shutil
import sys
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path

import psutil

from grader import __version__, api, errors, pipeline
from grader.answers import workflow
from grader.batch.executor import Task, default_size, executor_for
from grader.batch.executor import chosen as chosen_executor
from grader.batch.local.workers import BATCH_PREFIX
from grader.batch.outdir import Lock, file_stem, preflight, student_file
from grader.batch.outputs import Outputs, chosen
from grader.checks import registry
from grader.exceptions import NotGradable, OutputError, UsageError
from grader.exercise.spec import Spec
from grader.exitcodes import ExitCode
from grader.intake import archive, sources
from grader.intake.submissions import (  # noqa: F401 -- find_submissions: tests import it here
    Submission,
    find_submissions,
    read_submission,
    shown,
)
from grader.lms import gradebook as lms
from grader.lms import late
from grader.lms.gradebook import GradebookOptions
from grader.render import terminal, writers
from grader.render.files import write_json
from grader.render.progress import Progress, duration
from grader.result import Result, Status
from grader.settings import Settings
from grader.util.files import sha256_bytes

#: memory one worker may need at once: a kernel with TensorFlow and the course data, plus the
#: verifier training the architecture; the default number of workers keeps within what is free
WORKER_MEMORY_BYTES = 2 * 1024**3


def problem_result(sub: Submission, spec: Spec, max_score: float) -> Result:
    """The result for a student with no single regular notebook to grade (not gradable)."""
    return Result.not_graded(NotGradable(sub.problem or "not graded", sub.kind),
                             student=sub.student, spec=spec, max_score=max_score)


# -- reusing earlier results ---------------------------------------------------------------------

def grading_options(settings: Settings) -> dict:
    """Settings that change what a result means: a result graded otherwise is not reused."""
    return {"verify": settings.verify, "verify_epochs": settings.verify_epochs,
            "notebook_epochs": settings.notebook_epochs, "notebook_steps": settings.notebook_steps}


def batch_max_score(spec: Spec, settings: Settings) -> float:
    """One maximum for every row of a batch (``--no-verify`` leaves the accuracy points out)."""
    return registry.max_score(spec, settings.verify and bool(spec.training))


def reusable(path: Path, notebook_sha: str, spec: Spec, options: dict,
             max_score: float | None = None, student: str | None = None) -> Result | None:
    """The saved result if it was graded from the same inputs by the same grader code (and
    not a grader fault), for this ``student`` (a file may hold another's: a case-insensitive
    file system, a copied folder)."""
    from grader.pipeline import source_fingerprint

    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        result = Result.from_dict(data)
    except (OSError, ValueError, TypeError, KeyError):
        return None
    same = (result.notebook_sha256 == notebook_sha
            and result.versions.get("grader") == __version__
            and result.versions.get("grader_source") == source_fingerprint()
            and result.spec.get("sha256") == spec.sha256
            and data.get("options") == options
            and (max_score is None or result.max_score == max_score)
            and (student is None or result.submission == student))
    retried = result.exit_code == ExitCode.GRADER_ERROR or (
        result.error is not None and errors.is_retried(result.error.kind))
    return result if same and not retried else None


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


def _default_size(settings: Settings, pending: int) -> int:
    """The chosen executor's size (a cluster's slots), else what this machine allows."""
    size = default_size(settings, pending)
    return default_workers(pending) if size is None else size


def threads_per_worker(workers: int) -> int:
    """TensorFlow threads per kernel/verifier, so that workers together fill the cores once."""
    return max(1, cores() // max(1, workers))


# -- the batch -----------------------------------------------------------------------------------

class _Batch:
    """Writes every result as soon as it is known, and keeps them for the course files."""

    def __init__(self, out: Path, options: dict, max_score: float,
                 progress: Progress | None = None, outputs: Outputs | None = None) -> None:
        self.out, self.options, self.max_score, self.progress = out, options, max_score, progress
        self.outputs = outputs or Outputs(out, chosen(None, None))  # grade's default formats
        self.results: dict[str, Result] = {}
        self.reused = 0
        #: a person's kept points, shown with each result (``grader.answers.workflow``)
        self.presenter: workflow.Presenter | None = None
        #: what the LMS export says of each student's entry, and the exercise's late policy
        self.origins: dict[str, dict] = {}
        self.policy: late.LatePolicy | None = None

    def annotate(self, result: Result) -> bool:
        """Attach the entry's origin and lateness (policy applied); True if they changed."""
        before = (result.origin, result.late)
        result.origin = self.origins.get(result.submission)
        result.late = late.assess(result.origin, result.score, result.max_score, self.policy)
        return (result.origin, result.late) != before

    def _shown(self, result: Result) -> Result:
        """The result as people see it: with a person's kept points, lateness on that total."""
        if self.presenter is None:
            return result
        shown = self.presenter.show(result)
        if shown is not result and shown.score != result.score:
            shown.late = late.assess(shown.origin, shown.score, shown.max_score, self.policy)
        return shown

    def save(self, result: Result) -> None:
        if result.status in (Status.ERROR, Status.TIMEOUT):  # 0 points: one maximum per batch
            result.max_score = self.max_score
        self.annotate(result)
        shown = self._shown(result)
        with self.writing():  # recorded once written: "N results are saved" counts these
            self.rewrite(result, shown)
            self.results[result.submission] = result
        if self.progress:
            self.progress.result(shown)

    def rewrite(self, result: Result, shown: Result) -> None:
        """The record (the automatic result, noting the kept points) and the reports (shown)."""
        data = result.to_dict()
        data["options"] = self.options
        write_json(student_file(self.out, result.submission, ".json"), data)
        self.outputs.student_docs(shown)

    def keep(self, result: Result) -> None:
        """A result from an earlier run: left as it is (its reports written if missing, all
        of it again if the points kept for it changed since)."""
        self.results[result.submission] = result
        self.reused += 1
        changed = self.annotate(result)  # a new late policy or export: no regrade, new record
        noted = (result.manual, list(result.manual_pending))
        shown = self._shown(result)
        with self.writing():
            if changed or (result.manual, result.manual_pending) != noted:
                self.rewrite(result, shown)
            else:
                self.outputs.student_docs(shown, missing_only=True)

    @contextmanager
    def writing(self):
        """A write error (ENOSPC, EROFS, EIO) stops the batch cleanly: exit 5, one line, and
        every result saved so far stays (each file is written atomically) for the next run."""
        try:
            yield
        except OSError as exc:
            if self.progress:
                self.progress.close()
            raise OutputError(f"cannot write the results in {self.out} ({exc.strerror or exc}); "
                              f"{len(self.results)} results are saved; run the same command again "
                              "once the folder is writable to grade the rest") from None

    def on_result(self, task: Task, data: dict) -> None:
        try:
            result = Result.from_dict(data)
        except (ValueError, TypeError, KeyError) as exc:
            result = Result.grader_fault(task.student, f"the worker sent an unreadable result: "
                                         f"{exc!r}", versions=pipeline.versions())
        result.submission = task.student
        self.save(result)


def _holds_notebooks(out: Path) -> bool:
    """An output folder never holds notebooks; one that does is someone's submission."""
    try:
        with os.scandir(out) as it:
            return any(e.name.endswith(".ipynb") and e.is_file(follow_symlinks=False) for e in it)
    except OSError:  # absent (created later) or unreadable (pre-flight says so)
        return False


def grade_folder(folder: Path, out: Path, *, reference: Path | None = None,
                 settings: Settings | None = None, workers: int | None = None,
                 force: bool = False, junit_path: Path | None = None,
                 progress_stream=None, gradebook: GradebookOptions | None = None,
                 formats: list[writers.Writer] | None = None,
                 context: writers.FormatContext | None = None, layout: str | None = None,
                 limits: archive.Limits | None = None, manual: Path | None = None) -> ExitCode:
    """Grade every submission in ``folder`` (or an LMS's zip) into ``out``; see the module
    docstring. ``formats`` are written besides the defaults (JSON, HTML, CSV;
    ``grader.render.writers``); ``layout`` forces an LMS layout (``grader.intake.lms_layout``);
    ``manual``: a TA's CSV merged into the results (``grader.answers.workflow``)."""
    manual_text = workflow.read_manual(manual) if manual is not None else None
    settings = settings or Settings(sandbox="required")
    if gradebook is not None:
        lms.load(gradebook)  # a bad roster stops the batch before any grading
    if workers is not None and workers < 1:
        raise UsageError("--workers must be at least 1")
    out = Path(out)
    if out.is_dir() and Path(folder).is_dir() and os.path.samefile(out, folder):
        raise UsageError("--out must not be the submissions folder itself (its students/ would "
                         "be read as a student): choose another folder, e.g. a subfolder")
    if _holds_notebooks(out):
        raise UsageError(f"--out {shown(str(out))} holds notebooks (a student's folder?): its "
                         "submission would be left out; choose an empty or a results folder")
    zipped = archive.is_archive(folder)
    gathered = None if zipped else sources.from_folder(folder, layout, exclude=out)
    preflight(out, junit_path)
    with Lock(out):
        if gathered is None:
            gathered = sources.from_archive(folder, out, layout, limits)
        for note in gathered.notes:
            print(f"grader: {note}", file=sys.stderr)
        submissions = gathered.submissions
        spec, data_file, settings = _prepare(reference, settings)
        outputs = Outputs(out, chosen(formats, junit_path), context or writers.FormatContext(),
                          {"junit": Path(junit_path)} if junit_path else {})
        batch = _Batch(out, grading_options(settings), batch_max_score(spec, settings),
                       outputs=outputs)
        batch.origins = {s.student: s.origin for s in submissions if s.origin}
        batch.policy = late.load(Path(spec.path).parent if spec.path else None)
        batch.presenter = workflow.Presenter(out, spec)
        intake = tempfile.mkdtemp(prefix=f"{BATCH_PREFIX}{os.getpid()}-intake-")
        try:
            return _run(submissions, batch, spec, data_file, settings, workers, force,
                        progress_stream, Path(intake), gradebook, manual_text)
        finally:
            shutil.rmtree(intake, ignore_errors=True)


def _run(submissions: list[Submission], batch: _Batch, spec: Spec, data_file: Path,
         settings: Settings, workers: int | None, force: bool, progress_stream, intake: Path,
         gradebook: GradebookOptions | None = None, manual_text: str | None = None) -> ExitCode:
    """Plan, grade what is left in the worker pool, then write the gradebook files."""
    out = batch.out
    todo, problems = _plan(submissions, spec, batch, force, settings, intake)
    with batch.writing():
        batch.outputs.remove_course_files()
    n = min(workers or (_default_size(settings, len(todo)) if todo else 1), max(1, len(todo)))
    settings = settings.with_(tf_threads=settings.tf_threads or threads_per_worker(n))
    batch.progress = Progress(len(submissions), len(todo) + len(problems), stream=progress_stream)
    executor = executor_for(n, spec, data_file, settings, batch.on_result, batch.progress.tick) \
        if todo else None
    where = executor.name if executor else "local"
    batch.progress.begin(list(batch.results.values()), n, settings.tf_threads, where)
    start = time.monotonic()
    try:
        for result in problems:
            batch.save(result)
        if executor:
            executor.run(todo)
    except KeyboardInterrupt:
        batch.progress.close()
        print(f"grader: interrupted; {len(batch.results)} of {len(submissions)} results are saved "
              f"in {out}; run the same command again to grade the rest", file=sys.stderr)
        raise
    batch.progress.close()
    results = [batch.results[s.student] for s in submissions]
    with batch.writing():
        results, refused = batch.presenter.finish(results, manual_text, batch.rewrite) \
            if batch.presenter else (results, None)
        batch.outputs.write_course_files(results, gradebook, spec.exercise)
    print(terminal.batch_table(results))
    print(summary_line(results, len(todo), batch.reused, time.monotonic() - start, n, out, where))
    if refused is not None:
        raise refused  # exit 2, every bad line named; the grading itself is saved
    faults = any(r.exit_code == ExitCode.GRADER_ERROR for r in results)
    return ExitCode.GRADER_ERROR if faults else ExitCode.PASSED


def _prepare(reference: Path | None, settings: Settings) -> tuple[Spec, Path, Settings]:
    """Everything that can fail for the whole batch fails here, before any grading."""
    spec = api.load_spec(reference)
    data_file = api.resolve_data(spec, settings.data_path)
    if not chosen_executor(settings).grades_here:  # each worker checks its own machine's sandbox
        return spec, data_file, settings
    if api.make_launcher(settings.sandbox).name == "off":  # raises if "required" cannot be met
        settings = settings.with_(sandbox="off")  # "auto" fell back: warn once, not per worker
    return spec, data_file, settings


def _plan(submissions: list[Submission], spec: Spec, batch: _Batch, force: bool,
          settings: Settings, intake: Path) -> tuple[list[Task], list[Result]]:
    """Read each notebook once (``grader.intake.submissions``); keep what was graded before from the same
    bytes; the rest is copied privately for the workers, who never open the student's path."""
    todo, problems = [], []
    for number, sub in enumerate(submissions):
        if sub.problem:
            problems.append(problem_result(sub, spec, batch.max_score))
            continue
        assert sub.notebook is not None  # a submission without a problem has its notebook
        try:
            data = read_submission(sub.notebook, settings.max_notebook_bytes, root=sub.root)
        except NotGradable as exc:
            problems.append(Result.not_graded(exc, student=sub.student, spec=spec,
                                              max_score=batch.max_score))
            continue
        saved = student_file(batch.out, sub.student, ".json")
        sha = sha256_bytes(data)
        old = None if force else reusable(saved, sha, spec, batch.options, batch.max_score,
                                         sub.student)
        if old is not None:
            batch.keep(old)
            continue
        copy = intake / str(number) / f"{file_stem(sub.student)}.ipynb"
        copy.parent.mkdir()
        copy.write_bytes(data)
        todo.append(Task(sub.student, copy))
    return todo, problems


def summary_line(results: list[Result], graded: int, reused: int, seconds: float, workers: int,
                 out: Path, where: str = "local") -> str:
    """The batch's last line; ``where`` is the executor's name (``Executor.name``)."""
    counts = {s: sum(r.status is s for r in results) for s in Status}
    faults = sum(r.exit_code == ExitCode.GRADER_ERROR for r in results)
    parts = ", ".join(f"{n} {s.value}" for s, n in counts.items())
    text = f"grader: {len(results)} submissions: {parts}"
    if faults:
        text += f" ({faults} grader faults: run again to retry)"
    if graded and where != "local":
        text += f"; graded {graded} in {duration(seconds)} on {where} ({workers} at once)"
    elif graded:
        text += f"; graded {graded} in {duration(seconds)} with {workers} worker{'s' * (workers > 1)}"
    if reused:
        text += f"; {reused} unchanged since an earlier run"
    levels = sorted({r.sandbox for r in results if r.sandbox})  # sandbox level(s) used
    return text + (f"; sandbox {', '.join(levels)}" if levels else "") + f"; results in {out}"

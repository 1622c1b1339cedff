"""Grading one submission, stage by stage. Read ``Grader.grade`` top to bottom:

provision data → execute notebook → extract the models and select one → compare with
reference → verification training → score. Each stage returns a small typed value
(``Execution``, ``StructureVerdict``, ``Verification``), and one ``Result`` is assembled from
them at the end. Every failure becomes a ``Result`` (``Result.not_graded``: status, error kind,
traceback, advice; ``Result.grader_fault`` for the grader's own bugs), never a crash, and keeps
what the stages before it found: a batch goes on whatever one submission does.
"""
from __future__ import annotations

import hashlib
import time
import traceback
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from functools import lru_cache
from pathlib import Path
from typing import Any, Protocol

from grader import __version__, advice, errors
from grader.answers import extract as answers
from grader.baselines.compare import beside as baselines_beside
from grader.checks import facts, registry, scoring
from grader.checks.kind import ANSWERS, TRAINING, CheckContext
from grader.exceptions import GraderError
from grader.execute import runner
from grader.execute.kernel import compat
from grader.execute.needs import wants_tensorflow
from grader.exercise.spec import Spec
from grader.extract import report as extract
from grader.extract.report import ExtractedModel
from grader.extract.select import Choice
from grader.intake.scan import scan_notebook
from grader.result import Check, Result, Status, spec_identity
from grader.sandbox.launch import Launcher
from grader.settings import Settings
from grader.util.files import sha256_bytes
from grader.util.versions import package_versions
from grader.verify import crosscheck, kept
from grader.verify.early import EarlyTraining


@lru_cache(maxsize=1)
def source_fingerprint() -> str:
    """A hash of the grader's own code and templates: a batch reuses a saved result only when
    it was graded by exactly this code, whatever the version number says."""
    digest = hashlib.sha256()
    package = Path(__file__).resolve().parent
    for path in sorted(p for p in package.rglob("*") if p.suffix in (".py", ".j2", ".js", ".css")):
        digest.update(path.relative_to(package).as_posix().encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()[:16]


def versions() -> dict:
    """What graded a result: the grader's version and code, and the libraries that ran it."""
    return {"grader": __version__, "grader_source": source_fingerprint(),
            **package_versions("tensorflow", "keras", "nbclient")}


class Verifies(Protocol):
    """What a ``Grader`` needs of its verifier (``grader.verify.verifier.Verifier``, or a
    test's stand-in): started before the first notebook, closed after the last, and called
    with the graded model to train it; it answers the accuracy check and the training (a failure
    is not remembered with ``remember_failure=False``: a training beside the kernel's, whose
    failure may be the kernel's doing, ``grader.verify.early``)."""

    #: this process's trainings by architecture key (a cluster's workers share them)
    memo: dict[str, dict | Exception]

    def start(self) -> object: ...

    def close(self) -> None: ...

    def __call__(self, model: ExtractedModel, spec: Spec, data_file: Path, settings: Settings,
                 *, remember_failure: bool = True) -> tuple[Check, dict]: ...


@dataclass(frozen=True)
class StructureVerdict:
    """Stages 3–4: the graded model and the structure's verdict on it (a ``Result`` holding
    the checks alone, as the self-check gives it), with the student's own training log."""

    chosen: Choice
    verdict: Result
    history: dict | None
    history_source: str | None


@dataclass(frozen=True)
class Verification:
    """Stage 5: the accuracy check of the grader's own training of the architecture."""

    check: Check
    training: dict
    seconds: float


@dataclass
class Stages:
    """The typed outputs of the stages that finished: a failure keeps what they found."""

    sha256: str | None = None
    #: the static scan's flags (``grader.intake.scan``), found before the kernel runs
    review: list[dict] | None = None
    #: the written answers, read from the notebook's JSON before it runs
    answers: list | None = None
    saved_run: dict | None = None
    answers_seconds: float = 0.0
    execution: runner.Execution | None = None
    structure: StructureVerdict | None = None
    crosscheck: crosscheck.Outcome | None = None
    verification: Verification | None = None
    #: the kernel described another network first than in its report (``grader.verify.early``)
    preview_differs: bool = False


class Grader:
    """One exercise graded with one set of tools (launcher, verifier), for many notebooks.

    The verifier's worker starts as a notebook that may need it starts to run (TensorFlow's
    import overlaps the notebook's; ``grader.execute.needs``: one that never names Keras or
    TensorFlow builds no model, and a hidden one still gets the worker on demand). Used as a
    context manager, it closes the worker on exit; ``verifier=None`` grades without the
    accuracy check (``--no-verify``, or a spec without calibration).
    """

    def __init__(self, spec: Spec, data_file: Path, settings: Settings, launcher: Launcher,
                 verifier: Verifies | None = None) -> None:
        self.spec, self.data_file, self.settings = spec, Path(data_file), settings
        self.launcher, self.verifier = launcher, verifier
        #: the worker that cross-checks without a verifier (``--no-verify``): started on use
        self._checker: Any = None
        #: verification counts (and its points are in the maximum) only with a verifier
        self.verifies = verifier is not None and settings.verify
        #: the grading's training started from the kernel's first description, while it runs
        self._early: EarlyTraining | None = None
        self._pool: ThreadPoolExecutor | None = None  # its thread, started on first use

    def __enter__(self) -> Grader:
        return self

    def start(self) -> Grader:
        """Start the verifier's worker (again, if it died); ``close`` stops it. A verifier
        without ``start`` (any callable: a library's own, a test's) has nothing to start."""
        start = getattr(self.verifier, "start", None)
        if callable(start):
            start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _restart(self) -> None:
        """A worker replaced after its last job starts again beside this notebook's kernel;
        one that cannot start now (e.g. no memory) is started on demand, where its failure is
        reported as the verification's, not as a grader bug."""
        try:
            self.start()
        except OSError:
            pass

    def close(self) -> None:
        close = getattr(self.verifier, "close", None)
        if callable(close):
            close()
        if self._checker is not None:
            kept.release(self._checker)  # stopped, unless a ``kept()`` block keeps it
        self._checker = None
        if self._pool is not None:
            self._pool.shutdown()
        self._pool = None

    def grade(self, notebook: Path) -> Result:
        """Grade one notebook. Never raises for anything the submission does."""
        start = time.monotonic()
        done = Stages()
        try:
            self._early = self._early_training()
            content = Path(notebook).read_bytes()  # read once: hashed, scanned, parsed and run
            if wants_tensorflow(content):
                self._restart()
            done.sha256 = sha256_bytes(content)
            done.review = self.scan(content)
            began = time.monotonic()
            done.answers, done.saved_run = self.read_answers(content)
            done.answers_seconds = time.monotonic() - began
            done.execution = self.execute(notebook, content)
            done.structure = self.compare(done.execution)
            done.preview_differs = self._early is not None \
                and self._early.differs(done.structure.chosen.model)
            done.crosscheck = self.crosscheck(done.execution, done.structure)
            done.verification = self.verify(done.structure)
            result = self.assemble(notebook, done)
            scoring.score(result)
        except GraderError as exc:
            result = Result.not_graded(exc, base=self._found(notebook, done), facts=self.facts())
        except Exception as exc:  # a grader bug: a result still, with the traceback to report
            result = Result.grader_fault(notebook.stem, f"internal grader error: {exc!r}",
                                         detail=traceback.format_exc(),
                                         advice=errors.INTERNAL_ERROR,
                                         base=self._found(notebook, done))
        except BaseException:  # interrupted (Ctrl-C, SIGTERM): no waiting for a training
            if self._early is not None:
                self._early.stop()
            raise
        finally:
            if self._early is not None:
                self._early.settle()  # no training outlives its grading (the worker is shared)
            self._early = None
        result.timings["total"] = round(time.monotonic() - start, 2)
        return result

    def _early_training(self) -> EarlyTraining | None:
        """A grading's early training (``grader.verify.early``), when it verifies at all."""
        if not self._trains():
            return None
        if self._pool is None:
            self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="grader-early")
        assert self.verifier is not None  # _trains says so
        return EarlyTraining(self.verifier, self.spec, self.data_file, self.settings, self._pool)

    def _trains(self) -> bool:
        """Whether a graded model's architecture is trained (the accuracy check)."""
        return self.verifies and bool(self.spec.training) and registry.declares(self.spec, TRAINING)

    # -- the stages, in order --------------------------------------------------------------------

    def scan(self, content: bytes) -> list[dict]:
        """Stage 1b: flag code that tampers with the grading environment, from the bytes on
        disk, before and independent of the kernel (a flag, never a verdict)."""
        try:
            return scan_notebook(content)
        except Exception as exc:  # a bug of the scan must not cost the grading
            return [{"source": "scan", "cell_index": None, "line": None, "code": "scan-error",
                     "message": f"the static scan failed ({exc!r}): read the notebook"}]

    def read_answers(self, content: bytes) -> tuple[list, dict | None]:
        """Stage 1c: the written answers and the student's own saved training log, read from
        the notebook as plain JSON (nothing of it runs here)."""
        if not self.spec.questions:
            return [], None
        cells = answers.notebook_cells(content)
        return answers.find_answers(cells, self.spec.questions), facts.saved_run(cells)

    def execute(self, notebook: Path, content: bytes | None = None) -> runner.Execution:
        """Stage 2: run the notebook (``content``: its bytes, if read) in a fresh kernel; only
        its JSON report comes back."""
        early = self._early
        return runner.execute(notebook, self.data_file, self.settings, self.launcher,
                              data_url=self.spec.data.get("url"), content=content,
                              on_described=early.start if early is not None else None)

    def compare(self, run: runner.Execution) -> StructureVerdict:
        """Stages 3–4: choose the model, compare its layers (the self-check's very call)."""
        verdict = Result(submission="", status=Status.ERROR)
        chosen = scoring.grade_structure(run.report, self.spec, self.settings.max_params_factor,
                                           verdict)
        history = chosen.model.history
        source: str | None = "notebook run"
        if not history:  # the notebook's fit was skipped: its saved training log, if any
            history = extract.saved_history(run.original)
            source = "saved outputs" if history else None
        return StructureVerdict(chosen, verdict, history, source)

    def crosscheck(self, run: runner.Execution, compared: StructureVerdict) -> crosscheck.Outcome:
        """Stage 4b: the described network against the kernel's own computation, in the
        verifier's worker (a grader process); also with ``--no-verify`` and memoized trainings.
        An early training holds that worker: the cross-check comes after it."""
        if self._early is not None:
            self._early.settle(compared.chosen.model)  # stopped if it trains another network
        t = time.monotonic()
        checker = self.verifier if callable(getattr(self.verifier, "crosscheck", None)) \
            else self._own_checker()
        outcome = crosscheck.run(checker, compared.chosen.model, run.report, self.settings,
                                 seed=run.probe_seed)
        outcome.found["seconds_total"] = round(time.monotonic() - t, 3)
        return outcome

    def _own_checker(self) -> Any:
        if self._checker is None:
            self._checker = kept.checker(self.settings)
        return self._checker

    def verify(self, compared: StructureVerdict) -> Verification | None:
        """Stage 5: train the architecture itself; the notebook's own numbers are never trusted.
        The early training's answer when it trained this very job (``grader.verify.early``)."""
        if not self._trains():  # the exercise has no such check, or no verifier
            return None
        early = self._early.take(compared.chosen.model) if self._early is not None else None
        if early is not None:
            (check, training), seconds = early
            return Verification(check, training, seconds)
        t = time.monotonic()
        assert self.verifier is not None  # self.verifies says so
        check, training = self.verifier(compared.chosen.model, self.spec, self.data_file,
                                        self.settings)
        return Verification(check, training, round(time.monotonic() - t, 2))

    def assemble(self, notebook: Path, done: Stages) -> Result:
        """One ``Result`` from the stages that finished (not yet scored)."""
        result = Result(submission=notebook.stem, status=Status.ERROR,
                        max_score=registry.max_score(self.spec, self.verifies), versions=versions(),
                        spec=spec_identity(self.spec), sandbox=self.launcher.name,
                        notebook_sha256=done.sha256, review=list(done.review or []))
        run, compared, verified = done.execution, done.structure, done.verification
        result.answers = [a.to_dict() for a in done.answers or []]
        if done.answers:
            result.timings["answers"] = round(done.answers_seconds, 4)
        if run is None:
            return result
        result.timings["execute"] = round(run.seconds, 2)
        used, neutralized = extract.environment(run.report, compat.MAPPINGS, advice.NEUTRALIZED)
        result = replace(result, warnings=list(run.warnings), neutralized=neutralized,
                         compat={"detected": run.legacy, "mappings": used} if run.legacy else None,
                         review=[*result.review, *crosscheck.review_entries(run.report),
                                 *([dict(crosscheck.PREVIEW_DIFFERS)] if done.preview_differs else [])])
        if compared is None:
            return result
        mine = {name: getattr(result, name) for name in OWN_FIELDS}
        result = replace(compared.verdict, **mine,
                         warnings=[*run.warnings, *compared.verdict.warnings],
                         checks=list(compared.verdict.checks),
                         student_history=compared.history,
                         student_history_source=compared.history_source)
        if verified is not None:
            result.timings["verify"] = verified.seconds
            result.checks += registry.run(CheckContext(self.spec, training=verified.training,
                                                  verification=verified.check,
                                                  earlier=list(result.checks)), TRAINING)
            result.training = verified.training
        if done.crosscheck is not None:  # before the answers: it withdraws the code's points
            result.timings["crosscheck"] = done.crosscheck.found.get("seconds_total")
            crosscheck.apply(result, done.crosscheck)
        result.checks += registry.run(CheckContext(self.spec, answers=done.answers,
                                              saved_run=done.saved_run), ANSWERS)
        result.baselines = baselines_beside(self.spec, result)  # read, never trained
        return result

    def _found(self, notebook: Path, done: Stages) -> Result:
        """What a failed grading keeps: the stages that finished (only the submission's
        identity when assembling them is what failed)."""
        try:
            return self.assemble(notebook, done)
        except Exception:
            return self.assemble(notebook, Stages(sha256=done.sha256, review=done.review))

    def facts(self) -> advice.Facts:
        """The grading machine as the advice describes it to a student."""
        found = versions()
        return advice.Facts(str(self.spec.data.get("file") or self.data_file.name),
                            found.get("tensorflow"), found.get("keras"), markers=self.spec.markers)


#: the fields of a result that the structure verdict does not set: the submission's identity
#: and the execution's findings
OWN_FIELDS = ("submission", "max_score", "versions", "spec", "sandbox", "notebook_sha256",
              "timings", "neutralized", "compat", "review", "answers")


def check_notebook(notebook: Path, spec: Spec, data_file: Path, settings: Settings,
                   launcher: Launcher, verifier: Verifies | None = None) -> Result:
    """Grade one notebook with tools the caller owns (and closes): ``Grader.grade``."""
    return Grader(spec, data_file, settings, launcher, verifier).grade(notebook)



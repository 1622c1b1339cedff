"""Grading one submission, stage by stage. Read ``Grader.grade`` top to bottom:

provision data → execute notebook → extract the models and select one → compare with
reference → verification training → score. Each stage returns a small typed value
(``Execution``, ``Comparison``, ``Verification``), and one ``Result`` is assembled from them at
the end. Every failure becomes a ``Result`` (``Result.not_graded``: status, error kind,
traceback, advice; ``Result.grader_fault`` for the grader's own bugs), never a crash, and keeps
what the stages before it found: a batch goes on whatever one submission does.
"""
from __future__ import annotations

import hashlib
import time
import traceback
from dataclasses import dataclass, replace
from functools import lru_cache
from pathlib import Path
from typing import Any

from grader import __version__, advice, errors
from grader.compare import structure
from grader.exceptions import GraderError
from grader.execute import runner
from grader.execute.kernel import compat
from grader.extract import report as extract
from grader.extract.select import Choice
from grader.result import Check, Result, Status, spec_identity
from grader.sandbox.launch import Launcher
from grader.score import registry
from grader.score.checks import TRAINING, Context
from grader.settings import Settings
from grader.spec import Spec
from grader.util.files import sha256_file
from grader.util.versions import package_versions
from grader.verify import crosscheck


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


@dataclass(frozen=True)
class Comparison:
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
    execution: runner.Execution | None = None
    comparison: Comparison | None = None
    crosscheck: crosscheck.Outcome | None = None
    verification: Verification | None = None


class Grader:
    """One exercise graded with one set of tools (launcher, verifier), for many notebooks.

    Used as a context manager, it starts the verifier's worker on entry (TensorFlow's import
    overlaps the first notebook's run) and closes it on exit; ``verifier=None`` grades without
    the accuracy check (``--no-verify``, or a spec without calibration).
    """

    def __init__(self, spec: Spec, data_file: Path, settings: Settings, launcher: Launcher,
                 verifier=None) -> None:
        self.spec, self.data_file, self.settings = spec, Path(data_file), settings
        self.launcher, self.verifier = launcher, verifier
        #: the worker that cross-checks without a verifier (``--no-verify``): started on use
        self._checker: Any = None
        #: verification counts (and its points are in the maximum) only with a verifier
        self.verifies = verifier is not None and settings.verify

    def __enter__(self) -> Grader:
        return self.start()

    def start(self) -> Grader:
        """Start the verifier's worker (again, if it died); ``close`` stops it."""
        start = getattr(self.verifier, "start", None)
        if callable(start):
            start()
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        for tool in (self.verifier, self._checker):
            close = getattr(tool, "close", None)
            if callable(close):
                close()
        self._checker = None

    def grade(self, notebook: Path) -> Result:
        """Grade one notebook. Never raises for anything the submission does."""
        start = time.monotonic()
        done = Stages()
        try:
            done.sha256 = sha256_file(Path(notebook))
            done.execution = self.execute(notebook)
            done.comparison = self.compare(done.execution)
            done.crosscheck = self.crosscheck(done.execution, done.comparison)
            done.verification = self.verify(done.comparison)
            result = self.assemble(notebook, done)
            structure.score(result)
        except GraderError as exc:
            result = Result.not_graded(exc, base=self._found(notebook, done), facts=self.facts())
        except Exception as exc:  # a grader bug: a result still, with the traceback to report
            result = Result.grader_fault(notebook.stem, f"internal grader error: {exc!r}",
                                         detail=traceback.format_exc(),
                                         advice=errors.INTERNAL_ERROR,
                                         base=self._found(notebook, done))
        result.timings["total"] = round(time.monotonic() - start, 2)
        return result

    # -- the stages, in order --------------------------------------------------------------------

    def execute(self, notebook: Path) -> runner.Execution:
        """Stage 2: run the notebook in a fresh kernel; only its JSON report comes back."""
        return runner.execute(notebook, self.data_file, self.settings, self.launcher,
                               data_url=self.spec.data.get("url"))

    def compare(self, run: runner.Execution) -> Comparison:
        """Stages 3–4: choose the model, compare its layers (the self-check's very call)."""
        verdict = Result(submission="", status=Status.ERROR)
        chosen = structure.grade_structure(run.report, self.spec, self.settings.max_params_factor,
                                           verdict)
        history = chosen.model.history
        source: str | None = "notebook run"
        if not history:  # the notebook's fit was skipped: its saved training log, if any
            history = extract.saved_history(run.original)
            source = "saved outputs" if history else None
        return Comparison(chosen, verdict, history, source)

    def crosscheck(self, run: runner.Execution, compared: Comparison) -> crosscheck.Outcome:
        """Stage 4b: the described network against the kernel's own computation, in the
        verifier's worker (a grader process); also with ``--no-verify`` and memoized trainings."""
        t = time.monotonic()
        checker = self.verifier if callable(getattr(self.verifier, "crosscheck", None)) \
            else self._own_checker()
        outcome = crosscheck.run(checker, compared.chosen.model, run.report, self.settings)
        outcome.found["seconds_total"] = round(time.monotonic() - t, 3)
        return outcome

    def _own_checker(self):
        if self._checker is None:
            from grader.verify.verifier import Verifier
            self._checker = Verifier(self.settings).start()
        return self._checker

    def verify(self, compared: Comparison) -> Verification | None:
        """Stage 5: train the architecture itself; the notebook's own numbers are never trusted."""
        if not self.verifies or not self.spec.training \
                or not registry.declares(self.spec, TRAINING):  # the exercise has no such check
            return None
        t = time.monotonic()
        check, training = self.verifier(compared.chosen.model, self.spec, self.data_file,
                                        self.settings)
        return Verification(check, training, round(time.monotonic() - t, 2))

    def assemble(self, notebook: Path, done: Stages) -> Result:
        """One ``Result`` from the stages that finished (not yet scored)."""
        result = Result(submission=notebook.stem, status=Status.ERROR,
                        max_score=self.spec.max_score(self.verifies), versions=versions(),
                        spec=spec_identity(self.spec), sandbox=self.launcher.name,
                        notebook_sha256=done.sha256)
        run, compared, verified = done.execution, done.comparison, done.verification
        if run is None:
            return result
        result.timings["execute"] = round(run.seconds, 2)
        used, neutralized = extract.environment(run.report, compat.MAPPINGS, advice.NEUTRALIZED)
        result = replace(result, warnings=list(run.warnings), neutralized=neutralized,
                         compat={"detected": run.legacy, "mappings": used} if run.legacy else None,
                         review=crosscheck.review_entries(run.report))
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
            result.checks += registry.run(Context(self.spec, training=verified.training,
                                                  verification=verified.check), TRAINING)
            result.training = verified.training
        if done.crosscheck is not None:
            result.timings["crosscheck"] = done.crosscheck.found.get("seconds_total")
            crosscheck.apply(result, done.crosscheck)
        return result

    def _found(self, notebook: Path, done: Stages) -> Result:
        """What a failed grading keeps: the stages that finished (only the submission's
        identity when assembling them is what failed)."""
        try:
            return self.assemble(notebook, done)
        except Exception:
            return self.assemble(notebook, Stages(sha256=done.sha256))

    def facts(self) -> advice.Facts:
        """The grading machine as the advice describes it to a student."""
        found = versions()
        return advice.Facts(str(self.spec.data.get("file") or self.data_file.name),
                            found.get("tensorflow"), found.get("keras"), markers=self.spec.markers)


#: the fields of a result that the structure verdict does not set: the submission's identity
#: and the execution's findings
OWN_FIELDS = ("submission", "max_score", "versions", "spec", "sandbox", "notebook_sha256",
              "timings", "neutralized", "compat", "review")


def check_notebook(notebook: Path, spec: Spec, data_file: Path, settings: Settings,
                   launcher: Launcher, verifier=None) -> Result:
    """Grade one notebook with tools the caller owns (and closes): ``Grader.grade``."""
    return Grader(spec, data_file, settings, launcher, verifier).grade(notebook)


_score = structure.score  # its former name (tests, other callers)


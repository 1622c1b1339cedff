"""Grading one submission, stage by stage. Read top to bottom:

provision data → execute notebook → extract the models and select one → compare with
reference → verification training → score. Every failure becomes a ``Result`` (status, error
kind, traceback), never a crash: a batch goes on whatever one submission does.
"""
from __future__ import annotations

import hashlib
import time
import traceback
from functools import lru_cache
from pathlib import Path

from grader import __version__
from grader import advice
from grader.execute import runner as execute
from grader.extract import report as extract
from grader.compare import structure
from grader.exceptions import GraderError
from grader.execute.kernel import compat
from grader.sandbox.launch import Launcher
from grader.result import ErrorInfo, Result, Status
from grader.score import registry
from grader.score.checks import TRAINING, Context
from grader.settings import Settings
from grader.spec import Spec
from grader.util.files import sha256_file
from grader.util.versions import package_versions


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


def check_notebook(notebook: Path, spec: Spec, data_file: Path, settings: Settings,
                   launcher: Launcher, verifier=None) -> Result:
    """Grade one notebook. Never raises for anything the submission does."""
    start = time.monotonic()
    verified = verifier is not None and settings.verify  # --no-verify: no accuracy points
    result = Result(submission=notebook.stem, status=Status.ERROR,
                    max_score=spec.max_score(verified),
                    versions=versions(), spec={"exercise": spec.exercise, "sha256": spec.sha256,
                                               "path": spec.path},
                    sandbox=launcher.name)
    try:
        result.notebook_sha256 = sha256_file(notebook)
        _grade(notebook, spec, data_file, settings, launcher, verifier, result)
    except GraderError as exc:
        facts = advice.Facts(str(spec.data.get("file") or data_file.name),
                             result.versions.get("tensorflow"), result.versions.get("keras"),
                             markers=spec.markers)
        structure.fail(result, exc, facts)
    except Exception as exc:  # a grader bug: still a result, with the traceback for the instructor
        result.error = ErrorInfo(kind="internal", message=f"internal grader error: {exc!r}",
                                 traceback=traceback.format_exc(),
                                 advice="This is a fault of the grader, not of the notebook: "
                                        "please report it with this result.")
        result.summary = "The grader failed on this notebook; this is not your fault."
    result.timings["total"] = round(time.monotonic() - start, 2)
    return result


def _grade(notebook, spec, data_file, settings, launcher, verifier, result: Result) -> None:
    run = execute.execute(notebook, data_file, settings, launcher, data_url=spec.data.get("url"))
    result.timings["execute"] = round(run.seconds, 2)
    result.warnings.extend(run.warnings)
    _environment(result, run)
    chosen = structure.grade_structure(run.report, spec, settings.max_params_factor, result)
    model = chosen.model
    result.student_history, result.student_history_source = model.history, "notebook run"
    if not model.history:  # the notebook's fit was skipped: its saved training log, if any
        result.student_history = extract.saved_history(run.original)
        result.student_history_source = "saved outputs" if result.student_history else None
    if verifier is not None and settings.verify and spec.training \
            and registry.declares(spec, TRAINING):
        t = time.monotonic()
        check, training = verifier(model, spec, data_file, settings)
        result.timings["verify"] = round(time.monotonic() - t, 2)
        result.checks += registry.run(Context(spec, training=training, verification=check),
                                      TRAINING)  # with the points the exercise declares
        result.training = training
    structure.score(result)


def _environment(result: Result, run: execute.Execution) -> None:
    """Say what ran differently from the student's machine: the compatibility layer, the
    neutralized lines (checked against the names the grader knows)."""
    used, result.neutralized = extract.environment(run.report, compat.MAPPINGS, advice.NEUTRALIZED)
    if run.legacy:
        result.compat = {"detected": run.legacy, "mappings": used}


_score, _fail = structure.score, structure.fail  # their former names (tests, other callers)

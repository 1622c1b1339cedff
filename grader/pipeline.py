"""Grading one submission, stage by stage. Read top to bottom:

provision data → execute notebook → extract the models and select one → compare with
reference → verification training → score. Every failure becomes a ``Result`` (status, error
kind, traceback), never a crash: a batch goes on whatever one submission does.
"""
from __future__ import annotations

import hashlib
import time
import traceback
from importlib import metadata
from pathlib import Path

from . import __version__, compare, execute, extract, select
from .exceptions import GraderError, LimitExceeded
from .launch import Launcher
from .result import ErrorInfo, Result, Status
from .settings import Settings
from .spec import Spec

ADVICE = {
    "invalid_notebook": "Open the notebook in Jupyter, check that it saves without errors, and resubmit.",
    "cell_error": "Run the notebook top to bottom (Kernel → Restart & Run All) and fix the first "
                  "error; the grader runs every cell in order.",
    "kernel_died": "The notebook's Python process crashed or ran out of memory; restart and run "
                   "it top to bottom to find the cell that does it.",
    "no_model": "Keep the course's variable name `model` for your network.",
    "disallowed_layer": "Use only standard Keras layers (no Lambda or custom classes).",
    "subclassed_model": "Build the network as the template does: `model = Sequential()`, then one "
                        "`model.add(...)` per layer, in order (or with the functional API, "
                        "`keras.Model(inputs, outputs)`, one layer after the other); do not "
                        "define a class.",
    "not_a_chain": "Build the network as one straight chain of layers, each taking the previous "
                   "layer's output: `model = Sequential()`, then `model.add(...)` per layer.",
    "invalid_model": "Build the network as a plain chain of standard Keras layers.",
    "model_too_large": "Compare your layers with the exercise: the model is far larger than it should be.",
    "timeout": "Make sure no cell waits for input or loops forever; the grader shortens training itself.",
    "output_limit": "Remove loops that print a lot; keep verbose output short.",
    "memory_limit": "The notebook used more memory than allowed; check for huge arrays or layers.",
    "process_limit": "The notebook started too many processes or threads; remove loops that "
                     "start processes (os.fork, subprocess, multiprocessing).",
    "disk_limit": "The notebook wrote more files than allowed; save only what the exercise asks.",
    "cpu_limit": "The notebook used too much CPU time; the grader shortens training itself.",
}


def versions() -> dict:
    out = {"grader": __version__}
    for package in ("tensorflow", "keras", "nbclient"):
        try:
            out[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            out[package] = None
    return out


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
        result.notebook_sha256 = hashlib.sha256(notebook.read_bytes()).hexdigest()
        _grade(notebook, spec, data_file, settings, launcher, verifier, result)
    except GraderError as exc:
        _fail(result, exc)
    except Exception as exc:  # a grader bug: still a result, with the traceback for the instructor
        result.error = ErrorInfo(kind="internal", message=f"internal grader error: {exc!r}",
                                 traceback=traceback.format_exc(),
                                 advice="This is a fault of the grader, not of the notebook: "
                                        "please report it with this result.")
        result.summary = "The grader failed on this notebook; this is not your fault."
    result.timings["total"] = round(time.monotonic() - start, 2)
    return result


def _grade(notebook, spec, data_file, settings, launcher, verifier, result: Result) -> None:
    run = execute.execute(notebook, data_file, settings, launcher)
    result.timings["execute"] = round(run.seconds, 2)
    result.warnings.extend(run.warnings)
    chosen = select.choose(run.report, spec, settings.max_params_factor)
    model = chosen.model
    result.model_variable, result.other_models = model.variable, chosen.others
    result.warnings.extend(chosen.warnings)
    result.student_history, result.student_history_source = model.history, "notebook run"
    if not model.history:  # the notebook's fit was skipped: its saved training log, if any
        result.student_history = extract.saved_history(run.original)
        result.student_history_source = "saved outputs" if result.student_history else None
    infos = chosen.infos  # inferred, and checked against the parameter limit, by the selection
    result.layers = [i.to_dict() for i in infos]
    result.totals = chosen.totals
    result.reference_totals = spec.totals
    checks, rows = compare.check_layers(spec, infos)
    result.alignment = [r.to_dict() for r in rows]
    result.checks = checks
    if verifier is not None and settings.verify and spec.training:
        t = time.monotonic()
        check, training = verifier(model, spec, data_file, settings)
        result.timings["verify"] = round(time.monotonic() - t, 2)
        result.checks.append(check)
        result.training = training
    _score(result)


def _score(result: Result) -> None:
    result.score = float(sum(c.points for c in result.checks))
    failed = result.first_failed
    result.status = Status.FAILED if failed else Status.PASSED
    if failed is None:
        result.summary = "All checks passed: the four layers match the reference."
    else:
        result.summary = f"Fix first: {failed.hint or failed.message}"


def _fail(result: Result, exc: GraderError) -> None:
    details = exc.details
    result.status = Status.TIMEOUT if isinstance(exc, LimitExceeded) else Status.ERROR
    result.score = 0.0
    result.model_variable = result.model_variable or details.get("variable")
    result.other_models = details.get("other_models") or result.other_models
    result.error = ErrorInfo(kind=exc.kind, message=exc.message,
                             cell_index=details.get("cell_index"),
                             cell_source=details.get("cell_source"),
                             traceback=details.get("traceback"),
                             advice=details.get("advice") or ADVICE.get(exc.kind))
    where = f" (cell {result.error.cell_index})" if result.error.cell_index else ""
    result.summary = f"Not graded{where}: {exc.message}"

"""The student's instant self-check inside a notebook: ``from grader.notebook import check``.

``check(model)`` (or ``check()``, which finds the model as the grader does) reads the live model
in the student's own kernel with the grader's own kernel-side extraction
(``kernel/extract_model.py``) and grades its structure with the grader's own code
(``scoring.grade_structure``: selection, layer inference, comparison, hints), against the
packaged reference spec. So its verdict, checks and "Fix first" line are the ones ``grader
check`` gives, in well under a second, with no training and no notebook re-execution. It imports
no TensorFlow, nbclient or matplotlib: only the Keras the student already imported is touched.
It also says what it did not do, and what commonly breaks only at final grading
(``readiness``). In the grading kernel the module is replaced by a stub (``kernel/selfcheck_stub``).
"""
from __future__ import annotations

import json
import os
import sys
import tempfile
import time
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

from grader import advice
from grader.checks import registry, scoring
from grader.exceptions import GraderError
from grader.exercise.spec import DEFAULT_EXERCISE, SPEC_FILE, Spec, default_reference_dir, exercises
from grader.extract import select
from grader.result import Result, Status, spec_identity
from grader.selfcheck import readiness
from grader.settings import Settings

HERE = Path(__file__).resolve().parent
NOT_DONE = ("Structure only: the final grading runs your whole notebook from the top and trains "
            "the network itself (the accuracy check, {points:g} points, is not part of this check).")


@dataclass
class SelfCheck:
    """The verdict on the structure (a grader ``Result``) and the notes beside it."""

    result: Result
    notes: list[readiness.Note] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def passed(self) -> bool:
        return self.result.status is Status.PASSED

    def _repr_html_(self) -> str:
        from grader.selfcheck.render import render_html
        return render_html(self)

    def __repr__(self) -> str:
        from grader.selfcheck.render import render_text
        return render_text(self)


def check(model=None, *, reference: str | Path | None = None, exercise: str | None = None,
          namespace: dict | None = None) -> SelfCheck:
    """Check ``model`` (default: the model the grader would pick from the notebook's variables)."""
    start = time.perf_counter()
    spec = load_spec(reference, exercise)
    ns = namespace if namespace is not None else _namespace()
    names = [str(k) for k, v in ns.items() if v is model and not str(k).startswith("_")] \
        if model is not None else []
    everything = extract_report(ns)
    report = everything if model is None else extract_report({(names or ["model"])[0]: model})
    result = verdict(report, spec)
    notes = [readiness.Note("info", NOT_DONE.format(points=spec.points.get("accuracy", 0)))]
    if model is not None:
        picked = readiness.pick_note(names, _chosen(everything, spec))
        notes += [picked] if picked else []
    notes.append(readiness.data_note(spec.data, Path.cwd()))
    cells = _session_code(ns)
    if cells is not None:
        notes += readiness.source_notes(cells, spec.data)
    return SelfCheck(result, notes, round(time.perf_counter() - start, 3))


def verdict(report: dict, spec: Spec) -> Result:
    """The grader's structure verdict on a kernel report: the same calls as ``pipeline``."""
    result = Result(submission="your notebook", status=Status.ERROR,
                    max_score=registry.max_score(spec, verified=False, answers=False),
                    spec=spec_identity(spec))
    try:
        scoring.grade_structure(report, spec, Settings.max_params_factor, result)
        scoring.score(result)
    except GraderError as exc:
        return Result.not_graded(exc, base=result, facts=advice.Facts(
            str(spec.data.get("file")), markers=spec.markers))
    return result


def _chosen(report: dict, spec: Spec) -> str | None:
    """The variable the grader would grade, or None when it would grade none."""
    try:
        return select.choose(report, spec, Settings.max_params_factor).model.variable
    except GraderError:
        return None


@lru_cache(maxsize=1)
def _extractor():
    """The grader's kernel-side extraction function, from the same source file it injects."""
    scope: dict = {}
    path = HERE / "execute" / "kernel" / "extract_model.py"
    exec(compile(path.read_text(), str(path), "exec"), scope)
    return scope["__grader_extract"]


def extract_report(namespace: dict) -> dict:
    """What the grader's last cell would write for this namespace, read back as JSON."""
    with tempfile.TemporaryDirectory(prefix="grader-selfcheck-") as folder:
        path = os.path.join(folder, "report.json")
        _extractor()(path, namespace)
        with open(path) as f:
            return json.load(f)


def _shell():
    """The running IPython shell, or None (IPython is never imported here)."""
    ipython = sys.modules.get("IPython")
    return ipython.get_ipython() if ipython is not None else None


def _namespace() -> dict:
    """The notebook's variables: IPython's user namespace, else the globals of check's caller."""
    shell = _shell()
    if shell is not None:
        return shell.user_ns
    return sys._getframe(2).f_globals  # 0: this function, 1: check(), 2: its caller


def _session_code(ns: dict) -> list[str] | None:
    """Every cell run in this session as typed (``!pip`` stays ``!pip``), else ``In``."""
    shell = _shell()
    raw = getattr(getattr(shell, "history_manager", None), "input_hist_raw", None)
    history = raw if isinstance(raw, list) else ns.get("In")
    return [str(c) for c in history] if isinstance(history, list) else None


def exercise_folders() -> list[Path]:
    """Reference folders with a spec: the packaged ones (a wheel), else this checkout's
    ``reference/NAME/`` (what ``setup.py`` packages), by name."""
    found = [folder for folder in exercises().values() if (folder / SPEC_FILE).is_file()]
    return found or [default_reference_dir()]


def load_spec(reference: str | Path | None = None, exercise: str | None = None) -> Spec:
    """``reference`` or ``GRADER_REFERENCE``, else the exercise named ``exercise`` (default: the
    default exercise, else the only one)."""
    if reference or (os.environ.get("GRADER_REFERENCE") and exercise is None):
        return Spec.load(Path(reference or os.environ["GRADER_REFERENCE"]))
    specs = [Spec.load(folder) for folder in exercise_folders()]
    wanted = exercise if exercise is not None else (DEFAULT_EXERCISE if len(specs) > 1 else None)
    chosen = [s for s in specs if wanted in (None, s.exercise)]
    if len(chosen) != 1:
        names = ", ".join(s.exercise for s in specs)
        raise ValueError(f"choose the exercise: check(exercise=...) with one of {names}")
    return chosen[0]


def register(ipython) -> None:
    """``%grader_check [variable]``: the self-check of ``variable`` (default: as the grader)."""
    def grader_check(line: str = ""):
        name = line.strip()
        ns = ipython.user_ns
        if name and name not in ns:
            print(f"%grader_check: no variable named {name!r}")
            return None
        return check(ns[name] if name else None, namespace=ns)

    ipython.register_magic_function(grader_check, "line", "grader_check")

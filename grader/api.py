"""The library API behind the CLI: choose a launcher, provision data, grade, generate specs."""
from __future__ import annotations

import datetime as dt
import os
import tempfile
import warnings
from pathlib import Path

from grader import layers as L
from grader import pipeline
from grader.checks import registry
from grader.exceptions import NotGradable, SandboxUnavailable, SpecError, UsageError
from grader.execute import runner as execute
from grader.exercise.build import build
from grader.exercise.spec import Spec, default_reference_dir, load_exercise
from grader.extract import report as extract
from grader.intake import data as data_mod
from grader.intake.submissions import read_submission, shown
from grader.result import Result
from grader.sandbox.launch import Launcher
from grader.settings import SANDBOX_LEVELS, Settings
from grader.verify.memo import MemoStore


def make_launcher(level: str) -> Launcher:
    """``required``: the sandbox at any level this machine offers (``grader doctor``) or an
    error saying what to enable; ``auto``: the sandbox if this machine has one."""
    if level not in SANDBOX_LEVELS:
        raise UsageError(f"--sandbox must be one of {', '.join(SANDBOX_LEVELS)}")
    if level == "off":
        return Launcher()
    try:
        from grader.sandbox.launcher import SandboxLauncher
        return SandboxLauncher.create()
    except (ImportError, SandboxUnavailable) as exc:
        if level == "required":
            raise SandboxUnavailable(f"no sandbox is available on this machine ({exc}); see "
                                     "`grader doctor`; run with --sandbox off only for trusted "
                                     "notebooks") from None
        warnings.warn(f"no sandbox here ({exc}): the notebook runs with your own rights, as "
                      "expected when you check your own notebook on your own machine",
                      stacklevel=2)
        return Launcher()


def sandbox_line(level: str) -> str | None:
    """What ``grade`` prints before grading: the sandbox level its kernels run at (``None``
    where ``required`` cannot be met: the batch itself then fails with the reason)."""
    if level == "off":
        return "sandbox off: notebooks run with your own rights (trusted notebooks only)"
    try:
        from grader.sandbox.launcher import SandboxLauncher
        launcher = SandboxLauncher.create()
    except (ImportError, SandboxUnavailable):
        return None if level == "required" else "sandbox off: none available here (grader doctor)"
    verified = "" if launcher.level.verified else " (not verified on a real v2 host)"
    return f"sandbox {launcher.name}: {launcher.level.promise}{verified}"


def load_spec(reference: Path | None = None) -> Spec:
    """The reference's spec, declaring only check kinds the grader knows (else ``SpecError``)."""
    spec = Spec.load(Path(reference) if reference else default_reference_dir())
    registry.declared(spec)
    return spec


def resolve_data(spec: Spec, data: Path | None, beside: Path | None = None) -> Path:
    """``beside``: the notebook's folder, searched after ``--data``/``GRADER_DATA``; a file
    found there is named in a warning, so the student knows which file was used."""
    found = data_mod.resolve(spec.data, data, beside=beside)
    if beside is not None and found.parent == Path(beside) and not data \
            and not os.environ.get("GRADER_DATA"):
        warnings.warn(f"using the data file beside the notebook: {found} (sha256 verified)",
                      stacklevel=2)
    return found


def verifier_for(settings: Settings, spec: Spec | None = None, memo_dir: Path | None = None,
                 memo=None):
    """The verification-training stage, or ``None``; call its ``close()`` when done.

    Its worker process starts with the first notebook that may need it (``Grader.grade``),
    or on demand.
    ``memo_dir`` shares trained architectures between verifiers (a batch's workers), or
    ``memo``, any store of ``grader.verify.memo`` (e.g. one shared between machines).
    """
    if not settings.verify or (spec is not None and not spec.training):
        return None
    try:
        from grader.verify.verifier import Verifier
    except ImportError:
        return None
    return Verifier(settings, memo_dir=memo_dir, memo=memo, warm_up=True)


def grader_for(spec: Spec, data_file: Path, settings: Settings, launcher: Launcher | None = None,
               memo_dir: Path | None = None, memo: MemoStore | None = None) -> pipeline.Grader:
    """A ``Grader`` with this machine's tools: the launcher ``settings.sandbox`` asks for (unless
    given) and a verifier when verification is on; use it in a ``with`` block, which closes the
    verifier."""
    return pipeline.Grader(spec, data_file, settings, launcher or make_launcher(settings.sandbox),
                           verifier_for(settings, spec, memo_dir=memo_dir, memo=memo))


def check(notebook: Path | str, *, reference: Path | None = None, data: Path | None = None,
          settings: Settings | None = None, launcher: Launcher | None = None) -> Result:
    """Grade one notebook; grader-side problems (no data, bad spec) raise ``GraderError``."""
    settings = settings or Settings()
    notebook = Path(notebook)
    if not notebook.exists():
        raise UsageError(f"no such notebook: {shown(str(notebook))}")
    spec = load_spec(reference)
    data_file = resolve_data(spec, data or settings.data_path, beside=notebook.absolute().parent)
    student = shown(notebook.stem)
    try:  # the user's own file: a link is opened (and said so), a FIFO or folder never
        raw = read_submission(notebook, settings.max_notebook_bytes, follow_links=True)
    except NotGradable as exc:
        return Result.not_graded(exc, student=student, spec=spec,
                                 max_score=registry.max_score(spec, settings.verify))
    with grader_for(spec, data_file, settings, launcher) as grader, \
            tempfile.TemporaryDirectory(prefix="grader-check-") as private:
        copy = Path(private) / f"{student}.ipynb"  # graded from the bytes read above
        copy.write_bytes(raw)
        result = grader.grade(copy)
    if notebook.is_symlink():
        result.warnings.insert(0, f"{student}.ipynb is a symbolic link; the file it points to "
                                  "was graded (grader grade never follows links)")
    return result


def generate_spec(reference: Path | None = None, *, data: Path | None = None,
                  settings: Settings | None = None) -> Spec:
    """Execute the solution and the template, and write ``spec.json`` from what they build."""
    folder = Path(reference) if reference else default_reference_dir()
    exercise = load_exercise(folder)
    settings = settings or Settings()
    data_file = data_mod.resolve(exercise["data"], data or settings.data_path)
    launcher = make_launcher(settings.sandbox)
    built = {}
    for role in ("solution", "template"):
        run = execute.execute(folder / exercise[role], data_file, settings, launcher)
        model = extract.from_report(run.report)
        built[role] = (L.infer(model.layers, model.input_shape), model.input_shape)
    target = folder / "spec.json"
    generated = {"by": "grader spec", "date": dt.date.today().isoformat(),
                 "solution": exercise["solution"], "template": exercise["template"],
                 "versions": pipeline.versions()}
    spec = build(exercise, built["solution"][0], built["template"][0], built["solution"][1],
                 generated, _kept_calibration(target, built["solution"][0]))
    spec.save(target)
    spec.path = str(target)
    return spec


def _kept_calibration(target: Path, solution: list[L.LayerInfo]) -> dict | None:
    """A calibration stays valid only for the same solution architecture."""
    try:
        previous = Spec.load(target)
    except SpecError:
        return None
    return previous.training if previous.layers == [i.to_dict() for i in solution] else None


def calibrate(reference: Path | None = None, *, seeds=None, epochs: int | None = None,
              batch_size: int | None = None, seed: int | None = None, data: Path | None = None,
              settings: Settings | None = None, progress=None) -> Spec:
    """Train the reference architecture over seeds and write ``spec.training`` (the range)."""
    from grader.exercise.calibrate import Plan
    from grader.exercise.calibrate import calibrate as measure

    settings = settings or Settings()
    spec = load_spec(reference)
    data_file = resolve_data(spec, data or settings.data_path)
    plan = Plan(tuple(seeds) if seeds else None, epochs, batch_size, seed)
    spec.training = measure(spec, data_file, settings, plan, progress=progress)
    # what a default ``check`` of the reference architecture asks is already in the memo
    # kept between runs (calibrate trained it with the grading seed and settings)
    assert spec.path is not None  # load_spec sets it
    spec.save(Path(spec.path))
    return spec


def baselines(reference: Path | None = None, *, data: Path | None = None,
              settings: Settings | None = None, progress=None, command: str = "") -> Path:
    """Train the exercise's declared reference models (``exercise.json`` → ``"baselines"``)
    with the verification's settings and write ``baselines.json`` beside ``spec.json``."""
    import json

    from grader.baselines import declare, store, train
    from grader.exceptions import SpecError
    from grader.verify.verifier import classes

    settings = settings or Settings()
    spec = load_spec(reference)
    assert spec.path is not None  # load_spec sets it
    folder = Path(spec.path).parent
    declaration = declare.declared(load_exercise(folder), spec.input_shape, classes(spec))
    if declaration is None:
        raise SpecError(f"{folder / 'exercise.json'} declares no \"baselines\"")
    data_file = resolve_data(spec, data or settings.data_path)
    measured = train.train_all(spec, declaration, data_file, settings, progress, command)
    target = folder / store.BASELINES_FILE
    target.write_text(json.dumps(measured, indent=1) + "\n")
    return target

"""The grading context (``pipeline.Grader``), its typed stages, the named failure results and
the error-kind table. No kernel: the execution stage is replaced by a canned kernel report."""
from __future__ import annotations

import inspect
import json

import pytest

from grader import errors, exceptions, pipeline
from grader.checks import registry
from grader.errors import ErrorKind
from grader.exceptions import CellError, GraderError, LimitExceeded, NotGradable, Unreadable
from grader.execute.runner import Execution
from grader.exitcodes import ExitCode
from grader.result import Check, Result, Status
from grader.sandbox.launch import Launcher

from tests.test_model_edge_cases import _report

TRAINING = {"val_accuracy": 0.93, "range": [0.85, 1.0]}


class Verifier:
    """A stand-in verifier: counts its life, answers a passed accuracy check (or raises)."""

    def __init__(self, raises: Exception | None = None) -> None:
        self.started = self.closed = 0
        self.raises = raises

    def start(self) -> Verifier:
        self.started += 1
        return self

    def close(self) -> None:
        self.closed += 1

    def crosscheck(self, job, settings):
        """The canned report's model is what it says: the cross-check matches."""
        return {"matched": True, "mismatches": [], "max_abs_diff": 0.0, "compared": 1}

    def __call__(self, model, spec, data_file, settings):
        if self.raises is not None:
            raise self.raises
        return Check(name="accuracy", passed=True, message="ok", points=3.0, max_points=3.0,
                     category="training"), dict(TRAINING)


class CannedGrader(pipeline.Grader):
    """A Grader whose execution stage returns a kernel report of the reference's layers."""

    raises: Exception | None = None

    def execute(self, notebook, content=None):
        if self.raises is not None:
            raise self.raises
        report = _report(self.spec, model=self.spec.ref_layers)
        for entry in report.get("models", []):
            entry["probe"] = {}  # answered by the stand-in verifier's cross-check
        run = Execution(report=report, seconds=1.234, output_bytes=0, cells=3)
        run.warnings.append("from the run")
        return run


@pytest.fixture
def notebook(tmp_path):
    path = tmp_path / "alice.ipynb"
    path.write_text("{}")
    return path


def test_a_grader_starts_its_verifier_for_each_notebook_that_names_keras_and_closes_it(
        spec, data_file, fast_settings, tmp_path):
    """Started as such a notebook starts to run (its TensorFlow import beside the kernel's), not
    for one that names neither Keras nor TensorFlow (``grader.execute.needs``); closed on exit."""
    verifier = Verifier()
    light, heavy = tmp_path / "light.ipynb", tmp_path / "heavy.ipynb"
    light.write_text("{}")
    heavy.write_text(json.dumps({"cells": [{"cell_type": "code", "source": "import keras"}]}))
    with CannedGrader(spec, data_file, fast_settings, Launcher(), verifier) as grader:
        assert (verifier.started, verifier.closed) == (0, 0)
        grader.grade(light)
        assert (verifier.started, verifier.closed) == (0, 0)
        grader.grade(heavy)
        assert (verifier.started, verifier.closed) == (1, 0)
        assert grader.verifier is verifier
    assert (verifier.started, verifier.closed) == (1, 1)


def test_the_stages_outputs_become_one_scored_result_in_pipeline_order(spec, data_file,
                                                                       fast_settings, notebook):
    result = CannedGrader(spec, data_file, fast_settings.with_(verify=True), Launcher(),
                          Verifier()).grade(notebook)
    # the notebook ("{}") has no written answers: their facts give nothing, the status is the code's
    assert result.status is Status.PASSED and result.score == registry.max_score(spec, answers=False)
    assert result.submission == "alice" and result.model_variable == "model"
    assert [c.name for c in result.checks if c.category != "answers"][-1] == "accuracy"
    assert result.training == TRAINING
    assert [a["found"] for a in result.answers] == [False] * len(spec.questions)
    assert list(result.timings) == ["answers", "execute", "verify", "crosscheck", "total"]
    assert result.crosscheck["matched"] is True
    assert result.timings["execute"] == 1.23
    assert result.warnings[0] == "from the run"
    assert result.notebook_sha256 and result.sandbox == Launcher().name


def test_a_verification_past_its_limit_keeps_the_structure_checks_and_is_a_timeout(
        spec, data_file, fast_settings, notebook):
    limit = LimitExceeded("training took too long", advice="train less")
    result = CannedGrader(spec, data_file, fast_settings.with_(verify=True), Launcher(),
                          Verifier(raises=limit)).grade(notebook)
    assert result.status is Status.TIMEOUT and result.exit_code is ExitCode.LIMIT
    assert result.checks and all(c.category != "training" for c in result.checks)
    assert result.error.kind == "timeout" and result.error.advice == "train less"
    assert result.score == 0.0 and "verify" not in result.timings
    assert result.summary == "Not graded: training took too long"


def test_a_grader_bug_in_a_stage_is_a_grader_fault_with_its_traceback(spec, data_file,
                                                                      fast_settings, notebook):
    result = CannedGrader(spec, data_file, fast_settings.with_(verify=True), Launcher(),
                          Verifier(raises=RuntimeError("boom"))).grade(notebook)
    assert result.exit_code is ExitCode.GRADER_ERROR and result.error.kind == "internal"
    assert "RuntimeError: boom" in result.error.traceback
    assert result.error.advice == errors.INTERNAL_ERROR
    assert result.checks, "what the stages before the bug found is kept"


def test_a_cell_error_is_not_graded_with_advice_about_the_grading_machine(spec, data_file,
                                                                         fast_settings, notebook):
    grader = CannedGrader(spec, data_file, fast_settings, Launcher())
    grader.raises = CellError("cell 2 raised FileNotFoundError: /content/drive/MyDrive/x.pkl",
                              cell_index=2, cell_source="open('/content/drive/MyDrive/x.pkl')",
                              traceback="FileNotFoundError: [Errno 2] No such file or directory")
    result = grader.grade(notebook)
    assert result.status is Status.ERROR and result.exit_code is ExitCode.NOT_GRADABLE
    assert result.checks == [] and result.error.cell_index == 2
    assert "Colab" in result.error.advice and spec.data["file"] in result.error.advice
    assert result.summary.startswith("Not graded (cell 2): cell 2 raised")


def test_every_grader_error_names_a_kind_of_the_table_and_every_kind_has_an_entry():
    assert set(errors.KINDS) == set(ErrorKind)
    raised = [cls for _, cls in inspect.getmembers(exceptions, inspect.isclass)
              if issubclass(cls, GraderError)]
    assert len(raised) > 10
    for cls in raised:
        assert isinstance(cls.kind, ErrorKind), cls


@pytest.mark.parametrize("kind", list(ErrorKind))
def test_the_exit_code_of_a_kind_follows_the_table(kind):
    result = Result.not_graded(GraderError("it failed", kind), student="s")
    expected = ExitCode.GRADER_ERROR if errors.KINDS[kind].fault else ExitCode.NOT_GRADABLE
    assert result.exit_code is expected
    assert Result.from_dict(json.loads(json.dumps(result.to_dict()))).exit_code is expected


@pytest.mark.parametrize("kind", sorted(errors.LIMITS))
def test_a_limit_is_a_timeout_with_the_limit_exit_code(kind):
    result = Result.not_graded(LimitExceeded("over the limit", kind), student="s")
    assert result.status is Status.TIMEOUT and result.exit_code is ExitCode.LIMIT
    assert result.error.advice == errors.KINDS[kind].advice


def test_the_cohort_groups_by_the_same_limits_and_grader_faults_as_the_table():
    from grader.analytics import cohort
    assert cohort.LIMITS == errors.LIMITS and cohort.GRADER == errors.GRADER_FAULTS


def test_an_error_kind_is_its_plain_string_in_json_sets_and_text():
    result = Result.not_graded(CellError("x"), student="s")
    assert json.loads(json.dumps(result.to_dict()))["error"]["kind"] == "cell_error"
    assert result.error.kind == "cell_error" and f"{result.error.kind}" == "cell_error"
    assert "no_data" in errors.GRADER_FAULTS and ErrorKind.NO_DATA in {"no_data"}
    assert errors.GENERIC["cell_error"] == errors.default_advice(ErrorKind.CELL_ERROR)


def test_a_submission_refused_at_intake_gets_its_kinds_advice_and_no_run_fields(spec):
    result = Result.not_graded(Unreadable("alice.ipynb cannot be read (Permission denied)"),
                               student="alice", spec=spec, max_score=19.0)
    assert result.error.advice == "Check the file's permissions and submit it again."
    assert result.summary == "Not graded: alice.ipynb cannot be read (Permission denied)"
    assert result.max_score == 19.0 and result.spec["sha256"] == spec.sha256
    assert result.versions == {} and result.notebook_sha256 is None and result.sandbox is None
    layout = Result.not_graded(NotGradable("two notebooks", "submission_layout"), student="bob")
    assert layout.error.kind == "submission_layout" and "exactly one" in layout.error.advice


def test_a_grader_fault_never_carries_a_students_error_kind(spec):
    result = Result.grader_fault("alice", "the worker died", kind="cell_error", spec=spec,
                                max_score=registry.max_score(spec))
    assert result.error.kind == "internal" and result.exit_code is ExitCode.GRADER_ERROR
    assert result.max_score == registry.max_score(spec) and result.error.advice == errors.RETRY
    assert Result.grader_fault("bob", "no data", kind="no_data").error.kind == "no_data"


def test_an_executions_repr_stays_short_however_large_its_report():
    """``asyncio.run`` puts the finished task's result into the repr of its SIGINT handler, and
    ``signal`` builds that repr on every handler change: a full repr cost each grading ~0.12 s."""
    report = {"models": [{"layers": [{"config": {"x": "y" * 1000}}] * 2000}]}
    shown = repr(Execution(report, 1.5, 10, 3))
    assert len(shown) < 200 and "models=1" in shown

"""Two exercises, one grader: cnn2 and its 2018 edition (``reference/cnn2_2018/``) are graded by
the same code, and only the reference folder (``--exercise NAME``) tells them apart."""
from __future__ import annotations

import json

import pytest

from grader import api, notebook
from grader.checks import registry
from grader.cli import main
from grader.exercise.spec import Spec, exercise_dir, exercises, load_exercise
from grader.result import Status
from grader.sandbox.launch import Launcher

from tests import notebooks, notebooks_2018
from tests.conftest import ROOT

#: exercise -> the generator of its notebooks (same names: MODEL_HEAD, SOLUTION, MISTAKES, ...)
GENERATORS = {"cnn2": notebooks, "cnn2_2018": notebooks_2018}

#: (exercise, student code between the markers, the mistake key every failed check must carry)
CASES = [
    ("cnn2", notebooks.SOLUTION, None),
    ("cnn2", notebooks.MISTAKES["32_filters"], "arg:Conv2D.filters=64"),
    ("cnn2", notebooks.MISTAKES["no_batchnorm"], "missing:BatchNormalization"),
    ("cnn2_2018", notebooks_2018.SOLUTION, None),
    ("cnn2_2018", notebooks_2018.MISTAKES["64_filters"], "arg:Conv2D.filters=16"),
    ("cnn2_2018", notebooks_2018.MISTAKES["no_batchnorm"], "missing:BatchNormalization"),
]


def model_only(exercise: str, student_code: str):
    """The exercise's model cell with ``student_code``: no data, no training (fast)."""
    gen = GENERATORS[exercise]
    return notebooks.model_only_notebook(model_cell=gen.MODEL_HEAD + student_code + gen.MODEL_TAIL,
                                         answers=gen.ANSWERS, questions=gen.QUESTIONS)


def _failed_keys(result) -> set:
    """The code's mistakes (the written answers' facts are not mistakes in the code)."""
    return {c.mistake for c in result.checks
            if not c.passed and c.category not in ("training", "answers")}


# --- the reference folders ----------------------------------------------------------------------

def test_every_exercise_folder_is_named_after_its_exercise_and_has_its_notebooks_and_spec():
    found = exercises()
    assert set(GENERATORS) <= set(found)
    for name, folder in found.items():
        exercise = load_exercise(folder)
        assert exercise["exercise"] == name  # the packaged copy goes by this name (setup.py)
        assert all((folder / exercise[role]).is_file() for role in ("template", "solution"))
        spec = Spec.load(folder)
        assert spec.exercise == name and spec.generated["by"] == "grader spec"
        assert spec.training and spec.training["by"] == "grader calibrate"
        assert spec.training["range"][0] < min(spec.training["calibration"]["accuracies"])


def test_the_2018_spec_asks_for_conv16_bn_relu_pool_before_a_dense_40_head():
    spec = Spec.load(exercise_dir("cnn2_2018"))
    added = [spec.layers[i] for i in spec.missing]
    assert [layer["description"] for layer in added] == [
        "Conv2D(16, 3x3, padding='same')", "BatchNormalization()", "Activation('relu')",
        "MaxPooling2D(2x2)"]
    assert added[-1]["output_shape"] == [None, 7, 7, 16]
    dense = [layer["args"]["units"] for layer in spec.layers if layer["type"] == "Dense"]
    assert dense == [40, 10]
    convs = [layer["args"]["filters"] for layer in spec.layers if layer["type"] == "Conv2D"]
    assert convs == [8, 8, 16, 16]


def test_the_self_check_finds_each_exercise_by_name_and_defaults_to_cnn2():
    assert notebook.load_spec().exercise == "cnn2"
    for name in GENERATORS:
        assert notebook.load_spec(exercise=name).exercise == name
    with pytest.raises(ValueError, match="cnn2, cnn2_2018"):
        notebook.load_spec(exercise="cnn3")


def test_an_unknown_exercise_is_a_usage_error_that_lists_the_known_ones(tmp_path, capsys):
    code = main(["check", str(tmp_path / "any.ipynb"), "--exercise", "cnn3", "--sandbox", "off"])
    err = capsys.readouterr().err
    assert code == 2 and "unknown exercise 'cnn3'" in err and "cnn2, cnn2_2018" in err
    assert "Traceback" not in err


def test_a_named_exercise_wins_over_grader_reference_and_none_named_keeps_it(monkeypatch,
                                                                              tmp_path):
    from grader.cli import parser, reference_of
    from grader.exercise.spec import default_reference_dir

    monkeypatch.setenv("GRADER_REFERENCE", str(tmp_path))
    named = parser().parse_args(["check", "nb.ipynb", "--exercise", "cnn2_2018"])
    assert reference_of(named) == ROOT / "reference" / "cnn2_2018"
    unnamed = parser().parse_args(["check", "nb.ipynb"])
    assert reference_of(unnamed) is None and default_reference_dir() == tmp_path


def test_exercise_and_reference_cannot_both_be_given(tmp_path, capsys):
    with pytest.raises(SystemExit) as exited:
        main(["grade", str(tmp_path), "--exercise", "cnn2", "--reference", str(tmp_path)])
    assert exited.value.code == 2 and "not allowed with" in capsys.readouterr().err


# --- graded through the same code ---------------------------------------------------------------

@pytest.mark.kernel
@pytest.mark.parametrize("exercise, code, mistake", CASES,
                         ids=[f"{e}-{m or 'solution'}" for e, _, m in CASES])
def test_both_exercises_are_graded_by_the_same_code(exercise, code, mistake, write_notebook,
                                                    fast_settings):
    path = write_notebook(model_only(exercise, code))
    result = api.check(path, reference=exercise_dir(exercise), settings=fast_settings)
    assert result.spec["exercise"] == exercise
    if mistake is None:
        assert result.status is Status.PASSED and result.score == result.max_score
    else:
        assert result.status is Status.FAILED and 0 < result.score < result.max_score
        assert _failed_keys(result) == {mistake}


@pytest.mark.kernel
@pytest.mark.parametrize("flags, exit_code, graded_against", [
    ([], 1, "cnn2"),
    (["--exercise", "cnn2"], 1, "cnn2"),
    (["--exercise", "cnn2_2018"], 0, "cnn2_2018"),
    (["--reference", str(ROOT / "reference" / "cnn2_2018")], 0, "cnn2_2018"),
], ids=["default", "exercise-cnn2", "exercise-cnn2_2018", "reference-dir"])
def test_the_exercise_option_selects_the_reference(flags, exit_code, graded_against, tmp_path,
                                                  data_file, capsys, monkeypatch):
    """The 2018 solution passes only against its own exercise (cnn2 wants 64 filters)."""
    monkeypatch.delenv("GRADER_REFERENCE", raising=False)
    path = notebooks.write(model_only("cnn2_2018", notebooks_2018.SOLUTION), tmp_path / "s.ipynb")
    out = tmp_path / "result.json"
    code = main(["check", str(path), "--json", str(out), "--data", str(data_file),
                 "--sandbox", "off", "--no-verify", *flags])
    capsys.readouterr()
    result = json.loads(out.read_text())
    assert code == exit_code and result["spec"]["exercise"] == graded_against


SAMPLES_2018 = sorted((exercise_dir("cnn2_2018") / "samples").glob("*.ipynb"))
SAMPLE_MISTAKES = {"alice_solution": None, "dave_64_filters": "arg:Conv2D.filters=16",
                   "frank_no_batchnorm": "missing:BatchNormalization"}


@pytest.mark.kernel
@pytest.mark.parametrize("path", SAMPLES_2018, ids=lambda p: p.stem)
def test_each_2018_sample_gets_the_verdict_it_was_written_for(path, graded_sample):
    # graded once per session (``graded_sample``): tests/test_selfcheck_kernel.py reads them too
    result = graded_sample(path, reference=exercise_dir("cnn2_2018"))
    mistake = SAMPLE_MISTAKES[path.stem]
    assert result.status is (Status.PASSED if mistake is None else Status.FAILED), result.summary
    assert _failed_keys(result) == ({mistake} if mistake else set())


@pytest.mark.kernel
@pytest.mark.slow
def test_the_2018_solution_earns_full_marks_with_the_verification_training(fast_settings):
    from dataclasses import replace

    spec = Spec.load(exercise_dir("cnn2_2018"))
    path = exercise_dir("cnn2_2018") / "samples" / "alice_solution.ipynb"
    result = api.check(path, reference=exercise_dir("cnn2_2018"),
                       settings=replace(fast_settings, verify=True), launcher=Launcher())
    assert result.status is Status.PASSED and result.score == result.max_score == registry.max_score(spec)
    low, high = spec.training["range"]
    assert low <= result.training["val_accuracy"] <= high


@pytest.mark.kernel
def test_grader_spec_regenerates_the_committed_2018_spec(tmp_path, fast_settings):
    """cnn2's own: tests/test_spec.py."""
    import shutil

    folder = tmp_path / "cnn2_2018"
    shutil.copytree(exercise_dir("cnn2_2018"), folder,
                    ignore=shutil.ignore_patterns("spec.json", "samples"))
    spec = api.generate_spec(folder, settings=fast_settings)
    committed = Spec.load(exercise_dir("cnn2_2018"))
    assert spec.layers == committed.layers and spec.missing == committed.missing
    assert spec.totals == committed.totals
    assert spec.questions == committed.questions and spec.checks == committed.checks


@pytest.mark.kernel
@pytest.mark.parametrize("name", sorted(exercises()), ids=str)
def test_the_template_notebook_scores_zero_and_the_solution_full_marks(name, graded_sample):
    """Like nbgrader's validate, on the real notebooks of every exercise folder (the rule that
    keeps the verification's points from the template: ``tests/test_points.py``); graded once
    per session (``graded_sample``), as tests/test_selfcheck_kernel.py reads them too."""
    folder = exercise_dir(name)
    exercise = load_exercise(folder)
    template = graded_sample(folder / exercise["template"], reference=folder)
    solution = graded_sample(folder / exercise["solution"], reference=folder)
    assert template.status is Status.FAILED and template.score == 0, template.summary
    assert all(c.points == 0 for c in template.checks)
    assert solution.status is Status.PASSED and solution.score == solution.max_score > 0

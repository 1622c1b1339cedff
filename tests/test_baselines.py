"""The exercise's reference models (baselines): declared in exercise.json, trained once by
``grader baselines`` under the verification's conditions, shown beside every student's network
and usable by the written answers' facts."""
from __future__ import annotations

import copy
import json
import shutil
from pathlib import Path

import pytest

from grader import api
from grader.answers import questions
from grader.answers.extract import Answer
from grader.baselines import compare, declare, store
from grader.baselines.facts import measured_range
from grader.checks.facts import check_fact
from grader.exceptions import SpecError
from grader.exercise.spec import Spec, load_exercise
from grader.render import baselines_view, html, terminal
from grader.result import Result, Status
from grader.settings import Settings
from grader.verify.verifier import classes

from tests.conftest import ROOT

EXERCISES = ("cnn2", "cnn2_2018")


def _exercise(name: str = "cnn2") -> dict:
    return load_exercise(ROOT / "reference" / name)


def _declared(exercise: dict, spec: Spec):
    return declare.declared(exercise, spec.input_shape, classes(spec))


def _with_model(spec: Spec, **changes) -> dict:
    exercise = copy.deepcopy(_exercise())
    exercise["baselines"]["models"][0].update(changes)
    return exercise


# --- the declaration ------------------------------------------------------------------------

def test_the_declared_course_networks_have_the_course_parameter_counts(spec):
    models = {m.id: m for m in _declared(_exercise(), spec).models}
    assert models["fc"].totals(spec.input_shape) == {
        "total": 420_260, "trainable": 419_160, "non_trainable": 1_100}
    assert models["cnn1"].totals(spec.input_shape)["total"] == 251_210
    assert models["fc"].input_shape(spec.input_shape) == [None, 784]
    assert models["fc"].optimizer == {"name": "adadelta", "learning_rate": 1.0}
    assert models["cnn1"].standardize and not models["fc"].standardize


@pytest.mark.parametrize("layer, words", [
    ({"kind": "Conv3D", "args": {"filters": 3}}, "'Conv3D' is not allowed"),
    ({"kind": "Dense", "args": {"units": 10, "unitz": 3}}, "argument 'unitz'"),
    ({"kind": "Dense", "args": {"units": -4}}, "argument 'units'"),
    ({"kind": "Dense"}, "'units'"),
    ({"args": {"units": 10}}, "needs a \"kind\""),
])
def test_a_bad_layer_in_a_baseline_is_a_spec_error_naming_the_model_and_layer(spec, layer, words):
    exercise = copy.deepcopy(_exercise())
    exercise["baselines"]["models"][1]["layers"].insert(2, layer)
    with pytest.raises(SpecError, match="baseline 'cnn1', layer 3") as caught:
        _declared(exercise, spec)
    assert words in caught.value.message


@pytest.mark.parametrize("changes, words", [
    ({"optimizer": {"name": "lbfgs", "learning_rate": 1}}, "optimizer"),
    ({"input": "sequence"}, "input"),
    ({"layers": []}, "non-empty"),
    ({"layers": [{"kind": "Dense", "args": {"units": 7}}]}, "(None, 7)"),
    ({"layers": [{"kind": "Conv2D", "args": {"filters": 4, "kernel_size": [3, 3]}}]},
     "image input"),
    ({"id": "cnn1"}, "declared twice"),
])
def test_a_baseline_that_cannot_be_built_or_fit_the_data_is_refused(spec, changes, words):
    with pytest.raises(SpecError) as caught:
        _declared(_with_model(spec, **changes), spec)
    assert words in caught.value.message


def test_an_exercise_without_baselines_declares_none(spec):
    exercise = {k: v for k, v in _exercise().items() if k != "baselines"}
    assert _declared(exercise, spec) is None


# --- the stored measurements ------------------------------------------------------------------

@pytest.mark.parametrize("name", EXERCISES)
def test_each_exercise_stores_baselines_measured_with_its_verification_settings(name):
    spec = Spec.load(ROOT / "reference" / name)
    data = store.load(spec)
    assert data is not None and data["by"] == "grader baselines"
    declaration = _declared(_exercise(name), spec)
    assert spec.training is not None
    settings = data["settings"]
    assert settings["epochs"] == spec.training["epochs"]
    assert settings["batch_size"] == spec.training["batch_size"]
    assert settings["grading_seed"] == spec.training["seed"]
    assert settings["split"] == spec.data["split"]
    assert settings["seeds"] == list(declaration.seeds)
    for model in declaration.models:
        stored = data["models"][model.id]
        assert stored["params"] == model.totals(spec.input_shape)
        assert [r["seed"] for r in stored["verification"]] == list(declaration.seeds)
        assert all(r["epochs"] == spec.training["epochs"] for r in stored["verification"])
    assert data["models"]["reference"]["params"] == spec.totals


@pytest.mark.parametrize("name", EXERCISES)
def test_a_stored_verification_run_is_the_same_seeds_longer_run_cut_short(name):
    """Deterministic training: the course-epochs run with the grading seed passes through the
    verification run's accuracy at the verification's epoch (two separate trainings)."""
    data = store.load(Spec.load(ROOT / "reference" / name))
    assert data is not None
    epochs = data["settings"]["epochs"]
    for model_id in ("fc", "cnn1"):
        short, long = store.grading_run(data, model_id), store.grading_run(data, model_id, True)
        assert short is not None and long is not None
        assert long["curves"]["val_accuracy"][epochs - 1] == short["val_accuracy"]


# --- the results and reports --------------------------------------------------------------

@pytest.fixture
def measured(tmp_path) -> Spec:
    """A copy of the cnn2 reference with a small, known baselines.json."""
    folder = tmp_path / "ref"
    folder.mkdir()
    for file in ("spec.json", "exercise.json"):
        shutil.copy(ROOT / "reference" / "cnn2" / file, folder / file)

    def run(seed, acc, train, curve=None):
        return {"seed": seed, "epochs": len(curve or [acc]), "val_accuracy": acc,
                "gap": round(train - acc, 6),
                "curves": {"val_accuracy": curve or [acc], "accuracy": [train] * len(curve or [1])}}
    data = {"by": "grader baselines", "command": "grader baselines ref", "date": "2026-01-02",
            "settings": {"epochs": 1, "grading_seed": 1, "seeds": [1, 2], "course_epochs": 3},
            "models": {
                "fc": {"title": "the fc net", "params": {"total": 420260},
                       "verification": [run(1, 0.71, 0.70), run(2, 0.75, 0.7)],
                       "course": [run(1, 0.8, 0.9, [0.71, 0.78, 0.8])]},
                "cnn1": {"title": "the cnn1 net", "params": {"total": 251210},
                         "verification": [run(2, 0.66, 0.6), run(1, 0.62, 0.6)],
                         "course": [run(1, 0.9, 0.95, [0.62, 0.8, 0.9])]},
                "reference": {"title": "cnn2 solution", "params": {"total": 695970},
                              "course": [run(1, 0.97, 0.98, [0.92, 0.95, 0.97])]}}}
    (folder / "baselines.json").write_text(json.dumps(data))
    return Spec.load(folder)


def _result(training=True, history=None) -> Result:
    return Result(submission="ann", status=Status.PASSED, score=1, max_score=1,
                  totals={"total": 695_970, "trainable": 695_186, "non_trainable": 784},
                  training={"val_accuracy": 0.9, "epochs": 1,
                            "curves": {"val_accuracy": [0.9], "accuracy": [0.55]}}
                  if training else None, student_history=history,
                  student_history_source="notebook run" if history else None)


def test_a_result_is_put_beside_the_grading_seeds_baselines_and_its_own_training(measured):
    result = _result(history={"accuracy": [0.8, 0.99], "val_accuracy": [0.85, 0.95]})
    b = compare.beside(measured, result)
    assert b is not None
    rows = {r["id"]: r for r in b["rows"]}
    assert rows["fc"]["val_accuracy"] == 0.71 and rows["fc"]["val_range"] == [0.71, 0.75]
    assert rows["cnn1"]["val_accuracy"] == 0.62  # the grading seed's run, not the first listed
    assert rows["student"]["val_accuracy"] == 0.9 and rows["student"]["gap"] == pytest.approx(-0.35)
    assert rows["student"]["params"]["total"] == 695_970
    assert b["own_log"] == {"val_accuracy": 0.95, "accuracy": 0.99, "epochs": 2,
                            "gap": pytest.approx(0.04), "source": "notebook run"}
    assert [r["id"] for r in b["course"]] == ["fc", "cnn1", "reference"]


def test_no_measured_or_a_damaged_baselines_file_shows_no_baselines(measured, spec, tmp_path):
    Path(measured.path).parent.joinpath("baselines.json").write_text("{not json")
    assert compare.beside(measured, _result()) is None
    bare = Spec.load(ROOT / "reference" / "cnn2")
    bare.path = str(tmp_path / "spec.json")
    assert compare.beside(bare, _result()) is None


def test_the_report_terminal_and_json_show_the_three_networks(measured):
    result = _result(history={"val_accuracy": [0.85, 0.95]})
    result.baselines = compare.beside(measured, result)
    page = html.render_report(result)
    section = page[page.index('<section id="baselines">'):]
    section = section[:section.index("</section>")]
    for network in ("fc", "cnn1", "student", "own"):
        assert f'data-network="{network}"' in section
    assert "420,260" in section and "0.710" in section and "0.900" in section
    assert 'id="plot-baselines" src="data:image/svg+xml;base64,' in section
    assert "your own run (logged in your notebook)" in section
    line = terminal.summary(result)
    assert "fc 0.710" in line and "cnn1 0.620" in line and "yours 0.900" in line
    assert Result.from_dict(json.loads(json.dumps(result.to_dict()))).baselines == result.baselines


def test_a_report_without_baselines_has_no_such_section():
    page = html.render_report(_result())
    assert 'id="baselines"' not in page
    assert baselines_view.terminal_line(_result()) is None


def test_the_index_shows_the_cohort_against_the_baselines(measured):
    results = []
    for name, acc in (("a", 0.6), ("b", 0.7), ("c", 0.8), ("d", 0.9)):
        r = _result()
        r.submission = name
        assert r.training is not None
        r.training["val_accuracy"] = acc
        r.baselines = compare.beside(measured, r)
        results.append(r)
    page = html.render_index(results)
    section = page[page.index('<section id="baselines">'):]
    assert 'id="cohort-median">median 0.750' in section
    fc = section[section.index('data-network="fc"'):]
    assert "2 of 4" in fc[:fc.index("</tr>")]  # 0.8 and 0.9 beat fc's 0.71
    cnn1 = section[section.index('data-network="cnn1"'):]
    assert "3 of 4" in cnn1[:cnn1.index("</tr>")]  # 0.7, 0.8 and 0.9 beat cnn1's 0.62
    assert 'id="plot-cohort-baselines"' in section


def test_the_pipeline_reads_the_baselines_without_training(measured, monkeypatch):
    """``beside`` only reads the stored file (cached): nothing that trains is reachable."""
    from grader.verify import verifier
    monkeypatch.setattr(verifier.Verifier, "train", lambda *a, **k: pytest.fail("trained"))
    assert compare.beside(measured, _result()) is not None


# --- facts about a baseline ---------------------------------------------------------------

def _fact(**changes) -> dict:
    return {"label": "cnn1's accuracy", "baseline": "cnn1", "metric": "val_accuracy",
            "tolerance": 0.02, "points": 1, **changes}


@pytest.mark.parametrize("text, passed", [
    ("cnn1 reaches 0.89 on the validation data", True),
    ("about 60 % after one epoch", True),   # 0.60 ≥ 0.62 - 0.02
    ("cnn1 got 0.5", False),
    ("cnn1 got 0.95", False),               # above 0.9 + 0.02
    ("it is better", False),
])
def test_a_quoted_baseline_number_must_lie_in_the_range_the_grader_measured(measured, text,
                                                                            passed):
    check = check_fact({"id": "b"}, _fact(), Answer("b", "b)", text), None, measured)
    assert check.passed is passed and check.points == (1 if passed else 0)
    assert check.expected == [0.6, 0.92]


def test_the_range_covers_all_stored_runs_or_the_named_ones(measured):
    data = store.load(measured)
    assert measured_range(data, _fact()) == (0.6, 0.92)
    assert measured_range(data, _fact(runs="verification", tolerance=0)) == (0.62, 0.66)
    assert measured_range(data, _fact(baseline="nope")) is None


def test_a_baseline_fact_without_measurements_is_not_checked(spec, tmp_path):
    bare = Spec.load(ROOT / "reference" / "cnn2")
    bare.path = str(tmp_path / "spec.json")
    check = check_fact({"id": "b"}, _fact(points=0), Answer("b", "b)", "0.9"), None, bare)
    assert "not checked" in check.message and check.passed and check.points == 0


def test_a_fact_is_exactly_one_of_number_claim_or_baseline():
    base = {"id": "b", "answer": {"tag": "answer:b"}}
    questions.validate([{**base, "facts": [_fact()]}])
    with pytest.raises(SpecError, match="a number, a claim or a baseline"):
        questions.validate([{**base, "facts": [_fact(number=3)]}])


def test_cnn2_question_b_checks_cnn1_against_its_measured_range():
    spec = Spec.load(ROOT / "reference" / "cnn2")
    facts = [f for q in spec.questions for f in q.get("facts", []) if "baseline" in f]
    assert [f["baseline"] for f in facts] == ["cnn1"] and facts[0]["points"] == 0
    assert measured_range(store.load(spec), facts[0]) is not None


# --- training: one command, deterministic -------------------------------------------------

@pytest.mark.slow
def test_grader_baselines_is_deterministic_on_a_tiny_split(tmp_path, data_file):
    """The same seed gives the same numbers: two runs of the command on a small slice."""
    folder = tmp_path / "tiny"
    folder.mkdir()
    spec = json.loads((ROOT / "reference" / "cnn2" / "spec.json").read_text())
    spec["training"]["split"] = {"train": [0, 256], "validation": [256, 384]}
    (folder / "spec.json").write_text(json.dumps(spec))
    exercise = _exercise()
    exercise["baselines"].update(seeds=[1], course_epochs=0)
    (folder / "exercise.json").write_text(json.dumps(exercise))
    settings = Settings(sandbox="off", data_path=data_file, tf_threads=1)
    first = json.loads(api.baselines(folder, settings=settings).read_text())
    second = json.loads(api.baselines(folder, settings=settings).read_text())

    def numbers(data):
        return {k: [(r["val_accuracy"], r["curves"]) for r in m.get("verification", [])]
                for k, m in data["models"].items()}
    assert numbers(first) == numbers(second)
    assert set(first["models"]) == {"fc", "cnn1", "reference"}
    assert first["settings"]["split"] == {"train": [0, 256], "validation": [256, 384]}
    assert all(0 <= r["val_accuracy"] <= 1 for r in first["models"]["fc"]["verification"])


def test_grader_baselines_refuses_a_bad_declaration_before_training(tmp_path, capsys):
    from grader.cli import main
    for file in ("spec.json", "exercise.json"):
        shutil.copy(ROOT / "reference" / "cnn2" / file, tmp_path / file)
    exercise = _exercise()
    exercise["baselines"]["models"][0]["layers"][0] = {"kind": "Dense", "args": {"units": "x"}}
    (tmp_path / "exercise.json").write_text(json.dumps(exercise))
    assert main(["baselines", str(tmp_path)]) == 2
    assert "baseline 'fc', layer 1" in capsys.readouterr().err
    assert not (tmp_path / "baselines.json").exists()


def test_every_graded_result_carries_the_baselines_of_its_exercise(spec, data_file,
                                                                   fast_settings, tmp_path):
    """The pipeline puts each result beside the stored baselines (no kernel, no training)."""
    from grader.sandbox.launch import Launcher

    from tests.test_grading import CannedGrader, Verifier
    notebook = tmp_path / "alice.ipynb"
    notebook.write_text("{}")
    result = CannedGrader(spec, data_file, fast_settings.with_(verify=True), Launcher(),
                          Verifier()).grade(notebook)
    rows = {r["id"]: r for r in result.baselines["rows"]}
    assert set(rows) == {"fc", "cnn1", "student"}
    assert rows["student"]["val_accuracy"] == 0.93 and rows["student"]["params"] == spec.totals
    assert rows["fc"]["val_accuracy"] == store.grading_run(store.load(spec), "fc")["val_accuracy"]
    assert result.to_dict()["baselines"] == result.baselines

"""Verification training: the grader trains the student's architecture itself.

Trainings are few and short (one epoch each): most properties are shown on layer lists built
with grader.layers; the notebook-level tests share one Verifier, so an architecture already
trained is answered from its memo.
"""
from __future__ import annotations

import os
from dataclasses import replace

import nbformat
import pytest

from grader import layers as L
from grader import pipeline
from grader.exceptions import LimitExceeded
from grader.execute import runner as execute
from grader.extract import report as extract
from grader.extract.report import ExtractedModel
from grader.sandbox.launch import Launcher
from grader.settings import Settings
from grader.verify.memo import NoMemo
from grader.verify.process import WorkerProcess
from grader.verify.verifier import CHECK_NAME, Verifier, job_key, make_job

from tests.notebooks import FIT, FUNCTIONAL, SOLUTION, course_notebook, model_only_notebook
from tests.reports import code_full_marks

pytestmark = pytest.mark.slow


def model_of(layers: list[L.Layer], input_shape=(None, 28, 28, 1)) -> ExtractedModel:
    return ExtractedModel("model", "Sequential", tuple(input_shape), layers, None)


def with_changed(spec, kind: str, index: int, **args) -> list[L.Layer]:
    """The reference layers with the ``index``-th layer of ``kind`` given other arguments."""
    layers, seen = [], 0
    for layer in spec.ref_layers:
        if layer.kind == kind:
            if seen == index:
                layer = replace(layer, args={**layer.args, **args})
            seen += 1
        layers.append(layer)
    return layers


@pytest.fixture(scope="module")
def settings(data_file) -> Settings:
    return Settings(sandbox="off", data_path=data_file)


@pytest.fixture(scope="module")
def memo_dir(tmp_path_factory):
    return tmp_path_factory.mktemp("verify-memo")


@pytest.fixture(scope="module")
def verifier(settings, memo_dir):
    with Verifier(settings, memo_dir=memo_dir) as v:
        yield v


@pytest.fixture(scope="module")
def reference_run(verifier, spec, data_file, settings):
    return verifier(model_of(spec.ref_layers), spec, data_file, settings)


def test_the_reference_architecture_passes_within_the_calibrated_range(reference_run, spec):
    check, training = reference_run
    low, high = spec.training["range"]
    assert check.name == CHECK_NAME and check.category == "training"
    assert check.passed and check.points == spec.points["accuracy"]
    assert low <= training["val_accuracy"] <= high
    assert f"{training['val_accuracy']:.3f}" in check.message and f"{low:.2f}" in check.message


def test_the_training_record_has_the_curves_and_settings(reference_run, spec):
    _, training = reference_run
    epochs = spec.training["epochs"]
    assert training["range"] == spec.training["range"]
    assert (training["epochs"], training["seed"]) == (epochs, spec.training["seed"])
    for curve in ("accuracy", "val_accuracy", "loss", "val_loss"):
        assert len(training["curves"][curve]) == epochs
    assert training["curves"]["val_accuracy"][-1] == training["val_accuracy"]
    assert training["seconds"] > 0 and training["peak_rss_bytes"] > 100 * 1024**2


def test_a_fresh_worker_warmed_up_gives_the_same_accuracy_to_the_digit(reference_run, spec,
                                                                      data_file, settings):
    # trains, whatever any memo holds; its worker warms up first (the module's verifier's
    # does not)
    with Verifier(settings, memo=NoMemo(), warm_up=True).start() as other:
        _, again = other(model_of(spec.ref_layers), spec, data_file, settings)
    assert not again["cached"] and again["source"] == "trained"
    assert again["val_accuracy"] == reference_run[1]["val_accuracy"]
    assert again["curves"] == reference_run[1]["curves"]


def test_a_warm_up_is_answered_with_the_ready_line_and_the_next_answer_is_the_jobs(
        spec, data_file, settings):
    worker = WorkerProcess(settings)
    try:
        worker.warm_up()
        hello = worker.wait_ready(settings.verify_start_timeout)
        assert hello["ready"] is True and hello["warm_up"] > 0  # seconds it took
        job = {**make_job(spec.ref_layers, spec.input_shape, spec, data_file, settings),
               "id": "the job's", "split": {"train": [0, 1], "validation": [1, 2]}}
        reply = worker.request({**job, "data_sha256": "0" * 64}, settings.verify_timeout)
        assert (reply["id"], reply["ok"], reply["kind"]) == ("the job's", False, "data")
    finally:
        worker.close()


def test_the_same_architecture_is_trained_once(verifier, reference_run, spec, data_file, settings):
    trainings = verifier.trainings
    renamed = [replace(layer, name=f"mine_{i}") for i, layer in enumerate(spec.ref_layers)]
    _, training = verifier(model_of(renamed), spec, data_file, settings)
    assert training["cached"] and verifier.trainings == trainings
    assert training["val_accuracy"] == reference_run[1]["val_accuracy"]


def test_another_verifier_sharing_the_memo_folder_does_not_train_again(reference_run, spec,
                                                                      data_file, settings, memo_dir):
    with Verifier(settings, memo_dir=memo_dir) as other:
        _, training = other(model_of(spec.ref_layers), spec, data_file, settings)
        assert training["cached"] and other.trainings == 0 and other._worker is None
    assert training["val_accuracy"] == reference_run[1]["val_accuracy"]


def test_a_two_unit_bottleneck_fails_with_its_measured_accuracy(verifier, spec, data_file,
                                                               settings):
    layers = with_changed(spec, "Dense", 0, units=2)
    check, training = verifier(model_of(layers), spec, data_file, settings)
    assert not check.passed and check.points == 0 and check.hint
    assert training["val_accuracy"] < spec.training["range"][0]
    assert f"{training['val_accuracy']:.3f}" in check.message


def test_an_output_that_cannot_match_the_labels_fails_without_training(verifier, spec, data_file,
                                                                      settings):
    trainings = verifier.trainings
    check, training = verifier(model_of(with_changed(spec, "Dense", 1, units=5)), spec,
                               data_file, settings)
    assert not check.passed and "(None, 5)" in check.message and "(None, 10)" in check.message
    assert training["val_accuracy"] is None and verifier.trainings == trainings


def test_a_training_past_the_time_limit_is_a_timeout_and_the_worker_is_killed(spec, data_file,
                                                                             settings):
    quick = settings.with_(verify_timeout=0.5)
    with Verifier(quick, memo=NoMemo()) as v:  # trains, whatever any memo holds
        v.start()
        pid = v._worker.proc.pid
        with pytest.raises(LimitExceeded) as info:
            v(model_of(spec.ref_layers), spec, data_file, quick)
        assert info.value.kind == "timeout" and "0.5 s" in info.value.message
        with pytest.raises(ProcessLookupError):
            os.killpg(pid, 0)  # the whole process group is gone
        with pytest.raises(LimitExceeded):  # remembered: not retried for the same architecture
            v(model_of(spec.ref_layers), spec, data_file, quick)
        assert v.trainings == 1


def test_an_architecture_past_the_memory_limit_is_a_memory_limit(spec, data_file, settings):
    small = settings.with_(verify_memory_bytes=int(1.5 * 1024**3))
    huge = [L.Layer("Conv2D", {"filters": 4096, "kernel_size": [3, 3], "strides": [1, 1],
                               "padding": "same", "dilation_rate": [1, 1], "use_bias": True,
                               "activation": "relu"}),
            L.Layer("GlobalMaxPooling2D", {}),
            L.Layer("Dense", {"units": 10, "use_bias": True, "activation": "softmax"})]
    with Verifier(small) as v, pytest.raises(LimitExceeded) as info:
        v(model_of(huge), spec, data_file, small)
    assert info.value.kind == "memory_limit" and "1.5 GiB" in info.value.message


@pytest.mark.kernel
def test_the_functional_spelling_sends_exactly_the_solutions_job(spec, data_file, fast_settings,
                                                                 write_notebook):
    keys = []
    for name, nb in (("sequential", model_only_notebook(SOLUTION)),
                     ("functional", model_only_notebook(model_cell=FUNCTIONAL))):
        run = execute.execute(write_notebook(nb, name), data_file, fast_settings, Launcher())
        model = extract.from_report(run.report, tuple(spec.input_shape))
        keys.append(job_key(make_job(model.layers, model.input_shape, spec, data_file,
                                     fast_settings)))
    assert keys[0] == keys[1]


@pytest.mark.kernel
def test_calibrations_entries_answer_a_check_of_the_solution(spec, data_file, fast_settings,
                                                             write_notebook):
    """``grader calibrate`` trains ``spec.ref_layers`` (``grader.exercise.calibrate``) and leaves
    the grading seed's training in the memo kept between runs: it answers ``grader check`` of
    the solution only if the notebook's model sends exactly that job."""
    run = execute.execute(write_notebook(model_only_notebook(SOLUTION), "solution"), data_file,
                          fast_settings, Launcher())
    model = extract.from_report(run.report, tuple(spec.input_shape))
    checked = make_job(model.layers, model.input_shape, spec, data_file, fast_settings)
    calibrated = make_job(spec.ref_layers, tuple(spec.input_shape), spec, data_file, fast_settings)
    assert job_key(checked) == job_key(calibrated)


TAMPER = """\
# a student who trains on the validation data, then fakes every number they can
model.fit(X_val, Y_val, epochs=1, verbose=0)
fake = keras.callbacks.History()
fake.history = {'accuracy': [0.999], 'val_accuracy': [0.999], 'loss': [0.001], 'val_loss': [0.001]}
keras.Model.fit = lambda self, *args, **kwargs: fake
keras.Model.evaluate = lambda self, *args, **kwargs: [0.001, 0.999]
print('val_accuracy: 0.9990')"""
#: a pre-filled training log claiming a perfect run
FAKE_LOG = "Epoch 1/1\n19/19 - 1s - accuracy: 0.9990 - loss: 0.0010 - val_accuracy: 0.9990 - val_loss: 0.0010\n"


@pytest.mark.kernel
def test_faked_training_gets_the_same_verification_as_the_honest_notebook(
        verifier, spec, data_file, settings, write_notebook):
    tampered_nb = course_notebook(SOLUTION, extra_cells=(TAMPER,), fit=FIT)
    fit_cell = next(c for c in tampered_nb.cells if "model.fit(X_train" in c.source)
    fit_cell.outputs = [nbformat.v4.new_output("stream", name="stdout", text=FAKE_LOG)]
    graded = {}
    for name, nb in (("honest", course_notebook(SOLUTION)), ("tampered", tampered_nb)):
        graded[name] = pipeline.check_notebook(write_notebook(nb, name), spec, data_file,
                                               settings, Launcher(), verifier)
    honest, tampered = graded["honest"], graded["tampered"]
    assert tampered.student_history["val_accuracy"] == [0.999]  # shown, never trusted
    assert tampered.training["val_accuracy"] == honest.training["val_accuracy"]
    assert tampered.training["cached"]  # the very same job reached the worker
    code = [[c.passed for c in r.checks if c.category != "answers"] for r in (tampered, honest)]
    assert code[0] == code[1]


@pytest.mark.kernel  # (and slow: the module's pytestmark)
def test_a_second_check_answers_from_the_memo_kept_between_runs_and_says_so(
        tmp_path, fast_settings, write_notebook):
    from grader import api

    settings = fast_settings.with_(verify=True, memo=str(tmp_path / "memo"))
    notebook = write_notebook(model_only_notebook(SOLUTION), "solution")
    first, second = (api.check(notebook, settings=settings) for _ in range(2))
    assert (first.training["source"], second.training["source"]) == ("trained", "memo")
    assert second.training["val_accuracy"] == first.training["val_accuracy"]
    assert [c.passed for c in second.checks] == [c.passed for c in first.checks]
    assert second.score == first.score and code_full_marks(second)
    assert len(list((tmp_path / "memo").glob("*.json"))) == 1
    assert second.to_dict()["training"]["source"] == "memo"  # in the JSON result too

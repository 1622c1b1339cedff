"""The verification training started from the kernel's first description
(``grader.verify.early``): it starts before the report's evidence is asked for, answers the
grading only for the very network the report describes, and never outlives its grading."""
from __future__ import annotations

import threading

import pytest

from grader import pipeline
from grader.execute import runner
from grader.execute.runner import Execution
from grader.result import Check, Status
from grader.sandbox.launch import Launcher
from grader.settings import Settings

from tests.notebooks import model_only_notebook
from tests.test_model_edge_cases import _report


class Verifier:
    """A stand-in verifier that records which networks it trained (by their filters)."""

    def __init__(self) -> None:
        self.trained: list[list] = []
        self.began = threading.Event()
        self.release = threading.Event()
        self.release.set()

    def start(self) -> Verifier:
        return self

    def close(self) -> None:
        pass

    def crosscheck(self, job, settings):
        return {"matched": True, "mismatches": [], "max_abs_diff": 0.0, "compared": 1}

    def __call__(self, model, spec, data_file, settings):
        filters = [layer.args.get("filters") for layer in model.layers if layer.kind == "Conv2D"]
        self.trained.append(filters)
        self.began.set()
        self.release.wait(10)
        return (Check(name="accuracy", passed=True, message="ok", points=3.0, max_points=3.0,
                      category="training"), {"val_accuracy": 0.93, "range": [0.85, 1.0],
                                             "filters": filters})


def _reports(spec, preview_layers=None):
    """The kernel's first description (no evidence) and its whole report (with a probe)."""
    preview = _report(spec, model=preview_layers or spec.ref_layers)
    full = _report(spec, model=spec.ref_layers)
    for entry in full["models"]:
        entry["probe"] = {}  # answered by the stand-in's cross-check
    return preview, full


def _wider(spec):
    """The reference with one more filter in its first convolution: another network."""
    layers = list(spec.ref_layers)
    first = next(i for i, layer in enumerate(layers) if layer.kind == "Conv2D")
    layers[first] = layers[first].__class__(**{**vars(layers[first]),
                                               "args": dict(layers[first].args, filters=33)})
    return layers


@pytest.fixture
def graded(spec, data_file, fast_settings, tmp_path, monkeypatch):
    """Grade a notebook whose kernel describes ``preview`` first and ``full`` in its report."""
    def grade(verifier: Verifier, preview: dict, full: dict, seen: dict, wait: float = 10):
        def execute(notebook, data_file, settings, launcher, data_url=None, content=None,
                    on_described=None):
            if on_described is not None:
                on_described(preview)
                # the training runs before the report (and its evidence) is asked for
                seen["began_before_report"] = verifier.began.wait(wait)
            return Execution(report=full, seconds=1.0, output_bytes=0, cells=3)

        monkeypatch.setattr(runner, "execute", execute)
        notebook = tmp_path / "alice.ipynb"
        notebook.write_text("{}")
        settings = Settings(**{**vars(fast_settings), "verify": True})  # with the accuracy check
        with pipeline.Grader(spec, data_file, settings, Launcher(), verifier) as grader:
            return grader.grade(notebook)
    return grade


def test_the_training_starts_from_the_first_description_and_answers_the_grading(spec, graded):
    verifier, seen = Verifier(), {}
    result = graded(verifier, *_reports(spec), seen)
    assert seen == {"began_before_report": True}
    assert result.status is Status.PASSED, result.summary
    assert len(verifier.trained) == 1  # trained once: the early training is the grading's
    assert result.training["filters"] == verifier.trained[0]


def test_a_first_description_of_another_network_is_trained_but_never_graded(spec, graded):
    """Only code that watches the grader describes two networks: the report's is trained anew
    and graded; the first costs time only."""
    verifier, seen = Verifier(), {}
    result = graded(verifier, *_reports(spec, _wider(spec)), seen)
    reference = [layer.args.get("filters") for layer in spec.ref_layers if layer.kind == "Conv2D"]
    assert verifier.trained[0] != reference and verifier.trained[1:] == [reference]
    assert result.training["filters"] == reference
    assert result.status is Status.PASSED, result.summary


def test_a_first_description_without_a_gradable_model_starts_nothing(spec, graded):
    verifier, seen = Verifier(), {}
    preview = {"ok": False, "error": "no_model", "found": [], "nested": []}
    result = graded(verifier, preview, _reports(spec)[1], seen, wait=0.5)
    assert seen == {"began_before_report": False}
    assert len(verifier.trained) == 1 and result.status is Status.PASSED  # the report's network


def test_no_training_outlives_its_grading_even_when_the_grading_fails(spec, graded, monkeypatch):
    verifier, seen = Verifier(), {}
    verifier.release.clear()  # the training is still running when the grading fails
    preview, full = _reports(spec)
    full = {"ok": False, "error": "no_model", "found": [], "nested": []}
    threading.Timer(0.5, verifier.release.set).start()
    result = graded(verifier, preview, full, seen)
    assert result.status is Status.ERROR
    assert verifier.release.is_set()  # grade returned only once the training had finished


@pytest.mark.kernel
def test_the_kernels_first_description_has_no_evidence_and_the_report_names_what_it_removed(
        spec, data_file, fast_settings, write_notebook):
    """The preview is asked for first and removes the notebook's hooks as every report does;
    the report still names them (and carries the cross-check's evidence)."""
    hook = "get_ipython().events.register('post_execute', lambda: None)\n"
    path = write_notebook(model_only_notebook(hook), "hooked")
    previews: list[dict] = []
    run = runner.execute(path, data_file, fast_settings, Launcher(), on_described=previews.append)
    [preview] = previews
    assert [m["variable"] for m in preview["models"]] == [m["variable"] for m in run.report["models"]]
    assert all("probe" not in m for m in preview["models"])
    assert all("probe" in m for m in run.report["models"])
    assert any("post_execute" in str(item) for item in run.report["guard"]["hooks"])

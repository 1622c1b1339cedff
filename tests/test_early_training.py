"""The verification training started from the kernel's first description
(``grader.verify.early``): it starts before the report's evidence is asked for, answers the
grading only for the very network the report describes, and never outlives its grading."""
from __future__ import annotations

import threading
import time

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
    """A stand-in verifier that records which networks it trained (by their filters); a
    training waits for ``release``, which ``close`` (the worker killed) sets."""

    def __init__(self) -> None:
        self.trained: list[list] = []
        self.began, self.finished = threading.Event(), threading.Event()
        self.release = threading.Event()
        self.release.set()
        self.closed = 0
        self.remembered: list[bool] = []

    def start(self) -> Verifier:
        return self

    def close(self) -> None:
        self.closed += 1
        self.release.set()

    def crosscheck(self, job, settings):
        return {"matched": True, "mismatches": [], "max_abs_diff": 0.0, "compared": 1}

    def __call__(self, model, spec, data_file, settings, *, remember_failure=True):
        filters = [layer.args.get("filters") for layer in model.layers if layer.kind == "Conv2D"]
        self.trained.append(filters)
        self.remembered.append(remember_failure)
        self.began.set()
        self.release.wait(10)
        self.finished.set()
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
    def grade(verifier, preview: dict, full: dict, seen: dict, wait: float = 10,
              raises: BaseException | None = None):
        def execute(notebook, data_file, settings, launcher, data_url=None, content=None,
                    on_described=None):
            if on_described is not None:
                on_described(preview)
                # the training runs before the report (and its evidence) is asked for
                if isinstance(verifier, Verifier):  # a stand-in says when it began
                    seen["began_before_report"] = verifier.began.wait(wait)
            if raises is not None:
                raise raises
            return Execution(report=full, seconds=1.0, output_bytes=0, cells=3)

        monkeypatch.setattr(runner, "execute", execute)
        notebook = tmp_path / "alice.ipynb"
        notebook.write_text("{}")
        settings = Settings(**{**vars(fast_settings), "verify": True})  # with the accuracy check
        with pipeline.Grader(spec, data_file, settings, Launcher(), verifier) as grader:
            result = grader.grade(notebook)
            # before the Grader closes (its thread joined): what ran when grade returned
            seen["finished_when_graded"] = getattr(verifier, "finished", threading.Event()).is_set()
            seen["closed_when_graded"] = getattr(verifier, "closed", None)
            return result
    return grade


def test_the_training_starts_from_the_first_description_and_answers_the_grading(spec, graded):
    verifier, seen = Verifier(), {}
    result = graded(verifier, *_reports(spec), seen)
    assert seen["began_before_report"]
    assert result.status is Status.PASSED, result.summary
    assert len(verifier.trained) == 1  # trained once: the early training is the grading's
    assert result.training["filters"] == verifier.trained[0]
    assert verifier.remembered == [False]  # beside the kernel: a failure would not be kept
    assert not [r for r in result.review if r["code"] == "preview-differs"]


def test_a_first_description_of_another_network_is_trained_but_never_graded(spec, graded):
    """Only code that watches the grader describes two networks: the report's is trained anew
    and graded; the first costs time only."""
    verifier, seen = Verifier(), {}
    verifier.release.clear()  # the first network's training would run until the worker stops
    result = graded(verifier, *_reports(spec, _wider(spec)), seen)
    reference = [layer.args.get("filters") for layer in spec.ref_layers if layer.kind == "Conv2D"]
    assert verifier.trained[0] != reference and verifier.trained[1:] == [reference]
    assert seen["closed_when_graded"] >= 1  # the first network's training stopped, not awaited
    assert result.training["filters"] == reference
    assert result.status is Status.PASSED, result.summary
    assert [r["code"] for r in result.review] == ["preview-differs"]  # named for review


def test_a_first_description_without_a_gradable_model_starts_nothing(spec, graded):
    verifier, seen = Verifier(), {}
    preview = {"ok": False, "error": "no_model", "found": [], "nested": []}
    result = graded(verifier, preview, _reports(spec)[1], seen, wait=0.5)
    assert not seen["began_before_report"]
    assert len(verifier.trained) == 1 and result.status is Status.PASSED  # the report's network


def test_no_training_outlives_its_grading_even_when_the_grading_fails(spec, graded):
    verifier, seen = Verifier(), {}
    verifier.release.clear()  # the training is still running when the grading fails
    preview, _ = _reports(spec)
    full = {"ok": False, "error": "no_model", "found": [], "nested": []}
    threading.Timer(0.5, verifier.release.set).start()
    result = graded(verifier, preview, full, seen)
    assert result.status is Status.ERROR
    assert seen["finished_when_graded"]  # grade returned only once the training had finished


def test_an_interrupted_grading_stops_its_training_at_once(spec, graded):
    """Ctrl-C (or SIGTERM) during a grading: the worker is closed, not waited for."""
    verifier, seen = Verifier(), {}
    verifier.release.clear()  # left alone, the training would wait 10 s
    began = time.monotonic()
    with pytest.raises(KeyboardInterrupt):
        graded(verifier, *_reports(spec), seen, raises=KeyboardInterrupt())
    assert verifier.closed >= 1 and time.monotonic() - began < 8


def test_a_failed_early_training_is_neither_taken_nor_remembered(spec, graded, monkeypatch):
    """It ran beside the kernel, which may have caused the failure: the grading trains again
    with the kernel gone, and the memo keeps no failure for the architecture."""
    from grader.verify import verifier as V
    from grader.verify.memo import NoMemo

    class Worker:
        """Times out on its first training, answers the next."""

        jobs: list[dict] = []

        def __init__(self, settings) -> None:
            self.closed = False

        def alive(self) -> bool:
            return not self.closed

        def warm_up(self) -> None:
            pass

        def wait_ready(self, timeout):
            return {"ready": True, "versions": {}, "threads": 0}

        def request(self, job, timeout):
            if job.get("kind") == "crosscheck":
                return {"ok": True, "crosscheck": {"matched": True, "mismatches": [], "compared": 1}}
            Worker.jobs.append(job)
            if len(Worker.jobs) == 1:
                raise V.WorkerTimeout("no answer")
            return {"ok": True, "training": {"val_accuracy": 0.95, "curves": {}, "epochs": 1,
                                             "batch_size": 128, "seed": 1}}

        def close(self) -> None:
            self.closed = True

        def kill(self, wait: bool = True) -> None:
            self.close()

    monkeypatch.setattr(V, "WorkerProcess", Worker)
    verifier, seen = V.Verifier(Settings(), memo=NoMemo()), {}
    result = graded(verifier, *_reports(spec), seen)
    assert len(Worker.jobs) == 2, result.error  # the early one timed out
    assert result.training["val_accuracy"] == 0.95 and result.status is Status.PASSED, result.summary
    assert not [v for v in verifier.memo.values() if isinstance(v, Exception)]


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

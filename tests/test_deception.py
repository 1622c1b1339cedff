"""The deception corpus (``tests/deception.py``): a notebook that lies about its model never
passes with a wrong network; a redirection to a correct network it built passes only with a
review entry; an honest solution that uses the same names innocently passes.

One grader (one verification worker for the cross-check) grades the whole corpus on the
product's default path, with verification on: the runner asks the kernel for its description
first (the preview, which starts the training: ``grader.verify.early``) and for its report
after it, so every trick meets both requests. The training itself is canned (``Untrained``: a
passed accuracy check, no TensorFlow training): what is tested is the description, the
cross-check and the review, not the accuracy.
"""
from __future__ import annotations

import dataclasses
import threading

import nbformat
import pytest

from grader import pipeline
from grader.result import Status
from grader.sandbox.launch import Launcher
from grader.verify.memo import NoMemo
from grader.verify.verifier import Verifier, accuracy_check

from tests import deception as D
from tests.conftest import _fast

pytestmark = pytest.mark.kernel


class Untrained(Verifier):
    """A real verifier (its worker cross-checks) whose training is canned: a passed accuracy
    check at the calibrated range's low end. Records which thread asked (the early training's)."""

    threads: list[str] = []

    def __call__(self, model, spec, data_file, settings=None, *, remember_failure=True):
        Untrained.threads.append(threading.current_thread().name)
        low, high = spec.training["range"]
        training = {"val_accuracy": low, "range": [low, high], "epochs": spec.training["epochs"],
                    "calibrated_epochs": spec.training["epochs"], "source": "trained"}
        return accuracy_check(spec, training), training


@pytest.fixture(scope="module")
def grade(data_file, spec, tmp_path_factory):
    folder = tmp_path_factory.mktemp("deception")
    settings = dataclasses.replace(_fast(data_file), verify=True)
    with pipeline.Grader(spec, data_file, settings, Launcher(),
                         Untrained(settings, memo=NoMemo())) as grader:
        def run(trick: D.Trick):
            path = folder / f"{abs(hash(trick.name))}.ipynb"
            nbformat.write(trick.notebook(), path)
            return grader.grade(path)
        yield run


def _wrong() -> list:
    """The wrong-network tricks; a known open hole is an expected failure (strict: closing it
    turns the test red until the mark goes)."""
    return [pytest.param(t, marks=pytest.mark.xfail(reason=t.open, strict=True)) if t.open else t
            for t in D.TRICKS if t.verdict == "wrong"]


@pytest.mark.parametrize("trick", _wrong(), ids=lambda t: t.name)
def test_a_notebook_that_lies_about_a_wrong_network_never_passes(trick, grade):
    result = grade(trick)
    assert result.status is not Status.PASSED, (trick.name, result.summary)
    assert result.score < result.max_score


@pytest.mark.parametrize("trick", [t for t in D.TRICKS if t.verdict == "flagged"], ids=lambda t: t.name)
def test_a_redirection_to_a_correct_network_passes_only_with_a_review_entry(trick, grade):
    result = grade(trick)
    assert result.status is not Status.PASSED or result.review, result.summary


@pytest.mark.parametrize("trick", [t for t in D.TRICKS if t.verdict == "honest"], ids=lambda t: t.name)
def test_an_honest_solution_using_the_same_names_passes_and_is_cross_checked(trick, grade):
    result = grade(trick)
    assert result.status is Status.PASSED, result.summary
    assert result.score == result.max_score
    assert result.crosscheck["matched"] is True


def test_a_changed_computation_is_not_vouched_for_and_is_named_in_a_failed_check_and_review(
        grade):
    trick = next(t for t in D.TRICKS if t.name == "call of Conv2D replaced after building")
    result = grade(trick)
    assert result.crosscheck["matched"] is None
    first = result.checks[0]
    assert first.mistake == "crosscheck" and not first.passed
    assert "changed the code the network computes with" in first.message
    assert "Conv2D.call replaced" in first.message
    assert not any(c.points for c in result.checks if c.category != "answers")  # the code's: none
    assert any(r["source"] == "crosscheck" and r["code"] == "crosscheck-unavailable"
               for r in result.review)


def test_the_corpus_runs_the_default_path_where_the_training_starts_from_the_preview(grade):
    Untrained.threads.clear()
    result = grade(next(t for t in D.TRICKS if t.verdict == "honest"))
    assert result.status is Status.PASSED and result.crosscheck["matched"] is True
    assert Untrained.threads and all(t.startswith("grader-early") for t in Untrained.threads)


def test_the_corpus_covers_every_class_of_trick():
    classes = {t.cls for t in D.TRICKS}
    assert {"description", "computation", "redirection", "late", "mode", "honest"} <= classes


def test_a_regularizer_or_constraint_on_an_added_layer_is_named_with_its_fix(grade):
    trick = next(t for t in D.TRICKS if t.name == "kernel_regularizer that drives the added kernel to zero")
    result = grade(trick)
    assert result.crosscheck["matched"] is True  # the description is honest: a mistake, not a lie
    named = [c for c in result.checks if not c.passed and "kernel_regularizer" in (c.message + (c.hint or ""))]
    assert named, [(c.name, c.message, c.hint) for c in result.checks if not c.passed]
    assert "kernel_regularizer=None" in (named[0].message + (named[0].hint or ""))


def test_a_frozen_layer_is_the_frozen_layer_mistake_not_a_changed_computation(grade):
    frozen = D.Trick("template's first Conv2D frozen", "honest", D.SOLUTION,
                     ("model.layers[0].trainable = False",))
    result = grade(frozen)
    assert result.crosscheck["matched"] is True, result.crosscheck  # vouched for, not refused
    assert result.score < result.max_score  # a frozen layer is a mistake of its own


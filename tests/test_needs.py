"""Processes that imported TensorFlow ahead (a forked kernel, a verification worker started as
the notebook runs, a batch's zygotes) only for notebooks that name Keras or TensorFlow
(``grader.execute.needs``): a hint for speed, never a verdict.
"""
from __future__ import annotations

import json
from pathlib import Path

import nbformat
import pytest

from grader import pipeline
from grader.execute.needs import count_wanting, wants_tensorflow
from grader.sandbox import zygotes
from grader.sandbox.launch import Launcher
from grader.verify.verifier import Verifier

from tests import legacy
from tests.conftest import ROOT
from tests.notebooks import SOLUTION, code_notebook, model_only_notebook, write


def hidden(nb: nbformat.NotebookNode) -> nbformat.NotebookNode:
    """The same notebook, each code cell run from hex: no byte of it names Keras."""
    out = nbformat.from_dict(json.loads(json.dumps(nb)))
    for cell in out.cells:
        if cell.cell_type == "code":
            lines = cell.source.splitlines()
            magics = [line for line in lines if line.startswith("%")]
            code = "\n".join(line for line in lines if not line.startswith("%"))
            cell.source = "\n".join([*magics, f"exec(bytes.fromhex({code.encode().hex()!r}).decode())"])
    return out


def as_bytes(nb: nbformat.NotebookNode) -> bytes:
    return nbformat.writes(nb).encode()


@pytest.mark.fast
def test_every_course_notebook_names_keras_and_a_notebook_without_it_does_not():
    course = sorted(ROOT.glob("reference/*/*.ipynb")) + sorted(ROOT.glob("reference/*/samples/*.ipynb")) \
        + sorted(ROOT.glob("submissions/*.ipynb"))
    assert len(course) > 16
    assert all(wants_tensorflow(path.read_bytes()) for path in course)
    assert wants_tensorflow(as_bytes(legacy.notebook(legacy.SOLUTION)))  # Keras 1, 2017
    assert wants_tensorflow(as_bytes(code_notebook("import tensorflow as tf")))
    assert not wants_tensorflow(as_bytes(code_notebook("x = 1", "import time; time.sleep(1)")))
    assert not wants_tensorflow(as_bytes(hidden(model_only_notebook(SOLUTION))))


@pytest.mark.fast
def test_a_batch_counts_the_readable_notebooks_within_the_limit_that_name_keras(tmp_path):
    write(model_only_notebook(SOLUTION), tmp_path / "model.ipynb")
    write(code_notebook("x = 1"), tmp_path / "tiny.ipynb")
    big = tmp_path / "big.ipynb"
    big.write_bytes(b"keras" * 1000)
    paths = [tmp_path / "model.ipynb", tmp_path / "tiny.ipynb", big, tmp_path / "missing.ipynb"]
    assert count_wanting(paths, limit=4000) == 1
    assert count_wanting(paths, limit=5000) == 2


def _grade(path: Path, spec, data_file, settings, verifier: Verifier):
    return pipeline.check_notebook(path, spec, data_file, settings, Launcher(), verifier)


@pytest.mark.kernel
def test_a_notebook_without_keras_starts_no_zygote_and_no_verification_worker(
        fresh_zygotes, tmp_path, spec, data_file, fast_settings):
    settings = fast_settings.with_(verify=True)
    write(code_notebook("x = 1"), tmp_path / "tiny.ipynb")
    with Verifier(settings) as verifier:
        result = _grade(tmp_path / "tiny.ipynb", spec, data_file, settings, verifier)
        assert result.error.kind == "no_model"
        assert verifier.pid is None and not zygotes.pids()
        write(model_only_notebook(SOLUTION), tmp_path / "model.ipynb")
        result = _grade(tmp_path / "model.ipynb", spec, data_file, settings, verifier)
        assert result.status.value == "passed"
        assert zygotes.pids()  # the kernel was forked: its zygote started
        assert verifier.pid is not None or verifier.trainings + verifier.hits >= 1


@pytest.mark.kernel
def test_a_notebook_that_hides_its_keras_import_gets_the_verdict_of_the_plain_one(
        tmp_path, spec, data_file, fast_settings):
    """Its kernel imports Keras itself and its verification worker starts when its model is
    found: the same checks, points and accuracy."""
    settings = fast_settings.with_(verify=True)
    write(model_only_notebook(SOLUTION), tmp_path / "plain.ipynb")
    write(hidden(model_only_notebook(SOLUTION)), tmp_path / "hidden.ipynb")
    assert not wants_tensorflow((tmp_path / "hidden.ipynb").read_bytes())
    with Verifier(settings) as verifier:
        found = {name: _grade(tmp_path / f"{name}.ipynb", spec, data_file, settings, verifier)
                 for name in ("hidden", "plain")}
    plain, hidden_one = found["plain"], found["hidden"]
    assert plain.status.value == hidden_one.status.value == "passed"
    assert plain.score == hidden_one.score and plain.max_score == hidden_one.max_score
    assert [(c.name, c.passed, c.points) for c in plain.checks] == \
        [(c.name, c.passed, c.points) for c in hidden_one.checks]
    assert plain.training["val_accuracy"] == hidden_one.training["val_accuracy"]
    assert hidden_one.crosscheck["matched"]

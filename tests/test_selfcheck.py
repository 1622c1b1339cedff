"""The self-check's parts that need no kernel: recognising its cell, the notes on what breaks
only at final grading, the data file beside the notebook, and what importing it costs."""
from __future__ import annotations

import dataclasses
import os
import subprocess
import sys
import warnings
from pathlib import Path

import pytest

from grader import api
from grader.exceptions import DataUnavailable
from grader.execute import runner as execute
from grader.intake import data
from grader.selfcheck import readiness
from grader.selfcheck.cells import SKIPPED, is_selfcheck_cell
from grader.settings import Settings

from tests import notebooks, notebooks_2018

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.parametrize("source", [
    notebooks.SELFCHECK, notebooks_2018.SELFCHECK,
    "%load_ext grader\n%grader_check",
    "from grader.notebook import check\ncheck(model)",
    "try:\n    from grader.notebook import check\nexcept ImportError:\n    pass\nelse:\n    check()",
])
def test_the_self_check_cell_is_recognised_by_its_content(source):
    assert is_selfcheck_cell(source)


@pytest.mark.parametrize("source", [
    notebooks.SELFCHECK + "\nmodel.add(Dense(10))",
    "from grader.notebook import check\ncheck(model.add(Dense(10)))",
    "from grader.notebook import check\ncheck(exercise=model.add(Dense(10)))",
    "from grader.notebook import check\ncheck(**{'exercise': 'cnn2'})",
    "try:\n    from grader.notebook import check\nexcept ImportError:\n    model = None\ncheck()",
    "%load_ext grader\nmodel = None",
    "import os", "", "# only a comment",
])
def test_a_cell_that_does_anything_else_is_not_the_self_check(source):
    assert not is_selfcheck_cell(source)


def test_tags_do_not_make_a_cell_the_self_check_and_the_recognised_one_is_emptied():
    nb = notebooks.course_notebook(notebooks.SOLUTION, selfcheck=notebooks.SELFCHECK)
    nb.cells[-2].metadata["tags"] = ["selfcheck", "grader-self-check"]  # the plots cell
    prepared = execute.prepare(nb, Settings(), "x.json")
    sources = [c.source for c in prepared.cells]
    assert sources[-1] == SKIPPED  # the self-check (the last cell: the extraction is no cell)
    assert notebooks.PLOTS in sources
    assert "__grader_selfcheck_stub" in sources[0]


CODE_THAT_BREAKS = {
    "drive": "from google.colab import drive\ndrive.mount('/content/drive')",
    "relative": "f = gzip.open('../data/mnist_4000.pkl.gz')",
    "pip": "!pip install tensorflow-addons",
    "gpu": "tf.config.experimental.set_memory_growth(gpus[0], True)",
    "download": "!wget https://example.org/other.pkl.gz",
}


@pytest.mark.parametrize("name", CODE_THAT_BREAKS)
def test_code_that_breaks_only_at_final_grading_gets_a_note(name, spec):
    notes = readiness.source_notes([notebooks.LOAD, CODE_THAT_BREAKS[name]], spec.data)
    assert notes and all(n.level == "warn" for n in notes)


def test_the_course_notebook_and_guarded_colab_code_get_no_note(spec):
    guarded = "try:\n    from google.colab import files\nexcept ImportError:\n    pass"
    download = f"!wget {spec.data['url']}"
    cells = [c.source for c in notebooks.course_notebook(notebooks.SOLUTION).cells] + [
        guarded, download, notebooks.SELFCHECK]
    assert readiness.source_notes(cells, spec.data) == []


def test_the_data_note_wants_the_courses_file_beside_the_notebook(tmp_path, spec, data_file):
    assert readiness.data_note(spec.data, tmp_path).level == "warn"  # missing
    (tmp_path / spec.data["file"]).write_bytes(b"not the data")
    assert "not the course's file" in readiness.data_note(spec.data, tmp_path).text
    (tmp_path / spec.data["file"]).unlink()
    (tmp_path / spec.data["file"]).symlink_to(data_file)
    assert readiness.data_note(spec.data, tmp_path).level == "warn"  # a link is not followed
    (tmp_path / spec.data["file"]).unlink()
    (tmp_path / spec.data["file"]).write_bytes(data_file.read_bytes())
    assert readiness.data_note(spec.data, tmp_path).level == "info"


def test_the_grader_would_pick_another_model_is_said():
    assert readiness.pick_note(["model"], "model") is None
    assert "`model2`" in readiness.pick_note(["model"], "model2").text


# --- grader check: the data file beside the notebook -----------------------------------------

@pytest.fixture
def no_other_source(monkeypatch, tmp_path):
    monkeypatch.delenv("GRADER_DATA", raising=False)
    monkeypatch.delenv("GRADER_DATA_URL", raising=False)
    return tmp_path / "empty-cache"


def test_check_finds_the_data_file_beside_the_notebook_and_says_so(no_other_source, tmp_path,
                                                                   spec, data_file, monkeypatch):
    folder = tmp_path / "course"
    folder.mkdir()
    (folder / spec.data["file"]).write_bytes(data_file.read_bytes())
    monkeypatch.setattr(data, "cache_dir", lambda: no_other_source)
    offline = dict(spec.data, url="http://127.0.0.1:9/none")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        found = api.resolve_data(dataclasses.replace(spec, data=offline), None, beside=folder)
    assert found == folder / spec.data["file"]
    assert any(f"beside the notebook: {found}" in str(w.message) for w in caught)


def test_data_beside_the_notebook_comes_after_grader_data(no_other_source, tmp_path, spec,
                                                          data_file, monkeypatch):
    monkeypatch.setenv("GRADER_DATA", str(data_file))
    (tmp_path / spec.data["file"]).write_bytes(data_file.read_bytes())
    assert data.resolve(spec.data, beside=tmp_path, cache=no_other_source) == data_file


@pytest.mark.parametrize("kind", ["link", "wrong bytes", "folder"])
def test_an_unusable_file_beside_the_notebook_is_not_used_and_said(kind, no_other_source, tmp_path,
                                                                   spec, data_file):
    target = tmp_path / spec.data["file"]
    if kind == "link":
        target.symlink_to(data_file)
    elif kind == "folder":
        target.mkdir()
    else:
        target.write_bytes(b"x" * 100)
    with pytest.warns(UserWarning, match="beside the notebook was not used"):
        with pytest.raises(DataUnavailable):
            data.resolve(dict(spec.data, url=None), beside=tmp_path, cache=no_other_source)


def test_the_unsandboxed_warning_says_this_is_expected_on_your_own_machine(monkeypatch):
    from grader.exceptions import SandboxUnavailable
    from grader.sandbox import launcher as sandbox

    def unavailable():
        raise SandboxUnavailable("bubblewrap is not installed")
    monkeypatch.setattr(sandbox.SandboxLauncher, "create", staticmethod(unavailable))
    with pytest.warns(UserWarning, match="expected when you check your own notebook on your "
                                         "own machine") as caught:
        api.make_launcher("auto")
    assert "\n" not in str(caught[0].message)


# --- what importing the self-check costs --------------------------------------------------------

def test_importing_the_self_check_imports_no_tensorflow_nbclient_or_matplotlib():
    code = ("import sys, grader, grader.notebook, grader.selfcheck.render\n"
            "heavy = [m for m in ('tensorflow', 'keras', 'nbclient', 'nbformat', 'jupyter_client',"
            " 'matplotlib', 'numpy') if m in sys.modules]\n"
            "print(heavy)")
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True,
                         env=dict(os.environ, PYTHONPATH=str(ROOT)), timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]"

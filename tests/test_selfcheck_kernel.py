"""The in-notebook self-check in a real kernel: the same verdict as ``grader check``.

One kernel runs every sample submission and the exercise's own notebooks one after another
(``%reset -f`` between them, the notebook's ``fit`` skipped by the grader's own prelude), each
followed by ``check()``; ``grader check`` grades the same files. For every notebook the checks
(names, points, messages, hints, ``follows_from``), the graded variable, the status and the
"Fix first" line must be equal: both run ``structure.grade_structure`` on the report of
``kernel/extract_model.py``.
"""
from __future__ import annotations

import dataclasses
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest
from markupsafe import escape
from nbclient import NotebookClient
from nbformat.v4 import new_code_cell, new_notebook

from grader import api
from grader.execute import kernel
from grader.exercise.spec import load_exercise
from grader.notebook import exercise_folders
from grader.result import Status

from tests import notebooks

pytestmark = pytest.mark.kernel
ROOT = Path(__file__).resolve().parent.parent
SAMPLES = sorted((ROOT / "submissions").glob("*.ipynb"))
#: the grader stops at the failing cell (cell_error); in the notebook the student sees that
#: error under the cell itself, and ``check()`` can only judge what the cell built before it
STOPS_AT_A_CELL = {"mallory_typo"}


def _exercise_notebooks() -> dict[Path, Path]:
    """Each exercise's template and solution (and samples), with the exercise's folder."""
    out = {}
    for folder in exercise_folders():
        exercise = load_exercise(folder)
        for path in [folder / exercise["template"], folder / exercise["solution"],
                     *sorted((folder / "samples").glob("*.ipynb"))]:
            out[path] = folder
    return out


#: notebook -> the reference folder it is checked against (None: the default exercise)
EXERCISE_OF = {**{path: None for path in SAMPLES}, **_exercise_notebooks()}
NOTEBOOKS = list(EXERCISE_OF)

DUMP = """\
import json as __json
from grader.notebook import check as __check
__sc = __check(exercise={exercise!r})
with open({path!r}, 'w') as __f:
    __json.dump({{'result': __sc.result.to_dict(), 'html': __sc._repr_html_(),
                 'text': repr(__sc), 'notes': [n.text for n in __sc.notes]}}, __f)"""


def _dump_name(path: Path) -> str:
    """Where a notebook's in-kernel verdict is saved (samples of two exercises share names)."""
    return f"{path.parent.name}-{path.stem}.json"


def _session_notebook(workdir: Path) -> nbformat.NotebookNode:
    cells = [new_code_cell(kernel.source("prelude", "__grader_prelude(0, 0)"))]
    for path in NOTEBOOKS:
        nb = nbformat.read(path, as_version=4)
        cells.append(new_code_cell("%reset -f"))
        cells += [new_code_cell(c.source) for c in nb.cells if c.cell_type == "code"]
        exercise = EXERCISE_OF[path] and load_exercise(EXERCISE_OF[path])["exercise"]
        cells.append(new_code_cell(DUMP.format(path=str(workdir / _dump_name(path)),
                                               exercise=exercise)))
    bob = notebooks.MODEL_HEAD + notebooks.MISTAKES["no_padding"] + notebooks.MODEL_TAIL
    cells += [new_code_cell("%reset -f"), new_code_cell(notebooks.IMPORTS),
              new_code_cell(notebooks.HYPER), new_code_cell(bob),
              new_code_cell("if False:\n    !pip install tensorflow-addons"),
              new_code_cell("%load_ext grader"), new_code_cell("%grader_check"),
              new_code_cell("from grader.notebook import check\ncheck(model)"),
              new_code_cell(notebooks._renamed(notebooks.MODEL_HEAD + notebooks.SOLUTION
                                               + notebooks.MODEL_TAIL, "good_model")),
              new_code_cell("check(model)")]
    return new_notebook(cells=cells)


@pytest.fixture(scope="module")
def session(tmp_path_factory, data_file):
    """Run every notebook in one kernel whose ``grader`` is this checkout's."""
    workdir = tmp_path_factory.mktemp("selfcheck")
    shutil.copyfile(data_file, workdir / data_file.name)
    nb = _session_notebook(workdir)
    saved = os.environ.get("PYTHONPATH")
    os.environ["PYTHONPATH"] = str(ROOT) + (os.pathsep + saved if saved else "")
    try:
        NotebookClient(nb, timeout=300, allow_errors=True, kernel_name="python3",
                       resources={"metadata": {"path": str(workdir)}}).execute()
    finally:
        if saved is None:
            os.environ.pop("PYTHONPATH", None)
        else:
            os.environ["PYTHONPATH"] = saved
    return workdir, nb


def _structure(result: dict) -> dict:
    # the self-check reads no written answers: their facts are the final grading's only
    checks = [c for c in result["checks"] if c["category"] not in ("training", "answers")]
    error = result.get("error") or {}
    return {"checks": checks, "model_variable": result["model_variable"],
            "status": result["status"], "summary": result["summary"],
            "error": {k: error.get(k) for k in ("kind", "message", "advice")} if error else None,
            "other_models": result["other_models"], "warnings": result["warnings"]}


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: f"{p.parent.name}/{p.stem}")
def test_the_in_notebook_verdict_equals_grader_checks_structure_checks(path, session, graded_sample):
    if path.stem in STOPS_AT_A_CELL:
        pytest.skip("the grader stops at the failing cell; the student sees that cell's error")
    workdir, _ = session
    mine = json.loads((workdir / _dump_name(path)).read_text())
    exercise = {"reference": EXERCISE_OF[path]} if EXERCISE_OF[path] else {}
    graded = graded_sample(path, **exercise).to_dict()  # the samples' gradings are shared
    assert _structure(mine["result"]) == _structure(graded)
    facts = sum(c["points"] for c in graded["checks"] if c["category"] == "answers")
    assert mine["result"]["score"] == graded["score"] - facts  # no accuracy: --no-verify here
    if graded["status"] == "failed":  # the "Fix first" line grader check prints, in text and HTML
        assert graded["summary"].startswith("Fix first: ")
        assert graded["summary"] in mine["text"]
        assert str(escape(graded["summary"])) in mine["html"]
    assert "Structure only: the final grading runs your whole notebook" in mine["text"]


def test_the_subclassed_sample_gets_the_graders_refusal_and_advice(session):
    workdir, _ = session
    mine = json.loads((workdir / "submissions-oscar_subclassed.json").read_text())["result"]
    assert mine["status"] == Status.ERROR.value
    assert mine["error"]["kind"] == "subclassed_model" and "Sequential()" in mine["error"]["advice"]


def _html_outputs(cell) -> list[str]:
    return [o["data"]["text/html"] for o in cell.get("outputs", [])
            if o.get("output_type") in ("execute_result", "display_data")
            and "text/html" in o.get("data", {})]


def test_the_extension_loads_in_a_real_kernel_and_renders_html(session):
    _, nb = session
    load, magic, call = nb.cells[-5:-2]
    assert not [o for o in load.outputs if o.get("output_type") == "error"]
    for cell in (magic, call):
        html = _html_outputs(cell)
        assert len(html) == 1, cell.outputs
        assert 'class="cnn-grader-selfcheck"' in html[0]
        assert "FAILED" in html[0] and "did you forget padding=&#39;same&#39;?" in html[0]
        assert "The 4 layers you had to add" in html[0]  # the report's own cards
        assert "`pip install` needs the network" in html[0]  # read from the raw history


def test_checking_a_model_the_grader_would_not_pick_says_which_one_it_grades(session):
    _, nb = session
    html = _html_outputs(nb.cells[-1])[0]
    assert "FAILED" in html  # the verdict is on the model asked for: bob's, without padding
    assert "the grader would grade the model in `good_model`, not `model`" in html


def test_the_templates_last_cell_runs_the_self_check_and_shows_it(session):
    _, nb = session
    exercise = load_exercise(exercise_folders()[0])
    solution_cells = nbformat.read(exercise_folders()[0] / exercise["solution"], as_version=4).cells
    assert solution_cells[-1].source == notebooks.SELFCHECK
    shown = [c for c in nb.cells if c.source == notebooks.SELFCHECK]
    assert len(shown) == 2  # template and solution
    assert all(len(_html_outputs(c)) == 1 for c in shown)
    assert "PASSED" in _html_outputs(shown[1])[0]


PATCHED = """\
# a self-check that claims a pass, whatever the model
import sys, types
class Claim:
    def _repr_html_(self):
        return '<b>PASSED 22/22</b>'
fake = types.ModuleType('grader.notebook')
fake.check = lambda *args: Claim()
sys.modules['grader.notebook'] = fake
print('PASSED 22/22: All checks passed')"""


def test_a_notebook_that_patches_the_self_check_to_claim_a_pass_is_graded_on_its_model(
        write_notebook, fast_settings):
    nb = notebooks.course_notebook(notebooks.MISTAKES["no_padding"],
                                   extra_cells=(PATCHED,), selfcheck=notebooks.SELFCHECK)
    result = api.check(write_notebook(nb, "patched"), settings=fast_settings)
    assert result.status is Status.FAILED
    assert result.first_failed.hint == "your Conv2D outputs 12x12 instead of 14x14: did you " \
                                       "forget padding='same'?"


@pytest.mark.parametrize("sandbox", ["off", pytest.param("required", marks=pytest.mark.sandbox)])
def test_a_self_check_inside_other_code_is_a_no_op_during_grading(sandbox, write_notebook,
                                                                 fast_settings):
    """Not the template's cell (other code beside it): it runs, and the stub answers, also in
    the sandbox, where the grader's package is not importable."""
    if sandbox == "required" and not _sandbox_available():
        pytest.skip("no sandbox on this machine")
    cell = "%load_ext grader\nfrom grader.notebook import check\nresult = check(model)\n" \
           "%grader_check\nassert result is None, 'the self-check ran during grading'"
    nb = notebooks.course_notebook(notebooks.SOLUTION, extra_cells=(cell,))
    settings = dataclasses.replace(fast_settings, sandbox=sandbox)
    result = api.check(write_notebook(nb, "inline"), settings=settings)
    assert result.status is Status.PASSED, result.error
    assert any("self-check" in n for n in result.neutralized)


def _sandbox_available() -> bool:
    try:
        from grader.sandbox.launcher import SandboxLauncher
        SandboxLauncher.create()
        return True
    except Exception:
        return False


def test_grader_check_offline_uses_the_data_file_beside_the_notebook_and_names_it(
        tmp_path, data_file):
    """As a student runs it: no --data, no GRADER_DATA, an empty cache, no network."""
    folder = tmp_path / "course"
    folder.mkdir()
    notebook = notebooks.write(notebooks.course_notebook(notebooks.SOLUTION), folder / "bob.ipynb")
    shutil.copyfile(data_file, folder / data_file.name)
    env = {k: v for k, v in os.environ.items() if not k.startswith("GRADER_")}
    env.update(XDG_CACHE_HOME=str(tmp_path / "cache"), GRADER_DATA_URL="http://127.0.0.1:9/x",
               PYTHONPATH=str(ROOT))
    out = subprocess.run([sys.executable, "-m", "grader", "check", notebook.name, "--no-verify",
                          "--sandbox", "off"], cwd=folder, env=env, capture_output=True,
                         text=True, timeout=600)
    assert out.returncode == 0, out.stderr
    assert f"using the data file beside the notebook: {folder / data_file.name}" in out.stderr

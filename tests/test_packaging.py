"""Packaging: students install only the self-check; the reference specs ship inside the wheel.

A wheel is built from this checkout with the command docs/development.md gives instructors
(``pip wheel --no-deps --no-build-isolation -w dist .``: offline, no build isolation)
and inspected; then it is installed alone into a folder and imported with the grading
dependencies made unimportable, as on a student's machine with only ``pip install cnn-grader``.
"""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
#: blocks the grading dependencies in the child, as if ``[grade]`` were not installed
BLOCK = """\
import sys, importlib.abc
class Block(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.split('.')[0] in {'tensorflow', 'keras', 'nbclient', 'nbformat', 'jupyter_client',
                                  'ipykernel', 'matplotlib', 'psutil', 'yaml'}:
            raise ModuleNotFoundError(f"No module named {name!r}", name=name)
sys.meta_path.insert(0, Block())
sys.path.insert(0, %r)
"""


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    tmp = tmp_path_factory.mktemp("wheel")
    files = subprocess.run(["git", "ls-files", "-co", "--exclude-standard"], cwd=ROOT,
                           capture_output=True, text=True, check=True).stdout.split("\n")
    source = tmp / "src"
    for name in filter(None, files):
        if (ROOT / name).is_file():
            (source / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(ROOT / name, source / name)
    out = subprocess.run([sys.executable, "-m", "pip", "wheel", str(source), "--no-deps",
                          "--no-build-isolation", "-q", "-w", str(tmp / "w")],
                         capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    return next((tmp / "w").glob("cnn_grader-*.whl"))


def test_the_wheel_ships_each_exercises_spec_and_no_notebook(wheel):
    with zipfile.ZipFile(wheel) as z:
        names = z.namelist()
        for name in ("cnn2", "cnn2_2018"):
            for file in ("exercise.json", "spec.json", "baselines.json"):
                shipped = json.loads(z.read(f"grader/exercises/{name}/{file}"))
                assert shipped == json.loads((ROOT / "reference" / name / file).read_text())
        metadata = z.read(next(n for n in names if n.endswith("METADATA"))).decode()
    assert not [n for n in names if n.endswith(".ipynb")]  # no template, no solution
    assert "grader/templates/added_layers.html.j2" in names
    assert "grader/templates/baselines.html.j2" in names
    plain = [line for line in metadata.splitlines()
             if line.startswith("Requires-Dist:") and "extra ==" not in line]
    assert plain == ["Requires-Dist: jinja2>=3.1"]  # students get no TensorFlow of ours
    assert 'Requires-Dist: tensorflow>=2.21; extra == "grade"' in metadata


@pytest.fixture(scope="module")
def installed(wheel, tmp_path_factory) -> Path:
    target = tmp_path_factory.mktemp("site")
    out = subprocess.run([sys.executable, "-m", "pip", "install", "--no-deps", "--no-index", "-q",
                          "--target", str(target), str(wheel)], capture_output=True, text=True,
                         timeout=300)
    assert out.returncode == 0, out.stderr
    return target


def _run(target: Path, code: str, cwd: Path) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "GRADER_REFERENCE")}
    return subprocess.run([sys.executable, "-c", BLOCK % str(target) + code], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=120)


def test_the_installed_self_check_finds_the_packaged_spec_without_grading_dependencies(
        installed, tmp_path):
    out = _run(installed, "import grader, grader.notebook as n\n"
                          "print(grader.__file__)\nprint(n.load_spec().path)\n"
                          "print(n.check(namespace={}).result.error.kind)\n"
                          "print(n.load_spec(exercise='cnn2_2018').path)", tmp_path)
    assert out.returncode == 0, out.stderr
    module, spec, kind, other = out.stdout.split("\n")[:4]
    assert module.startswith(str(installed)) and spec.startswith(str(installed / "grader"))
    assert kind == "no_model"
    assert spec.endswith("/cnn2/spec.json")  # the default exercise of several packaged
    assert other == str(installed / "grader" / "exercises" / "cnn2_2018" / "spec.json")


def test_the_grading_command_without_the_grade_extra_says_what_to_install(installed, tmp_path):
    out = _run(installed, "import sys, runpy\nsys.argv = ['grader', 'check', 'x.ipynb']\n"
                          "runpy.run_module('grader', run_name='__main__')", tmp_path)
    assert out.returncode == 5
    assert out.stderr.count("\n") == 1 and "install cnn-grader[grade]" in out.stderr


def test_no_tracked_file_is_or_is_named_like_the_course_data():
    """The data comes from ../shared/data (tests, CI) or the user's cache, never the repo: no
    tracked file is named like MNIST data, has a data file's ending, or starts like a pickle,
    a gzip or a numpy file."""
    tracked = subprocess.run(["git", "ls-files"], cwd=ROOT, capture_output=True, text=True,
                             check=True).stdout.split("\n")
    data_like = []
    for name in filter(None, tracked):
        path = ROOT / name
        head = path.read_bytes()[:6] if path.is_file() else b""
        if ("mnist" in name.lower() or name.endswith((".pkl", ".pickle", ".npz", ".npy", ".gz"))
                or head.startswith((b"\x80", b"\x1f\x8b", b"\x93NUMPY", b"PK\x03\x04"))):
            data_like.append(name)
    assert data_like == []


# --- the students' install path: the wheel on the course page, into a clean environment -------

#: the template's self-check cell run as a notebook would: the cell's code, then the value shown
#: (Jupyter displays the last expression: HTML where it can, the text otherwise)
NOTEBOOK_CELL = """\
import json, sys
source = json.loads(sys.argv[1])
cell = source.rsplit("\\n", 1)
exec(compile(cell[0], "<self-check cell>", "exec"))
shown = eval(compile(cell[1], "<self-check cell>", "eval"))
print(repr(shown))
print("HTML", len(shown._repr_html_()))
try:
    import tensorflow
except ModuleNotFoundError:
    print("no tensorflow")
"""


def repacked_wheel(distribution: str, folder: Path) -> Path:
    """A wheel of an installed distribution, from its files as installed (its RECORD): the
    test's own jinja2 and MarkupSafe reach the clean environment through ``pip install
    --no-index --find-links``, as from a course page, without the network."""
    from importlib import metadata

    dist = metadata.distribution(distribution)
    wheel_meta = next(f for f in dist.files if f.name == "WHEEL" and f.parent.name.endswith(
        ".dist-info")).read_text()
    tag = next(line.split(": ", 1)[1] for line in wheel_meta.splitlines()
               if line.startswith("Tag: "))
    name = dist.metadata["Name"].replace("-", "_").lower()
    path = folder / f"{name}-{dist.version}-{tag}.whl"
    with zipfile.ZipFile(path, "w") as z:
        for file in dist.files:
            if ".." in file.parts or "__pycache__" in file.parts or file.suffix == ".pyc":
                continue
            z.write(file.locate(), file.as_posix())
    return path


@pytest.fixture(scope="module")
def clean_venv(wheel, tmp_path_factory) -> Path:
    """A new virtual environment (no system packages) with the course wheel installed the way
    the student page says: ``pip install cnn_grader-….whl``, offline, jinja2 its only dependency."""
    import venv

    root = tmp_path_factory.mktemp("student")
    venv.create(root / "venv", with_pip=False, system_site_packages=False)
    python = root / "venv" / "bin" / "python"
    course_page = root / "course-page"
    course_page.mkdir()
    shutil.copy(wheel, course_page)
    for distribution in ("jinja2", "markupsafe"):
        repacked_wheel(distribution, course_page)
    out = subprocess.run([sys.executable, "-m", "pip", "--python", str(python), "install", "-q",
                          "--no-index", "--find-links", str(course_page),
                          str(course_page / wheel.name)],
                         capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    return python


def test_the_course_wheel_installs_offline_with_jinja2_alone_and_runs_the_self_check_cell(
        clean_venv, tmp_path):
    """The students' path end to end: the wheel from the documented command, installed into a
    fresh environment that has no TensorFlow, runs the template's own self-check cell (no model
    yet: it says so rather than failing)."""
    cells = json.loads((ROOT / "reference" / "cnn2" / "template.ipynb").read_text())["cells"]
    last = "".join(next(c for c in reversed(cells) if c["cell_type"] == "code")["source"])
    assert last.rstrip().endswith("check()")
    listed = subprocess.run([str(clean_venv), "-c", "import importlib.metadata as m; "
                             "print(sorted(d.metadata['Name'].lower() for d in m.distributions()))"],
                            capture_output=True, text=True, timeout=60, cwd=tmp_path)
    assert listed.stdout.strip() == "['cnn-grader', 'jinja2', 'markupsafe']", listed.stderr
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "GRADER_REFERENCE")}
    out = subprocess.run([str(clean_venv), "-c", NOTEBOOK_CELL, json.dumps(last.rstrip())],
                         capture_output=True, text=True, timeout=120, cwd=tmp_path, env=env)
    assert out.returncode == 0, out.stderr
    assert "no tensorflow" in out.stdout
    assert "not installed" not in out.stdout  # the import in the cell found the wheel's grader
    text, html = out.stdout.split("\nHTML ")
    assert "Self-check (structure only)" in text and "no Keras model found" in text
    assert int(html.split()[0]) > 0  # the HTML view: the wheel's templates through jinja2

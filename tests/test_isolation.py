"""No grader process outside the sandbox imports a file of the folder it runs in, or of the
submissions folder (issue 22): modules named like what the grader imports (``json.py``,
``numpy.py``, ``sitecustomize.py``, …) are planted there; each leaves a marker file when
imported, and none may appear, while the verdicts stay those of a clean folder."""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from multiprocessing import get_context
from pathlib import Path

import pytest

from grader.util.isolation import child_env, isolated_spawn, python_argv
from grader.util.scratch import remove_stale

from tests.conftest import ROOT
from tests.notebooks import SOLUTION, model_only_notebook, write
from tests.reports import code_full_marks

#: what the grader (or Python starting it) imports: a file of one of these names must never load
PLANTED = ("gzip", "json", "numpy", "keras", "tensorflow", "sitecustomize", "usercustomize",
           "threading", "pickle", "selectors", "dataclasses", "typing", "argparse", "nbformat",
           "matplotlib")
MARKER = "IMPORTED-"


def plant(folder: Path, *, package: bool = False) -> Path:
    """``folder`` with the planted modules (and, with ``package``, a fake ``grader``)."""
    folder.mkdir(parents=True, exist_ok=True)
    names = [*PLANTED, "grader/__init__"] if package else PLANTED
    for name in names:
        (folder / f"{name}.py").parent.mkdir(exist_ok=True)
        (folder / f"{name}.py").write_text(
            f"open({str(folder / (MARKER + name.split('/')[0]))!r}, 'w').close()\n"
            f"raise ImportError('planted {name} was imported')\n")
    return folder


def imported(folder: Path) -> list[str]:
    return sorted(p.name[len(MARKER):] for p in folder.glob(MARKER + "*"))


def test_the_planted_modules_are_imported_by_a_plain_python(tmp_path: Path) -> None:
    """The control: without isolation, Python started in such a folder imports them."""
    folder = plant(tmp_path / "work")
    subprocess.run([sys.executable, "-c", "import json"], cwd=folder, capture_output=True)
    assert "json" in imported(folder)


def test_a_grader_subprocess_imports_nothing_of_its_folder_or_environment(tmp_path: Path) -> None:
    folder = plant(tmp_path / "work", package=True)
    env = {**child_env(), "PYTHONPATH": str(folder), "PYTHONSTARTUP": str(folder / "json.py")}
    done = subprocess.run(python_argv("grader", "--version"), cwd=folder, env=env,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("grader ")
    assert imported(folder) == []


def test_the_font_list_builder_imports_nothing_of_its_folder_or_environment(
        tmp_path: Path, monkeypatch) -> None:
    """The one grader process that imports matplotlib (``grader.sandbox.fonts``), started from a
    folder of planted modules with them on ``PYTHONPATH``, still builds a real font list."""
    from grader.sandbox import fonts

    folder = plant(tmp_path / "work")
    monkeypatch.chdir(folder)
    monkeypatch.setenv("PYTHONPATH", str(folder))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    fonts.font_list.cache_clear()
    try:
        built = fonts.font_list()
    finally:
        fonts.font_list.cache_clear()
    assert imported(folder) == []
    assert built is not None and json.loads(built.read_text())["_version"]


@pytest.mark.kernel
def test_the_kernel_zygote_imports_nothing_of_its_folder_or_environment(
        fresh_zygotes, tmp_path: Path, monkeypatch) -> None:
    """The zygote imports Keras, TensorFlow, NumPy and matplotlib for every unsandboxed kernel:
    started by a grader in a folder of planted modules with them on ``PYTHONPATH``, it imports
    none of them, and still starts."""
    from grader.sandbox import zygotes
    from grader.sandbox.launch import minimal_env
    from grader.settings import Settings

    folder = plant(tmp_path / "work")
    monkeypatch.chdir(folder)
    monkeypatch.setenv("PYTHONPATH", str(folder))
    try:
        started = zygotes.zygote_for(minimal_env(Settings(), str(tmp_path / "home")))
        assert started is not None and started.process is not None
        assert started.process.poll() is None
    finally:
        zygotes.close_all()
    assert imported(folder) == []


def test_the_verification_workers_zygote_imports_nothing_of_its_folder_or_environment(
        fresh_zygotes, tmp_path: Path, monkeypatch) -> None:
    """The workers' zygote (``grader.verify.zygote``) imports TensorFlow for every verification
    worker: started by a grader in a folder of planted modules with them on ``PYTHONPATH``, it
    imports none of them, and a worker forked from it starts."""
    from grader.sandbox import zygotes
    from grader.settings import Settings
    from grader.verify.process import ZYGOTE, WorkerProcess, worker_env

    folder = plant(tmp_path / "work")
    monkeypatch.chdir(folder)
    monkeypatch.setenv("PYTHONPATH", str(folder))
    try:
        assert zygotes.zygote_for(worker_env(Settings()), ZYGOTE) is not None
        worker = WorkerProcess(Settings())
        try:
            assert worker.wait_ready(300)["ready"] and worker.forked
        finally:
            worker.close()
    finally:
        zygotes.close_all()
    assert imported(folder) == []


def test_the_environment_of_a_grader_subprocess_is_a_short_list(monkeypatch) -> None:
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "x")
    monkeypatch.setenv("PYTHONPATH", "/anywhere")
    monkeypatch.setenv("TF_ENABLE_ONEDNN_OPTS", "0")
    env = child_env({"GRADER_X": "1"})
    assert "AWS_SECRET_ACCESS_KEY" not in env and "PYTHONPATH" not in env
    assert env["TF_ENABLE_ONEDNN_OPTS"] == "0"
    assert env["GRADER_X"] == "1" and env.get("PATH") == os.environ.get("PATH")


def test_an_uninstalled_checkout_finds_only_its_own_grader_package(tmp_path: Path) -> None:
    """A Python without the grader installed (the interpreter the venv was made from)."""
    base = Path(sys.base_prefix) / "bin" / "python3"
    if not base.is_file() or subprocess.run([str(base), "-c", "import grader"],
                                            cwd=tmp_path, capture_output=True).returncode == 0:
        pytest.skip("no Python without the grader installed here")
    folder = plant(tmp_path / "work", package=True)
    argv = [str(base), *python_argv("grader.util.text")[1:]]
    done = subprocess.run(argv, cwd=folder, env=child_env(), capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0, done.stderr
    assert imported(folder) == []


def test_python_dash_m_grader_drops_the_working_folder_first(tmp_path: Path) -> None:
    folder = plant(tmp_path / "work")
    done = subprocess.run([sys.executable, "-m", "grader", "--version"], cwd=folder,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert imported(folder) == []


def test_spawned_children_start_isolated_in_the_grader_folder(tmp_path: Path, monkeypatch) -> None:
    folder = plant(tmp_path / "work")
    own = tmp_path / "grader-owned"
    own.mkdir()
    lib = tmp_path / "lib"  # the child's target, on the parent's path (not in the cwd)
    lib.mkdir()
    (lib / "isolation_child.py").write_text((ROOT / "tests" / "isolation_child.py").read_text())
    monkeypatch.chdir(folder)  # the parent runs in the students' folder …
    monkeypatch.setattr(sys, "path", ["", str(lib), *sys.path])  # … with it on its path
    import isolation_child

    process = get_context("spawn").Process(target=isolation_child.report,
                                           args=(str(tmp_path / "child.json"),))
    with isolated_spawn(str(own)):
        process.start()
    process.join(120)
    assert process.exitcode == 0
    child = json.loads((tmp_path / "child.json").read_text())
    assert child["isolated"] == 1 and child["cwd"] == str(own)
    assert str(folder) not in child["path"] and "" not in child["path"]
    assert child["main"].endswith(os.path.join("grader", "util", "boot.py"))
    assert imported(folder) == []


# -- the commands, from a folder of planted modules --------------------------------------------

def grader(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "grader", *args, "--sandbox", "off",
                           "--timeout", "120"], cwd=cwd, capture_output=True, text=True,
                          timeout=900)


@pytest.mark.kernel
@pytest.mark.slow
def test_check_with_verification_imports_nothing_planted_and_passes(tmp_path, data_file) -> None:
    folder = plant(tmp_path / "course")
    write(model_only_notebook(SOLUTION), folder / "ann.ipynb")
    done = grader("check", "ann.ipynb", "--data", str(data_file), "--json", "ann.json",
                  cwd=folder)
    result = json.loads((folder / "ann.json").read_text())
    assert imported(folder) == []
    assert (done.returncode, result["status"]) == (0, "passed"), done.stderr
    assert code_full_marks(result)
    assert any(c["category"] == "training" and c["passed"] for c in result["checks"])
    assert result["review"] == []


@pytest.mark.kernel
def test_grade_with_batch_workers_imports_nothing_planted(tmp_path, data_file) -> None:
    """Relative paths given to ``grade`` still work: the workers run in a folder of their own."""
    folder = plant(tmp_path / "course")
    write(model_only_notebook(SOLUTION), folder / "ann.ipynb")
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / data_file.name).symlink_to(data_file)
    shutil.copytree(ROOT / "reference" / "cnn2", tmp_path / "ref")
    done = grader("grade", ".", "--out", "../out", "--workers", "1", "--no-verify",
                  "--data", f"../data/{data_file.name}", "--reference", "../ref", cwd=folder)
    assert done.returncode == 0, done.stderr
    result = json.loads((tmp_path / "out" / "students" / "ann.json").read_text())
    assert result["status"] == "passed" and code_full_marks(result)
    assert result["spec"]["path"] == os.path.join("..", "ref", "spec.json")
    assert imported(folder) == []


@pytest.mark.kernel
@pytest.mark.slow
def test_a_cluster_worker_in_a_folder_of_planted_modules_imports_none(tmp_path, data_file) -> None:
    distributed = pytest.importorskip("distributed")
    folder = plant(tmp_path / "course")
    write(model_only_notebook(SOLUTION), folder / "ann.ipynb")
    with distributed.LocalCluster(n_workers=1, threads_per_worker=1, processes=True,
                                  resources={"GRADING": 1}, dashboard_address=None,
                                  scheduler_port=0, host="127.0.0.1", timeout=60) as local, \
            distributed.Client(local, timeout=60, set_as_default=False) as client:
        client.wait_for_workers(1, timeout=60)
        client.run(os.chdir, str(folder))  # the worker's working folder: the planted one
        done = grader("grade", str(folder), "--out", str(tmp_path / "out"), "--cluster",
                      local.scheduler_address, "--data", str(data_file), cwd=ROOT)
    remove_stale("grader-dask-")  # the worker's folder, as the next worker would
    assert done.returncode == 0, done.stderr
    result = json.loads((tmp_path / "out" / "students" / "ann.json").read_text())
    assert result["status"] == "passed" and code_full_marks(result)
    assert any(c["category"] == "training" for c in result["checks"])  # the verifier ran there
    assert imported(folder) == []

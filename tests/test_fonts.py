"""Matplotlib's font list, built once by the grader and copied into each kernel's home
(``grader.sandbox.fonts``): the kernel uses it instead of scanning the fonts again, what one
kernel does to its copy reaches neither the kept list nor the next kernel, and a grader that
cannot build or keep one still grades."""
from __future__ import annotations

import json
import re
from importlib import metadata
from pathlib import Path

import pytest

from grader import pipeline
from grader.sandbox import fonts
from grader.sandbox.launch import Launcher
from grader.sandbox.launcher import SandboxLauncher
from grader.settings import Settings

from tests.notebooks import code_notebook

#: a cell that reports how matplotlib found its font list, then spoils its own copy of it
OBSERVE = """\
# a notebook of the course names Keras: forked where the launcher forks (grader.execute.needs)
import json, logging, os
seen = []
class Seen(logging.Handler):
    def emit(self, record):
        seen.append(record.getMessage())
log = logging.getLogger('matplotlib.font_manager')
log.addHandler(Seen()); log.setLevel(logging.DEBUG)
import matplotlib.font_manager
folder = os.environ['MPLCONFIGDIR']
names = sorted(n for n in os.listdir(folder) if n.startswith('fontlist'))
for name in names:
    with open(os.path.join(folder, name), 'w') as f:
        f.write('spoiled by the notebook')
raise RuntimeError('OBS' + json.dumps({
    'used': [m for m in seen if m.startswith('Using fontManager instance from')],
    'generated': [m for m in seen if 'generated new fontManager' in m],
    'names': names}))
"""


@pytest.fixture
def own_cache(tmp_path, monkeypatch) -> Path:
    """A cache folder of the test's own: the user's cache is neither read nor changed."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    fonts.font_list.cache_clear()
    yield tmp_path / "cache" / "cnn-grader" / "fonts"
    fonts.font_list.cache_clear()


def observed(result) -> dict:
    match = re.search(r"^RuntimeError: OBS(\{.*\})$", result.error.traceback, re.M)
    assert match, result.error.traceback[-2000:]
    return json.loads(match.group(1))


def test_the_font_list_is_built_once_and_kept_under_the_users_cache(own_cache):
    found = fonts.font_list()
    assert found is not None and found.parent == own_cache / metadata.version("matplotlib")
    assert json.loads(found.read_text())["_version"]
    before = found.stat().st_mtime_ns
    fonts.font_list.cache_clear()
    assert fonts.font_list() == found and found.stat().st_mtime_ns == before  # kept, not rebuilt
    assert fonts.home_files() == [(found, f".mpl/{found.name}")]


def test_a_spoiled_kept_list_is_built_again(own_cache):
    found = fonts.font_list()
    assert found is not None
    found.write_text("{not json")
    fonts.font_list.cache_clear()
    assert fonts.font_list() == found and json.loads(found.read_text())["_version"]


@pytest.mark.parametrize("breaks", ["no matplotlib", "no cache folder"])
def test_without_matplotlib_or_a_cache_folder_a_kernel_gets_no_list(own_cache, monkeypatch,
                                                                    tmp_path, breaks):
    if breaks == "no matplotlib":
        monkeypatch.setattr(fonts, "package_versions", lambda *names: dict.fromkeys(names))
    else:  # the cache's place is a file: nothing can be kept there
        (tmp_path / "cache").write_text("")
    assert fonts.font_list() is None and fonts.home_files() == []
    home = tmp_path / "home"
    home.mkdir()
    fonts.seed_home(home)
    assert list(home.iterdir()) == []


def _run_twice(launcher, tmp_path, data_file, spec) -> list[dict]:
    path = tmp_path / "fonts.ipynb"
    path.write_text(json.dumps(code_notebook(OBSERVE)))
    settings = Settings(sandbox="off", verify=False, notebook_timeout=120, cell_timeout=60,
                        startup_timeout=300, data_path=data_file)
    return [observed(pipeline.check_notebook(path, spec, data_file, settings, launcher))
            for _ in range(2)]


def _assert_used_and_unchanged(runs: list[dict]) -> None:
    kept = fonts.font_list()
    assert kept is not None
    for seen in runs:  # the second kernel got a fresh copy, not the first one's spoiled file
        assert seen["names"] == [kept.name]
        assert seen["used"] and f".mpl/{kept.name}" in seen["used"][0] and not seen["generated"]
    assert json.loads(kept.read_text())["_version"]  # the kept list itself is untouched


@pytest.mark.kernel
def test_an_unsandboxed_kernel_uses_its_copy_of_the_kept_list(own_cache, tmp_path, data_file, spec):
    _assert_used_and_unchanged(_run_twice(Launcher(fork=False), tmp_path, data_file, spec))


@pytest.mark.kernel
def test_a_forked_kernel_starts_with_the_list_loaded_and_spoils_none(own_cache, tmp_path,
                                                                     data_file, spec,
                                                                     fresh_zygotes):
    runs = _run_twice(Launcher(), tmp_path, data_file, spec)  # a zygote of this test's cache
    kept = fonts.font_list()
    assert kept is not None
    for seen in runs:
        assert not seen["used"] and not seen["generated"]  # loaded before the first cell
        assert seen["names"] == [kept.name]  # the second kernel's copy is fresh
    assert json.loads(kept.read_text())["_version"]


@pytest.mark.kernel
@pytest.mark.sandbox
def test_a_sandboxed_kernel_uses_its_copy_of_the_kept_list(own_cache, tmp_path, data_file, spec):
    launcher = SandboxLauncher.create(forced="none")
    _assert_used_and_unchanged(_run_twice(launcher, tmp_path, data_file, spec))


@pytest.mark.kernel
def test_without_a_list_the_kernel_builds_its_own_as_before(own_cache, tmp_path, data_file, spec,
                                                           monkeypatch):
    monkeypatch.setattr(fonts, "home_files", lambda: [])
    for seen in _run_twice(Launcher(fork=False), tmp_path, data_file, spec):
        assert seen["generated"] and not seen["used"]

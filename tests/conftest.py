"""Shared fixtures. The data file comes from $GRADER_DATA or ../shared/data (never the repo)."""
from __future__ import annotations

import contextlib
import fcntl
import functools
import hashlib
import inspect
import json
import os
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path

import jupyter_client
import pytest

from grader import api
from grader.exercise.spec import Spec
from grader.result import Result
from grader.settings import Settings
from grader.verify.kept import kept

from tests import notebooks

ROOT = Path(__file__).resolve().parent.parent
DATA = Path(os.environ.get("GRADER_DATA") or ROOT.parent / "shared" / "data" / "mnist_4000.pkl.gz")


#: the markers of the tests a developer skips while iterating (``pytest -m fast`` runs the rest)
SLOW_TIERS = ("kernel", "slow", "browser", "sandbox")
#: the test files that take longest, in seconds of a full run's ``--durations=0`` (2-core machine,
#: 4 workers, 2026-12-06): pytest-xdist (``--dist loadfile`` in ``addopts``) keeps a file on one
#: worker, so that its module fixtures and the samples' gradings are computed once, and starts
#: the longest files first; only the order comes from here, never a verdict. A file not listed
#: counts ``SLOW_TEST_SECONDS`` per test of the slow tiers.
FILE_SECONDS = {
    "test_selfcheck_kernel.py": 250, "test_cluster.py": 240, "test_sandbox.py": 170,
    "test_deception.py": 160, "test_exercises.py": 160, "test_batch.py": 130,
    "test_samples.py": 130, "test_lms_grade.py": 125, "test_extract.py": 125,
    "test_verify.py": 105, "test_execute.py": 95, "test_sandbox_rootless.py": 60,
    "test_isolation.py": 60, "test_environment.py": 50, "test_mutations.py": 45,
    "test_outdir.py": 40, "test_ta_workflow.py": 40, "test_cli.py": 35, "test_legacy.py": 25,
    "test_html_report.py": 25,
}
SLOW_TEST_SECONDS = 3.0


@pytest.hookimpl(tryfirst=True)  # before ``-m`` deselects: ``fast`` must be set by then
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """``-m fast`` is ``-m "not kernel and not slow and not browser and not sandbox"``: a name
    for the tier developers run on every edit, kept in one place. Under pytest-xdist the files
    come longest first (``FILE_SECONDS``; every worker sorts alike), so that the short ones
    fill the workers' gaps at the end."""
    slow: dict[str, int] = {}
    for item in items:
        if any(item.get_closest_marker(name) for name in SLOW_TIERS):
            slow[item.path.name] = slow.get(item.path.name, 0) + 1
        else:
            item.add_marker(pytest.mark.fast)
    if os.environ.get("PYTEST_XDIST_WORKER"):
        def cost(item: pytest.Item) -> float:
            name = item.path.name
            return FILE_SECONDS.get(name, SLOW_TEST_SECONDS * slow.get(name, 0))
        items.sort(key=lambda item: -cost(item))  # stable: a file's own order is kept


def session_folder(factory: pytest.TempPathFactory, name: str) -> Path:
    """A folder of this test session that every pytest-xdist worker shares (each worker's own
    temp folder lies inside the session's): shared gradings, the memo, locks."""
    base = factory.getbasetemp()
    folder = (base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base) / name
    folder.mkdir(exist_ok=True)
    return folder


#: the process's temp dir (``tempfile.gettempdir()``, ``$TMPDIR``) before a test's fixtures ran
_TEMP_DIR = pytest.StashKey[tuple]()


@pytest.hookimpl(wrapper=True)
def pytest_runtest_setup(item: pytest.Item):
    item.stash[_TEMP_DIR] = (tempfile.gettempdir(), os.environ.get("TMPDIR"))
    return (yield)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_teardown(item: pytest.Item, nextitem: pytest.Item | None):
    """A test leaves the process's temp dir as it found it, once its fixtures (monkeypatch
    included) are torn down: a grader process that moved it (a Dask worker's gradings live in
    its own folder, ``grader.util.scratch.use_as_tempdir``) would put every later test's files
    there, and a sandboxed kernel would see that folder on its /tmp. The test that moved it
    fails (and the temp dir is put back), whichever test runs next."""
    result = yield
    before = item.stash.get(_TEMP_DIR, None)
    after = (tempfile.gettempdir(), os.environ.get("TMPDIR"))
    if before is not None and after != before:
        tempfile.tempdir = before[0]
        _set_env("TMPDIR", before[1])
        pytest.fail(f"the test moved the temp dir (tempfile.gettempdir(), $TMPDIR) from {before} to "
                    f"{after}: monkeypatch it, or the code that moves it", pytrace=False)
    return result


@pytest.fixture(autouse=True)
def _fast_tests_start_no_kernel(request: pytest.FixtureRequest,
                                monkeypatch: pytest.MonkeyPatch) -> None:
    """Keeps the fast tier fast as tests are added: a fast test that starts a kernel in this
    process fails with the fix, instead of quietly adding seconds (``pytest.fail`` is not an
    ``Exception``, so the grader's own handlers cannot turn it into a result). Kernels started
    by a ``grader`` subprocess are not seen here."""
    if request.node.get_closest_marker("fast") is None:
        return

    def refuse(*args: object, **kwargs: object) -> None:
        pytest.fail("this test starts a Jupyter kernel: mark it @pytest.mark.kernel "
                    "(the fast tier, -m fast, runs none)", pytrace=False)
    monkeypatch.setattr(jupyter_client.KernelManager, "start_kernel", refuse)
    monkeypatch.setattr(jupyter_client.AsyncKernelManager, "start_kernel", refuse)


@pytest.fixture(scope="session", autouse=True)
def session_memo(tmp_path_factory: pytest.TempPathFactory):
    """The verification memo kept between runs, as one folder for the whole session: every
    test (and every ``grader`` subprocess or cluster worker it starts, through $GRADER_MEMO)
    trains an architecture once, and nothing is written to the user's own cache. Under
    pytest-xdist the workers share it (the memo is safe for concurrent writers). A test that
    must train passes ``memo=NoMemo()`` or ``--memo off``."""
    with _session_env("GRADER_MEMO", session_folder(tmp_path_factory, "verify-memo")) as folder:
        yield folder


@pytest.fixture(scope="session", autouse=True)
def session_cache(tmp_path_factory: pytest.TempPathFactory):
    """The grader's cache (``$XDG_CACHE_HOME/cnn-grader``: the font list every kernel starts
    with, ``grader.sandbox.fonts``) as one folder for the session, shared by the workers and
    every ``grader`` subprocess: the suite writes nothing under the user's home. A test of the
    cache itself sets its own."""
    with _session_env("XDG_CACHE_HOME", session_folder(tmp_path_factory, "user-cache")) as folder:
        yield folder


@contextlib.contextmanager
def _session_env(name: str, folder: Path) -> Iterator[Path]:
    """``$name`` set to ``folder`` for the session (inherited by every process it starts)."""
    previous = os.environ.get(name)
    os.environ[name] = str(folder)
    try:
        yield folder
    finally:
        _set_env(name, previous)


def _set_env(name: str, value: str | None) -> None:
    """``$name`` set to ``value``, or unset for None."""
    if value is None:
        os.environ.pop(name, None)
    else:
        os.environ[name] = value


@pytest.fixture(scope="session", autouse=True)
def kept_checkers():
    """One cross-check worker per settings for the whole session (``grader.verify.kept``):
    every ``api.check`` without verification would otherwise import TensorFlow in a worker of
    its own, ~2.7 s of CPU each. The cross-check itself runs as it does for every grading."""
    with kept():
        yield


def since(pid):
    with open(f'/proc/{pid}/stat') as f:
        return f.read().rsplit(')', 1)[1].split()[19]


#: ``since`` for a ``python -c`` script: a process's start time (clock ticks since boot), which
#: tells it apart from a later process given the same pid (a busy machine reuses pids in seconds)
SINCE = inspect.getsource(since)


def still_running(pid: int, started: str) -> bool:
    """Whether the process ``pid`` that started at ``started`` (``since``) runs, not a zombie."""
    from grader.sandbox import zygote
    try:
        return since(pid) == started and zygote.running(pid)
    except (OSError, IndexError):
        return False


@pytest.fixture
def fresh_zygotes():
    """No zygote of an earlier test (``grader.sandbox.zygotes``): this test starts (or fails to
    start) its own, and leaves none behind. The earlier tests' zygotes are set aside, not
    stopped, and given back after it (each costs a TensorFlow import to start again)."""
    from grader.sandbox import zygotes
    with zygotes.set_aside():
        yield


@pytest.fixture(scope="session")
def data_file() -> Path:
    assert DATA.is_file(), f"test data missing: set GRADER_DATA or provide {DATA}"
    return DATA


@pytest.fixture(scope="session")
def spec() -> Spec:
    return Spec.load(ROOT / "reference" / "cnn2")


#: limits for what must succeed are generous (steady under load: a kernel that starts in 2 s on
#: a quiet machine took over 60 s on a busy one); a limit met costs nothing. Tests of a limit
#: set their own, against a notebook that never finishes.
STARTUP_TIMEOUT = 300.0


def _fast(data_file: Path) -> Settings:
    return Settings(sandbox="off", verify=False, notebook_timeout=120,
                    cell_timeout=60, startup_timeout=STARTUP_TIMEOUT, data_path=data_file)


@pytest.fixture
def fast_settings(data_file) -> Settings:
    """Unsandboxed, no verification training: for tests of other stages."""
    return _fast(data_file)


@pytest.fixture(scope="session")
def graded_sample(data_file, tmp_path_factory: pytest.TempPathFactory) -> Callable[..., Result]:
    """graded_sample(path, **api_check_kwargs) -> ``grader check``'s result with
    ``fast_settings``, graded once per session: several modules assert different things about
    the same sample notebooks, and each grading runs a kernel (~5 s on 2 cores). Under
    pytest-xdist the workers share the gradings through files (plain JSON, ``Result.to_dict``)
    in the session's temp folder, the first worker to need one grading it under a lock.
    Each call returns a fresh ``Result`` (from the saved JSON): a test that changes the one it
    gets changes no other test's."""
    folder = session_folder(tmp_path_factory, "graded-samples")

    @functools.cache
    def saved_json(path: Path, **kwargs: object) -> str:
        key = hashlib.sha256(repr((str(path), sorted(kwargs.items(), key=str))).encode()).hexdigest()
        saved = folder / f"{Path(path).stem}-{key[:16]}.json"
        with open(folder / f"{saved.name}.lock", "w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            if not saved.exists():  # every worker reads the same file: the same result
                result = api.check(path, settings=_fast(data_file), **kwargs)
                partial = saved.with_suffix(".partial")
                partial.write_text(json.dumps(result.to_dict()))
                os.replace(partial, saved)  # a worker killed midway leaves no half file
            return saved.read_text()

    def grade(path: Path, **kwargs: object) -> Result:
        return Result.from_dict(json.loads(saved_json(path, **kwargs)))
    return grade


@pytest.fixture
def write_notebook(tmp_path):
    """write_notebook(nb, name) -> path of the notebook written under tmp_path."""
    def write(nb, name: str = "submission") -> Path:
        return notebooks.write(nb, tmp_path / f"{name}.ipynb")
    return write

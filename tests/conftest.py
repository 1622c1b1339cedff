"""Shared fixtures. The data file comes from $GRADER_DATA or ../shared/data (never the repo)."""
from __future__ import annotations

import functools
import os
from collections.abc import Callable
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


@pytest.hookimpl(tryfirst=True)  # before ``-m`` deselects: ``fast`` must be set by then
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """``-m fast`` is ``-m "not kernel and not slow and not browser and not sandbox"``: a name
    for the tier developers run on every edit, kept in one place. Under pytest-xdist (``-n 4``
    in ``addopts``) the slow tiers run first, so that the fast tests fill the workers' gaps at
    the end. (No ``xdist_group``: pytest 9 ignores it, as ``item._nodeid`` is gone.)"""
    for item in items:
        if not any(item.get_closest_marker(name) for name in SLOW_TIERS):
            item.add_marker(pytest.mark.fast)
    if os.environ.get("PYTEST_XDIST_WORKER"):  # every pytest-xdist worker sorts alike
        items.sort(key=lambda item: item.get_closest_marker("fast") is not None)


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
    base = tmp_path_factory.getbasetemp()  # under xdist: .../pytest-N/popen-gwK, one per worker
    folder = (base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base) / "verify-memo"
    previous = os.environ.get("GRADER_MEMO")
    os.environ["GRADER_MEMO"] = str(folder)
    yield folder
    if previous is None:
        os.environ.pop("GRADER_MEMO", None)
    else:
        os.environ["GRADER_MEMO"] = previous


@pytest.fixture(scope="session", autouse=True)
def kept_checkers():
    """One cross-check worker per settings for the whole session (``grader.verify.kept``):
    every ``api.check`` without verification would otherwise import TensorFlow in a worker of
    its own, ~2.7 s of CPU each. The cross-check itself runs as it does for every grading."""
    with kept():
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
def graded_sample(data_file) -> Callable[..., Result]:
    """graded_sample(path, **api_check_kwargs) -> ``grader check``'s result with
    ``fast_settings``, graded once per session: several modules assert different things about
    the same sample notebooks, and each grading runs a kernel (~5 s on 2 cores). Callers must
    not change the result they get."""
    @functools.cache
    def grade(path: Path, **kwargs: object) -> Result:
        return api.check(path, settings=_fast(data_file), **kwargs)
    return grade


@pytest.fixture
def write_notebook(tmp_path):
    """write_notebook(nb, name) -> path of the notebook written under tmp_path."""
    def write(nb, name: str = "submission") -> Path:
        return notebooks.write(nb, tmp_path / f"{name}.ipynb")
    return write

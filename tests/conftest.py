"""Shared fixtures. The data file comes from $GRADER_DATA or ../shared/data (never the repo)."""
from __future__ import annotations

import os
from pathlib import Path

import pytest

from grader.settings import Settings
from grader.spec import Spec

from tests import notebooks

ROOT = Path(__file__).resolve().parent.parent
DATA = Path(os.environ.get("GRADER_DATA") or ROOT.parent / "shared" / "data" / "mnist_4000.pkl.gz")


@pytest.fixture(scope="session")
def data_file() -> Path:
    assert DATA.is_file(), f"test data missing: set GRADER_DATA or provide {DATA}"
    return DATA


@pytest.fixture(scope="session")
def spec() -> Spec:
    return Spec.load(ROOT / "reference" / "cnn2")


@pytest.fixture
def fast_settings(data_file) -> Settings:
    """Unsandboxed, no verification training: for tests of other stages."""
    return Settings(sandbox="off", verify=False, notebook_timeout=120,
                    cell_timeout=60, data_path=data_file)


@pytest.fixture
def write_notebook(tmp_path):
    """write_notebook(nb, name) -> path of the notebook written under tmp_path."""
    def write(nb, name: str = "submission") -> Path:
        return notebooks.write(nb, tmp_path / f"{name}.ipynb")
    return write

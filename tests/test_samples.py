"""The sample submissions shipped in submissions/ get the status they were written for."""
import pytest

from tests.conftest import ROOT

EXPECTED = {"alice_solution": "passed", "judy_functional": "passed", "mallory_typo": "error",
            "oscar_subclassed": "error", "peggy_two_models": "passed"}


@pytest.mark.kernel
@pytest.mark.parametrize("notebook", sorted((ROOT / "submissions").glob("*.ipynb")), ids=lambda p: p.stem)
def test_each_sample_gets_its_expected_status(notebook, graded_sample):
    result = graded_sample(notebook)
    assert result.status.value == EXPECTED.get(notebook.stem, "failed"), result.summary
    if result.status.value == "failed":
        assert result.first_failed.hint, "a failed sample must come with a hint"

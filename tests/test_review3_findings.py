"""Third review's findings (the redesign of issues 14 and 15): one failing test per defect."""
from __future__ import annotations

import pytest

from tests.conftest import ROOT


def test_an_empty_exercise_name_is_a_usage_error_not_the_default_exercise(monkeypatch, tmp_path):
    """``--exercise ""`` (an unset shell variable: ``--exercise "$EXERCISE"``) was read as "no
    exercise named" and graded against ``$GRADER_REFERENCE`` or cnn2 without a word: the very
    "typo grades against another exercise" that an unknown name refuses."""
    from grader.cli import parser, reference_of
    from grader.exceptions import UsageError

    monkeypatch.setenv("GRADER_REFERENCE", str(ROOT / "reference" / "cnn2_2018"))
    args = parser().parse_args(["check", "nb.ipynb", "--exercise", ""])
    with pytest.raises(UsageError, match="unknown exercise ''"):
        reference_of(args)

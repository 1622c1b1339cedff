"""The grader skips only a cell that is the self-check and nothing else.
"""
from __future__ import annotations

from grader.selfcheck.cells import is_selfcheck_cell


def test_a_check_call_without_the_import_is_not_skipped():
    """``check(model)`` alone calls whatever ``check`` an earlier cell defined (say
    ``def check(m): m.add(Dense(10))``): the student's notebook runs it and changes its model,
    so the grader must run it too, or it grades a different model than the notebook computes."""
    assert not is_selfcheck_cell("check(model)")
    assert not is_selfcheck_cell("check()\nfrom grader.notebook import check")
    assert is_selfcheck_cell("from grader.notebook import check\ncheck(model)")

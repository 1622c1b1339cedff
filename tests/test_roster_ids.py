"""Roster matching never gives a grade to the wrong row.
"""
from __future__ import annotations


# -- 5. roster: an id shared by two roster rows gives the grade to the first -------------------
def test_a_submission_name_that_is_an_id_of_two_roster_rows_is_not_given_to_either():
    """Moodle: the email's part before ``@`` is a key too, so ``jsmith@uni.edu`` and
    ``jsmith@partner.org`` (or one student's local part equal to another's ID number) share a
    key; ``index.setdefault`` silently gives the submission ``jsmith`` to the first row, i.e.
    possibly to the wrong student. An ambiguous name must be left unmatched (and listed)."""
    from grader.lms.roster import Roster, match
    roster = Roster("moodle", ["First name", "Surname", "ID number", "Email address"], [
        {"First name": "Jane", "Surname": "Smith", "ID number": "", "Email address": "jsmith@uni.edu"},
        {"First name": "John", "Surname": "Smith", "ID number": "", "Email address": "jsmith@partner.org"},
    ])
    matching = match(roster, ["jsmith"], {})
    assert matching.matched == {} and matching.no_roster == ["jsmith"]


def test_an_exact_id_wins_over_another_rows_email_local_part():
    from grader.lms.roster import Roster, match
    roster = Roster("moodle", ["First name", "Surname", "ID number", "Email address"], [
        {"First name": "Jane", "Surname": "Doe", "ID number": "", "Email address": "s123@uni.edu"},
        {"First name": "Sam", "Surname": "Roe", "ID number": "s123", "Email address": "sam@uni.edu"},
    ])
    assert match(roster, ["s123"], {}).matched == {1: "s123"}

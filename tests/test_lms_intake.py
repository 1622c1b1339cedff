"""LMS exports in: each layout recognised, each entry's LMS id, time and late flag taken, the
newest of several graded, and roster matching exact first and never a silent choice. Pure
functions over exports built in the test (tests/lms_exports.py): no kernel."""
from __future__ import annotations

import os
import zipfile

import pytest

from grader.exceptions import UsageError
from grader.intake import archive, gradescope_meta, lms_layout, sources
from grader.intake.submissions import find_submissions, ident
from grader.lms import gradebook as lms
from grader.lms import late
from grader.lms.gradebook import GradebookOptions
from grader.lms.roster import Roster, match, read_roster
from grader.render import csv_out
from grader.result import Result, Status

from tests import lms_exports as ex


def by_id(subs):
    return {s.student: s for s in subs}


# -- layouts -------------------------------------------------------------------------------------

def test_each_layout_is_recognised_from_its_names(tmp_path):
    assert lms_layout.detect(ex.canvas_export(tmp_path / "c")) == "canvas"
    assert lms_layout.detect(ex.moodle_export(tmp_path / "m")) == "moodle"
    assert lms_layout.detect(ex.moodle_export(tmp_path / "f", folders=False)) == "moodle"
    assert lms_layout.detect(ex.gradescope_export(tmp_path / "g")) == "gradescope"
    assert lms_layout.detect(ex.SAMPLES) == "plain"


def test_canvas_ids_are_user_ids_late_flag_kept_and_the_newest_upload_graded(tmp_path):
    subs = by_id(lms_layout.find(ex.canvas_export(tmp_path)))
    assert set(subs) == {"101", "102", "103"}
    alice = subs["101"]
    assert alice.notebook.name == "solutionalice_101_9001_cnn2-1.ipynb"  # the resubmission
    assert alice.origin["superseded"] == ["cnn2.ipynb"]
    assert alice.origin["original_name"] == "cnn2-1.ipynb" and alice.origin["late"] is False
    assert subs["102"].origin["late"] is True
    assert subs["102"].origin["submission_id"] == "9002"


def test_canvas_folder_keeps_other_notebooks_under_their_plain_names(tmp_path):
    ex.canvas_export(tmp_path)
    (tmp_path / "extra.ipynb").write_bytes(ex.NOTHING.read_bytes())
    assert set(by_id(lms_layout.find(tmp_path))) == {"101", "102", "103", "extra"}


@pytest.mark.parametrize("folders", [True, False])
def test_moodle_ids_are_participant_ids_with_the_full_name(tmp_path, folders):
    subs = by_id(lms_layout.find(ex.moodle_export(tmp_path, folders=folders)))
    assert set(subs) == {"501", "502", "503"}  # the online text is not a submission
    assert subs["501"].origin["name"] == "Alice Solution"
    assert subs["501"].notebook.read_bytes() == ex.SOLUTION.read_bytes()


def test_moodle_two_flat_notebooks_of_one_student_are_a_problem_row(tmp_path):
    ex.moodle_export(tmp_path, folders=False)
    (tmp_path / "Alice Solution_501_assignsubmission_file_other.ipynb").write_text("{}")
    alice = by_id(lms_layout.find(tmp_path))["501"]
    assert alice.notebook is None and "2 notebooks" in alice.problem


def test_gradescope_ids_are_sids_with_email_time_and_folder_notebook(tmp_path):
    subs = by_id(lms_layout.find(ex.gradescope_export(tmp_path)))
    assert set(subs) == {"S1001", "S1002", "S1003"}
    bob = subs["S1002"]
    assert bob.origin["email"] == "bob@example.edu" and bob.origin["submission_id"] == "3001"
    assert bob.origin["submitted_at"].startswith("2026-12-03T09:30:00")
    assert bob.origin["original_name"] == "work/cnn2.ipynb"


def test_gradescope_metadata_cannot_construct_objects(tmp_path):
    meta = tmp_path / gradescope_meta.META_FILE
    meta.write_text("submission_1:\n  :submitters: !!python/object/apply:os.system ['echo x']\n")
    assert gradescope_meta.read(meta)["submission_1"]["submitters"] == []


def test_an_id_from_metadata_never_names_a_path_outside_the_results(tmp_path):
    for text in ("../../etc/x", "a/b", ".hidden", "a\\b"):
        assert "/" not in lms_layout.safe_id(text) and "\\" not in lms_layout.safe_id(text)
        assert not lms_layout.safe_id(text).startswith(".")
    assert lms_layout.safe_id("S1001") == "S1001"


def test_a_forced_layout_wins_over_detection(tmp_path):
    ex.canvas_export(tmp_path)
    assert "solutionalice_101_9001_cnn2" in by_id(lms_layout.find(tmp_path, "plain"))


# -- ids -----------------------------------------------------------------------------------------

def test_an_undecodable_name_and_its_escaped_spelling_get_distinct_ids(tmp_path):
    (tmp_path / os.fsdecode(b"jos\xe9.ipynb")).write_text("{}")
    (tmp_path / "jos\\xe9.ipynb").write_text("{}")
    subs = find_submissions(tmp_path)
    assert len({s.student for s in subs}) == 2 and all(s.problem is None for s in subs)


def test_control_characters_never_reach_an_id():
    assert ident("a\x1b[31mb") != "a\x1b[31mb" and "\x1b" not in ident("a\x1b[31mb")
    assert ident("plain") == "plain"


def test_ids_differing_only_in_case_are_both_kept_and_reported(tmp_path):
    (tmp_path / "Alice.ipynb").write_text("{}")
    (tmp_path / "alice.ipynb").write_text("{}")
    gathered = sources.from_folder(tmp_path, None)
    assert {s.student for s in gathered.submissions} == {"Alice", "alice"}
    assert any("differ only in case" in n for n in gathered.notes)


# -- matching ------------------------------------------------------------------------------------

def roster_of(*ids):
    return Roster("canvas", ["Student", "ID", "SIS User ID", "SIS Login ID", "Section"],
                  [{"Student": i, "ID": i, "SIS User ID": "", "SIS Login ID": "", "Section": ""}
                   for i in ids])


def test_an_exact_id_wins_over_a_case_variant():
    m = match(roster_of("alice"), ["Alice", "alice"], {})
    assert m.matched == {0: "alice"} and m.no_roster == ["Alice"]
    assert "matched by alice" in m.reasons["Alice"]


def test_case_variants_of_an_id_none_exact_are_ambiguous_and_match_nobody():
    m = match(roster_of("ALICE"), ["Alice", "alice"], {})
    assert m.matched == {} and set(m.no_roster) == {"Alice", "alice"}
    assert all("ambiguous" in m.reasons[n] for n in m.no_roster)


def test_moodle_worksheet_is_a_roster_matched_by_participant_id(tmp_path):
    roster = read_roster(ex.moodle_worksheet(tmp_path / "w.csv"), "moodle")
    assert roster.worksheet
    m = match(roster, ["501", "502", "503"], {})
    assert sorted(m.matched.values()) == ["501", "502", "503"] and not m.no_roster


def test_moodle_by_name_only_where_one_roster_row_has_it(tmp_path):
    from tests import rosters
    people = [("Alice Solution", "", "S1", "a1"), ("Alice Solution", "", "S2", "a2"),
              ("Bob No-Padding", "", "S3", "b")]
    roster = read_roster(rosters.moodle_roster(tmp_path / "r.csv", people), "moodle")
    m = match(roster, ["501", "502"], {}, names={"501": "Alice Solution",
                                                   "502": "Bob  No-Padding"})
    assert list(m.matched.values()) == ["502"] and "2 roster students" in m.reasons["501"]


# -- gradebooks with every student matched ------------------------------------------------------

def result(student, score, origin=None, late_info=None):
    return Result(student, Status.PASSED if score == 22 else Status.FAILED, score, 22.0,
                  summary="ok", origin=origin, late=late_info)


def test_canvas_gradebook_from_a_canvas_export_matches_everyone(tmp_path):
    subs = lms_layout.find(ex.canvas_export(tmp_path / "c"))
    results = [result(s.student, 22, s.origin) for s in subs]
    lines = lms.write_gradebook(results, tmp_path, GradebookOptions(
        "canvas", ex.canvas_roster(tmp_path / "r.csv")), "x")
    assert len(lines) == 1, lines  # no unmatched line
    rows = (tmp_path / "gradebook-canvas.csv").read_text().splitlines()
    assert [r.rsplit(",", 1)[1] for r in rows[2:]] == ["22", "22", "22"]  # after Points Possible


def test_moodle_worksheet_comes_back_filled_with_grade_and_feedback(tmp_path):
    subs = lms_layout.find(ex.moodle_export(tmp_path / "m"))
    results = [result(s.student, 10, s.origin) for s in subs]
    lms.write_gradebook(results, tmp_path, GradebookOptions(
        "moodle", ex.moodle_worksheet(tmp_path / "w.csv")), "x")
    import csv
    rows = list(csv.DictReader(open(tmp_path / "gradebook-moodle.csv", encoding="utf-8")))
    assert [r["Grade"] for r in rows] == ["10", "10", "10"]
    assert rows[0]["Identifier"] == "Participant 501" and rows[0]["Feedback comments"]


def test_gradescope_scores_csv_matches_roster_by_sid_and_email(tmp_path):
    subs = lms_layout.find(ex.gradescope_export(tmp_path / "g"))
    results = [result(s.student, 5, s.origin) for s in subs]
    lines = lms.write_gradebook(results, tmp_path, GradebookOptions(
        "gradescope", ex.gradescope_roster(tmp_path / "r.csv")), "x")
    assert len(lines) == 1, lines
    text = (tmp_path / "gradebook-gradescope.csv").read_text()
    assert text.splitlines()[0] == "Name,SID,Email,Score" and text.count(",5\n") == 3


# -- late ----------------------------------------------------------------------------------------

def test_no_policy_shows_the_flag_and_deducts_nothing():
    info = late.assess({"late": True}, 20, 22, None)
    assert info["late"] and info["points"] == 0 and info["final_score"] == 20


def test_percent_per_day_with_a_time_and_a_cap():
    policy = late.LatePolicy.from_dict({"deadline": "2026-12-02T00:00:00+01:00",
                                        "percent_per_day": 10, "max_percent": 15})
    info = late.assess({"submitted_at": "2026-12-03T09:30:00+01:00"}, 20, 22, policy)
    assert info["days_late"] == 2 and info["percent"] == 15 and info["final_score"] == 17
    assert late.assess({"submitted_at": "2026-12-01T09:30:00+01:00"}, 20, 22, policy)["points"] == 0


def test_cap_percent_limits_a_late_score_and_flag_only_uses_percent():
    policy = late.LatePolicy.from_dict({"percent": 10, "cap_percent": 50})
    info = late.assess({"late": True}, 22, 22, policy)
    assert info["final_score"] == 11 and "capped" in info["rule"]


def test_a_bad_policy_is_a_usage_error(tmp_path):
    (tmp_path / "exercise.json").write_text('{"late_policy": {"percent": 120}}')
    with pytest.raises(UsageError):
        late.load(tmp_path)


def test_grades_csv_shows_earned_score_penalty_and_final_apart():
    info = late.assess({"late": True}, 20, 22, late.LatePolicy(percent=10))
    text = csv_out.grades_csv([result("102", 20, {"original_name": "nb.ipynb", "late": True},
                                      info)])
    header, row = [line.split(",") for line in text.splitlines()]
    cells = dict(zip(header, row, strict=True))
    assert cells["score"] == "20" and cells["late_penalty"] == "2" and cells["final_score"] == "18"
    assert cells["late"] == "late" and cells["original_name"] == "nb.ipynb"


def test_control_characters_never_reach_a_csv_cell():
    assert "\x1b" not in csv_out.safe_cell("a\x1b[2Jb") and "\x00" not in csv_out.safe_cell("\x00")


# -- zips of each layout -------------------------------------------------------------------------

@pytest.mark.parametrize("build, ids", [(ex.canvas_export, {"101", "102", "103"}),
                                        (ex.moodle_export, {"501", "502", "503"}),
                                        (ex.gradescope_export, {"S1001", "S1002", "S1003"})])
def test_each_layout_zipped_reads_as_its_folder(tmp_path, build, ids):
    zipped = ex.zip_folder(build(tmp_path / "export"), tmp_path / "export.zip")
    gathered = sources.from_archive(zipped, tmp_path / "out", None)
    assert {s.student for s in gathered.submissions} == ids
    again = sources.from_archive(zipped, tmp_path / "out", None)
    assert "already unpacked" in again.notes[0]  # a rerun extracts nothing


def test_archive_is_keyed_by_content_not_name(tmp_path):
    zipped = ex.zip_folder(ex.canvas_export(tmp_path / "e"), tmp_path / "a.zip")
    first = archive.extract(zipped, tmp_path / "out")
    (tmp_path / "b.zip").write_bytes(zipped.read_bytes())
    assert archive.extract(tmp_path / "b.zip", tmp_path / "out").folder == first.folder
    assert zipfile.is_zipfile(zipped)


def test_canvas_older_lowercase_late_marker_is_read(tmp_path):
    (tmp_path / "doejane_late_104_9004_hw.ipynb").write_text("{}")
    sub = by_id(lms_layout.find(tmp_path, "canvas"))["104"]
    assert sub.origin["late"] is True and sub.origin["original_name"] == "hw.ipynb"


def test_gradescope_two_submissions_of_one_sid_grade_the_later_and_list_the_earlier(tmp_path):
    root = tmp_path / "assignment_1_export"
    days = {1: "02", 2: "01"}  # the lower submission id is the later one: time decides
    for k in days:
        (root / f"submission_{k}").mkdir(parents=True)
        (root / f"submission_{k}" / f"v{k}.ipynb").write_text("{}")
    (root / "submission_metadata.yml").write_text("".join(
        f"submission_{k}:\n  :submitters:\n  - :name: A\n    :sid: '7'\n    :email: a@x\n"
        f"  :created_at: 2026-12-{day} 10:00:00 +00:00\n" for k, day in days.items()))
    sub = by_id(lms_layout.find(tmp_path))["7"]
    assert sub.notebook.name == "v1.ipynb" and sub.origin["superseded"] == ["v2.ipynb"]


def test_gradescope_group_submission_scores_every_submitter_without_a_roster(tmp_path):
    people = [{"name": "A", "sid": "1", "email": "a@x"}, {"name": "B", "sid": "2", "email": "b@x"}]
    results = [result("1", 7, {"layout": "gradescope", "submitters": people})]
    lms.write_gradebook(results, tmp_path, GradebookOptions("gradescope"), "x")
    lines = (tmp_path / "gradebook-gradescope.csv").read_text().splitlines()
    assert lines[1:] == ["A,1,a@x,7", "B,2,b@x,7"]

"""A flagged submission keeps its status, score and exit code; every output shows the flag with
its cell and line (JSON, CSV, HTML report and index, terminal, JUnit, Gradescope)."""
from __future__ import annotations

import csv
import io
import json
from dataclasses import replace

from grader.exitcodes import ExitCode
from grader.render import html, terminal
from grader.render.csv_out import COLUMNS, grades_csv
from grader.render.gradescope import gradescope_results
from grader.render.junit import junit_xml
from grader.render.progress import Progress
from grader.result import Result

from tests import reports

FLAG = {"source": "scan", "cell_index": 7, "line": 3, "code": "patch-module",
        "message": "changes json.dump, part of json that the grader relies on"}
HOSTILE = {"source": "scan", "cell_index": 2, "line": 1, "code": "<script>x</script>",
           "message": "=HYPERLINK(\"http://x\") <b>bold</b>"}


def flagged(result: Result, *entries: dict) -> Result:
    return replace(result, review=[dict(e) for e in entries or (FLAG,)])


def test_a_flag_changes_neither_status_nor_score_nor_exit_code(spec) -> None:
    for plain in (reports.passing(spec), reports.no_padding(spec), reports.error(spec)):
        marked = flagged(plain)
        assert (marked.status, marked.score, marked.exit_code) == \
            (plain.status, plain.score, plain.exit_code)
    assert flagged(reports.passing(spec)).exit_code is ExitCode.PASSED


def test_the_json_result_carries_review_and_reads_back(spec) -> None:
    data = json.loads(json.dumps(flagged(reports.passing(spec)).to_dict()))
    assert data["review"] == [FLAG]
    assert Result.from_dict(data).review == [FLAG]
    assert reports.passing(spec).to_dict()["review"] == []
    old = {k: v for k, v in data.items() if k != "review"}  # a result saved before the field
    assert Result.from_dict(old).review == []


def test_the_csv_has_one_review_column_neutralised_against_formulas(spec) -> None:
    text = grades_csv([flagged(reports.passing(spec)), reports.no_padding(spec),
                       flagged(reports.passing(spec), HOSTILE)])
    rows = list(csv.reader(io.StringIO(text)))
    at = COLUMNS.index("review")
    assert rows[0] == list(COLUMNS) and COLUMNS.count("review") == 1
    assert rows[1][at] == "1 flag: cell 7 line 3 (patch-module)"
    assert rows[2][at] == ""
    assert not rows[3][at].startswith(("=", "+", "-", "@"))


def test_the_report_shows_a_flagged_for_review_box_with_cell_and_line(spec) -> None:
    page = html.render_report(flagged(reports.passing(spec)))
    box = page[page.index('id="review"'):]
    box = box[:box.index("</div>")]
    assert "Flagged for review" in box and "cell 7, line 3" in box and "json.dump" in box
    assert 'id="review"' not in html.render_report(reports.passing(spec))
    hostile = html.render_report(flagged(reports.passing(spec), HOSTILE))
    assert "<b>bold</b>" not in hostile and "<script>x</script>" not in hostile


def test_the_index_marks_flagged_submissions(spec) -> None:
    clean, marked = reports.no_padding(spec), flagged(reports.passing(spec))
    page = html.render_index([clean, marked])
    rows = page[page.index('id="submissions"'):]
    flagged_row = next(r for r in rows.split("<tr>") if marked.submission in r)
    clean_row = next(r for r in rows.split("<tr>") if clean.submission in r)
    assert "pill flagged" in flagged_row and "cell 7 line 3" in flagged_row
    assert "pill flagged" not in clean_row


def test_the_terminal_summary_gives_one_line(spec) -> None:
    lines = terminal.summary(flagged(reports.passing(spec))).splitlines()
    found = [line for line in lines if "flagged for review" in line]
    assert len(found) == 1 and "cell 7 line 3 (patch-module)" in found[0]
    assert "flagged" not in terminal.summary(reports.passing(spec))
    stream = io.StringIO()
    Progress(2, 2, stream, tty=False).result(flagged(reports.passing(spec)))
    assert "[flagged for review: 1]" in stream.getvalue()
    table = terminal.batch_table([flagged(reports.passing(spec)), reports.no_padding(spec)])
    assert [("flagged for review: 1" in line) for line in table.splitlines()[1:]] == [True, False]


def test_junit_and_gradescope_mention_the_flag(spec) -> None:
    result = flagged(reports.passing(spec))
    xml = junit_xml([result])
    assert 'name="review" value="1 flag: cell 7 line 3 (patch-module)"' in xml
    assert "Flagged for review (score unchanged): cell 7, line 3" in xml
    scope = gradescope_results(result)
    assert "Flagged for review" in scope["output"] and "cell 7, line 3" in scope["output"]
    assert scope["score"] == result.score
    assert "Flagged" not in gradescope_results(reports.passing(spec))["output"]

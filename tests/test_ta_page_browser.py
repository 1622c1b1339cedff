"""The TA's page in a real browser (headless Chromium, ``tests/cdp.py``): type in one tab while a
second saves another student at the same moment, open the page again (autosave), download the
CSV and merge it; damaged and earlier-format saved scores (no kernel: the results are built as
the pipeline builds them)."""
from __future__ import annotations

import contextlib
import json
import time
from dataclasses import replace
from pathlib import Path

import pytest

from grader.answers import manual, ta_page, workflow
from grader.batch.outputs import Outputs, chosen

from tests import cdp, reports
from tests.test_html_browser import ARTIFACTS, browser  # noqa: F401 -- the suite's Chromium

pytestmark = pytest.mark.browser


def _results(spec):
    alice = reports.passing(spec)
    hostile = {**alice.answers[0], "text": "<script>window.__pwned=1</script> **392,500**"}
    eve = replace(reports.no_pooling(spec), submission="eve", answers=[hostile, *alice.answers[1:]])
    return [alice, eve]


def _download(page, folder: Path) -> str:
    page.browser.send("Browser.setDownloadBehavior", {"behavior": "allow",
                                                      "downloadPath": str(folder)})
    page.eval("document.getElementById('download').click()")
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        done = list(folder.glob("*.csv"))
        if done and done[0].stat().st_size:
            return done[0].read_text()
        time.sleep(0.2)
    raise AssertionError("no CSV was downloaded")


def _write_page(spec, tmp_path: Path, results) -> tuple[Path, str]:
    """The grading folder and the URL of question a's TA page (as ``grade`` writes it)."""
    out = tmp_path / "out"
    (out / "students").mkdir(parents=True)
    [page_a, *_] = ta_page.write_pages(out, spec, results, manual.empty_store())
    return out, page_a.as_uri()


PROGRESS = "document.getElementById('progress').textContent"
#: every autosaved entry of the page's origin, in one string (whatever the page's layout)
STORED = ("JSON.stringify(Object.keys(localStorage).filter(k => k.startsWith('grader-ta:'))"
          ".sort().map(k => [k, localStorage.getItem(k)]))")
#: a fresh browser per try; only the split below earns another one
TRIES = 3
ROUNDS = 8  # of typing in one tab while the other saves at once (the old page lost one in 6 of 6 runs)


class SplitStorage(Exception):
    """Two documents of the same ``file://`` origin see different localStorage for 30 s:
    Chromium's, seen on a busy machine after ``Page.reload`` (the reloaded page got an empty
    storage while another tab still read the saved scores), never for a new tab. A page that
    writes only its own student's entry loses nothing to it; the test cannot go on in that
    browser, and tries a fresh one."""


def _field(student: str, field: str) -> str:
    return f"(document.querySelector('[data-student={student}] {field}') || {{}}).value || ''"


def _until(page, expression: str, wanted, mirror):
    """``expression``'s value once it is ``wanted``, or what it is after 30 s (a loaded machine
    reloads and relays storage events slowly); raises ``SplitStorage`` where it is not because
    ``page`` and ``mirror`` (another tab) disagree about what is stored."""
    value, deadline = page.eval(expression), time.monotonic() + 30
    while value != wanted and time.monotonic() < deadline:
        time.sleep(0.2)
        value = page.eval(expression)
    stored = [tab.eval(STORED) for tab in (page, mirror)]
    if value != wanted and stored[0] != stored[1]:
        raise SplitStorage(f"this tab stores {stored[0]!r}, the other {stored[1]!r}")
    return value


def _grade_in_two_tabs(browser, url: str):  # noqa: F811
    """Type a score in one tab while a second saves another student at once, close the first
    and open it again: the page with both scores restored (the second tab closed: a tab in the
    background never answers a screenshot)."""
    page = browser.open(url)
    assert page.eval("typeof window.__pwned") == "undefined"  # the answer's markup is text
    assert [line for line in page.log() if "Content Security Policy" in line] == []
    assert "<script>" in page.eval("document.querySelector('[data-student=eve]')"
                                   ".closest('section').innerText")
    other = browser.open(url)  # a second tab of the same question, open already
    page.eval("document.querySelector('[data-student=alice_solution] input.points').focus()")
    page.send("Input.insertText", {"text": "1.5"})
    for n in range(ROUNDS):  # each round: a comment typed here, a click there at the same time
        comment = f"right layer, no reason ({n})"
        browser.together(
            (page, f"(c => {{ c.value = {json.dumps(comment)}; c.dispatchEvent(new Event('input')); }})"
                   "(document.querySelector('[data-student=alice_solution] textarea.comment'))"),
            (other, "document.querySelector('[data-student=eve] button.level').click()"))
        # the other tab shows the comment (a `storage` event), and storage keeps it
        assert _until(other, _field("alice_solution", "textarea.comment"), comment, page) == comment
        assert _until(other, f"{STORED}.includes({comment!r})", True, page) is True, \
            other.eval(STORED)
    assert _until(page, _field("eve", "input.points"), "2", other) == "2"  # the click, relayed
    assert _until(other, _field("alice_solution", "input.points"), "1.5", page) == "1.5"
    # closed and opened again (a reload, on a busy machine, gave the new page an empty storage
    # in up to 1 of 4 runs beside six burners; a new tab, 0 of 80)
    page.close()
    page = browser.open(url)
    assert _until(page, _field("alice_solution", "input.points"), "1.5", other) == "1.5"  # saved
    assert page.eval(_field("alice_solution", "textarea.comment")) == comment
    assert page.eval(_field("eve", "input.points")) == "2"
    assert page.eval(PROGRESS) == "2 of 2 graded"
    other.close()
    return page


def _graded_in_a_browser(browser, url: str, fresh: contextlib.ExitStack):  # noqa: F811
    """``_grade_in_two_tabs`` in ``browser``, or, where Chromium split the storage, in a fresh
    one (``TRIES`` in all; ``fresh`` closes them)."""
    splits: list[str] = []
    while len(splits) < TRIES:
        chromium = fresh.enter_context(contextlib.closing(cdp.Browser(cdp.find_chromium()))) \
            if splits else browser
        try:
            return _grade_in_two_tabs(chromium, url)
        except SplitStorage as split:
            splits.append(str(split))
    raise AssertionError(f"Chromium split the storage in every try: {splits}")


def test_a_ta_types_a_score_downloads_the_csv_and_it_merges(browser, spec, tmp_path):  # noqa: F811
    results = _results(spec)
    out, url = _write_page(spec, tmp_path, results)
    with contextlib.ExitStack() as fresh:
        page = _graded_in_a_browser(browser, url, fresh)
        _check_download_and_merge(page, tmp_path, out, spec, results)
        page.eval("localStorage.clear()")  # the module's browser is shared


def _check_download_and_merge(page, tmp_path: Path, out: Path, spec, results) -> None:
    page.screenshot(ARTIFACTS / "ta-page.png")
    text = _download(page, tmp_path / "downloads")
    lines = text.strip().splitlines()
    assert lines[0] == "student,question,points,comment"
    assert f"alice_solution,a,1.5,\"right layer, no reason ({ROUNDS - 1})\"" in lines
    assert any(line.startswith("eve,a,2,") for line in lines)
    shown, refused = workflow.apply(out, spec, results, text, Outputs(out, chosen(None, None)), {})
    assert refused is None
    alice = next(r for r in shown if r.submission == "alice_solution")
    assert alice.manual["questions"]["a"]["points"] == 1.5
    assert alice.score == results[0].score + 1.5


def _key(student: str) -> str:
    """The page's localStorage key of one student's entry (as its script builds it)."""
    return "grader-ta:" + json.dumps(["cnn2", "a", student], separators=(",", ":"))


EARLIER = "grader-ta:cnn2:a"  # where earlier versions of the page saved all students at once


def _open_with(browser, spec, tmp_path: Path, stored: dict[str, str]):  # noqa: F811
    """The page of question a, opened with ``stored`` in localStorage before its script runs."""
    _, url = _write_page(spec, tmp_path, _results(spec))
    setup = "".join(f"localStorage.setItem({json.dumps(k)}, {json.dumps(v)});"
                    for k, v in stored.items())
    return browser.open(url, before=f"localStorage.clear();{setup}")


@pytest.mark.parametrize("damaged", ['"text"', "5", "[1]", "{not json", "null",
                                     '{"alice_solution": 3, "eve": [1]}'])
def test_a_damaged_saved_entry_is_ignored_and_typing_saves_again(browser, spec, tmp_path,  # noqa: F811
                                                                  damaged):
    stored = {EARLIER: damaged, _key("alice_solution"): damaged}
    page = _open_with(browser, spec, tmp_path, stored)
    try:
        assert json.loads(page.eval(STORED)) == sorted(map(list, stored.items()))  # nothing written
        assert page.eval(PROGRESS) == "0 of 2 graded"
        assert page.eval(_field("alice_solution", "textarea.comment")) == ""
        page.eval("document.querySelector('[data-student=eve] button.level').click()")
        assert page.eval(PROGRESS) == "1 of 2 graded"
        assert json.loads(page.eval(f"localStorage.getItem({json.dumps(_key('eve'))})"))["points"] == "2"
    finally:
        page.close()


def test_scores_saved_by_the_earlier_page_still_show_and_a_students_own_entry_wins(
        browser, spec, tmp_path):  # noqa: F811
    earlier = {"alice_solution": {"points": "1", "comment": "from before"},
               "eve": {"points": "2", "comment": "older"}}
    page = _open_with(browser, spec, tmp_path, {
        EARLIER: json.dumps(earlier), _key("eve"): json.dumps({"points": "0.5", "comment": "newer"})})
    try:
        assert page.eval(_field("alice_solution", "input.points")) == "1"
        assert page.eval(_field("alice_solution", "textarea.comment")) == "from before"
        assert page.eval(_field("eve", "input.points")) == "0.5"
        assert page.eval(_field("eve", "textarea.comment")) == "newer"
        assert page.eval(PROGRESS) == "2 of 2 graded"
    finally:
        page.close()

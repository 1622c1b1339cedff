"""The TA's page in a real browser (headless Chromium, ``tests/cdp.py``): type a score, see it
in a second tab, click a rubric level there, reload (autosave), download the CSV, and merge it
(no kernel: the results are built as the pipeline builds them)."""
from __future__ import annotations

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


KEY = "grader-ta:cnn2:a"  # the page's localStorage entry for question a
#: a fresh browser per try; only the split below earns another one
TRIES = 3


class SplitStorage(Exception):
    """Two documents of the same ``file://`` origin see different localStorage: Chromium's
    doing, not the page's (seen on a busy machine, about 1 reload in 30: the reloaded page
    gets an empty storage while another tab still reads the saved scores)."""


def _value(page, student: str, field: str, wanted: str, mirror) -> str:
    """The field's value once it is ``wanted``, or what it holds after 30 s (a loaded machine
    reloads and relays storage events slowly); raises ``SplitStorage`` where it is not because
    ``page`` and ``mirror`` (another tab) disagree about what is stored."""
    expression = f"(document.querySelector('[data-student={student}] {field}') || {{}}).value || ''"
    value, deadline = page.eval(expression), time.monotonic() + 30
    while value != wanted and time.monotonic() < deadline:
        time.sleep(0.2)
        value = page.eval(expression)
    stored = [tab.eval(f"localStorage.getItem('{KEY}')") for tab in (page, mirror)]
    if value != wanted and stored[0] != stored[1]:
        raise SplitStorage(f"this tab stores {stored[0]!r}, the other {stored[1]!r}")
    return value


def _grade_in_two_tabs(browser, url: str):  # noqa: F811
    """Type a score in one tab, click a rubric level in a second, reload the first: the page
    with both scores restored (the second tab closed: a tab in the background never answers a
    screenshot)."""
    page = browser.open(url)
    assert page.eval("typeof window.__pwned") == "undefined"  # the answer's markup is text
    assert [line for line in page.log() if "Content Security Policy" in line] == []
    assert "<script>" in page.eval("document.querySelector('[data-student=eve]')"
                                   ".closest('section').innerText")
    other = browser.open(url)  # a second tab of the same question, open already
    page.eval("document.querySelector('[data-student=alice_solution] input.points').focus()")
    page.send("Input.insertText", {"text": "1.5"})
    page.eval("document.querySelector('[data-student=alice_solution] textarea.comment').focus()")
    page.send("Input.insertText", {"text": "right layer, no reason"})
    assert page.eval("document.getElementById('progress').textContent") == "1 of 2 graded"
    # the other tab shows what was typed (a `storage` event) ...
    assert _value(other, "alice_solution", "input.points", "1.5", page) == "1.5"
    assert _value(other, "alice_solution", "textarea.comment", "right layer, no reason",
                  page) == "right layer, no reason"
    other.eval("document.querySelector('[data-student=eve] button.level').click()")  # top level
    assert other.eval("document.getElementById('progress').textContent") == "2 of 2 graded"
    assert _value(page, "eve", "input.points", "2", other) == "2"  # ... and back
    page.send("Page.reload")
    assert _value(page, "alice_solution", "input.points", "1.5", other) == "1.5"  # autosaved
    assert page.eval("document.getElementById('progress').textContent") == "2 of 2 graded"
    saved = json.loads(page.eval(f"localStorage.getItem('{KEY}')"))
    assert saved["alice_solution"]["points"] == "1.5"  # the click in the tab opened before the
    assert saved["eve"]["points"] == "2"               # score was typed did not overwrite it
    other.close()
    return page


def test_a_ta_types_a_score_downloads_the_csv_and_it_merges(browser, spec, tmp_path):  # noqa: F811
    results = _results(spec)
    out = tmp_path / "out"
    (out / "students").mkdir(parents=True)
    [page_a, *_] = ta_page.write_pages(out, spec, results, manual.empty_store())
    splits, fresh = [], []
    try:
        while True:
            try:
                page = _grade_in_two_tabs(fresh[-1] if fresh else browser, page_a.as_uri())
                break
            except SplitStorage as split:
                splits.append(str(split))
                assert len(splits) < TRIES, splits
                fresh.append(cdp.Browser(cdp.find_chromium()))
        _check_download_and_merge(page, tmp_path, out, spec, results)
    finally:
        for chromium in fresh:
            chromium.close()


def _check_download_and_merge(page, tmp_path: Path, out: Path, spec, results) -> None:
    page.screenshot(ARTIFACTS / "ta-page.png")
    text = _download(page, tmp_path / "downloads")
    lines = text.strip().splitlines()
    assert lines[0] == "student,question,points,comment"
    assert "alice_solution,a,1.5,\"right layer, no reason\"" in lines
    assert any(line.startswith("eve,a,2,") for line in lines)
    shown, refused = workflow.apply(out, spec, results, text, Outputs(out, chosen(None, None)), {})
    assert refused is None
    alice = next(r for r in shown if r.submission == "alice_solution")
    assert alice.manual["questions"]["a"]["points"] == 1.5
    assert alice.score == results[0].score + 1.5


@pytest.mark.parametrize("damaged", ['"text"', "5", "[1]", "{not json", '{"alice_solution": 3}'])
def test_a_damaged_saved_entry_is_ignored_and_typing_saves_again(browser, spec, tmp_path,  # noqa: F811
                                                                  damaged):
    out = tmp_path / "out"
    (out / "students").mkdir(parents=True)
    [page_a, *_] = ta_page.write_pages(out, spec, _results(spec), manual.empty_store())
    page = browser.open(page_a.as_uri(),
                        before=f"localStorage.setItem('{KEY}', {json.dumps(damaged)})")
    assert page.eval(f"localStorage.getItem('{KEY}')") == damaged  # the page wrote nothing
    expression = "document.getElementById('progress').textContent"
    assert page.eval(expression) == "0 of 2 graded"
    assert page.eval("document.querySelector('[data-student=alice_solution] textarea.comment')"
                     ".value") == ""
    page.eval("document.querySelector('[data-student=eve] button.level').click()")
    assert page.eval(expression) == "1 of 2 graded"
    assert json.loads(page.eval(f"localStorage.getItem('{KEY}')"))["eve"]["points"] == "2"
    page.eval("localStorage.clear()")  # the module's browser is shared
    page.close()

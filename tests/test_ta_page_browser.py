"""The TA's page in a real browser (headless Chromium, ``tests/cdp.py``): type a score, click a
rubric level, reload (autosave), download the CSV, and merge it (no kernel: the results are
built as the pipeline builds them)."""
from __future__ import annotations

import time
from dataclasses import replace
from pathlib import Path

import pytest

from grader.answers import manual, ta_page, workflow
from grader.batch.outputs import Outputs, chosen

from tests import reports
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


def test_a_ta_types_a_score_downloads_the_csv_and_it_merges(browser, spec, tmp_path):  # noqa: F811
    results = _results(spec)
    out = tmp_path / "out"
    (out / "students").mkdir(parents=True)
    [page_a, *_] = ta_page.write_pages(out, spec, results, manual.empty_store())
    page = browser.open(page_a.as_uri())
    assert page.eval("typeof window.__pwned") == "undefined"  # the answer's markup is text
    assert [line for line in page.log() if "Content Security Policy" in line] == []
    assert "<script>" in page.eval("document.querySelector('[data-student=eve]')"
                                   ".closest('section').innerText")
    page.eval("document.querySelector('[data-student=alice_solution] input.points').focus()")
    page.send("Input.insertText", {"text": "1.5"})
    page.eval("document.querySelector('[data-student=alice_solution] textarea.comment').focus()")
    page.send("Input.insertText", {"text": "right layer, no reason"})
    page.eval("document.querySelector('[data-student=eve] button.level').click()")  # top level
    assert page.eval("document.getElementById('progress').textContent") == "2 of 2 graded"
    page.send("Page.reload")
    restored, deadline = "", time.monotonic() + 30  # a loaded machine reloads slowly
    while restored != "1.5" and time.monotonic() < deadline:
        time.sleep(0.5)
        restored = page.eval("(document.querySelector('[data-student=alice_solution] "
                             "input.points') || {}).value || ''")
    assert restored == "1.5"  # autosaved in the browser
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

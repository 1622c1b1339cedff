"""The reports in a real browser: what a person sees, that nothing is fetched, nothing injected runs.

Headless Chromium (Debian's ``chromium``) is driven over its DevTools pipe (``tests/cdp.py``).
Screenshots go to ``test-artifacts/html/``. Without Chromium the tests fail under CI=true and
are skipped elsewhere.
"""
from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from grader.render import html

from tests import cdp, reports

pytestmark = pytest.mark.browser
ARTIFACTS = Path(__file__).resolve().parent.parent / "test-artifacts" / "html"
PAGES = {"passing": reports.passing, "failing": reports.hostile_failing, "error": reports.hostile_error}


@pytest.fixture(scope="module")
def browser():
    executable = cdp.find_chromium()
    if executable is None:
        message = ("headless Chromium is needed for the report test: install Debian's `chromium` "
                   "package (`bash .ci/setup test` does) or set GRADER_CHROMIUM to its path")
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)
    chromium = cdp.Browser(executable)
    yield chromium
    chromium.close()


@pytest.fixture(scope="module")
def site(spec, tmp_path_factory) -> Path:
    """A passing, a failing and an error report (the last two with injected markup), an index."""
    out = tmp_path_factory.mktemp("reports")
    results = {key: build(spec) for key, build in PAGES.items()}
    for key, result in results.items():
        html.write_report(result, out / f"{key}.html")
    html.write_index(list(results.values()), out, {r.submission: f"{k}.html" for k, r in results.items()})
    return out


def visit(browser, site: Path, name: str):
    """Open a page, save its screenshot, and check that it fetched and ran nothing it should not."""
    url = (site / f"{name}.html").as_uri()
    page = browser.open(url)
    page.screenshot(ARTIFACTS / f"{name}.png")
    left = [u for u in page.requests() if u != url and not u.startswith("data:")]
    assert left == [], f"requests left the page: {left}"
    assert page.dialogs() == [], "an injected script opened a dialog"
    assert page.eval("typeof window.__pwned") == "undefined", "an injected script ran"
    assert [line for line in page.log() if "Content Security Policy" in line] == []
    return page


def text(page, selector: str) -> str:
    return page.eval(f"document.querySelector({json.dumps(selector)}).innerText")


def shown_size(page, selector: str) -> tuple[float, float]:
    """Width and height on screen of a loaded image (0, 0 if it did not decode)."""
    return tuple(page.eval(f"""(() => {{ const e = document.querySelector({json.dumps(selector)});
        const r = e.getBoundingClientRect();
        return e.complete && e.naturalWidth > 0 ? [r.width, r.height] : [0, 0]; }})()"""))


def test_a_passing_report_says_passed_and_shows_both_training_plots(browser, site):
    page = visit(browser, site, "passing")
    assert "PASSED" in text(page, "#verdict")
    for plot in ("#plot-verification", "#plot-student"):
        width, height = shown_size(page, plot)
        assert width > 300 and height > 100, plot


def test_a_failing_report_highlights_the_mismatch_and_shows_injected_markup_as_text(browser, site):
    page = visit(browser, site, "failing")
    assert "FAILED" in text(page, "#verdict")
    assert "did you forget padding='same'?" in text(page, "#summary")
    highlight = page.eval("""(() => {
        const cell = [...document.querySelectorAll('#added td.mismatch')]
            .find(td => td.innerText.includes('(None, 12, 12, 64)'));
        const r = cell.getBoundingClientRect();
        return {background: getComputedStyle(cell).backgroundColor, width: r.width, height: r.height};
    })()""")
    assert highlight["background"] not in ("rgba(0, 0, 0, 0)", "transparent", "rgb(255, 255, 255)")
    assert highlight["width"] > 0 and highlight["height"] > 0
    body = text(page, "body")
    assert reports.SCRIPT in body and reports.IMG in body


def test_an_error_report_shows_the_failing_line_the_traceback_and_what_to_do(browser, site):
    page = visit(browser, site, "error")
    assert "NOT GRADED" in text(page, "#verdict")
    assert "MaxPoolling2D" in text(page, "#cell-source .bad")
    assert "NameError" in text(page, "#traceback")
    assert "Restart & Run All" in text(page, "#advice")
    assert reports.IMG in text(page, "body")


def test_the_index_counts_plots_and_sorts_offline(browser, site):
    page = visit(browser, site, "index")
    assert " ".join(text(page, "#counts").split()) == "1 passed 1 failed 1 error 0 timeout"
    width, height = shown_size(page, "#plot-scores")
    assert width > 300 and height > 100
    names = "[...document.querySelectorAll('#submissions tbody tr')].map(r => r.cells[0].innerText)"
    score = "document.querySelectorAll('#submissions th button')[2].click()"
    page.eval(score)
    ascending = page.eval(names)
    page.eval(score)
    assert page.eval(names) == ascending[::-1]
    assert ascending[-1] == "alice_solution"  # the highest score last, then first
    assert page.eval("document.querySelector('#submissions a').getAttribute('href')").endswith(".html")


@pytest.fixture(scope="module")
def cohort_site(spec, tmp_path_factory) -> Path:
    """An index over a cohort with known mistakes, each student with a report."""
    out = tmp_path_factory.mktemp("cohort")
    results = [reports.passing(spec), reports.no_padding(spec), reports.no_pooling(spec),
               reports.error(spec)]
    twin = reports.no_padding(spec, layer_name="my_conv")
    twin.submission = "bea_no_padding"
    results.append(twin)
    for result in results:
        html.write_report(result, out / f"{result.submission}.html")
    html.write_index(results, out)
    return out


def test_the_index_shows_what_the_cohort_got_wrong_with_working_links(browser, cohort_site):
    page = visit(browser, cohort_site, "index")
    page.element_screenshot("#analytics", ARTIFACTS / "analytics.png")
    first = page.eval("""[...document.querySelector('#mistakes tbody tr').cells]
                         .map(c => c.innerText)""")
    assert first[:2] == ["2", "Conv2D without padding='same'"]
    assert first[2] == "bea_no_padding, bob_no_padding"
    clusters = text(page, "#clusters")
    assert "2 students: Conv2D without padding='same'" in clusters
    assert "missing MaxPooling2D" not in clusters and "1 other wrong architecture" in clusters
    assert "cell_error: NameError" in text(page, "#not-graded")
    assert "missing MaxPooling2D" in text(page, "#submissions")  # the column names the mistake
    visible = page.eval("document.querySelector('#analytics').getBoundingClientRect().height")
    assert visible > 100
    landed = page.follow("document.querySelector('#mistakes a[href$=\"bob_no_padding.html\"]').click()")
    assert landed == (cohort_site / "bob_no_padding.html").as_uri()
    assert "did you forget padding='same'?" in text(page, "#summary")
    assert [u for u in page.requests() if not u.startswith(("data:", "file:"))] == []

"""Regenerates docs/ta-page.png, the picture of a TA's grading page in docs/ta-workflow.md.

    .venv/bin/python docs/ta_screenshot.py

Builds the page of question a) for two sample results (as ``tests/reports.py`` builds them,
with the reference solution's answers; no kernel), fills one score as a TA would, and takes
the screenshot in headless Chromium (``tests/cdp.py``).
"""
from __future__ import annotations

import sys
import tempfile
from dataclasses import replace
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from grader.answers import extract, manual, ta_page  # noqa: E402
from grader.checks import registry  # noqa: E402
from grader.checks.kind import ANSWERS, CheckContext  # noqa: E402
from grader.exercise.spec import Spec  # noqa: E402

from tests import cdp, reports  # noqa: E402


def main() -> None:
    spec = Spec.load(ROOT / "reference" / "cnn2")
    alice = reports.passing(spec)
    bob = reports.no_padding(spec)
    texts = {"a": "dense_1, because it is the biggest layer."}
    answers = [extract.Answer(a["id"], a["title"], texts.get(a["id"], a["text"]), a["where"],
                              extract.digest(texts.get(a["id"], a["text"])))
               for a in alice.answers]
    bob = replace(bob, answers=[a.to_dict() for a in answers],
                  checks=[c for c in bob.checks if c.category != "answers"]
                  + registry.run(CheckContext(spec, answers=answers), ANSWERS))
    executable = cdp.find_chromium()
    if executable is None:
        sys.exit("headless Chromium is needed: Debian's `chromium`, or GRADER_CHROMIUM")
    with tempfile.TemporaryDirectory() as folder:
        [page_file, *_] = ta_page.write_pages(Path(folder), spec, [alice, bob],
                                              manual.empty_store())
        browser = cdp.Browser(executable)
        try:
            page = browser.open(page_file.as_uri(), width=1000)
            page.eval("document.querySelector('[data-student=alice_solution] button.level')"
                      ".click()")
            page.screenshot(ROOT / "docs" / "ta-page.png")
        finally:
            browser.close()
    print(ROOT / "docs" / "ta-page.png")


if __name__ == "__main__":
    main()

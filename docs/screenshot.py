"""Regenerates the documentation's pictures of the grader's own pages (the TA page:
docs/ta_screenshot.py):

    GRADER_DATA=… .venv/bin/python docs/screenshot.py             # all three below
    GRADER_DATA=… .venv/bin/python docs/screenshot.py selfcheck   # or: reports

- docs/selfcheck.png, the in-notebook self-check (below);
- docs/report.png, the top of bob_no_padding's report, and docs/analytics.png, the analytics
  section of index.html: ``grader grade`` (``--sandbox off``, 2 workers) of the sample
  submissions plus four copies (two more without padding, one more without pooling, one more
  typo), so that the cohort's mistakes have counts to show.

Runs the sample ``bob_no_padding`` with the template's self-check cell in a real kernel (its
``fit`` skipped by the grader's prelude, this checkout's ``grader`` importable), renders the
model cell and the self-check cell with their outputs as a notebook page, and takes the
screenshot in headless Chromium (``tests/cdp.py``), cut after the first layer card and reduced to a small palette PNG.
"""
from __future__ import annotations

import html
import os
import shutil
import sys
import tempfile
from pathlib import Path

import nbformat
from nbclient import NotebookClient
from nbformat.v4 import new_code_cell

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from grader.execute import kernel  # noqa: E402

from tests import cdp, notebooks  # noqa: E402

DATA = Path(os.environ.get("GRADER_DATA") or ROOT.parent / "shared" / "data" / "mnist_4000.pkl.gz")
MAX_HEIGHT = 1420
PAGE = """<!doctype html><meta charset="utf-8"><style>
body {{ font: 14px/1.4 "DejaVu Sans", sans-serif; margin: 16px; width: 940px; }}
.cell {{ display: grid; grid-template-columns: 70px 1fr; margin: 8px 0; }}
.prompt {{ color: #303f9f; font-family: "DejaVu Sans Mono", monospace; font-size: 13px; padding-top: 6px; }}
pre.in {{ background: #f7f7f7; border: 1px solid #cfcfcf; border-radius: 2px; padding: 6px 8px; margin: 0;
          font: 13px/1.35 "DejaVu Sans Mono", monospace; white-space: pre-wrap; }}
.out {{ grid-column: 2; padding: 6px 0; }} .more {{ color: #888; margin-left: 70px; }}
</style>{cells}"""


def run(workdir: Path) -> nbformat.NotebookNode:
    nb = notebooks.course_notebook(notebooks.MISTAKES["no_padding"], selfcheck=notebooks.SELFCHECK)
    nb.cells.insert(0, new_code_cell(kernel.source("prelude", "__grader_prelude(0, 0)")))
    shutil.copyfile(DATA, workdir / DATA.name)
    os.environ["PYTHONPATH"] = str(ROOT)
    NotebookClient(nb, timeout=300, kernel_name="python3",
                   resources={"metadata": {"path": str(workdir)}}).execute()
    return nb


def cell_html(cell, number: int) -> str:
    outputs = [o["data"]["text/html"] for o in cell.outputs if "text/html" in o.get("data", {})]
    return (f'<div class="cell"><div class="prompt">In [{number}]:</div>'
            f'<pre class="in">{html.escape(cell.source)}</pre>'
            + "".join(f'<div class="out">{o}</div>' for o in outputs) + "</div>")


COPIES = {"bob_no_padding": ("bea_no_padding", "bill_no_padding"),
          "carol_no_pooling": ("cleo_no_pooling",), "mallory_typo": ("mike_typo",)}


def reports() -> None:
    """docs/report.png and docs/analytics.png from a batch of the samples (and copies)."""
    import subprocess
    with tempfile.TemporaryDirectory() as tmp:
        folder, out = Path(tmp) / "submissions", Path(tmp) / "reports"
        shutil.copytree(ROOT / "submissions", folder)
        for sample, copies in COPIES.items():
            for copy in copies:
                shutil.copyfile(folder / f"{sample}.ipynb", folder / f"{copy}.ipynb")
        subprocess.run([sys.executable, "-m", "grader", "grade", str(folder), "--out", str(out),
                        "--sandbox", "off", "--workers", "2", "--data", str(DATA)], check=True)
        browser = cdp.Browser(cdp.find_chromium())
        try:
            report = browser.open((out / "students" / "bob_no_padding.html").as_uri(),
                                  width=980, height=800).screenshot(Path(tmp) / "report.png")
            index = browser.open((out / "index.html").as_uri(), width=1100, height=900)
            analytics = index.element_screenshot("#analytics", Path(tmp) / "analytics.png")
        finally:
            browser.close()
        from PIL import Image
        image = Image.open(report).convert("RGB")
        image = image.crop((0, 0, image.width, min(image.height, MAX_HEIGHT)))
        image.quantize(colors=64).save(ROOT / "docs" / "report.png", optimize=True)
        Image.open(analytics).convert("RGB").quantize(colors=64).save(
            ROOT / "docs" / "analytics.png", optimize=True)
    print(ROOT / "docs" / "report.png", ROOT / "docs" / "analytics.png")


def main() -> None:
    wanted = sys.argv[1:] or ["selfcheck", "reports"]
    if "reports" in wanted:
        reports()
    if "selfcheck" in wanted:
        selfcheck()


def selfcheck() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        nb = run(Path(tmp))
        code = [c for c in nb.cells if c.cell_type == "code"][1:]  # without the prelude
        model = next(i for i, c in enumerate(code) if "# here is your code coming:" in c.source)
        cells = (cell_html(code[model], model + 1) + '<p class="more">…</p>'
                 + cell_html(code[-1], len(code)))
        page = Path(tmp) / "page.html"
        page.write_text(PAGE.format(cells=cells))
        browser = cdp.Browser(cdp.find_chromium())
        try:
            shot = browser.open(page.as_uri(), width=980, height=800).screenshot(Path(tmp) / "shot.png")
        finally:
            browser.close()
        from PIL import Image
        image = Image.open(shot).convert("RGB")
        image = image.crop((0, 0, image.width, min(image.height, MAX_HEIGHT)))  # to the 1st card
        image.quantize(colors=48).save(ROOT / "docs" / "selfcheck.png",
                                                                 optimize=True)
    print(ROOT / "docs" / "selfcheck.png")


if __name__ == "__main__":
    main()

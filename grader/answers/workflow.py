"""The written answers in ``grade``: merge a TA's file, apply the kept grades, write the pages.

At the end of each complete run, after every result is known: the ``--manual`` file (if any)
is checked against the current results and merged into ``DIR/manual.json``
(``grader.answers.manual``), every kept grade and override is applied to the results that the
course files, reports and gradebooks are written from, each student's JSON record notes them
(its ``score`` stays the automatic one, so that a re-run can reuse it), and the TA's pages
(``grader.answers.ta_page``) are written. A refused file changes nothing and is reported
(exit 2) after the course files are written from the grades kept before.
"""
from __future__ import annotations

from pathlib import Path

from grader.answers import manual, ta_page
from grader.batch.outdir import student_file
from grader.exceptions import UsageError
from grader.render.files import write_json
from grader.result import Result

#: the most bytes of a manual-points file read
MAX_MANUAL_BYTES = 20 * 1024 * 1024


def read_manual(path: Path) -> str:
    """The file's text, read before any grading (a missing file costs nothing: exit 2)."""
    try:
        with open(path, "rb") as f:
            raw = f.read(MAX_MANUAL_BYTES + 1)
    except OSError as exc:
        raise UsageError(f"cannot read --manual {path}: {exc.strerror or exc}") from None
    if len(raw) > MAX_MANUAL_BYTES:
        raise UsageError(f"--manual {path} is larger than {MAX_MANUAL_BYTES // 2**20} MiB")
    return raw.decode("utf-8", errors="replace")


def apply(out: Path, spec, results: list[Result], text: str | None, outputs,
          options: dict) -> tuple[list[Result], UsageError | None]:
    """The results as shown (kept grades applied) and the refusal of ``text`` if any."""
    refused = None
    if text is not None:
        try:
            manual.merge(out, text, spec, {r.submission: r for r in results})
        except manual.ManualFileError as exc:
            refused = exc
    store = manual.load_store(out)
    if not spec.questions and not store["overrides"]:
        return results, refused
    shown = [manual.view(r, spec, store) for r in results]
    for auto, view in zip(results, shown, strict=True):
        data = auto.to_dict()
        data.update(manual=_total(view), manual_pending=view.manual_pending, options=options)
        write_json(student_file(out, auto.submission, ".json"), data)
        outputs.student_docs(view)
    ta_page.write_pages(out, spec, shown, store)
    return shown, refused


def _total(view: Result) -> dict | None:
    if view.manual is None:
        return None
    return {**view.manual, "total": view.score, "total_max": view.max_score}

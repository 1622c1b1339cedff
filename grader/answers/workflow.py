"""The written answers in ``grade``: the kept grades applied, a TA's file merged, the pages.

A ``Presenter`` holds the grades kept in ``DIR/manual.json`` (``grader.answers.manual``) for
one run. Each result is shown with them (``show``: the view every report, course file and
gradebook is written from) and its JSON record notes them (``manual``, ``manual_pending``;
its ``score``/``max_score`` stay the automatic ones, so that a re-run can reuse it). At the
end of the run, the ``--manual`` file (if any) is checked against the current results and
merged; only the students whose shown grades changed get their record and reports written
again (a batch of thousands re-renders what changed), and the TA's pages
(``grader.answers.ta_page``) are written. A refused file changes nothing and is reported
(exit 2) after the course files are written from the grades kept before.
"""
from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from grader.answers import manual, ta_page
from grader.exceptions import UsageError
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


class Presenter:
    """The kept grades of ``out`` for one run of ``spec``'s exercise."""

    def __init__(self, out: Path, spec) -> None:
        self.out, self.spec = Path(out), spec
        self.store = manual.load_store(self.out)

    @property
    def active(self) -> bool:
        return bool(self.spec.questions or self.store["overrides"])

    def show(self, result: Result) -> Result:
        """``result`` with the kept grades; notes them on ``result`` (its record) too."""
        if not self.active:
            return result
        shown = manual.view(result, self.spec, self.store)
        result.manual, result.manual_pending = _total(shown), list(shown.manual_pending)
        return shown

    def finish(self, results: list[Result], text: str | None,
               rewrite: Callable[[Result, Result], None]) -> tuple[list[Result], UsageError | None]:
        """Merge ``text``; the results as shown; ``rewrite(result, shown)`` for each whose
        shown grades changed since its record was written; the refusal of ``text`` if any."""
        refused = None
        if text is not None:
            try:
                self.store = manual.merge(self.out, text, self.spec,
                                          {r.submission: r for r in results})
            except manual.ManualFileError as exc:
                refused = exc
        if not self.active:
            return results, refused
        shown = []
        for result in results:
            noted = (result.manual, list(result.manual_pending))
            view = self.show(result)
            if (result.manual, result.manual_pending) != noted:
                rewrite(result, view)
            shown.append(view)
        ta_page.write_pages(self.out, self.spec, shown, self.store)
        return shown, refused


def _total(view: Result) -> dict | None:
    if view.manual is None:
        return None
    return {**view.manual, "total": view.score, "total_max": view.max_score}


def apply(out: Path, spec, results: list[Result], text: str | None, outputs,
          options: dict) -> tuple[list[Result], UsageError | None]:
    """``finish`` outside a batch (the API, the tests): records and reports written to ``out``."""
    from grader.batch.outdir import student_file
    from grader.render.files import write_json

    def rewrite(result: Result, shown: Result) -> None:
        write_json(student_file(out, result.submission, ".json"), {**result.to_dict(),
                                                                   "options": options})
        outputs.student_docs(shown)
    return Presenter(out, spec).finish(results, text, rewrite)

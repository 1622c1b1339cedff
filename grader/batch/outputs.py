"""What ``grade`` writes besides each student's JSON record, through the format registry.

Per student, every chosen format with a document about one result (``students/<id>.html``,
``gradescope/<id>.json``, …) is written as soon as the result is known; at the end of a
complete run, the course documents (``grades.csv``, ``index.html``, JUnit, …), ``course.json``
and the LMS files are written again from every current result. Before grading, the previous
run's course documents are removed, so that nobody imports a stale or incomplete gradebook.
A document that fails to render is a warning (the result is safe in its JSON record); a
write error (full disk) is the caller's to stop the batch on.
"""
from __future__ import annotations

import sys
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path

from grader.analytics import cohort as analytics
from grader.batch.outdir import file_stem, student_href
from grader.lms import gradebook as lms
from grader.lms.gradebook import GradebookOptions
from grader.render import writers
from grader.render.files import write_json
from grader.result import Result

#: the per-student document that ``grade`` writes itself: the record a re-run reads
RECORD = "json"


def chosen(formats: list[writers.Writer] | None, junit_path: Path | None) -> list[writers.Writer]:
    """``grade``'s defaults (those installed), the formats asked for, and JUnit for ``--junit``."""
    offered = writers.available()
    names = [*writers.GRADE_DEFAULTS, *(w.name for w in formats or [])]
    names += ["junit"] if junit_path else []
    return [offered[name] for name in dict.fromkeys(names) if name in offered]


@dataclass
class Outputs:
    """The chosen formats of one batch, and where their files go."""

    out: Path
    formats: list[writers.Writer]
    context: writers.FormatContext = field(default_factory=writers.FormatContext)
    #: a course document's path other than ``DIR/<course_file>`` (``--junit FILE``), by format
    paths: dict[str, Path] = field(default_factory=dict)

    @property
    def per_student(self) -> list[writers.Writer]:
        return [w for w in self.formats if w.one is not None and w.name != RECORD]

    def student_path(self, writer: writers.Writer, student: str) -> Path:
        assert writer.student_file is not None  # a per-student format has one (register)
        return Path(self.out) / writer.student_file.format(file_stem(student))

    def student_docs(self, result: Result, missing_only: bool = False) -> None:
        """Each format's document about ``result`` (only those not there yet, for a result
        kept from an earlier run)."""
        for writer in self.per_student:
            path = self.student_path(writer, result.submission)
            if missing_only and path.exists():
                continue
            with _guarded(writer, f"report for {result.submission}"):
                writer.write_one(result, path, self.context)

    def course_path(self, writer: writers.Writer) -> Path:
        return Path(self.paths.get(writer.name) or
                    Path(self.out) / (writer.course_file or writer.file_name))

    def course_files(self) -> list[Path]:
        """The batch's own files: every registered format's course document, ``course.json``
        and the LMS files (a run removes them all first, whichever formats it writes)."""
        names = [w.course_file or w.file_name for w in writers.available().values() if w.course]
        names += [analytics.COURSE_FILE, lms.UNMATCHED_FILE,
                  *(GradebookOptions(system).file_name() for system in lms.SYSTEMS)]
        return [Path(self.out) / name for name in names] + list(self.paths.values())

    def remove_course_files(self) -> None:
        for path in self.course_files():
            path.unlink(missing_ok=True)

    def write_course_files(self, results: list[Result], gradebook: GradebookOptions | None,
                           exercise: str) -> None:
        """Regenerated from every current result at the end of each complete run."""
        write_json(Path(self.out) / analytics.COURSE_FILE, analytics.cohort(results).to_dict())
        if gradebook is not None:
            for line in lms.write_gradebook(results, self.out, gradebook, exercise or "Autograder"):
                print(line, file=sys.stderr)
        context = replace(self.context,
                          links={r.submission: student_href(r.submission) for r in results})
        for writer in (w for w in self.formats if w.course is not None):
            with _guarded(writer, "index"):
                writer.write_course(results, self.course_path(writer), context)


@contextmanager
def _guarded(writer: writers.Writer, what: str) -> Iterator[None]:
    """A document that fails to render is a warning (a report is a view of the result, which
    is safe in its JSON record: never lose the batch over one); a write error (full or
    read-only disk) stops the batch (exit 5), like a JSON write."""
    try:
        yield
    except OSError:
        raise
    except Exception as exc:  # noqa: BLE001 -- any renderer bug, in any format
        warnings.warn(f"no {writer.name.upper()} {what}: {exc!r}", stacklevel=3)

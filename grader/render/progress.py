"""Batch progress: a one-line bar with counts per status and an ETA on a terminal, plain log
lines elsewhere (CI, cron), where a redrawn line would only clutter the log."""
from __future__ import annotations

import shutil
import sys
import time
from collections import Counter
from typing import TextIO

from grader.result import Result, Status
from grader.util.text import plain


def duration(seconds: float) -> str:
    seconds = int(round(seconds))
    if seconds < 60:
        return f"{seconds}s"
    minutes, seconds = divmod(seconds, 60)
    if minutes < 60:
        return f"{minutes}m{seconds:02d}s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m"


class Progress:
    """``total`` submissions, of which ``to_grade`` need grading (the rest were reused)."""

    def __init__(self, total: int, to_grade: int, stream: TextIO | None = None,
                 tty: bool | None = None) -> None:
        self.stream = stream or sys.stderr
        self.tty = self.stream.isatty() if tty is None else tty
        self.total, self.to_grade = total, to_grade
        self.counts: Counter[str] = Counter()
        self.done = self.graded = 0
        self.start = time.monotonic()
        self._drawn = False

    def begin(self, reused: list[Result], workers: int, threads: int,
              where: str = "local") -> None:
        """The first line; ``where`` is the executor's name (``Executor.name``)."""
        for result in reused:
            self._count(result)
        parts = [f"{self.total} submissions"]
        if reused:
            parts.append(f"{len(reused)} already graded")
        if self.to_grade and where != "local":  # the cluster's workers pick their own threads
            parts.append(f"grading {self.to_grade} on {where} ({workers} at once)")
        elif self.to_grade:
            parts.append(f"grading {self.to_grade} with {workers} worker{'s' * (workers > 1)} "
                         f"({threads} TensorFlow thread{'s' * (threads > 1)} each)")
        self._line("grader: " + ", ".join(parts))

    def result(self, result: Result) -> None:
        """A freshly graded submission."""
        self._count(result)
        self.graded += 1
        seconds = result.timings.get("total")
        took = f" ({seconds:.0f} s)" if isinstance(seconds, (int, float)) else ""
        problem = ""
        if result.error:
            problem = f" [{result.error.kind}]"
        if result.review:
            problem += f" [flagged for review: {len(result.review)}]"
        name = plain(result.submission, one_line=True)  # a file name must not drive the terminal
        self._line(f"grader: [{self.done}/{self.total}] {name}: {result.status.value} "
                   f"{result.score:g}/{result.max_score:g}{problem}{took}")

    def tick(self) -> None:
        if self.tty:
            self._draw()

    def close(self) -> None:
        if self.tty and self._drawn:
            self.stream.write("\r\x1b[K")
            self.stream.flush()
            self._drawn = False

    def eta(self) -> float | None:
        if not self.graded:
            return None
        elapsed = time.monotonic() - self.start
        return elapsed / self.graded * (self.to_grade - self.graded)

    def bar_text(self, width: int = 80) -> str:
        counts = " ".join(f"{s.value} {self.counts[s.value]}" for s in Status)
        eta = self.eta()
        tail = (f" {self.done}/{self.total}  {counts}  elapsed "
                f"{duration(time.monotonic() - self.start)}  ETA {duration(eta) if eta is not None else '--'}")
        room = max(10, width - len(tail) - 3)
        filled = room * self.done // max(1, self.total)
        return ("[" + "#" * filled + "." * (room - filled) + "]" + tail)[:width - 1]

    def _count(self, result: Result) -> None:
        self.counts[result.status.value] += 1
        self.done += 1

    def _line(self, text: str) -> None:
        if self.tty:
            self.stream.write("\r\x1b[K" + text + "\n")
            self._draw()
        else:
            self.stream.write(text + "\n")
            self.stream.flush()

    def _draw(self) -> None:
        width = shutil.get_terminal_size((100, 20)).columns
        self.stream.write("\r\x1b[K" + self.bar_text(width))
        self.stream.flush()
        self._drawn = True

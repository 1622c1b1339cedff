"""A short, readable terminal summary: verdict first, then each check, then what to fix."""
from __future__ import annotations

import textwrap

from grader.analytics.cohort import mistake_words
from grader.answers import view as answer_view
from grader.render import baselines_view, points, review
from grader.result import Result, Status
from grader.util.text import plain

COLORS = {Status.PASSED: "32", Status.FAILED: "31", Status.ERROR: "35", Status.TIMEOUT: "33"}


def _c(text: str, code: str, color: bool) -> str:
    return f"\x1b[{code}m{text}\x1b[0m" if color else text


def _wrap(text: str, indent: str) -> str:
    return textwrap.fill(text, width=100, initial_indent=indent, subsequent_indent=indent)


def summary(result: Result, color: bool = False) -> str:
    """The summary; every text from the submission or its kernel (variable and class names,
    messages quoting them) is printed without control characters, so that none reaches the
    terminal as an escape sequence."""
    return "\n".join(_summary(result, color))


def _summary(result: Result, color: bool) -> list[str]:
    verdict = _c(result.status.value.upper(), COLORS[result.status], color)
    lines = [f"{result.submission}: {verdict}  score {result.score:g}/{result.max_score:g}"]
    if result.model_variable:
        lines[0] += f"  (model variable: {result.model_variable})"
    lines.extend(_environment(result))
    if result.review:
        lines.append(_wrap(f"{review.HEADING.lower()} (score unchanged): "
                           f"{review.short(result.review)}", "  "))
    for other in result.other_models[:5]:
        lines.append(_wrap(f"other model `{other.get('variable')}` ({other.get('model_class')}): "
                           f"{other.get('reason')}", "  "))
    if len(result.other_models) > 5:
        lines.append(f"  … and {len(result.other_models) - 5} more models (see the JSON result)")
    shown = set()
    for check in result.checks:
        mark = _c("✓", "32", color) if check.passed else _c("✗", "31", color)
        said = points.note(check)
        lines.append(f"  {mark} {points.fraction(check)}  {check.name}: {check.message}"
                     + (f" — {said}" if said else ""))
        if check.hint and not check.passed and check.hint not in shown:
            shown.add(check.hint)
            lines.append(_wrap(f"hint: {check.hint}", "      "))
    if result.error:
        lines.append(_wrap(f"error ({result.error.kind}): {result.error.message}", "  "))
        if result.error.advice:
            lines.append(_wrap(f"what to do: {result.error.advice}", "  "))
    for warning in result.warnings:
        lines.append(_wrap(f"warning: {warning}", "  "))
    beside = baselines_view.terminal_line(result)
    if beside:
        lines.append(_wrap(beside, "  "))
    if result.answers:
        lines.append("  written answers:")
        lines.extend(answer_view.text_lines(result))
    lines.append(_wrap(result.summary, "  "))
    return [_plain_line(line, color, verdict) for line in lines]


def _plain_line(line: str, color: bool, verdict: str) -> str:
    """A line without control characters, keeping the colour of its verdict or check mark."""
    if not color:
        return plain(line)
    for mark in (verdict, _c("✓", "32", True), _c("✗", "31", True)):
        if mark in line:
            head, _, tail = line.partition(mark)
            return plain(head) + mark + plain(tail)
    return plain(line)


def _environment(result: Result) -> list[str]:
    """The compatibility layer and neutralized lines, so that nothing is changed silently."""
    lines = []
    if result.compat is not None:
        used = (", ".join(result.compat.get("mappings", []))
                or "the mappings used are listed only for a notebook that runs to the end")
        lines.append(_wrap(f"ran through the Keras 1/2 compatibility layer: {used}", "  "))
    for line in result.neutralized:
        lines.append(_wrap(f"neutralized: {line}", "  "))
    return lines


def batch_table(results: list[Result]) -> str:
    width = max([len(r.submission) for r in results] + [10])
    lines = [f"{'submission':<{width}}  {'status':<8} {'score':>9}  mistake / error"]
    for r in results:
        first = r.error.kind if r.error else mistake_words(r) if r.first_failed else ""
        first += f"  [flagged for review: {len(r.review)}]" if r.review else ""
        lines.append(f"{r.submission:<{width}}  {r.status.value:<8} {r.score:>4g}/{r.max_score:<4g}  {first}")
    return "\n".join(plain(line) for line in lines)

"""Gradescope's ``results.json`` for one submission (the autograder specification at
https://gradescope-autograders.readthedocs.io/en/latest/specs/).

Top level: ``score`` (the grader's score, which Gradescope then uses instead of summing the
tests), ``execution_time`` (whole seconds), ``output`` (the verdict for the student), the
visibilities and ``tests``: one test per check with ``name``, ``score``, ``max_score``,
``status`` (``passed``/``failed``), ``output`` and ``visibility``. A notebook that could not be
graded is one failed test that says why and what to do, worth the whole score. The grader's
traceback stays out of what students see; ``stdout`` (instructors only) has the terminal summary.

Outputs are Markdown (``output_format``/``test_output_format`` ``"md"``) so that a hint stands
out and the failing cell shows as code; every piece of text is escaped (a submission's error
text or layer name cannot become a link or an image), and code goes into a fence longer than
any run of backticks in it. Visibility is set per check category (those of the registered
check kinds, ``grader.checks.registry``, and ``grading``), e.g. the accuracy details only
``after_published``: from ``exercise.json`` (``"gradescope": {"visibility": {...}}``) and
``grader check --gradescope-visibility CATEGORY=LEVEL``.
"""
from __future__ import annotations

import argparse
import json
import re
from pathlib import Path

from grader import options
from grader.checks import registry
from grader.checks.kind import ANSWERS
from grader.exceptions import UsageError
from grader.render import points, review, writers
from grader.render.files import json_text, write_json
from grader.render.junit import GRADING_CASE
from grader.result import Check, Result

VISIBILITIES = ("hidden", "after_due_date", "after_published", "visible")
#: the test of a notebook that could not be graded, a visibility category besides the kinds'
GRADING = "grading"


def categories() -> tuple[str, ...]:
    """The check categories a visibility can be set for: the registered check kinds' and
    ``grading`` (the not-graded test)."""
    return (*registry.categories(), GRADING)

FORMAT = "md"
#: characters that start inline Markdown (emphasis, code, links, images, HTML, tables) ...
MD_INLINE = re.compile(r"([\\`*_\[\]<>!|~])")
#: ... and what starts a block at the beginning of a line (heading, list, quote, rule)
MD_LINE_START = re.compile(r"^(\s*)([#+\-=>]|\d+[.)])", re.MULTILINE)


def md(text: str) -> str:
    """Plain text shown as such by a Markdown renderer: no link, image or HTML can come of it."""
    text = MD_INLINE.sub(r"\\\1", str(text))
    return MD_LINE_START.sub(lambda m: m.group(1) + "\\" + m.group(2), text)


def fence(code: str) -> str:
    longest = max((len(run) for run in re.findall(r"`+", code)), default=0)
    ticks = "`" * max(3, longest + 1)
    return f"{ticks}\n{code}\n{ticks}"


def visibility_for(category: str, visibility: str | dict[str, str]) -> str:
    """One level for everything, or per category with ``"*"`` (else ``visible``) as default."""
    if isinstance(visibility, str):
        return visibility
    return visibility.get(category, visibility.get("*", "visible"))


def check_visibility(visibility: str | dict[str, str]) -> None:
    levels = [visibility] if isinstance(visibility, str) else list(visibility.values())
    bad = [v for v in levels if v not in VISIBILITIES]
    if bad:
        raise ValueError(f"visibility must be one of {', '.join(VISIBILITIES)} (not {bad[0]!r})")
    unknown = [] if isinstance(visibility, str) else \
        [c for c in visibility if c not in categories() and c != "*"]
    if unknown:  # a typo would silently show what was meant to be hidden
        raise ValueError(f"visibility category must be one of {', '.join(categories())} "
                         f"(not {unknown[0]!r})")


def _test(check: Check, visibility: str) -> dict:
    said = points.note(check)
    output = [f"**{points.fraction(check)} points**" + (f": {md(said)}" if said else ""),
              md(check.message)]
    if check.hint and not check.passed:
        output.append(f"**Hint:** {md(check.hint)}")
    return {"name": check.name, "score": float(check.points), "max_score": float(check.max_points),
            "status": "passed" if check.passed else "failed", "output": "\n\n".join(output),
            "output_format": FORMAT, "name_format": "text", "tags": [check.category],
            "visibility": visibility}


def _error_test(result: Result, visibility: str) -> dict:
    error = result.error
    assert error is not None  # only for a result that was not graded
    lines = [f"**The notebook could not be graded** ({md(error.kind)}): {md(error.message)}"]
    if error.cell_index is not None:
        lines.append(f"In cell {error.cell_index}:\n\n{fence(error.cell_source or '')}")
    if error.advice:
        lines.append(f"**What to do:** {md(error.advice)}")
    return {"name": GRADING_CASE, "score": 0.0, "max_score": float(result.max_score),
            "status": "failed", "output": "\n\n".join(lines), "output_format": FORMAT,
            "name_format": "text", "tags": [GRADING], "visibility": visibility}


def _overview(result: Result) -> str:
    lines = [f"**{result.status.value.upper()}: {result.score:g}/{result.max_score:g} points.**",
             md(result.summary) if result.summary else ""]
    lines += [f"Warning: {md(w)}" for w in result.warnings]
    lines += [f"**{review.HEADING}** (the score is not changed by this): {md(review.item(e))}"
              for e in result.review]
    return "\n\n".join(line for line in lines if line)


def _manual_tests(result: Result, visibility: str) -> list[dict]:
    """The questions a person grades: their points once merged, "pending" before."""
    graded = (result.manual or {}).get("questions", {})
    tests = [{"name": f"Question {qid} (graded by a person)", "score": float(g["points"]),
              "max_score": float(g["max_points"]), "output": md(g.get("comment", "")),
              "visibility": visibility} for qid, g in graded.items()]
    tests += [{"name": f"Question {qid} (graded by a person)", "score": 0.0,
               "output": "pending: not graded yet", "visibility": visibility}
              for qid in result.manual_pending]
    return tests


def gradescope_results(result: Result, visibility: str | dict[str, str] = "visible") -> dict:
    check_visibility(visibility)
    tests = [_test(c, visibility_for(c.category, visibility)) for c in result.checks]
    tests += _manual_tests(result, visibility_for(ANSWERS, visibility))
    if result.error is not None:  # last: why the rest is worth nothing
        tests.append(_error_test(result, visibility_for(GRADING, visibility)))
    total = result.timings.get("total", 0)
    return {
        "score": float(result.score),
        "execution_time": int(round(total)) if isinstance(total, (int, float)) else 0,
        "output": _overview(result),
        "output_format": FORMAT,
        "test_output_format": FORMAT,
        "test_name_format": "text",
        "visibility": visibility_for("*", visibility),
        "stdout_visibility": "hidden",
        "tests": tests,
    }


def grader_failure(message: str) -> dict:
    """When the grader itself cannot run (no data, bad spec): 0 points and a clear word."""
    return {"score": 0.0, "execution_time": 0, "output_format": "text", "visibility": "visible",
            "stdout_visibility": "hidden", "tests": [],
            "output": "The autograder failed before grading this submission; this is not your "
                      f"fault, please tell the course staff.\n\n{message}"}


def parse_visibility(pairs: list[str], configured: dict[str, str] | None = None) -> dict[str, str]:
    """``exercise.json``'s per-category levels, overridden by ``CATEGORY=LEVEL`` (or ``LEVEL``
    for every category) from the command line."""
    out = dict(configured or {})
    for pair in pairs:
        category, _, level = pair.rpartition("=")
        out[category or "*"] = level
    check_visibility(out)
    return out


def write_gradescope(result: Result, path: Path, visibility: str | dict[str, str] = "visible") -> Path:
    return write_json(Path(path), gradescope_results(result, visibility))


def visibility_option(args: argparse.Namespace) -> dict[str, str]:
    """``exercise.json``'s ``gradescope.visibility``, overridden by the command line."""
    from grader.exercise.spec import EXERCISE_FILE, default_reference_dir

    path = Path(args.reference or default_reference_dir()) / EXERCISE_FILE
    try:  # a reference folder may hold only its spec.json: then nothing is configured
        text = path.read_text() if path.is_file() else "{}"
        configured = json.loads(text).get("gradescope", {}).get("visibility", {})
        return parse_visibility(args.gradescope_visibility, configured)
    except (OSError, ValueError, AttributeError) as exc:
        raise UsageError(f"Gradescope visibility ({path} or --gradescope-visibility): {exc}") \
            from None


options.declare(options.Option(
    "--gradescope-visibility", lambda: "Gradescope visibility of a check category "
    f"({', '.join(categories())}) or of all: {', '.join(VISIBILITIES)} (default: "
    "exercise.json's, else visible)",
    (options.CHECK, options.GRADE), action="append", default=[], metavar="[CATEGORY=]LEVEL"))

WRITER = writers.register(writers.Writer(
    name="gradescope", help="write Gradescope's results.json here (inside a Gradescope autograder)",
    file_name="results.json", student_file="gradescope/{}.json",
    one=lambda result, context: json_text(gradescope_results(result, context.of("gradescope",
                                                                                "visible"))),
    failure=lambda message: json_text(grader_failure(message)),
    read_options=visibility_option))

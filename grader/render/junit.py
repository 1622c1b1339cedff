"""JUnit XML for CI systems and LMS plug-ins: a testsuite per student, a testcase per check.

Follows the Apache Ant JUnit schema (the one CI tools read; windyroad/JUnit-Schema): an aggregated
``<testsuites>`` whose ``<testsuite>`` elements carry name, package, id, timestamp, hostname,
tests, failures, errors, skipped and time, then ``<properties>``, the ``<testcase>`` elements
(name, classname, time; a ``<failure>`` or ``<error>`` with message and type), ``<system-out>``
and ``<system-err>``. A failed check is a failure; a notebook that could not be graded is one
testcase with an error, its type the error kind. Characters XML cannot carry are dropped.
"""
from __future__ import annotations

import datetime as dt
import re
import socket
import xml.etree.ElementTree as ET
from pathlib import Path

from grader.render import review, writers
from grader.render.files import write_text
from grader.result import Check, Result

NOT_XML = re.compile("[^\u0009\u000a\u000d\u0020-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")
GRADING_CASE = "notebook can be graded"


def clean(text: object) -> str:
    """Text XML 1.0 can hold (student output may carry control characters)."""
    return NOT_XML.sub("\ufffd", str(text))


def _el(parent: ET.Element, tag: str, text: str | None = None, **attrs: object) -> ET.Element:
    el = ET.SubElement(parent, tag, {k: clean(v) for k, v in attrs.items()})
    if text:
        el.text = clean(text)
    return el


def _check_text(check: Check) -> str:
    lines = [check.message]
    if check.expected is not None:
        lines.append(f"expected: {check.expected}")
    if check.actual is not None:
        lines.append(f"actual: {check.actual}")
    if check.hint:
        lines.append(f"hint: {check.hint}")
    return "\n".join(lines)


def _cases(suite: ET.Element, result: Result, classname: str) -> tuple[int, int, int]:
    """Add the testcases; returns (tests, failures, errors)."""
    for check in result.checks:
        case = _el(suite, "testcase", name=check.name, classname=classname, time="0")
        if not check.passed:
            _el(case, "failure", _check_text(check), message=check.message, type=check.category)
    failures = sum(not c.passed for c in result.checks)
    if result.error is None:
        return len(result.checks), failures, 0
    error = result.error
    case = _el(suite, "testcase", name=GRADING_CASE, classname=classname,
               time=_seconds(result))
    details = "\n\n".join(t for t in (error.message, error.advice, error.cell_source,
                                      error.traceback) if t)
    _el(case, "error", details, message=error.message, type=error.kind)
    return len(result.checks) + 1, failures, 1


def _seconds(result: Result) -> str:
    total = result.timings.get("total", 0)
    return f"{float(total):.2f}" if isinstance(total, (int, float)) else "0"


def testsuite(parent: ET.Element, result: Result, index: int, timestamp: str, hostname: str) -> None:
    package = result.spec.get("exercise") or "grader"
    suite = _el(parent, "testsuite", name=result.submission or "submission", package=package,
                id=index, timestamp=timestamp, hostname=hostname)
    props = _el(suite, "properties")
    for name, value in (("score", f"{result.score:g}"), ("max_score", f"{result.max_score:g}"),
                        ("status", result.status.value), ("exit_code", int(result.exit_code)),
                        ("notebook_sha256", result.notebook_sha256 or ""),
                        ("review", review.short(result.review, limit=10)),
                        ("manual_pending", ";".join(result.manual_pending))):
        _el(props, "property", name=name, value=value)
    tests, failures, errors = _cases(suite, result, f"{package}.{result.submission}")
    flags = [f"{review.HEADING} (score unchanged): {review.item(e)}" for e in result.review]
    _el(suite, "system-out", "\n".join([result.summary, *flags]))
    _el(suite, "system-err", "\n".join(result.warnings))
    suite.set("tests", str(tests))
    suite.set("failures", str(failures))
    suite.set("errors", str(errors))
    suite.set("skipped", "0")
    suite.set("time", _seconds(result))


def junit_xml(results: list[Result], timestamp: str | None = None) -> str:
    """The JUnit document for ``results`` (one or many submissions)."""
    timestamp = timestamp or dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S")
    hostname = clean(socket.gethostname() or "localhost") or "localhost"
    root = ET.Element("testsuites")
    for index, result in enumerate(results):
        testsuite(root, result, index, timestamp, hostname)
    ET.indent(root)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, encoding="unicode") + "\n"


def write_junit(results: list[Result], path: Path) -> Path:
    return write_text(Path(path), junit_xml(results))


WRITER = writers.register(writers.Writer(
    name="junit", help="write a JUnit XML report here", file_name="junit.xml",
    course=lambda results, context: junit_xml(results)))

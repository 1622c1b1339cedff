"""The JSON result: ``Result.to_dict()``, everything the grader knows, as plain data.

In ``grade`` the per-student JSON is also the batch's own record (with its grading options),
which a re-run reads to skip what is already graded.
"""
from __future__ import annotations

from grader.render import writers
from grader.render.files import json_text
from grader.result import Result


def result_json(result: Result, context: writers.FormatContext) -> str:
    return json_text(result.to_dict())


WRITER = writers.register(writers.Writer(
    name="json", help="write the JSON result here", file_name="result.json",
    one=result_json, student_file="students/{}.json"))

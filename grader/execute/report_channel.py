"""The channel the description leaves the kernel by: a silent execute request, not a file.

After the last cell the runner sends an *empty*, silent execute request whose
``user_expressions`` ask for the guard's report function (``kernel/guard.py``, stored under a
per-run nonce). IPython returns at once for an empty cell: no ``pre_run_cell``/``post_run_cell``
hook and no cell code runs, and the guard removes the notebook's hooks and input transformers
before it describes anything. The answer comes back in the ``execute_reply`` on the shell
channel (the notebook's outputs travel on iopub): no file in a folder the student can write is
read. Only plain JSON is accepted from it, under a size limit.
"""
from __future__ import annotations

import ast
import json
import time
from collections.abc import Callable
from queue import Empty

from nbclient.exceptions import DeadKernelError

from grader.exceptions import NotGradable

KEY = "report"


async def request(kc, expression: str, timeout: float, limit: int,
                  stopped: Callable[[], bool] = lambda: False) -> dict:
    """Evaluate ``expression`` (returning a JSON string) in the kernel; the parsed report.
    ``stopped``: the kernel was stopped meanwhile (a refused message): no answer will come,
    raised at once as the dead kernel it is."""
    msg_id = kc.execute("", silent=True, store_history=False, allow_stdin=False,
                        user_expressions={KEY: expression})
    deadline = time.monotonic() + timeout
    while True:
        remaining = deadline - time.monotonic()
        if stopped():
            raise DeadKernelError("stopped while the grader asked for its report")
        if remaining <= 0:
            raise NotGradable("the grader's extraction step did not answer in "
                              f"{timeout:g} s (the notebook may keep the kernel busy)")
        try:
            msg = await kc.get_shell_msg(timeout=min(remaining, 1.0))
        except Empty:
            continue
        except Exception as exc:  # a kernel whose messaging the notebook broke
            raise NotGradable("the kernel's answer to the grader's extraction step was "
                              f"malformed ({type(exc).__name__})") from None
        if not isinstance(msg, dict) or not isinstance(msg.get("parent_header"), dict):
            continue
        if msg.get("parent_header", {}).get("msg_id") == msg_id:
            return parse(msg.get("content", {}), limit)


def parse(content: dict, limit: int) -> dict:
    """The report in an execute_reply's ``user_expressions``, or NotGradable saying why not."""
    value = (content.get("user_expressions") or {}).get(KEY) if isinstance(content, dict) else None
    if not isinstance(value, dict) or value.get("status") != "ok":
        raise NotGradable("the grader's extraction step failed: the notebook removed or "
                          "replaced what the grader set up before it ran")
    text = (value.get("data") or {}).get("text/plain")
    if not isinstance(text, str) or len(text) > limit:
        raise NotGradable("the grader's extraction result is not a small text")
    try:
        raw = ast.literal_eval(text)  # the repr of a str: literals only, never code
    except (ValueError, SyntaxError, RecursionError, MemoryError):
        raise NotGradable("the grader's extraction result has the wrong form") from None
    if not isinstance(raw, str):
        raise NotGradable("the grader's extraction result has the wrong form")
    return parse_json(raw)


def parse_json(raw: str | bytes) -> dict:
    """JSON only; a report nested too deeply is not one the kernel wrote."""
    try:
        report = json.loads(raw)
    except (ValueError, RecursionError):
        raise NotGradable("the grader's extraction result is not valid JSON") from None
    if not isinstance(report, dict):
        raise NotGradable("the grader's extraction result has the wrong form")
    return report

"""Text from a submission reaches no output with an escape sequence: one sanitizer
(``grader.util.text.plain``) is used by the execution stage and by every renderer."""
import json

import pytest

from grader import pipeline
from grader.render import csv_out, html, terminal
from grader.result import ErrorInfo, Result, Status
from grader.sandbox.launch import Launcher
from grader.util.text import plain

from tests.notebooks import code_notebook

#: OSC (window title; a hyperlink ended by ST), CSI (clear screen), a C1 CSI (U+009B), a BEL
HOSTILE = ("\x1b]0;owned\x07\x1b[2J\u009b31m boom "
           "\x1b]8;;https://evil.example\x1b\\click\x1b]8;;\x1b\\ \x07done")
ESCAPES = ("\x1b", "\x07", "\u009b", "\u009d")


def clean(text: str) -> bool:
    return not any(c in text for c in ESCAPES)


def test_plain_removes_osc_csi_and_c1_sequences_and_keeps_the_words():
    assert plain(HOSTILE) == "31m boom click done"


def test_plain_keeps_tabs_and_newlines_unless_asked_for_one_line():
    assert plain("a\tb\nc\r") == "a\tb\nc"
    assert plain("a\tb\nc", one_line=True) == "a b c"


@pytest.fixture(scope="module")
def hostile_result(tmp_path_factory, spec, data_file):
    """A notebook whose cell raises an exception with escape sequences in its message."""
    from grader.settings import Settings

    from tests import notebooks

    folder = tmp_path_factory.mktemp("hostile")
    path = notebooks.write(code_notebook("x = 1", f"raise ValueError({HOSTILE!r})"),
                           folder / "eve.ipynb")
    settings = Settings(sandbox="off", verify=False, data_path=data_file)
    return pipeline.check_notebook(path, spec, data_file, settings, Launcher())


@pytest.mark.kernel
def test_an_exception_message_is_stored_without_escape_sequences(hostile_result):
    error = hostile_result.error
    assert error.kind == "cell_error" and "boom" in error.message and "click" in error.message
    assert clean(error.message) and clean(error.traceback)
    assert clean(json.dumps(hostile_result.to_dict(), ensure_ascii=False))


@pytest.mark.kernel
def test_an_exception_message_reaches_the_terminal_and_the_grades_table_plain(hostile_result):
    summary = terminal.summary(hostile_result, color=True)
    assert "boom" in summary and clean(summary.replace("\x1b[35m", "").replace("\x1b[0m", ""))
    assert clean(terminal.batch_table([hostile_result]))
    grades = csv_out.grades_csv([hostile_result])
    assert "boom" in grades and clean(grades)


@pytest.mark.kernel
def test_an_exception_message_reaches_the_html_report_plain(hostile_result):
    page = html.render_report(hostile_result)
    assert "boom" in page and clean(page)


def test_every_renderer_drops_escapes_from_a_stored_message():
    """A result saved by an older grader (reused by a batch) may still hold them."""
    result = Result("eve", Status.ERROR, 0, 10, summary=HOSTILE, warnings=[HOSTILE])
    result.error = ErrorInfo(kind="cell_error", message=HOSTILE, traceback=HOSTILE)
    assert clean(terminal.summary(result)) and clean(terminal.batch_table([result]))
    assert clean(html.render_report(result))

"""Text from a submission reaches the terminal and stderr without control characters, and a lone
surrogate stops nothing.
"""
from __future__ import annotations

from grader.render import terminal
from grader.result import ErrorInfo, Result, Status


def test_terminal_text_drops_c1_control_characters():
    """U+009B is the one-character CSI (U+009D OSC): a student id or class name holding it drives
    terminals that read C1 controls (the progress lines already drop it; the summary and the
    batch table did not)."""
    from grader.render import terminal
    from grader.render.view import plain
    from grader.result import Result, Status

    assert plain("x\u009b2J\u009d0;owned\u0007y") == "x2J0;ownedy"
    row = terminal.batch_table([Result("a\u009b2Jb", Status.PASSED, 1, 1)])
    assert "\u009b" not in row


def test_a_lone_surrogate_from_the_kernel_neither_stops_the_batch_nor_the_terminal(tmp_path, spec):
    """The kernel's report is JSON written with ``ensure_ascii``: ``globals()['m\\ud800'] = model``
    comes back as a str holding a lone surrogate (a variable, layer or class name; a message).
    ``write_json`` (``ensure_ascii=False``, UTF-8) raised UnicodeEncodeError, which is no OSError:
    the whole batch stopped, and ``check`` could not write its result."""
    import json

    from grader.batch.folder import _Batch
    from grader.render import terminal
    from grader.result import Result, Status

    batch = _Batch(tmp_path, {}, 10.0)
    result = Result("bob", Status.FAILED, 1, 10.0, model_variable="m\ud800",
                    summary="Fix first: layer d\udfff", spec={"sha256": spec.sha256})
    batch.save(result)
    saved = json.loads((tmp_path / "students" / "bob.json").read_text(encoding="utf-8"))
    assert saved["submission"] == "bob" and saved["model_variable"].startswith("m")
    "".join([terminal.summary(result), terminal.batch_table([result])]).encode("utf-8")


# -- 2. terminal: kernel-reported names reach the terminal with their control characters -------
def test_terminal_summary_strips_control_characters_from_submission_text():
    """``model_variable``, ``other_models`` (variable, class, reason) and error messages carry
    text from the kernel (a class name made with ``type('\\x1b]0;...', (keras.Model,), {})``,
    a faked report): the HTML escapes it, the terminal prints it raw (``grader check`` prints
    the summary on the TA's/student's terminal)."""
    evil = "net\x1b]0;owned\x07\x1b[2J"
    result = Result("alice", Status.ERROR, 0, 22, summary="Not graded",
                    error=ErrorInfo("subclassed_model", f"the model `model` is a `{evil}`",
                                    advice="write it as the template does"),
                    spec={"exercise": "cnn2"})
    result.model_variable = evil
    result.other_models = [{"variable": evil, "model_class": evil, "error_kind": None,
                            "reason": evil}]
    out = terminal.summary(result, color=False)
    assert "\x1b" not in out and "\x07" not in out


def test_terminal_batch_table_strips_control_characters_from_file_names():
    """A submission id is a file name: valid UTF-8 may still hold ESC (progress.py already
    replaces it; the batch table did not)."""
    result = Result("eve\x1b[2J", Status.FAILED, 1, 22, spec={"exercise": "cnn2"})
    assert "\x1b" not in terminal.batch_table([result])


def test_the_gradebook_stderr_lines_hold_no_control_characters(tmp_path):
    """The unmatched submissions are named on stderr: a file name with ESC drove the terminal."""
    from grader.lms import gradebook as lms
    roster = tmp_path / "roster.csv"
    roster.write_text("First name,Surname,ID number,Email address\nAnn,A,s1,ann@x.org\n")
    options = lms.GradebookOptions("moodle", roster, None, None)
    results = [Result("eve\x1b]0;x\x07", Status.FAILED, 1, 22, spec={"exercise": "cnn2"})]
    lines = lms.write_gradebook(results, tmp_path, options, "cnn2")
    assert lines and not any("\x1b" in line or "\x07" in line for line in lines)

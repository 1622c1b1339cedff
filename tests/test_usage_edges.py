"""Bad input to the commands is a clear usage error (or exit 5 for an unwritable file), before any
grading.
"""
from __future__ import annotations

import pytest

from tests.conftest import ROOT


def test_an_empty_exercise_name_is_a_usage_error_not_the_default_exercise(monkeypatch, tmp_path):
    """``--exercise ""`` (an unset shell variable: ``--exercise "$EXERCISE"``) was read as "no
    exercise named" and graded against ``$GRADER_REFERENCE`` or cnn2 without a word: the very
    "typo grades against another exercise" that an unknown name refuses."""
    from grader.cli import parser, reference_of
    from grader.exceptions import UsageError

    monkeypatch.setenv("GRADER_REFERENCE", str(ROOT / "reference" / "cnn2_2018"))
    args = parser().parse_args(["check", "nb.ipynb", "--exercise", ""])
    with pytest.raises(UsageError, match="unknown exercise ''"):
        reference_of(args)


def test_the_self_check_refuses_an_empty_exercise_name(monkeypatch):
    """``check(exercise="")`` (a name read from an empty variable) silently checked against
    cnn2, as ``--exercise ""`` did on the command line: a student of another exercise was told
    their correct layers were wrong."""
    from grader import notebook

    monkeypatch.delenv("GRADER_REFERENCE", raising=False)
    with pytest.raises(ValueError, match="choose the exercise"):
        notebook.load_spec(exercise="")
    assert notebook.load_spec(exercise="cnn2_2018").exercise == "cnn2_2018"


def test_check_that_cannot_write_its_output_file_says_so_in_one_line_with_exit_5(tmp_path,
                                                                                  capsys):
    """``grader check NB --json DIR`` (a folder, a missing parent, a read-only place) ended in a
    Python traceback with exit code 1, the code that means "a check failed": a CI job or
    Gradescope read a verdict the grader never gave. Results that cannot be written are exit 5
    with one ``grader: error:`` line (README, exit codes), the summary still shown."""
    from grader.cli import main

    notebook = tmp_path / "broken.ipynb"
    notebook.write_text("not json")  # not gradable at once: no kernel needed
    code = main(["check", str(notebook), "--sandbox", "off", "--no-verify",
                 "--json", str(tmp_path), "--csv", str(tmp_path / "grades.csv")])
    out, err = capsys.readouterr()
    assert code == 5, err
    assert "Traceback" not in err and f"grader: error: cannot write {tmp_path}" in err
    assert "broken: ERROR" in out and (tmp_path / "grades.csv").is_file()


@pytest.mark.parametrize("address", ["garbage", "tcp://[::1", "tcp://host", "tcp://host:port"])
def test_a_malformed_cluster_address_is_a_usage_error_before_any_dask_client_exists(
        address, monkeypatch):
    """``--cluster garbage`` (a typo, a missing port) printed its usage error, then the process
    hung for 60 s and ended with a traceback: Dask's half-built ``Client`` closes itself at exit
    with its own default timeout. The address is checked first, so no client is ever made."""
    distributed = pytest.importorskip("distributed")
    from grader.batch.cluster.dask_executor import connect
    from grader.exceptions import UsageError
    from grader.settings import Settings

    made = []
    monkeypatch.setattr(distributed, "Client", lambda *a, **k: made.append(a))
    with pytest.raises(UsageError, match="tcp://HOST:PORT"):
        connect(Settings(cluster=address))
    assert made == []


def test_the_gradescope_format_works_with_a_reference_folder_that_has_only_its_spec(tmp_path):
    """``--reference DIR`` takes "any reference folder with spec.json", and every other format
    grades with one; ``--gradescope`` (``--format gradescope``, in ``check`` and ``grade``)
    refused it with exit 2 because the folder had no ``exercise.json`` to read visibility from.
    Without one, the visibility is the default (visible) or ``--gradescope-visibility``."""
    import shutil

    from grader.cli import parser
    from grader.render.gradescope import visibility_option as gradescope_visibility

    shutil.copy(ROOT / "reference" / "cnn2" / "spec.json", tmp_path / "spec.json")
    args = parser().parse_args(["check", "nb.ipynb", "--reference", str(tmp_path),
                                "--gradescope-visibility", "training=hidden"])
    assert gradescope_visibility(args)["training"] == "hidden"


def test_check_that_cannot_run_and_cannot_write_its_gradescope_file_keeps_its_own_error(
        tmp_path, capsys):
    """When ``check`` cannot run (no such notebook: exit 2) it writes Gradescope's failure file;
    if that file cannot be written either, the write's traceback (exit 1, "failed") replaced
    the real one-line error."""
    from grader.cli import main

    code = main(["check", str(tmp_path / "missing.ipynb"), "--gradescope", str(tmp_path)])
    err = capsys.readouterr().err
    assert code == 2 and "Traceback" not in err
    assert "grader: error: no such notebook" in err and f"cannot write {tmp_path}" in err


# -- 7. Gradescope: a misspelt visibility category is silently ignored --------------------------
def test_an_unknown_gradescope_visibility_category_is_refused():
    """``--gradescope-visibility trainig=hidden`` (a typo) was accepted and did nothing: the
    accuracy details the instructor meant to hide were shown to students."""
    from grader.render.gradescope import parse_visibility
    with pytest.raises(ValueError, match="trainig"):
        parse_visibility(["trainig=hidden"])
    assert parse_visibility(["training=hidden", "after_published"]) == \
        {"training": "hidden", "*": "after_published"}

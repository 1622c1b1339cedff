"""The command line: documented exit codes, a JSON result with the promised fields, no tracebacks."""
import json
import os

import pytest

from grader.cli import main
from grader.settings import Settings

from tests.notebooks import ANSWERS, MISTAKES, SOLUTION, code_notebook, model_only_notebook

pytestmark = pytest.mark.kernel


@pytest.fixture
def check(data_file, tmp_path, capsys):
    """check(nb, *flags) -> (exit code, JSON result or None, stdout, stderr)."""
    def run(nb, *flags):
        from tests.notebooks import write
        path = tmp_path / "student.ipynb"
        if nb is not None:
            write(nb, path)
        elif not os.path.lexists(path):
            path = tmp_path / "absent.ipynb"
        out = tmp_path / "result.json"
        code = main(["check", str(path), "--json", str(out), "--data", str(data_file),
                     "--sandbox", "off", "--no-verify", *flags])
        std = capsys.readouterr()
        return code, json.loads(out.read_text()) if out.exists() else None, std.out, std.err
    return run


def test_a_correct_notebook_exits_0_with_full_marks(check):
    code, result, out, _ = check(model_only_notebook(SOLUTION, answers=ANSWERS))
    assert code == 0 and result["status"] == "passed" and result["score"] == result["max_score"]
    assert "PASSED" in out


def test_a_graded_mistake_exits_1_and_the_terminal_names_the_fix(check):
    code, result, out, _ = check(model_only_notebook(MISTAKES["no_padding"]))
    assert code == 1 and result["status"] == "failed" and 0 < result["score"] < result["max_score"]
    assert "did you forget padding='same'?" in out


def test_the_json_result_has_the_documented_fields(check):
    _, result, _, _ = check(model_only_notebook(MISTAKES["32_filters"]))
    for key in ("submission", "status", "score", "max_score", "checks", "error", "exit_code"):
        assert key in result
    assert result["error"] is None and result["exit_code"] == 1
    assert all({"name", "passed", "message"} <= set(c) for c in result["checks"])


def test_a_missing_notebook_is_a_usage_error(check):
    code, result, _, err = check(None)
    assert code == 2 and result is None and "no such notebook" in err and "Traceback" not in err


def test_bad_arguments_are_a_usage_error(check):
    assert check(model_only_notebook(), "--timeout", "-1")[0] == 2
    with pytest.raises(SystemExit) as exited:
        main(["check"])
    assert exited.value.code == 2


def test_a_notebook_that_raises_exits_3_with_the_cell_in_the_json(check):
    code, result, out, _ = check(code_notebook("undefined_name"))
    assert code == 3 and result["status"] == "error"
    assert result["error"]["kind"] == "cell_error" and result["error"]["cell_index"] == 1
    assert "NameError" in result["error"]["traceback"] and "NameError" in out


def test_a_notebook_over_the_time_limit_exits_4(check):
    code, result, _, _ = check(code_notebook("import time\ntime.sleep(30)"), "--timeout", "2")
    assert code == 4 and result["status"] == "timeout"


def test_a_non_utf8_file_name_works_in_every_output_of_check_and_a_link_is_named(
        data_file, tmp_path, capsys):
    from tests.notebooks import write
    real = write(code_notebook("x = 1"), tmp_path / "real.ipynb")
    link = tmp_path / os.fsdecode(b"jos\xe9.ipynb")  # not valid UTF-8
    link.symlink_to(real)
    out = {name: tmp_path / name for name in ("r.json", "r.html", "j.xml", "gs.json")}
    code = main(["check", str(link), "--data", str(data_file), "--sandbox", "off", "--no-verify",
                 "--json", str(out["r.json"]), "--report", str(out["r.html"]),
                 "--junit", str(out["j.xml"]), "--gradescope", str(out["gs.json"])])
    std = capsys.readouterr()
    assert code == 3 and "jos\\xe9" in std.out and "Traceback" not in std.err
    result = json.loads(out["r.json"].read_text(encoding="utf-8"))
    assert result["submission"] == "jos\\xe9" and result["error"]["kind"] == "no_model"
    assert any("symbolic link" in w for w in result["warnings"])
    assert "symbolic link" in json.loads(out["gs.json"].read_text())["output"]
    assert 'name="jos\\xe9"' in out["j.xml"].read_text(encoding="utf-8")
    assert "jos\\xe9" in out["r.html"].read_text(encoding="utf-8")


def test_check_refuses_an_oversize_notebook_unread_and_a_fifo_unopened(check, tmp_path):
    big = tmp_path / "student.ipynb"
    with open(big, "wb") as f:
        f.truncate(Settings.max_notebook_bytes + 1)  # sparse: no disk used
    code, result, _, err = check(None, "--report", str(tmp_path / "r.html"))
    assert code == 3 and result["error"]["kind"] == "invalid_notebook" and "Traceback" not in err
    assert "too large" in result["error"]["message"]
    big.unlink()
    os.mkfifo(big)
    code, result, _, _ = check(None)
    assert code == 3 and result["error"]["kind"] == "not_a_regular_file"

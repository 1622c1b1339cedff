"""Executing a submission: every failure mode ends as a result with its own status and kind."""
import sys
from contextlib import contextmanager
from pathlib import Path

import nbformat
import pytest

from grader import pipeline
from grader.execute import startup
from grader.result import Status
from grader.sandbox.launch import Launcher, channels_in

from tests.notebooks import SOLUTION, code_notebook, model_only_notebook

pytestmark = pytest.mark.kernel


@pytest.fixture
def run(spec, data_file, fast_settings, write_notebook):
    def grade(nb, settings=None, name="submission"):
        path = write_notebook(nb, name)
        return pipeline.check_notebook(path, spec, data_file, settings or fast_settings, Launcher())
    return grade


def test_a_raising_cell_is_reported_with_its_number_source_and_traceback(run):
    result = run(code_notebook("x = 1", "1 / 0"))
    assert result.status is Status.ERROR and result.error.kind == "cell_error"
    assert result.error.cell_index == 2 and result.error.cell_source == "1 / 0"
    assert "ZeroDivisionError" in result.error.traceback and "\x1b[" not in result.error.traceback
    assert int(result.exit_code) == 3


def test_no_model_is_a_clear_error(run):
    result = run(code_notebook("x = 1"))
    assert result.error.kind == "no_model" and "`model`" in result.error.message


def test_several_models_without_a_model_variable_are_all_listed(run):
    nb = code_notebook("import keras\na = keras.Sequential([keras.Input((4,)), keras.layers.Dense(2)])\n"
                       "b = keras.Sequential([keras.Input((4,)), keras.layers.Dense(3)])")
    result = run(nb)
    graded, other = result.model_variable, [m["variable"] for m in result.other_models]
    assert sorted([graded, *other]) == ["a", "b"] and result.status is Status.FAILED


def test_a_single_model_under_another_name_is_found_and_named(run):
    nb = model_only_notebook(SOLUTION)
    nb.cells[-1].source += "\nnet = model\ndel model"
    result = run(nb)
    assert result.status is Status.PASSED and result.model_variable == "net"


def test_a_lambda_layer_is_refused_by_name(run):
    nb = code_notebook("import keras\nmodel = keras.Sequential([keras.Input((4,)), "
                       "keras.layers.Lambda(lambda x: x * 2)])")
    result = run(nb)
    assert result.error.kind == "disallowed_layer" and "Lambda" in result.error.message


def test_a_cell_over_the_time_limit_is_a_timeout(run, fast_settings):
    result = run(code_notebook("import time\ntime.sleep(60)"), fast_settings.with_(cell_timeout=2))
    assert result.status is Status.TIMEOUT and result.error.kind == "timeout"
    assert int(result.exit_code) == 4


def test_the_whole_notebook_limit_applies_across_cells(run, fast_settings):
    nb = code_notebook(*["import time\ntime.sleep(1.5)"] * 4)
    result = run(nb, fast_settings.with_(notebook_timeout=3))
    assert result.status is Status.TIMEOUT and result.error.kind == "timeout"
    assert int(result.exit_code) == 4
    index = result.error.cell_index  # the cell that was running when the time was up
    assert index in (2, 3) and result.error.cell_source == "import time\ntime.sleep(1.5)"
    assert result.error.message == ("the notebook ran longer than the limit of 3 s (stopped in "
                                    f"cell {index})")


def test_a_dead_kernel_is_recorded_and_names_the_cell(run):
    result = run(code_notebook("x = 1", "import os\nos._exit(1)"))
    assert result.error.kind == "kernel_died" and result.error.cell_index == 2


def test_an_output_flood_stops_the_kernel(run, fast_settings):
    nb = code_notebook("while True:\n    print('x' * 10000)")
    result = run(nb, fast_settings.with_(output_limit_bytes=200_000))
    assert result.status is Status.TIMEOUT and result.error.kind == "output_limit"


@pytest.mark.parametrize("source", ["display({'text/plain': 'y' * 8_000_000}, raw=True)",
                                    "import sys\nsys.stdout.write('x' * 8_000_000)"],
                         ids=["display", "write"])
def test_one_output_over_the_budget_is_refused_unread_and_stops_the_kernel(run, fast_settings,
                                                                           source):
    result = run(code_notebook("x = 1", source, "import time\ntime.sleep(60)"),
                 fast_settings.with_(output_limit_bytes=1_000_000))
    assert (result.status, result.error.kind, int(result.exit_code)) == (
        Status.TIMEOUT, "output_limit", 4)
    assert result.error.message == ("the notebook sent one output larger than the output limit "
                                    "of 1,000,000 bytes (it was refused unread); the kernel was "
                                    "stopped")
    assert result.error.cell_index == 2


class NotAKernel(Launcher):
    """Starts ``program`` where the kernel should be: it never answers."""

    def __init__(self, program: str) -> None:
        super().__init__()
        self.program = program

    @contextmanager
    def session(self, workdir, settings, read_only=(), fork=True):
        with super().session(workdir, settings, read_only) as spec:
            spec.argv = [sys.executable, "-c", self.program]
            yield spec


#: past one progress slice (``startup.SLICE``, 5 s): the slice that holds the fake kernel's own
#: interpreter start-up (more than ``startup.PROGRESS`` CPU-s on a busy machine) is not the one
#: judged, so a silent kernel is always "no progress" (with 2 s it read "still starting after 6 s"
#: in a run beside two CPU burners)
SILENT_TIMEOUT = int(startup.SLICE) + 1


@pytest.mark.parametrize("program, reason", [
    ("import time\ntime.sleep(600)",
     f"the kernel did not answer within {SILENT_TIMEOUT} s and made no progress"),
    ("pass", "the kernel exited before answering")], ids=["silent", "exits"])
def test_a_kernel_that_cannot_start_is_tried_twice_then_named_the_machines(
        spec, data_file, fast_settings, write_notebook, program, reason):
    path = write_notebook(code_notebook("x = 1"))
    result = pipeline.check_notebook(path, spec, data_file,
                                     fast_settings.with_(startup_timeout=SILENT_TIMEOUT),
                                     NotAKernel(program))
    assert (result.status, result.error.kind, int(result.exit_code)) == (
        Status.TIMEOUT, "kernel_start", 4)
    assert result.error.message == ("the grading machine could not start the notebook's Python "
                                    f"(2 tries: {reason}; {reason})")


def test_a_broken_file_is_not_a_notebook(run, tmp_path, spec, data_file, fast_settings):
    path = tmp_path / "broken.ipynb"
    path.write_text("{not json")
    result = pipeline.check_notebook(path, spec, data_file, fast_settings, Launcher())
    assert result.error.kind == "invalid_notebook" and int(result.exit_code) == 3


@pytest.mark.parametrize("metadata, named", [
    ({"kernelspec": {"name": "ir", "display_name": "R", "language": "R"}}, "'r'"),
    ({"language_info": {"name": "julia"}}, "'julia'"),
])
def test_a_notebook_of_another_language_is_named_as_such_and_never_run(tmp_path, spec, data_file,
                                                                       fast_settings, metadata, named):
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("x <- 1")], metadata=metadata)
    path = tmp_path / "other.ipynb"
    nbformat.write(nb, path)
    result = pipeline.check_notebook(path, spec, data_file, fast_settings, Launcher())
    assert result.error.kind == "invalid_notebook" and int(result.exit_code) == 3
    assert named in result.error.message and "Python" in result.error.message


def test_a_python_kernel_under_any_name_is_python(tmp_path):
    from grader.execute.prepare import notebook_language

    for meta in ({}, {"kernelspec": {"name": "conda-env-dl-py", "display_name": "dl", "language": "Python"}},
                 {"language_info": {"name": "ipython3"}},
                 {"kernelspec": {"name": "py3", "display_name": "P", "language": "Python 3"}},
                 {"kernelspec": {"name": "spark", "display_name": "S", "language": "pyspark"}},
                 {"language_info": {"name": "unknown", "file_extension": ".py"}}):
        assert notebook_language(nbformat.v4.new_notebook(metadata=meta)) in ("", "python")


def test_tags_that_skip_cells_or_swallow_errors_are_ignored(run):
    nb = code_notebook("x = 1", "raise ValueError('tagged')")
    nb.cells[1].metadata["tags"] = ["raises-exception"]
    assert run(nb).error.kind == "cell_error"
    nb = code_notebook("import sys\nsys.exit(3)")
    nb.cells[0].metadata["tags"] = ["skip-execution"]
    assert run(nb).error.kind == "cell_error"


def test_pre_filled_outputs_and_the_notebook_kernel_name_change_nothing(run):
    nb = model_only_notebook(SOLUTION)
    nb.metadata["kernelspec"] = {"name": "no-such-kernel", "display_name": "x"}
    nb.cells[-1].outputs = [nbformat.v4.new_output("stream", text="All checks passed 15/15\n")]
    result = run(nb)
    assert result.status is Status.PASSED and result.model_variable == "model"


def test_the_working_directory_holds_only_the_notebook_and_the_data(run):
    result = run(code_notebook("import os\nraise ValueError(sorted(os.listdir('.')))"))
    assert result.error.message.endswith("['mnist_4000.pkl.gz', 'submission.ipynb']")


def test_the_notebooks_figures_are_plotted_but_never_drawn(run):
    """Nobody sees the run's outputs: the inline backend formats a figure as text, so it is not
    rasterized (the cell raises, naming the formatter, where a figure would be drawn)."""
    result = run(code_notebook(
        "%matplotlib inline\nimport matplotlib.pyplot as plt\nfrom matplotlib.figure import Figure\n"
        "plt.plot([1, 2, 3])\nplt.show()",
        "formats = get_ipython().display_formatter.formatters\n"
        "drawn = [m for m in ('image/png', 'image/svg+xml', 'image/jpeg', 'application/pdf')\n"
        "         if Figure in formats[m].type_printers]\n"
        "raise ValueError(['drawn as'] + drawn)"))
    assert result.error.message.endswith("['drawn as']"), result.error.message


def test_a_layer_subclass_defined_in_the_notebook_is_refused_even_under_a_keras_name(run):
    nb = code_notebook("import keras\nclass Dense(keras.layers.Dense):\n    pass\n"
                       "model = keras.Sequential([keras.Input((4,)), Dense(2)])")
    result = run(nb)
    assert result.error.kind == "disallowed_layer" and "defined in the notebook" in result.error.message


def test_the_notebooks_own_fit_is_skipped_but_its_history_still_answers(run):
    nb = model_only_notebook(SOLUTION)
    nb.cells.append(nbformat.v4.new_code_cell(
        "import numpy as np, time\nt = time.time()\n"
        "h = model.fit(np.zeros((8, 28, 28, 1)), np.zeros((8, 10)), epochs=50, validation_split=0.5)\n"
        "assert time.time() - t < 1, 'fit was not skipped'\n"
        "print(h.history['accuracy'][-1], h.history['val_loss'][-1], h.history['val_acc'])"))
    result = run(nb)
    assert result.status is Status.PASSED and result.student_history is None


def test_the_students_saved_training_log_is_shown_as_their_history(run):
    nb = model_only_notebook(SOLUTION)
    log = ("Epoch 1/2\n19/19 - 4s - 200ms/step - accuracy: 0.7796 - loss: 0.7514 - val_accuracy: 0.6217"
           " - val_loss: 1.5329\nEpoch 2/2\n19/19 - 3s - accuracy: 0.9100 - loss: 0.3000"
           " - val_accuracy: 0.9000 - val_loss: 0.3500\n")
    nb.cells[-1].outputs = [nbformat.v4.new_output("stream", name="stdout", text=log)]
    result = run(nb)
    assert result.student_history == {"accuracy": [0.7796, 0.91], "loss": [0.7514, 0.3],
                                      "val_accuracy": [0.6217, 0.9], "val_loss": [1.5329, 0.35]}
    assert result.student_history_source == "saved outputs"


def test_grading_many_notebooks_in_one_process_leaks_no_file_descriptors_or_threads(run):
    """A batch worker grades notebook after notebook: each kernel's client must be closed."""
    import os
    import threading

    def open_fds() -> int:
        return len(os.listdir("/proc/self/fd"))

    run(code_notebook("x = 1"))  # the first run may load modules that keep files open
    before = (open_fds(), threading.active_count())
    for _ in range(3):
        assert run(code_notebook("x = 1")).error.kind == "no_model"
    assert (open_fds(), threading.active_count()) == before


def test_a_kernel_is_stopped_with_no_message_on_its_control_socket(run, fast_settings,
                                                                   monkeypatch):
    """A kernel is interrupted only as it is shut down, just before it is killed: a message on
    the control socket of a kernel that was gone blocked a test run forever (zmq's mute socket),
    a signal never blocks."""
    from jupyter_client.session import Session

    sent, send = [], Session.send

    def watched(self, stream, msg_or_type, *args, **kwargs):
        kind = msg_or_type if isinstance(msg_or_type, str) else msg_or_type["header"]["msg_type"]
        sent.append(kind)
        return send(self, stream, msg_or_type, *args, **kwargs)
    monkeypatch.setattr(Session, "send", watched)
    result = run(code_notebook("import time\ntime.sleep(60)"), fast_settings.with_(cell_timeout=2))
    assert result.error.kind == "timeout" and "execute_request" in sent
    assert "interrupt_request" not in sent


def test_an_unsandboxed_kernels_channels_are_unix_sockets_in_its_private_home(tmp_path,
                                                                           fast_settings):
    """No loopback TCP port: none that another process can hold, none that a connecting
    client can meet itself on (its drop would read as a refused oversized message)."""
    with Launcher().session(tmp_path, fast_settings) as spec:
        home = spec.env["HOME"]
        assert (spec.transport, spec.ip, spec.connection_file) == (
            "ipc", f"{home}/kernel-ipc", f"{home}/kernel.json")
        assert Path(home).parent != tmp_path  # not in the notebook's working dir


def test_a_temp_dir_too_deep_for_a_socket_address_keeps_loopback_tcp():
    assert channels_in("/deep" * 20) == ("tcp", "127.0.0.1", None)
    assert channels_in("/tmp/grader-home-x") == ("ipc", "/tmp/grader-home-x/kernel-ipc",
                                                 "/tmp/grader-home-x/kernel.json")

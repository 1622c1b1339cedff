"""Notebooks written for Colab or a student's own machine: display-only environment cells are
neutralized and listed, environment-caused errors are explained with the grading machine's facts.

Most error cases need no Keras (they fail before), so they run in a few seconds each; the one
passing Colab-style notebook is graded once for all the neutralization tests.
"""
from __future__ import annotations

import pytest

from grader import advice, pipeline
from grader.execute.kernel import neutralize
from grader.result import Status
from grader.sandbox.launch import Launcher
from grader.sandbox.launcher import SandboxLauncher

from tests.notebooks import (
    MODEL_HEAD,
    MODEL_TAIL,
    SOLUTION,
    code_notebook,
    course_notebook,
    model_only_notebook,
)

DATA = "mnist_4000.pkl.gz"


@pytest.fixture
def grade(spec, data_file, fast_settings, write_notebook):
    def run(nb, launcher=None, name="submission"):
        return pipeline.check_notebook(write_notebook(nb, name), spec, data_file, fast_settings,
                                       launcher or Launcher())
    return run


def colab_cells(url: str) -> list[str]:
    return [
        "%load_ext tensorboard\n%matplotlib widget\n!pip install numpy matplotlib",
        "import sys\ntry:\n    from google.colab import drive\n    drive.mount('/content/drive')\n"
        "except ImportError:\n    pass\nif 'google.colab' in sys.modules:\n    !pip install ipympl",
        f"!wget -O {DATA} {url}\n!curl -L -o copy_of_data.pkl.gz {url}\n"
        f"import urllib.request\nurllib.request.urlretrieve('{url}', 'again.pkl.gz')",
    ]


CHECK_COPIES = """\
for copy in ('copy_of_data.pkl.gz', 'again.pkl.gz'):
    with gzip.open(copy, 'rb') as f:
        assert pickle.load(f, encoding='latin1')[0].shape == X.shape"""


@pytest.fixture(scope="module")
def colab_result(spec, data_file, tmp_path_factory):
    """The solution with Colab/TensorBoard habits around it, graded once."""
    from grader.settings import Settings

    from tests import notebooks

    nb = course_notebook(SOLUTION, extra_cells=(CHECK_COPIES, "%tensorboard --logdir logs"))
    for offset, source in enumerate(colab_cells(spec.data["url"])):
        nb.cells.insert(1 + offset, notebooks.new_code_cell(source))
    path = notebooks.write(nb, tmp_path_factory.mktemp("colab") / "colab_student.ipynb")
    settings = Settings(sandbox="off", verify=False, notebook_timeout=120, cell_timeout=60,
                        data_path=data_file)
    return pipeline.check_notebook(path, spec, data_file, settings, Launcher())


def _listed(result, *words) -> bool:
    return any(all(w in line for w in words) for line in result.neutralized)


@pytest.mark.kernel
def test_a_wget_curl_or_urlretrieve_of_the_data_is_answered_with_the_provided_file(colab_result):
    assert colab_result.status is Status.PASSED, colab_result.error
    assert _listed(colab_result, "!wget", DATA) and _listed(colab_result, "!curl", "copy_of_data")
    assert _listed(colab_result, "urlretrieve", "again.pkl.gz")


@pytest.mark.kernel
def test_tensorboard_and_matplotlib_magics_are_skipped_and_listed(colab_result):
    assert colab_result.status is Status.PASSED
    assert _listed(colab_result, "%load_ext tensorboard") and _listed(colab_result, "%tensorboard")
    assert _listed(colab_result, "%matplotlib", "widget")


@pytest.mark.kernel
def test_a_guarded_colab_import_and_a_pip_install_of_present_packages_run_harmlessly(colab_result):
    assert colab_result.status is Status.PASSED
    assert _listed(colab_result, "google.colab") and _listed(colab_result, "pip install", "numpy")
    assert not _listed(colab_result, "ipympl")  # the Colab-only branch never ran
    assert colab_result.compat is None  # a Keras 3 notebook: no compatibility layer


@pytest.mark.kernel
def test_an_unguarded_colab_import_is_an_error_that_explains_the_grading_machine(grade):
    result = grade(code_notebook("from google.colab import drive\ndrive.mount('/content/drive')"))
    assert result.status is Status.ERROR and result.error.kind == "cell_error"
    assert "only on Google Colab" in result.error.advice and "offline" in result.error.advice
    assert f"gzip.open('{DATA}'" in result.error.advice


@pytest.mark.parametrize("path, words", [
    (f"../data/{DATA}", "course's repository"),
    (f"/content/drive/MyDrive/{DATA}", "only on Colab"),
])
@pytest.mark.kernel
def test_a_data_path_from_elsewhere_gets_the_path_next_to_the_notebook(grade, path, words):
    result = grade(code_notebook(f"import gzip, pickle\nwith gzip.open('{path}', 'rb') as f:\n"
                                 "    X, y = pickle.load(f, encoding='latin1')"))
    assert result.status is Status.ERROR and "FileNotFoundError" in result.error.message
    assert words in result.error.advice and f"gzip.open('{DATA}', 'rb')" in result.error.advice


@pytest.mark.kernel
def test_a_gpu_device_scope_is_explained_as_a_cpu_only_machine(grade):
    result = grade(code_notebook("import tensorflow as tf\nwith tf.device('/GPU:0'):\n"
                                 "    assert tf.config.list_physical_devices('GPU'), 'no GPU'"))
    assert result.status is Status.ERROR
    assert "CPU only" in result.error.advice and "tf.device('/GPU:0')" in result.error.advice


@pytest.mark.kernel
def test_a_model_built_in_a_gpu_device_scope_is_graded_on_the_cpu(grade):
    cell = "import tensorflow as tf\nwith tf.device('/GPU:0'):\n" + "\n".join(
        "    " + line for line in (MODEL_HEAD + SOLUTION + MODEL_TAIL).split("\n"))
    result = grade(model_only_notebook(model_cell=cell))
    assert result.status is Status.PASSED, result.error


@pytest.mark.kernel
@pytest.mark.sandbox
def test_an_out_of_memory_layer_points_at_the_layer_sizes(grade):
    huge = MODEL_HEAD + SOLUTION + MODEL_TAIL.replace("Dense(200", "Dense(4_000_000")
    result = grade(model_only_notebook(model_cell=huge), launcher=SandboxLauncher.create())
    assert result.status in (Status.ERROR, Status.TIMEOUT)
    assert "Dense(4_000_000)" in result.error.advice and "layer sizes" in result.error.advice


@pytest.mark.kernel
def test_layers_added_after_flatten_and_compile_get_the_between_the_markers_hint(grade):
    late = MODEL_HEAD + "\n" + MODEL_TAIL + "\n" + SOLUTION
    result = grade(model_only_notebook(model_cell=late))
    assert result.status is Status.ERROR
    assert "between the markers" in result.error.advice and "# end of your code" in result.error.advice


@pytest.mark.kernel
def test_a_keras2_module_path_gets_the_keras3_import(grade):
    result = grade(code_notebook("from keras.layers.advanced_activations import LeakyReLU"))
    assert result.status is Status.ERROR
    assert "Keras 2 module path" in result.error.advice and "from keras.layers import" in result.error.advice


@pytest.mark.kernel
def test_a_pip_install_of_a_missing_package_is_explained_as_offline(grade):
    result = grade(code_notebook("!pip install tensorflow_addons\nimport tensorflow_addons"))
    assert result.status is Status.ERROR
    assert "not installed" in result.error.advice and "offline" in result.error.advice


@pytest.mark.kernel
def test_the_data_file_beside_the_notebook_is_read_only(grade):
    result = grade(code_notebook(f"import os\nassert not os.stat('{DATA}').st_mode & 0o222, 'writable'"))
    assert result.error.kind == "no_model"  # the assertion held: only the missing model is left


# --- in this process: the rewriting and the advice, without a kernel --------------------------

URL = "https://example.org/data/mnist_4000.pkl.gz"


@pytest.mark.parametrize("line, expected", [
    (f"!wget {URL}\n", "__grader_env.download(['wget', '" + URL + "'])\n"),
    ("  %load_ext tensorboard\n", "  __grader_env.neutral('%load_ext tensorboard')\n"),
    ("!tensorboard --logdir=logs\n", "__grader_env.neutral('!tensorboard')\n"),
    ("%pip install -q numpy==2.0\n", "__grader_env.pip(['numpy'])\n"),
    ("!python -m pip install keras\n", "__grader_env.pip(['keras'])\n"),
])
def test_environment_lines_are_rewritten_to_recorded_calls(line, expected):
    assert neutralize.rewrite(line, DATA, URL) == expected


@pytest.mark.parametrize("line", ["%matplotlib inline\n", "!wget https://example.org/other.zip\n",
                                  "!ls -l\n", "x = 1 % 2\n", "%%time\n"])
def test_other_lines_are_kept_as_written(line):
    assert neutralize.rewrite(line, DATA, URL) is None


@pytest.mark.parametrize("words, target", [
    (["wget", URL], DATA),
    (["wget", "-O", "x.gz", URL], "x.gz"),
    (["wget", "-P", "../data", URL], f"../data/{DATA}"),
    (["curl", "-L", "-o", "y.gz", URL], "y.gz"),
    (["curl", "-LO", URL], DATA),
    (["curl", URL], None),
])
def test_a_download_writes_where_the_tool_would(words, target):
    assert neutralize.download_target(words, DATA) == target


def test_tensorflow_log_lines_are_removed_from_the_traceback_shown():
    raw = ("2026-11-25 13:00:00.1: I tensorflow/core/util/port.cc:153] oneDNN custom operations are on.\n"
           "E0000 00:00:1764075600.123456   42 cuda_dnn.cc:8310] Unable to register cuDNN factory\n"
           "Traceback (most recent call last):\nZeroDivisionError: division by zero")
    shown = advice.clean_traceback(raw)
    assert shown == "Traceback (most recent call last):\nZeroDivisionError: division by zero"


def test_each_error_kind_has_its_own_advice():
    facts = advice.Facts(DATA, "2.21.0", "3.15.1")
    kinds = ["invalid_notebook", "cell_error", "kernel_died", "no_model", "timeout", "memory_limit"]
    given = [advice.advise(kind, "x", None, None, facts) for kind in kinds]
    assert all(given) and len(set(given)) == len(kinds)


def test_a_name_error_says_cells_run_in_order_from_a_fresh_kernel():
    facts = advice.Facts(DATA, "2.21.0", "3.15.1")
    text = advice.advise("cell_error", "cell 8 raised NameError: name 'MaxPoolling2D' is not defined",
                         None, "model.add(MaxPoolling2D())", facts)
    assert "`MaxPoolling2D` is not defined" in text and "fresh kernel" in text
    assert "Did you mean `MaxPooling2D`?" in text  # the Keras layer it was probably meant to be
    other = advice.advise("cell_error", "cell 3 raised NameError: name 'foo' is not defined",
                          None, "x = foo(1)", facts)
    assert "Did you mean" not in other and "Check the spelling" in other


def test_the_report_and_the_terminal_say_what_ran_differently(spec):
    from grader.render import html, terminal
    from grader.result import Result

    result = Result(submission="s2017", status=Status.PASSED, neutralized=[advice.NEUTRALIZED["wget"]],
                    compat={"detected": ["border_mode="], "mappings": ["border_mode= → padding="]})
    page, text = html.render_report(result), terminal.summary(result)
    for shown in (page, text):
        assert "compatibility layer" in shown and "border_mode= → padding=" in shown
        assert "answered with the provided copy" in shown
    assert 'id="environment"' in page
    plain = terminal.summary(Result(submission="s", status=Status.PASSED))
    assert "compatibility" not in plain and "neutralized" not in plain


def test_only_known_mappings_and_neutralizations_reach_the_result():
    from grader.execute.kernel import compat
    from grader.extract import report as extract

    report = {"compat": ["border_mode=", "<script>", 3],
              "neutralized": [{"what": "wget", "detail": "mnist_4000.pkl.gz<img src=x>"},
                              {"what": "rm -rf", "detail": "x"}, "junk"]}
    used, lines = extract.environment(report, compat.MAPPINGS, advice.NEUTRALIZED)
    assert used == ["border_mode= → padding="]
    assert len(lines) == 1 and lines[0].startswith(advice.NEUTRALIZED["wget"]) and "<" not in lines[0]


@pytest.fixture
def env(tmp_path, monkeypatch, data_file):
    """A kernel-side Environment in a working dir holding the data file, urllib restored after."""
    import shutil
    import types
    import urllib.request

    monkeypatch.chdir(tmp_path)
    shutil.copyfile(data_file, tmp_path / DATA)
    monkeypatch.setattr(urllib.request, "urlretrieve", urllib.request.urlretrieve)
    monkeypatch.setattr(urllib.request, "urlopen", urllib.request.urlopen)
    ledger = types.SimpleNamespace(neutralized=[], compat=[])
    environment = neutralize.Environment(ledger, DATA, URL)
    environment.patch_urllib()
    return environment


def test_urllib_requests_and_get_file_get_the_provided_file_for_the_data_url_only(env, data_file,
                                                                                 monkeypatch):
    import urllib.request

    expected = data_file.read_bytes()
    assert urllib.request.urlretrieve(URL, "copy.gz")[0] == "copy.gz"
    with open("copy.gz", "rb") as f:
        assert f.read() == expected
    with urllib.request.urlopen(URL) as response:
        assert response.read() == expected
    requests = pytest.importorskip("requests")
    monkeypatch.setattr(requests, "get", requests.get)
    env.patch_requests(requests)
    assert requests.get(URL).content == expected
    keras = pytest.importorskip("keras")
    monkeypatch.setattr(keras.utils, "get_file", keras.utils.get_file)
    env.patch_keras(keras)
    with open(keras.utils.get_file(DATA, origin=URL), "rb") as f:
        assert f.read() == expected
    assert {n["what"] for n in env.ledger.neutralized} == {"urlretrieve", "urlopen", "requests", "get_file"}
    with pytest.raises(OSError):  # any other URL goes to the network (refused offline or here)
        urllib.request.urlopen("http://127.0.0.1:9/other.zip", timeout=5)


def test_a_tensorflow1_call_gets_its_tensorflow2_spelling():
    facts = advice.Facts(DATA, "2.21.0", "3.15.1")
    text = advice.advise("cell_error", "cell 1 raised AttributeError: module 'tensorflow' has no "
                         "attribute 'Session'", None, "sess = tf.Session()", facts)
    assert "TensorFlow 1 API" in text and "tf.compat.v1.Session" in text


def test_a_comment_about_a_gpu_does_not_make_an_error_a_gpu_problem():
    facts = advice.Facts(DATA, "2.21.0", "3.15.1")
    text = advice.advise("cell_error", "cell 2 raised ZeroDivisionError: division by zero", None,
                         "# on a GPU this is faster\n1 / 0", facts)
    assert "GPU" not in text


@pytest.mark.parametrize("message, spelling", [
    ("AttributeError: 'Sequential' object has no attribute 'fit_generator'", "model.fit(generator, ...)"),
    ("ValueError: Argument(s) not recognized: {'lr': 0.01}", "learning_rate="),
])
def test_a_keras_name_that_keras3_removed_gets_its_new_spelling(message, spelling):
    facts = advice.Facts(DATA, "2.21.0", "3.15.1")
    text = advice.advise("cell_error", f"cell 3 raised {message}", None, "", facts)
    assert f"`{spelling}`" in text and "Keras 3.15.1 removed" in text


def test_without_a_data_file_name_no_download_is_rewritten():
    assert neutralize.rewrite("!wget https://example.org/other.zip\n", "", None) is None

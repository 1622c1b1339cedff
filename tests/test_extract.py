"""Which model is graded, and only if it is a real Keras graph: through real notebooks (kernel)
and, for reports no honest kernel writes, on the grader's side alone."""
import pytest

from grader import pipeline
from grader.exceptions import NotAChain, SubclassedModel
from grader.extract import graph, select
from grader.extract import report as extract
from grader.result import Status
from grader.sandbox.launch import Launcher
from grader.verify.verifier import Verifier

from tests.notebooks import (
    MODEL_HEAD,
    MODEL_TAIL,
    SOLUTION,
    SUBCLASSED,
    model_only_notebook,
    two_models_cell,
)

#: the solution's block as a Sequential of its own, added to the model as one layer
NESTED = ("block = Sequential([Conv2D(64, kernel_size, kernel_initializer='he_normal', "
          "padding='same'), BatchNormalization(), Activation('relu'), "
          "MaxPooling2D(pool_size=pool_size)])\nmodel.add(block)\n")

#: a residual connection around the added block: a real graph, but not a chain
BRANCH = """\
from keras.layers import Add
inputs = keras.Input(shape=input_shape)
x = Conv2D(64, kernel_size, padding='same')(inputs)
y = Activation('relu')(BatchNormalization()(Conv2D(64, kernel_size, padding='same')(x)))
x = MaxPooling2D(pool_size=pool_size)(Add()([x, y]))
outputs = Activation('softmax')(Dense(nb_classes)(Flatten()(x)))
model = keras.Model(inputs, outputs)"""

SKIPPING = SUBCLASSED.replace("        for layer in self.blocks:\n",
                              "        for layer in self.blocks[:10] + self.blocks[14:]:\n")


def cell_notebook(cell: str):
    """Imports, hyperparameters and one model cell (no data, no training): fast."""
    return model_only_notebook(model_cell=cell)


@pytest.fixture
def recording_verifier(data_file, fast_settings, tmp_path):
    """A fresh verifier (never started unless asked), recording every call it gets."""
    real = Verifier(fast_settings.with_(verify=True), memo_dir=tmp_path / "memo")
    def verify(*args):
        verify.calls.append(args)
        return real(*args)
    verify.calls, verify.real = [], real
    yield verify
    real.close()


@pytest.fixture
def grade(spec, data_file, fast_settings, write_notebook):
    def run(nb, verifier=None, name="submission"):
        settings = fast_settings.with_(verify=verifier is not None)
        return pipeline.check_notebook(write_notebook(nb, name), spec, data_file, settings,
                                       Launcher(), verifier)
    return run


@pytest.mark.kernel
def test_a_correct_subclass_is_refused_with_how_to_write_it_and_nothing_is_trained(
        grade, recording_verifier):
    result = grade(cell_notebook(SUBCLASSED), recording_verifier)
    assert result.status is Status.ERROR and result.error.kind == "subclassed_model"
    assert "CNN2" in result.error.message and "call()" in result.error.message
    assert "model = Sequential()" in result.error.advice
    assert result.training is None and result.checks == []
    assert recording_verifier.calls == [] and recording_verifier.real.trainings == 0


@pytest.mark.kernel
def test_a_subclass_that_skips_its_added_layers_in_call_is_not_passed(grade):
    result = grade(cell_notebook(SKIPPING))
    assert result.status is not Status.PASSED and result.score == 0
    assert result.error.kind == "subclassed_model"


@pytest.mark.kernel
def test_a_subclass_of_sequential_and_a_monkeypatched_sequential_are_refused(grade):
    subclass = ("class MySequential(Sequential):\n    pass\n\n"
                + (MODEL_HEAD + SOLUTION + MODEL_TAIL).replace("model = Sequential()",
                                                               "model = MySequential()"))
    patched = subclass.replace("model = MySequential()", "keras.Sequential = Sequential = "
                               "MySequential\nmodel = keras.Sequential()")
    for cell in (subclass, patched):
        result = grade(cell_notebook(cell))
        assert result.error.kind == "subclassed_model", result.summary
        assert "MySequential" in result.error.message and "keras.Sequential" in result.error.message


@pytest.mark.kernel
def test_a_branch_is_not_a_chain_rather_than_a_disallowed_layer_and_nothing_is_trained(
        grade, recording_verifier):
    result = grade(cell_notebook(BRANCH), recording_verifier)
    assert result.status is Status.ERROR and result.error.kind == "not_a_chain"
    assert "not a straight chain" in result.error.message and "'add'" in result.error.message
    assert result.training is None and recording_verifier.calls == []


@pytest.mark.kernel
def test_a_sequential_nested_in_the_sequential_is_read_as_its_layers(grade):
    result = grade(model_only_notebook(NESTED))
    assert result.status is Status.PASSED, result.summary


@pytest.mark.kernel
def test_of_cnn1_and_cnn2_without_a_model_variable_cnn2_is_graded_and_cnn1_listed(grade):
    result = grade(cell_notebook(two_models_cell("cnn1", "cnn2")))
    assert result.status is Status.PASSED and result.model_variable == "cnn2"
    assert [(m["variable"], m["error_kind"]) for m in result.other_models] == [("cnn1", None)]


@pytest.mark.kernel
def test_model_holding_last_weeks_cnn1_loses_to_model2_holding_cnn2_and_it_says_so(grade):
    result = grade(cell_notebook(two_models_cell("model", "model2")))
    assert result.status is Status.PASSED and result.model_variable == "model2"
    assert [m["variable"] for m in result.other_models] == ["model"]
    assert any("`model2`, not the one in `model`" in w for w in result.warnings)


@pytest.mark.kernel
def test_a_tie_goes_to_model_and_another_name_for_the_same_model_is_not_another_model(grade):
    cell = MODEL_HEAD + SOLUTION + MODEL_TAIL
    nb = cell_notebook(cell.replace("model", "a_copy") + "\n\n" + cell + "\nnet = model")
    result = grade(nb)
    assert result.model_variable == "model"
    assert [m["variable"] for m in result.other_models] == ["a_copy"]


@pytest.mark.kernel
def test_models_that_cannot_be_graded_give_way_to_one_that_can_and_are_listed_with_why(grade):
    huge = ("huge = Sequential([Input(shape=input_shape), Flatten(), Dense(20000), "
            "Dense(nb_classes)])\n")
    lam = "odd = Sequential([Input(shape=input_shape), keras.layers.Lambda(lambda x: x)])\n"
    result = grade(cell_notebook(huge + lam + MODEL_HEAD + SOLUTION
                                       + MODEL_TAIL))
    assert result.status is Status.PASSED and result.model_variable == "model"
    kinds = {m["variable"]: m["error_kind"] for m in result.other_models}
    assert kinds == {"huge": "model_too_large", "odd": "disallowed_layer"}


@pytest.mark.kernel
def test_when_no_model_is_gradable_the_error_of_model_names_the_others(grade):
    nb = cell_notebook(SUBCLASSED + "\nodd = Sequential([Input(shape=input_shape), "
                       "keras.layers.Lambda(lambda x: x)])")
    result = grade(nb)
    assert result.error.kind == "subclassed_model" and result.model_variable == "model"
    assert "odd (Sequential: disallowed_layer)" in result.error.message
    assert [m["variable"] for m in result.other_models] == ["odd"]


@pytest.mark.kernel
def test_models_only_inside_a_list_are_named_without_claiming_none_was_found(grade):
    cell = (MODEL_HEAD + SOLUTION + MODEL_TAIL) + "\nmodels = [model]\ndel model"
    result = grade(cell_notebook(cell))
    assert result.error.kind == "no_model" and "models[0]" in result.error.message
    assert "found: none" not in result.error.message


@pytest.mark.kernel
def test_many_models_are_capped_in_what_is_examined_and_listed(grade):
    many = "\n".join(f"m{i:02d} = Sequential([Input(shape=(4,)), Dense(2)])" for i in range(40))
    result = grade(cell_notebook(many + "\n\n" + MODEL_HEAD + SOLUTION + MODEL_TAIL))
    assert result.status is Status.PASSED and result.model_variable == "model"
    assert len(result.other_models) == select.MAX_LISTED
    assert any("not examined" in m["reason"] for m in result.other_models)


@pytest.mark.kernel
def test_an_object_whose_class_lookup_raises_does_not_stop_the_extraction(grade):
    hostile = ("class Trap:\n    @property\n    def __class__(self):\n"
               "        raise RuntimeError('no')\n\ntrap = Trap()\ntraps = [Trap()]\n")
    result = grade(cell_notebook(hostile + MODEL_HEAD + SOLUTION + MODEL_TAIL))
    assert result.status is Status.PASSED and result.other_models == []


# --- reports no honest kernel writes: the grader-side rule is what decides ---

def test_a_model_claiming_a_keras_class_name_from_another_module_is_a_subclass():
    desc = {"class_name": "Sequential", "qualname": "Sequential", "module": "__main__",
            "graph": "sequential", "layers": []}
    with pytest.raises(SubclassedModel, match="defined in the notebook"):
        graph.layer_chain(desc, "the model `model`")


def test_a_functional_layer_fed_twice_by_the_same_layer_is_not_a_chain():
    def layer(name, inbound):
        return {"class_name": "Dense", "module": "keras.src.layers",
                "name": name, "inbound": inbound, "config": {"units": 2}}

    desc = {"class_name": "Functional", "qualname": "Functional",
            "module": "keras.src.models.functional", "graph": "functional", "outputs": ["b"],
            "layers": [{"class_name": "InputLayer", "name": "in", "inbound": [], "config": {}},
                       layer("a", ["in"]), layer("b", ["a", "a"])]}
    with pytest.raises(NotAChain, match="the same output more than once"):
        graph.layer_chain(desc, "the model `model`")


def test_the_spec_builder_still_takes_model_and_refuses_to_guess_among_several():
    one = {"variable": "model", "class_name": "Sequential", "qualname": "Sequential",
           "module": "keras.src.models.sequential", "graph": "sequential", "input_shape": [None, 4],
           "layers": [{"class_name": "Dense", "module": "keras.src.layers.core.dense",
                       "name": "d", "inbound": None, "config": {"units": 2}}]}
    assert extract.from_report({"ok": True, "models": [one]}).variable == "model"
    two = [dict(one, variable="a"), dict(one, variable="b")]
    with pytest.raises(Exception, match="several Keras models"):
        extract.from_report({"ok": True, "models": two})


# --- what the student and the instructor see ---

def test_the_report_terminal_and_json_name_the_graded_variable_and_the_other_models(spec):
    from grader.render import html, terminal
    from grader.result import Result

    from tests import reports
    result = reports.passing(spec)
    result.model_variable = "model2"
    result.other_models = [{"variable": "model", "model_class": "Sequential", "error_kind": None,
                            "reason": "gradable, but matches the exercise less well"},
                           {"variable": "<b>net</b>", "model_class": "CNN2",
                            "error_kind": "subclassed_model", "reason": "a class"}]
    page = html.render_report(result)
    assert "Graded variable: <code>model2</code>" in page
    assert "<code>model</code> (Sequential: gradable, but matches the exercise less well)" in page
    assert "&lt;b&gt;net&lt;/b&gt;" in page and "<b>net</b>" not in page
    assert "other model `model` (Sequential): gradable" in terminal.summary(result)
    again = Result.from_dict(result.to_dict())
    assert again.model_variable == "model2" and again.other_models == result.other_models


def describe_in_process(namespace: dict, tmp_path) -> dict:
    """The kernel's extraction run here on real Keras objects (no notebook, no kernel)."""
    import json

    from grader.execute import kernel
    scope: dict = {}
    exec(kernel.source("extract_model", ""), scope)  # noqa: S102 - our own kernel code
    scope["__grader_extract"](str(tmp_path / "report.json"), namespace)
    return json.loads((tmp_path / "report.json").read_text())


def test_a_concatenate_is_not_a_chain_and_a_functional_model_inside_a_sequential_is_inlined(
        tmp_path):
    keras = pytest.importorskip("keras")
    K = keras.layers
    inputs = keras.Input((4,))
    merged = K.Concatenate()([K.Dense(2)(inputs), K.Dense(3)(inputs)])
    inner_in = keras.Input((5,))
    inner = keras.Model(inner_in, K.ReLU()(K.Dense(6)(inner_in)))
    namespace = {"keras": keras, "branch": keras.Model(inputs, merged),
                 "model": keras.Sequential([keras.Input((4,)), K.Dense(5), inner, K.Dense(2)])}
    found = {c.variable: c for c in extract.candidates(describe_in_process(namespace, tmp_path))}
    assert found["branch"].error.kind == "not_a_chain"
    assert "'concatenate'" in found["branch"].error.message
    assert [layer.kind for layer in found["model"].model.layers] == \
        ["Dense", "Dense", "Activation", "Dense"]

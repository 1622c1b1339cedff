"""Models written in unusual ways get the right verdict: Keras 1/2 spellings, activations defined
in the notebook, BatchNormalization over another axis, malformed layers and extraction files, a
fused activation, two spellings of one architecture.
"""
from __future__ import annotations

import types

import pytest

from grader.execute.kernel import compat
from grader.extract import report as extract
from grader.result import Result, Status

from tests.test_extract import describe_in_process


# -- 1. compat: Convolution2D(64, (3, 3), (2, 2)) loses its strides ------------------------------
def _fake_keras():
    built = []

    def conv2d(filters, kernel_size, strides=(1, 1), **kwargs):  # Keras 3's positional order
        built.append((filters, kernel_size, dict(kwargs, strides=strides)))
        return built[-1]

    return types.SimpleNamespace(layers=types.SimpleNamespace(Conv2D=conv2d)), built


# -- 4. select scores raw chains, compare scores the canonical ones ----------------------------
def _report(spec, **models) -> dict:
    """A kernel report of Sequential models made of ``L.Layer`` lists (as get_config gives)."""
    def entry(layer):
        return {"class_name": layer.class_name or layer.kind, "module": "keras.src.layers",
                "name": layer.name, "config": dict(layer.args, name=layer.name)}
    described = [{"class_name": "Sequential", "qualname": "Sequential",
                  "module": "keras.src.models.sequential", "graph": "sequential",
                  "input_shape": list(spec.input_shape), "variable": name, "aliases": [],
                  "layers": [entry(layer) for layer in layers]}
                 for name, layers in models.items()]
    return {"ok": True, "models": described, "found": len(described), "unexamined": [],
            "nested": [], "history": None}


def _block(spec, edit):
    ref = spec.ref_layers
    first, last = min(spec.missing), max(spec.missing)
    return ref[:first] + edit([ref[i] for i in spec.missing]) + ref[last + 1:]


def test_compat_convolution2d_keeps_a_keras2_positional_stride():
    """Keras 2/3 ``Convolution2D(64, (3, 3), (2, 2))`` has strides (2, 2). The marker
    ``Convolution2D(`` alone switches the compatibility layer on, whose ``Convolution2D`` takes a
    tuple kernel and silently drops the third positional argument: the student's stride-2
    network is built (in the kernel) and graded as the reference's stride 1, full marks."""
    keras, built = _fake_keras()
    conv = compat._convolution2d(keras, lambda name: None)
    conv(64, (3, 3), (2, 2), padding="same")
    filters, kernel, kwargs = built[-1]
    assert (filters, tuple(kernel)) == (64, (3, 3))
    assert tuple(kwargs.get("strides", (1, 1))) == (2, 2), \
        "the stride the student wrote was dropped"


# -- 3. an activation function defined in the notebook is read as Keras's ----------------------
def test_a_notebook_function_named_relu_is_not_accepted_as_relu(tmp_path):
    """Keras 3 serializes any Python function by its ``__name__``: ``def relu(x): return x``
    in the notebook, used as ``Activation(relu)``, is reported as ``'relu'`` and graded as the
    reference's ReLU (full marks for a linear layer). The README says a custom layer or a lambda
    is refused; a custom activation is the same hole."""
    keras = pytest.importorskip("keras")

    def relu(x):  # the student's own "relu": the identity
        return x

    net = keras.Sequential([keras.Input((28, 28, 1)), keras.layers.Conv2D(4, 3),
                            keras.layers.Activation(relu), keras.layers.Flatten(),
                            keras.layers.Dense(10)])
    report = describe_in_process({"keras": keras, "model": net}, tmp_path)
    (candidate,) = extract.candidates(report)
    kinds = [(layer.kind, layer.args.get("activation")) for layer in candidate.model.layers] \
        if candidate.model else []
    assert candidate.error is not None or ("Activation", "relu") not in kinds


def test_tensorflow_and_keras_activation_functions_are_still_accepted(tmp_path):
    keras = pytest.importorskip("keras")
    tf = pytest.importorskip("tensorflow")
    net = keras.Sequential([keras.Input((28, 28, 1)), keras.layers.Conv2D(4, 3, activation="relu"),
                            keras.layers.Activation(tf.nn.relu),
                            keras.layers.Activation(keras.activations.relu),
                            keras.layers.Flatten(), keras.layers.Dense(10),
                            keras.layers.Activation(tf.nn.softmax)])
    report = describe_in_process({"keras": keras, "model": net}, tmp_path)
    (candidate,) = extract.candidates(report)
    assert candidate.error is None
    assert [layer.args.get("activation") for layer in candidate.model.layers] == \
        ["relu", "relu", "relu", None, "linear", "softmax"]


def test_select_prefers_a_correct_model_in_an_accepted_spelling_over_a_wrong_one(spec):
    """``model``: the four layers with ReLU and MaxPooling2D swapped, which the equivalence table
    accepts (full marks alone). ``model2``: a wrong Conv2D (use_bias=False). ``select.match_score``
    aligns the raw chains while ``compare`` aligns the canonical ones (README: "the same alignment
    and scores as the comparison"), so the swap costs ``model`` 5 points and the wrong argument
    ``model2`` only 1: the wrong network is graded and the correct one loses its marks."""
    from grader.extract import select

    def swapped(m):
        return [m[0], m[1], m[3], m[2]]

    def no_bias(m):
        return [L.Layer(m[0].kind, {**m[0].args, "use_bias": False}, m[0].name,
                        m[0].class_name)] + m[1:]

    from grader import layers as L
    report = _report(spec, model=_block(spec, swapped), model2=_block(spec, no_bias))
    choice = select.choose(report, spec, 20.0)
    assert choice.model.variable == "model"


# -- 6. BatchNormalization(axis=1) is "not gradable" instead of a failed argument ---------------
def test_batchnorm_over_another_axis_is_a_failed_argument_not_an_invalid_model(spec):
    """README: BatchNormalization ``axis`` is one of the compared arguments. ``axis=1`` (a
    channels-first habit) made ``layers.infer_one`` raise InvalidModel: the whole notebook was
    "not graded" (0 points, exit 3) instead of losing the BatchNormalization's argument."""
    from grader import layers as L
    from grader.checks import scoring as structure

    def axis1(m):
        return [m[0], L.Layer(m[1].kind, {**m[1].args, "axis": 1}, m[1].name, m[1].class_name),
                *m[2:]]

    infos = L.infer(_block(spec, axis1), tuple(spec.input_shape))
    checks, _ = structure.check_layers(spec, infos)
    failed = [c for c in checks if not c.passed]
    assert failed and failed[0].aspect == "args" and "BatchNormalization" in failed[0].name


def test_the_verifier_recalibrates_a_batchnorm_over_another_axis():
    keras = pytest.importorskip("keras")
    import numpy as np

    from grader.verify.worker import recalibrate_batchnorm
    model = keras.Sequential([keras.Input((4, 4, 2)), keras.layers.BatchNormalization(axis=1)])
    x = np.random.default_rng(0).normal(size=(8, 4, 4, 2)).astype("float32")
    recalibrate_batchnorm(keras, model, x)
    assert np.allclose(model.layers[0].moving_mean.numpy(), x.mean(axis=(0, 2, 3)), atol=1e-5)


def test_compat_convolution2d_with_a_tuple_kernel_takes_conv2d_positional_arguments():
    """``Convolution2D`` is also a Keras 3 alias (README's table): with a tuple kernel the call
    is Keras 2/3, so ``Convolution2D(64, (3, 3), (1, 1), 'same')`` must not be refused as a
    Keras 1 call with too many positional arguments."""
    keras, built = _fake_keras()

    def conv2d(filters, kernel_size, strides=(1, 1), padding="valid", **kwargs):
        built.append((filters, kernel_size, dict(kwargs, strides=strides, padding=padding)))
    keras.layers.Conv2D = conv2d
    compat._convolution2d(keras, lambda name: None)(64, (3, 3), (1, 1), "same")
    assert built[-1] == (64, (3, 3), {"strides": (1, 1), "padding": "same"})


# -- 9. a deeply nested extraction file is an internal grader error --------------------------
def test_a_deeply_nested_extraction_file_is_not_gradable_not_a_grader_fault(tmp_path):
    """The kernel writes the extraction file; ``[[[[…]]]]`` 100,000 deep (200 kB, under the size
    limit) makes ``json.loads`` raise RecursionError, which is not a ValueError: the result was
    ``internal`` (exit 5, "not your fault", an empty gradebook cell) instead of not gradable."""
    from grader.exceptions import NotGradable
    from grader.execute.report_channel import parse_json
    with pytest.raises(NotGradable):
        parse_json("[" * 100_000 + "]" * 100_000)


# -- 10. a report with a layer missing a required argument crashes the selection ----------------
@pytest.mark.parametrize("class_name,config", [
    ("Conv2D", {"filters": 8}), ("Conv2D", {"kernel_size": 3}), ("Dense", {}),
    ("MaxPooling2D", {"pool_size": None}), ("Reshape", {}), ("ZeroPadding2D", {}),
    ("ZeroPadding2D", {"padding": None}), ("ZeroPadding2D", {"padding": {"a": 1}}),
    ("ZeroPadding2D", {"padding": -3}), ("ZeroPadding2D", {"padding": "x"}),
])
def test_a_layer_without_its_required_arguments_is_not_gradable_not_a_grader_fault(
        spec, class_name, config):
    """The kernel is untrusted: a faked (or truncated) config without ``kernel_size`` or
    ``units`` raised KeyError/TypeError in ``layers.infer_one``/the ZeroPadding2D validator,
    which ``select._scored`` does not catch: the whole result became ``internal`` (exit 5),
    even when another, valid model was there to grade."""
    from grader.exceptions import NotGradable
    from grader.extract import select
    good = _report(spec, model=spec.ref_layers)["models"][0]
    bad = dict(good, variable="other", layers=[
        {"class_name": class_name, "module": "keras.src.layers", "name": "x",
         "config": dict(config, name="x")}])
    report = dict(_report(spec), models=[good, bad], found=2)
    try:
        choice = select.choose(report, spec, 20.0)
    except NotGradable:
        pytest.fail("the valid model was not graded")
    assert choice.model.variable == "model"
    assert choice.others[0]["error_kind"] in ("invalid_model", "disallowed_layer")


@pytest.mark.parametrize("class_name,config,shape", [
    ("Reshape", {"target_shape": [None, 3]}, (None, 1, 1, 1)),
    ("ZeroPadding2D", {"padding": [1, 2]}, (None, 10)),
])
def test_shape_inference_of_a_malformed_layer_raises_only_not_gradable(class_name, config, shape):
    """Found by fuzzing ``layers.from_keras`` + ``infer``: TypeError/IndexError (internal)."""
    from grader import layers as L
    from grader.exceptions import NotGradable
    with pytest.raises(NotGradable):
        L.infer([L.from_keras(class_name, config)], shape)


# -- 11. a fused activation is charged twice when the initializer differs -----------------------
def test_a_fused_activation_is_charged_once_whatever_the_initializer(spec):
    """Initializers "do not count" (README), but ``hints.fused_into_missing`` compared every
    argument but the activation, ``kernel_initializer`` included: Conv2D(64, 3, padding='same',
    activation='relu') with Keras's default initializer (the reference's Conv2D uses HeNormal)
    lost the Conv2D's argument point on top of the missing Activation's 4."""
    from grader import layers as L
    from grader.checks import scoring as structure

    def fused(m, init):
        conv = L.Layer("Conv2D", {**m[0].args, "activation": "relu", "kernel_initializer": init},
                       m[0].name, m[0].class_name)
        return [conv, m[1], m[3]]

    def lost(init):
        infos = L.infer(_block(spec, lambda m: fused(m, init)), tuple(spec.input_shape))
        checks, _ = structure.check_layers(spec, infos)
        return sum(c.max_points - c.points for c in checks)

    assert lost("GlorotUniform") == lost("HeNormal") == 4


# -- 12. analytics: the same architecture in two spellings is two clusters ----------------------
def test_the_same_wrong_architecture_in_two_spellings_is_one_cluster(spec):
    """"What counts as the same layer" says ReLU() is Activation('relu') and initializers do not
    count, but ``analytics.fingerprint`` hashed ``class_name`` and ``kernel_initializer`` too."""
    from grader import layers as L
    from grader.analytics import cohort as analytics

    def student(relu_class, init):
        def edit(m):
            conv = L.Layer("Conv2D", {**m[0].args, "padding": "valid", "kernel_initializer": init},
                           m[0].name, m[0].class_name)
            return [conv, m[1], L.Layer("Activation", {"activation": "relu"}, "r", relu_class), m[3]]
        infos = L.infer(_block(spec, edit), tuple(spec.input_shape))
        return Result("s", Status.FAILED, 18, 22, layers=[i.to_dict() for i in infos])

    assert analytics.fingerprint(student("ReLU", "GlorotUniform")) == \
        analytics.fingerprint(student("Activation", "HeNormal"))

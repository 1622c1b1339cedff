"""The Keras 1/2 compatibility layer: unit tests of ``grader/kernel/compat.py`` in this process
(Keras imported, every patch undone after each test), then 2017-style notebooks graded."""
from __future__ import annotations

import re
import sys
import warnings

import numpy as np
import pytest

from grader import api, pipeline
from grader.checks import registry
from grader.execute.kernel import compat
from grader.result import Status
from grader.sandbox.launch import Launcher
from grader.settings import Settings

from tests import legacy
from tests.conftest import ROOT

keras = pytest.importorskip("keras")
tf = pytest.importorskip("tensorflow")


@pytest.fixture
def used():
    """Installs the compatibility layer; yields the list of mapping names it recorded."""
    names: list[str] = []
    undo = compat.install(keras, tf, names.append, sys.modules)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # Keras 3 warns about input_shape= on layers
            yield names
    finally:
        undo()


def test_convolution2d_reads_its_three_numbers_as_filters_and_kernel_rows_and_columns(used):
    layer = keras.layers.Convolution2D(64, 3, 3, border_mode="same")
    config = layer.get_config()
    assert (config["filters"], config["kernel_size"], config["strides"]) == (64, (3, 3), (1, 1))
    assert config["padding"] == "same"
    assert "Convolution2D(nb_filter, nb_row, nb_col)" in used


@pytest.mark.parametrize("build", [
    lambda: keras.layers.Conv2D(64, 3, 3, border_mode="same"),  # Keras 1.2's alias, Keras 2's legacy form
    lambda: tf.keras.layers.Convolution2D(64, 3, 3, border_mode="same"),  # the class, not the name
])
def test_conv2d_reads_three_numbers_as_filters_and_kernel_rows_and_columns_too(used, build):
    config = build().get_config()
    assert (config["filters"], config["kernel_size"], config["strides"]) == (64, (3, 3), (1, 1))
    assert "Conv2D(filters, nb_row, nb_col)" in used


@pytest.mark.parametrize("build", [
    lambda: keras.layers.Conv2D(64, 3, 3, 1),
    lambda: keras.layers.Conv2D(64, 3, 3, padding="same"),  # Keras 2 refused it: 3 may be a stride
    lambda: keras.layers.Conv2D(64, 3, 2, strides=1),
])
def test_conv2d_three_numbers_that_keras2_found_ambiguous_are_refused_with_the_spelling(used, build):
    with pytest.raises(compat.LegacyKerasCall, match=re.escape("Conv2D(filters, (rows, cols)")):
        build()


def test_without_the_layer_keras3_reads_the_same_call_as_a_stride():
    """Why only legacy notebooks get the layer: the positional meaning differs."""
    config = keras.layers.Convolution2D(64, 3, 3).get_config()
    assert config["strides"] == (3, 3)


@pytest.mark.parametrize("cls, kwargs, key, value", [
    ("Conv2D", {"filters": 8, "kernel_size": 3, "init": "he_normal"}, "kernel_initializer", "HeNormal"),
    ("Conv2D", {"filters": 8, "kernel_size": 3, "subsample": (2, 2)}, "strides", (2, 2)),
    ("Conv2D", {"nb_filter": 8, "kernel_size": 3}, "filters", 8),
    ("Dense", {"output_dim": 7, "init": "zero"}, "units", 7),
    ("MaxPooling2D", {"pool_size": (2, 2), "border_mode": "same"}, "padding", "same"),
    ("Dropout", {"p": 0.3}, "rate", 0.3),
])
def test_keras1_arguments_become_their_keras3_names(used, cls, kwargs, key, value):
    config = getattr(keras.layers, cls)(**kwargs).get_config()
    got = config[key]["class_name"] if isinstance(config[key], dict) else config[key]
    assert got == value


def test_batch_input_shape_and_mode_0_are_accepted(used):
    model = keras.Sequential()
    model.add(keras.layers.Dense(5, batch_input_shape=(None, 784)))
    model.add(keras.layers.BatchNormalization(mode=0))
    assert tuple(model.inputs[0].shape) == (None, 784)
    assert {"batch_input_shape=", "BatchNormalization(mode=0)"} <= set(used)


def test_layers_built_are_the_plain_keras3_classes_and_the_model_stays_sequential(used):
    from keras.layers.convolutional import Convolution2D, MaxPooling2D
    from keras.layers.core import Activation, Dense, Flatten
    from keras.layers.normalization import BatchNormalization

    model = keras.Sequential()
    model.add(Convolution2D(4, 3, 3, init="he_normal", border_mode="same", input_shape=(8, 8, 1)))
    for layer in (BatchNormalization(), Activation("relu"), MaxPooling2D((2, 2)), Flatten(), Dense(3)):
        model.add(layer)
    assert type(model) is keras.Sequential
    assert [type(layer) for layer in model.layers] == [keras.layers.Conv2D, keras.layers.BatchNormalization,
                                               keras.layers.Activation, keras.layers.MaxPooling2D,
                                               keras.layers.Flatten, keras.layers.Dense]
    assert all(type(layer).__module__.startswith("keras.") for layer in model.layers)


def test_np_utils_to_categorical_takes_nb_classes(used):
    from keras.utils.np_utils import to_categorical

    assert to_categorical([0, 2], nb_classes=4).tolist() == [[1, 0, 0, 0], [0, 0, 1, 0]]
    assert {"keras.utils.np_utils.to_categorical", "to_categorical(nb_classes=)"} <= set(used)


def test_tf_set_random_seed_seeds_tensorflow(used):
    tf.set_random_seed(7)
    first = tf.random.uniform((3,)).numpy()
    tf.random.set_seed(7)
    assert np.allclose(first, tf.random.uniform((3,)).numpy())


def _tiny_model():
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(2, activation="softmax")])
    model.compile(loss="categorical_crossentropy", optimizer="adam", metrics=["accuracy"])
    return model


def test_fit_takes_nb_epoch_a_list_as_validation_data_and_history_answers_acc(used):
    model, x, y = _tiny_model(), np.zeros((8, 4)), np.eye(2)[[0, 1] * 4]
    model.fit = compat.wrap_fit(keras.Model.fit, used.append).__get__(model)
    history = model.fit(x, y, nb_epoch=2, verbose=0, validation_data=[x, y])
    assert len(history.history["acc"]) == 2
    assert history.history["val_acc"] == history.history["val_accuracy"]
    with pytest.raises(KeyError):
        history.history["no_such_metric"]


def test_tensorboard_becomes_a_callback_that_does_nothing_and_predict_classes_argmaxes(used):
    callback = keras.callbacks.TensorBoard(log_dir="never-written", histogram_freq=1)
    assert type(callback) is keras.callbacks.Callback
    model = _tiny_model()
    x = np.random.default_rng(0).normal(size=(5, 4))
    assert model.predict_classes(x, verbose=0).tolist() == np.argmax(model.predict(x, verbose=0), -1).tolist()


def test_every_mapping_is_reached_by_the_course_surface(used):
    from keras.layers.convolutional import Convolution2D
    from keras.layers.core import Dense, Dropout
    from keras.layers.pooling import MaxPooling2D
    from keras.utils.np_utils import to_categorical

    tf.set_random_seed(1)
    Convolution2D(4, 3, 3, init="he_normal", border_mode="same", subsample=(1, 1))
    keras.layers.Conv2D(nb_filter=4, kernel_size=3), keras.layers.Conv2D(4, 3, 3)
    Dense(output_dim=3, batch_input_shape=(None, 4)), Dropout(p=0.1), MaxPooling2D()
    keras.layers.normalization.BatchNormalization(mode=0)
    to_categorical([1], nb_classes=2), keras.callbacks.TensorBoard()
    model = _tiny_model()
    model.fit = compat.wrap_fit(keras.Model.fit, used.append).__get__(model)
    history = model.fit(np.zeros((2, 4)), np.eye(2), nb_epoch=1, verbose=0,
                        validation_data=[np.zeros((2, 4)), np.eye(2)])
    history.history["acc"], history.history["val_acc"], model.predict_classes(np.zeros((1, 4)), verbose=0)
    assert set(used) == set(compat.MAPPINGS)


@pytest.mark.parametrize("call, spelling", [
    (lambda: keras.layers.Convolution2D(4, 3, 3, W_regularizer=None), "kernel_regularizer="),
    (lambda: keras.layers.Dense(3, dim_ordering="th"), "data_format="),
    (lambda: __import__("keras.layers.core", fromlist=["Merge"]).Merge, "Concatenate"),
    (lambda: keras.layers.BatchNormalization(mode=2), "BatchNormalization()"),
])
def test_a_keras1_call_outside_the_mapped_surface_names_its_keras3_spelling(used, call, spelling):
    with pytest.raises(compat.LegacyKerasCall, match=re.escape(spelling)):
        call()


def test_undo_gives_back_plain_keras3():
    undo = compat.install(keras, tf, lambda name: None, sys.modules)
    undo()
    assert keras.layers.Convolution2D is keras.layers.Conv2D
    assert "keras.layers.normalization" not in sys.modules and not hasattr(tf, "set_random_seed")
    with pytest.raises(ValueError):
        keras.layers.Dense(3, init="zero")


def test_legacy_notebooks_are_detected_and_keras3_ones_are_not():
    import nbformat

    from grader.execute.legacy import legacy_markers

    assert {"border_mode=", "fit(nb_epoch=)"} <= set(legacy_markers(legacy.notebook()))
    for path in [*ROOT.glob("reference/*/*.ipynb"), *ROOT.glob("submissions/*.ipynb")]:
        assert legacy_markers(nbformat.read(str(path), as_version=4)) == [], path.name


def test_convolution2d_alone_is_read_as_keras_3_reads_it():
    """Keras 3 still has the name: Convolution2D(64, 3, 3) there is a 3-kernel of stride 3."""
    from grader.execute.legacy import detect

    assert detect("model.add(Convolution2D(64, 3, 3, padding='same'))") == []


def test_the_students_page_lists_every_mapping():
    readme = (ROOT / "docs" / "students.md").read_text()
    for name in compat.MAPPINGS:
        assert f"`{name}`" in readme, name


# --- 2017-style notebooks, graded -------------------------------------------------------------

@pytest.mark.kernel
@pytest.mark.slow
def test_a_2017_completion_passes_with_full_marks_and_names_its_mappings(data_file, tmp_path):
    path = tmp_path / "student_2017.ipynb"
    import nbformat

    nbformat.write(legacy.notebook(legacy.SOLUTION), str(path))
    settings = Settings(sandbox="off", notebook_timeout=180, cell_timeout=120, data_path=data_file)
    result = api.check(path, reference=ROOT / "reference" / "cnn2", data=data_file, settings=settings,
                       launcher=Launcher())
    # full marks for the code; the 2017 notebook has no answer cells: "no answer found" each
    from grader.exercise.spec import Spec
    spec = Spec.load(ROOT / "reference" / "cnn2")
    assert result.status is Status.PASSED and result.score == registry.max_score(spec, answers=False)
    assert result.answers and not any(a["found"] for a in result.answers)
    assert result.training is not None  # verified: the accuracy points are in the score
    mappings = " ".join(result.compat["mappings"])
    for used_mapping in ("Convolution2D(nb_filter, nb_row, nb_col)", "border_mode=", "fit(nb_epoch=)",
                         "history['acc']", "keras.layers.normalization", "tf.set_random_seed"):
        assert used_mapping in mappings


@pytest.mark.kernel
def test_a_2017_notebook_without_border_mode_fails_with_the_padding_hint(spec, data_file,
                                                                        fast_settings, write_notebook):
    path = write_notebook(legacy.notebook(legacy.NO_PADDING), "no_border_mode")
    result = pipeline.check_notebook(path, spec, data_file, fast_settings, Launcher())
    assert result.status is Status.FAILED
    assert "padding='same'" in result.summary
    assert result.compat and result.compat["detected"]


@pytest.mark.kernel
def test_a_keras1_call_outside_the_layer_is_a_clear_error(spec, data_file, fast_settings, write_notebook):
    path = write_notebook(legacy.notebook(legacy.UNMAPPED), "unmapped")
    result = pipeline.check_notebook(path, spec, data_file, fast_settings, Launcher())
    assert result.status is Status.ERROR and result.error.kind == "cell_error"
    assert "W_regularizer" in result.error.message and "kernel_regularizer" in result.error.message
    assert "compatibility layer" in result.error.advice

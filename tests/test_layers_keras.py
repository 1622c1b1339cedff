"""Keras and the grader agree on every allowed layer: the grader reads what real ``keras.layers``
report, computes the same output shape and parameter counts itself, and the verification
worker rebuilds, from the one allow-list, a layer Keras counts the same way."""
import pytest

from grader import layers as L

keras = pytest.importorskip("keras")
from grader.verify import worker  # noqa: E402  (after the skip: it is run with TensorFlow)

IMAGE = (None, 12, 10, 3)
#: Keras class -> (constructor arguments, input shape); one typical use of each allowed layer
TYPICAL = {
    "Conv2D": ({"filters": 8, "kernel_size": (3, 2), "padding": "valid", "strides": 2}, IMAGE),
    "Dense": ({"units": 5, "activation": "relu"}, (None, 7)),
    "BatchNormalization": ({}, IMAGE),
    "Activation": ({"activation": "softmax"}, (None, 6)),
    "ReLU": ({"max_value": 3.0}, IMAGE),
    "Softmax": ({}, (None, 6)),
    "LeakyReLU": ({"negative_slope": 0.2}, IMAGE),
    "Dropout": ({"rate": 0.25}, IMAGE),
    "SpatialDropout2D": ({"rate": 0.25}, IMAGE),
    "Flatten": ({}, IMAGE),
    "MaxPooling2D": ({"pool_size": (2, 3)}, IMAGE),
    "AveragePooling2D": ({"pool_size": 3, "strides": 1, "padding": "same"}, IMAGE),
    "GlobalMaxPooling2D": ({}, IMAGE),
    "GlobalAveragePooling2D": ({}, IMAGE),
    "Reshape": ({"target_shape": (6, -1)}, IMAGE),
    "ZeroPadding2D": ({"padding": ((1, 2), (0, 3))}, IMAGE),
}
#: the same layers with arguments off their defaults where the count depends on them
VARIANTS = {
    "Conv2D, no bias, dilated": ("Conv2D", {"filters": 4, "kernel_size": 3, "use_bias": False,
                                            "dilation_rate": 2, "padding": "same"}, IMAGE),
    "BatchNormalization without scale": ("BatchNormalization", {"scale": False}, IMAGE),
    "BatchNormalization on the height": ("BatchNormalization", {"axis": 1}, IMAGE),
    "Dense without bias on images": ("Dense", {"units": 4, "use_bias": False}, IMAGE),
    "MaxPooling2D, same padding, stride 3": ("MaxPooling2D", {"pool_size": 2, "strides": 3,
                                                              "padding": "same"}, IMAGE),
}
CASES = {name: (name, *case) for name, case in TYPICAL.items()} | VARIANTS


def keras_counts(layer, input_shape) -> tuple[tuple, int, int]:
    """Output shape and (trainable, non-trainable) parameters as Keras itself counts them."""
    model = keras.Sequential([keras.Input(shape=input_shape[1:]), layer])
    trainable = sum(int(w.numpy().size) for w in model.trainable_weights)
    frozen = sum(int(w.numpy().size) for w in model.non_trainable_weights)
    return tuple(model.output_shape), trainable, frozen


def test_every_allowed_layer_has_a_typical_case():
    assert set(TYPICAL) == set(L.ALLOWED) - {"InputLayer"}


@pytest.mark.parametrize("label", sorted(CASES))
def test_the_grader_computes_what_keras_computes_from_the_reported_config(label):
    class_name, kwargs, input_shape = CASES[label]
    layer = getattr(keras.layers, class_name)(**kwargs)
    expected = keras_counts(layer, input_shape)
    graded = L.from_keras(class_name, layer.get_config())
    assert L.infer_one(graded, input_shape) == expected


@pytest.mark.parametrize("label", sorted(CASES))
def test_the_verifier_rebuilds_a_layer_keras_counts_the_same(label):
    class_name, kwargs, input_shape = CASES[label]
    expected = keras_counts(getattr(keras.layers, class_name)(**kwargs), input_shape)
    graded = L.from_keras(class_name, getattr(keras.layers, class_name)(**kwargs).get_config())
    model = worker.build_model(keras, [{"kind": graded.kind, "args": graded.args}],
                               list(input_shape))
    assert keras_counts(model.layers[-1], input_shape) == expected


def test_a_frozen_layer_counts_its_weights_as_non_trainable_in_both():
    layer = keras.layers.Dense(3)
    layer.trainable = False
    graded = L.from_keras("Dense", layer.get_config())
    assert L.infer_one(graded, (None, 4)) == keras_counts(layer, (None, 4))

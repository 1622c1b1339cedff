"""The allow-list rebuilds layers from plain data and computes shapes and parameters itself."""
import pytest

from grader import layers as L
from grader.exceptions import DisallowedLayer, InvalidModel


def conv(filters=64, kernel=3, padding="same", **extra):
    return L.from_keras("Conv2D", {"filters": filters, "kernel_size": kernel, "padding": padding, **extra})


def test_same_padding_keeps_the_size_and_valid_shrinks_it():
    shape = (None, 14, 14, 64)
    assert L.infer_one(conv(padding="same"), shape)[0] == (None, 14, 14, 64)
    assert L.infer_one(conv(padding="valid"), shape)[0] == (None, 12, 12, 64)


def test_conv_parameters_count_kernel_inputs_and_bias():
    assert L.infer_one(conv(), (None, 14, 14, 64))[1:] == (36_928, 0)
    assert L.infer_one(conv(use_bias=False), (None, 14, 14, 64))[1] == 36_864


def test_batchnorm_has_trainable_scale_and_offset_and_frozen_statistics():
    assert L.infer_one(L.from_keras("BatchNormalization", {}), (None, 14, 14, 64))[1:] == (128, 128)


def test_pooling_halves_and_flatten_multiplies():
    pool = L.from_keras("MaxPooling2D", {"pool_size": [2, 2]})
    flat = L.from_keras("Flatten", {})
    infos = L.infer([pool, flat], (None, 14, 14, 64))
    assert [i.output_shape for i in infos] == [(None, 7, 7, 64), (None, 3136)]


def test_layers_that_compute_the_same_thing_are_equal():
    assert L.from_keras("ReLU", {}).kind == "Activation"
    assert L.from_keras("ReLU", {}).args == L.from_keras("Activation", {"activation": "relu"}).args
    assert conv(kernel=3).args == conv(kernel=[3, 3]).args
    assert L.from_keras("Convolution2D", {"filters": 8, "kernel_size": 3}).kind == "Conv2D"


def test_a_relu_with_a_cap_is_not_a_plain_relu():
    assert L.from_keras("ReLU", {"max_value": 4.0}).kind == "ReLU"
    assert L.from_keras("ReLU", {"max_value": 6.0}).args == {"activation": "relu6"}


def test_a_tensorflow_function_keras_cannot_name_is_read_by_its_name_only():
    softmax = {"module": "builtins", "class_name": "function", "config": "softmax_v2"}
    assert L.from_keras("Activation", {"activation": softmax}).args == {"activation": "softmax"}
    with pytest.raises(InvalidModel, match="activation"):
        L.from_keras("Activation", {"activation": {"value": ["4wEAAAAA", None, None]}})


def test_lambda_and_custom_layers_are_refused_by_name():
    with pytest.raises(DisallowedLayer, match="'Lambda' is not allowed"):
        L.from_keras("Lambda", {"function": "evil"})
    with pytest.raises(DisallowedLayer, match="MyLayer"):
        L.from_keras("MyLayer", {})


@pytest.mark.parametrize("config", [
    {"filters": -1, "kernel_size": 3}, {"filters": 10**9, "kernel_size": 3},
    {"filters": 8, "kernel_size": "3"}, {"filters": 8, "kernel_size": 3, "activation": "evil"},
    {"filters": 8, "kernel_size": 3, "data_format": "channels_first"},
])
def test_invalid_arguments_are_refused_with_the_argument_named(config):
    with pytest.raises(InvalidModel, match="argument"):
        L.from_keras("Conv2D", config)


def test_a_window_larger_than_the_image_names_the_layer():
    with pytest.raises(InvalidModel, match="layer 1"):
        L.infer([conv(kernel=9, padding="valid")], (None, 4, 4, 3))


def test_totals_split_trainable_and_non_trainable():
    infos = L.infer([conv(), L.from_keras("BatchNormalization", {})], (None, 14, 14, 64))
    assert L.totals(infos) == {"total": 36_928 + 256, "trainable": 36_928 + 128, "non_trainable": 128}

"""Checks and hints, from layer lists alone (no kernel): the usual mistakes get named fixes."""
import pytest

from grader import layers as L
from grader.checks import registry
from grader.checks import scoring as structure
from grader.compare import align as compare


def student(spec, edit):
    """The reference's layers with ``edit`` applied to the layers to add (a list of Layers)."""
    ref = spec.ref_layers
    first, last = min(spec.missing), max(spec.missing)
    return ref[:first] + edit([ref[i] for i in spec.missing]) + ref[last + 1:]


def grade(spec, layers):
    infos = L.infer(layers, tuple(spec.input_shape))
    return structure.check_layers(spec, infos)


def failed(checks):
    return [c for c in checks if not c.passed]


def with_args(layer, **changes):
    return L.Layer(layer.kind, {**layer.args, **changes}, layer.name, layer.class_name)


def test_the_reference_itself_passes_every_check(spec):
    checks, rows = grade(spec, spec.ref_layers)
    assert failed(checks) == []
    assert sum(c.points for c in checks) == registry.max_score(spec, verified=False, answers=False)
    assert all(r.status == "match" for r in rows)


def test_no_padding_names_the_shrunk_size_and_the_fix(spec):
    checks, _ = grade(spec, student(spec, lambda m: [with_args(m[0], padding="valid"), *m[1:]]))
    hints = " ".join(c.hint or "" for c in failed(checks))
    assert "outputs 12x12 instead of 14x14" in hints and "padding='same'" in hints


def test_no_pooling_is_reported_once_with_its_consequences(spec):
    checks, rows = grade(spec, student(spec, lambda m: m[:3]))
    missing = [r for r in rows if r.status == "missing"]
    assert len(missing) == 1 and missing[0].ref.layer.kind == "MaxPooling2D"
    architecture = next(c for c in checks if c.category == "architecture")
    assert "12544" in architecture.message and "2,509,000" in architecture.message
    assert failed(checks)[0].hint.startswith("add MaxPooling2D(2x2)")


def test_thirty_two_filters_is_named_with_the_fix(spec):
    checks, _ = grade(spec, student(spec, lambda m: [with_args(m[0], filters=32), *m[1:]]))
    assert "has 32 filters; the reference uses 64" in failed(checks)[0].hint


def test_a_five_by_five_kernel_is_named(spec):
    checks, _ = grade(spec, student(spec, lambda m: [with_args(m[0], kernel_size=[5, 5]), *m[1:]]))
    assert "5x5 kernel" in failed(checks)[0].hint


def test_missing_batchnorm_says_where_to_add_it(spec):
    checks, _ = grade(spec, student(spec, lambda m: [m[0], *m[2:]]))
    first = failed(checks)[0]
    assert "BatchNormalization" in first.name and "right after Conv2D(64" in first.hint


def test_wrong_order_is_reported_as_order_not_as_a_cascade(spec):
    checks, _ = grade(spec, student(spec, lambda m: [m[0], m[3], m[1], m[2]]))
    hints = {c.hint for c in failed(checks) if c.category == "added_layer" and not c.follows_from}
    assert len(hints) == 1 and "wrong place" in hints.pop()


def test_an_activation_fused_into_the_conv_is_recognised(spec):
    checks, _ = grade(spec, student(spec, lambda m: [with_args(m[0], activation="relu"), m[1], m[3]]))
    assert "fused" in failed(checks)[0].hint


def test_nothing_added_points_at_the_marker(spec):
    checks, _ = grade(spec, student(spec, lambda m: []))
    assert len(failed(checks)) == len(checks)
    assert "here is your code coming" in failed(checks)[0].hint


def test_an_extra_layer_outside_the_block_fails_the_architecture_check(spec):
    layers = spec.ref_layers
    extra = layers + [L.from_keras("Dropout", {"rate": 0.5})]
    checks, rows = grade(spec, extra)
    assert [r.status for r in rows].count("extra") == 1
    assert [c.category for c in failed(checks)] == ["architecture"]


@pytest.mark.parametrize("ref,stu,expected", [
    ("abc", "abc", [(0, 0), (1, 1), (2, 2)]),
    ("abc", "ac", [(0, 0), (1, None), (2, 1)]),
    ("ac", "abc", [(0, 0), (None, 1), (1, 2)]),
])
def test_alignment_puts_gaps_where_layers_are_missing_or_extra(ref, stu, expected):
    kinds = {"a": "Flatten", "b": "Dropout", "c": "Dense"}
    make = {"Flatten": {}, "Dropout": {"rate": 0.1}, "Dense": {"units": 3}}
    def infos(text):
        return L.infer([L.from_keras(kinds[ch], make[kinds[ch]]) for ch in text], (None, 4, 4, 1))
    assert compare.align(infos(ref), infos(stu)) == expected


def lost(spec, checks):
    return registry.max_score(spec, verified=False, answers=False) - sum(c.points for c in checks)


def layer_points(spec):
    return sum(spec.points["added_layers"].values())


def test_softmax_in_place_of_relu_fails_and_the_hint_names_the_function(spec):
    softmax = L.from_keras("Activation", {"activation": "softmax"})
    checks, _ = grade(spec, student(spec, lambda m: [m[0], m[1], softmax, m[3]]))
    first = failed(checks)[0]
    assert first.name.endswith("arguments") and first.aspect == "args"
    assert "your Activation uses 'softmax'; the exercise asks for 'relu'" in first.hint


def test_a_padding_mistake_is_charged_at_its_layer_and_what_follows_keeps_its_points(spec):
    checks, _ = grade(spec, student(spec, lambda m: [with_args(m[0], padding="valid"), *m[1:]]))
    charged = [c for c in failed(checks) if c.points < c.max_points]
    assert {c.group for c in charged} == {checks[0].group}  # only the Conv2D's own aspects
    followers = [c for c in failed(checks) if c.points == c.max_points]
    assert followers and all("Conv2D(64, 3x3)" in c.follows_from for c in followers)
    assert {"architecture", "totals"} <= {c.category for c in followers}
    assert 0 < lost(spec, checks) < layer_points(spec)


def test_a_missing_layer_costs_more_than_a_wrong_argument(spec):
    missing, _ = grade(spec, student(spec, lambda m: [m[0], *m[2:]]))
    wrong, _ = grade(spec, student(spec, lambda m: [with_args(m[0], filters=32), *m[1:]]))
    assert lost(spec, missing) > lost(spec, wrong) > 0


def test_a_relu_fused_into_the_conv_and_a_separate_one_is_named_as_applied_twice(spec):
    checks, _ = grade(spec, student(spec, lambda m: [with_args(m[0], activation="relu"), *m[1:]]))
    assert "applied twice" in failed(checks)[0].hint and "remove activation='relu'" in failed(checks)[0].hint


def test_an_activation_fused_into_the_conv_is_charged_once_as_the_missing_layer(spec):
    checks, _ = grade(spec, student(spec, lambda m: [with_args(m[0], activation="relu"), m[1], m[3]]))
    assert lost(spec, checks) == layer_points(spec)


def test_an_extra_layer_in_the_block_says_the_four_are_right_and_names_the_extra(spec):
    dropout = L.from_keras("Dropout", {"rate": 0.25})
    checks, _ = grade(spec, student(spec, lambda m: [*m, dropout]))
    assert [c.category for c in failed(checks)] == ["architecture"]
    assert "the 4 layers to add are correct; the extra Dropout(0.25) is not in the reference" \
        in failed(checks)[0].hint


def test_relu_and_max_pooling_swapped_pass_and_the_report_says_why(spec):
    checks, _ = grade(spec, student(spec, lambda m: [m[0], m[1], m[3], m[2]]))
    assert failed(checks) == []
    assert "commute" in next(c for c in checks if c.category == "architecture").message


def test_batchnorm_and_pooling_swapped_do_not_pass(spec):
    checks, _ = grade(spec, student(spec, lambda m: [m[0], m[3], m[1], m[2]]))
    assert failed(checks)


def test_an_argument_changed_outside_the_block_fails_the_architecture_check_by_name(spec):
    layers = spec.ref_layers
    changed = [with_args(layers[0], dilation_rate=[2, 2]), *layers[1:]]
    checks, _ = grade(spec, changed)
    architecture = next(c for c in checks if c.category == "architecture")
    assert not architecture.passed and architecture.points == 0
    assert "dilation_rate=(2, 2)" in architecture.message and "Conv2D" in architecture.message


@pytest.mark.parametrize("edit", [
    lambda m: [m[0], m[3], m[1], m[2]],  # pooling too early: later shapes follow from it
    lambda m: [with_args(m[0], padding="valid"), *m[1:]],
    lambda m: [m[0], m[2], m[3]],  # no BatchNormalization
], ids=["wrong_order", "no_padding", "no_batchnorm"])
def test_the_first_failed_check_named_in_gradebooks_is_a_mistake_not_a_consequence(spec, edit):
    from grader.result import Result, Status

    checks, _ = grade(spec, student(spec, edit))
    result = Result(submission="s", status=Status.FAILED, checks=checks)
    assert result.first_failed is not None and not result.first_failed.follows_from


def test_the_terminal_batch_table_names_the_mistake_in_words_not_the_check(spec):
    from grader.render import terminal
    from grader.result import Result, Status

    checks, _ = grade(spec, student(spec, lambda m: [with_args(m[0], padding="valid"), *m[1:]]))
    table = terminal.batch_table([Result(submission="bob", status=Status.FAILED, checks=checks)])
    assert "padding='same'" in table and "Added layer" not in table


def _fuse_the_output_softmax(layers):
    """The reference's ``Dense(10)`` then ``Activation('softmax')`` written as one Dense."""
    k = next(i for i in range(len(layers) - 1) if layers[i].kind == "Dense"
             and layers[i + 1].kind == "Activation" and layers[i + 1].args["activation"] == "softmax")
    return [*layers[:k], with_args(layers[k], activation="softmax"), *layers[k + 2:]]


def test_an_activation_fused_where_the_reference_writes_it_apart_passes_and_says_why(spec):
    checks, _ = grade(spec, _fuse_the_output_softmax(spec.ref_layers))
    assert failed(checks) == [], [(c.name, c.message) for c in failed(checks)]
    assert "followed by Activation('softmax')" in next(
        c for c in checks if c.category == "architecture").message


def test_a_fused_softmax_that_also_keeps_the_separate_one_is_still_a_mistake(spec):
    layers = spec.ref_layers
    k = max(i for i, layer in enumerate(layers) if layer.kind == "Dense")
    twice = [*layers[:k], with_args(layers[k], activation="softmax"), *layers[k + 1:]]
    checks, _ = grade(spec, twice)
    assert next(c for c in checks if c.category == "architecture").points == 0


def test_zero_padding_before_a_valid_conv_that_pads_what_same_pads_passes_and_says_why(spec):
    def padded(m):
        return [L.Layer("ZeroPadding2D", {"padding": [1, 1]}, "", "ZeroPadding2D"),
                with_args(m[0], padding="valid"), *m[1:]]
    checks, _ = grade(spec, student(spec, padded))
    assert failed(checks) == [], [(c.name, c.message) for c in failed(checks)]
    assert "ZeroPadding2D" in next(c for c in checks if c.category == "architecture").message


def test_zero_padding_of_another_size_is_not_same_padding(spec):
    def padded(m):
        return [L.Layer("ZeroPadding2D", {"padding": [2, 2]}, "", "ZeroPadding2D"),
                with_args(m[0], padding="valid"), *m[1:]]
    checks, _ = grade(spec, student(spec, padded))
    assert failed(checks)
    assert not any("instead of 14x14: did you forget" in c.message and "14x14 instead" in c.message
                   for c in checks)


def test_a_pool_size_mistake_is_named_alone_not_with_the_strides_keras_derives_from_it(spec):
    checks, _ = grade(spec, student(spec, lambda m: [*m[:3], with_args(m[3], pool_size=[3, 3],
                                                                           strides=[3, 3])]))
    hints = [c.hint or "" for c in failed(checks)]
    assert any("pool_size=(3, 3)" in h for h in hints), hints
    assert not any("strides" in h for h in hints), hints


def test_two_wrong_arguments_of_one_layer_are_separate_sentences(spec):
    checks, _ = grade(spec, student(spec, lambda m: [with_args(m[0], filters=32, kernel_size=[5, 5]),
                                                     *m[1:]]))
    hint = next(c.hint for c in failed(checks) if c.hint and "filters" in c.hint)
    assert "; your Conv2D uses a 5x5 kernel" in hint, hint

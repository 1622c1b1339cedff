"""Mistake keys: every failed check names its mistake as a stable key (no kernel needed), so a
cohort can be grouped by the mistake rather than by the wording of a hint."""
import pytest

from grader.checks import mistakes

from tests.test_compare import grade, student, with_args


def keys(checks):
    """The mistake keys of the failed checks, in order, without repeats."""
    return list(dict.fromkeys(c.mistake for c in checks if not c.passed))


MUTATIONS = {
    "no padding": (lambda m: [with_args(m[0], padding="valid"), *m[1:]],
                   'arg:Conv2D.padding="same"', "Conv2D without padding='same'"),
    "32 filters": (lambda m: [with_args(m[0], filters=32), *m[1:]],
                   "arg:Conv2D.filters=64", "Conv2D without 64 filters"),
    "5x5 kernel": (lambda m: [with_args(m[0], kernel_size=[5, 5]), *m[1:]],
                   "arg:Conv2D.kernel_size=[3,3]", "Conv2D with another kernel_size than 3x3"),
    "softmax": (lambda m: [*m[:2], with_args(m[2], activation="softmax"), m[3]],
                'arg:Activation.activation="relu"', "Activation with another activation than 'relu'"),
    "no pooling": (lambda m: m[:3], "missing:MaxPooling2D", "missing MaxPooling2D"),
    "no batchnorm": (lambda m: [m[0], *m[2:]], "missing:BatchNormalization",
                     "missing BatchNormalization"),
    "nothing added": (lambda m: [], "nothing_added", "nothing added"),
    "fused": (lambda m: [with_args(m[0], activation="relu"), m[1], m[3]], "fused_activation",
              "activation fused into the layer before instead of its own Activation layer"),
}


@pytest.mark.parametrize("name", MUTATIONS)
def test_every_failed_check_carries_the_key_of_the_one_mistake(spec, name):
    edit, key, words = MUTATIONS[name]
    checks, _ = grade(spec, student(spec, edit))
    assert keys(checks) == [key]
    assert mistakes.words(key) == words


def test_a_passing_model_has_no_mistake_keys(spec):
    checks, _ = grade(spec, spec.ref_layers)
    assert [c.mistake for c in checks] == [None] * len(checks)


def test_two_padding_mistakes_of_different_shapes_share_one_key(spec):
    """A key holds reference values only: another wrong value is the same mistake."""
    a, _ = grade(spec, student(spec, lambda m: [with_args(m[0], padding="valid"), *m[1:]]))
    b, _ = grade(spec, student(spec, lambda m: [with_args(m[0], padding="valid", filters=64,
                                                           kernel_size=[5, 5]), *m[1:]]))
    assert keys(a)[0] == keys(b)[0] == 'arg:Conv2D.padding="same"'


def test_layers_in_the_wrong_order_are_one_order_mistake(spec):
    checks, _ = grade(spec, student(spec, lambda m: [m[0], m[3], m[1], m[2]]))
    assert keys(checks) and all(k.startswith("order:") for k in keys(checks))

"""Every plausible single mutation of the layers to add is caught; every equivalent spelling passes.

Mutations are generated from the spec (see ``tests/mutations.py``) and reach the grader as real
Keras ``get_config()`` output, the way a notebook's model does; grading runs on the extracted
layer level (no kernel).
"""
import pytest

from grader import layers as L
from grader import pipeline
from grader.checks import registry
from grader.checks import scoring as structure
from grader.exceptions import GraderError
from grader.exercise.spec import Spec
from grader.sandbox.launch import Launcher

from tests import mutations as M
from tests.conftest import ROOT
from tests.notebooks import SOLUTION, model_only_notebook

SPEC = Spec.load(ROOT / "reference" / "cnn2")
MUTANTS = M.mutants(SPEC)
SPELLINGS = M.spellings(SPEC)


def verdict(spec, block) -> tuple[bool, str, list]:
    """(passed, first hint or error message, checks) for the student chain with ``block``."""
    try:
        layers = M.grader_layers(spec, block)
        infos = L.infer(layers, tuple(spec.input_shape))
    except GraderError as exc:
        return False, exc.message, []
    checks, _ = structure.check_layers(spec, infos)
    first = next((c for c in checks if not c.passed), None)
    return first is None, (first.hint or first.message) if first else "", checks


def test_the_generator_covers_every_kind_of_mutation():
    labels = " | ".join(m.label for m in MUTANTS)
    for word in ("swap", "remove", "duplicate", " for ", "activation=", "padding=", "dilation_rate="):
        assert word in labels
    assert len(MUTANTS) > 60


@pytest.mark.parametrize("mutant", [m for m in MUTANTS if not m.equivalent], ids=lambda m: m.label)
def test_a_mutation_outside_the_table_is_never_passed_and_its_hint_names_it(mutant):
    passed, hint, _ = verdict(SPEC, mutant.block)
    assert not passed, f"{mutant.label} passed"
    text = hint.lower()
    if mutant.label.startswith("swap"):  # either layer may be the one out of place
        assert any(word.lower() in text for word in mutant.names), hint
        return
    for word in mutant.names:
        assert word.lower() in text, f"{mutant.label}: first hint {hint!r} does not name {word!r}"


@pytest.mark.parametrize("mutant", [m for m in MUTANTS + SPELLINGS if m.equivalent], ids=lambda m: m.label)
def test_an_entry_of_the_equivalence_table_passes(mutant):
    passed, hint, _ = verdict(SPEC, mutant.block)
    assert passed, f"{mutant.label}: {hint}"


ARGUMENT_MUTANTS = [m for m in MUTANTS if "=" in m.label and " for " not in m.label and not m.equivalent]


def test_one_wrong_argument_never_costs_more_than_its_layers_points():
    per_layer = sum(SPEC.points["added_layers"].values())
    full = registry.max_score(SPEC, verified=False, answers=False)
    for mutant in ARGUMENT_MUTANTS:
        checks = verdict(SPEC, mutant.block)[2]
        if checks:  # not refused as an invalid model
            lost = full - sum(c.points for c in checks)
            assert 0 < lost <= per_layer, f"{mutant.label} costs {lost}"


def test_a_missing_layer_costs_more_than_any_wrong_argument():
    full = registry.max_score(SPEC, verified=False, answers=False)
    def lost(mutant):
        return full - sum(c.points for c in verdict(SPEC, mutant.block)[2])
    removed = [lost(m) for m in MUTANTS if m.label.startswith("remove")]
    wrong_args = [lost(m) for m in ARGUMENT_MUTANTS if verdict(SPEC, m.block)[2]]
    assert min(removed) > max(wrong_args)


#: a handful through real notebooks: (student code between the markers, passes?, words of the hint)
THROUGH_NOTEBOOKS = {
    "dilation": (SOLUTION.replace("padding='same')", "padding='same', dilation_rate=2)"), False,
                 ("Conv2D", "dilation_rate")),
    "average pooling": (SOLUTION.replace("MaxPooling2D(pool_size", "keras.layers.AveragePooling2D(pool_size"),
                        False, ("MaxPooling2D", "AveragePooling2D")),
    "tf.nn.relu": (SOLUTION.replace("Activation('relu')", "Activation(tf.nn.relu)"), True, ()),
    "relu after pooling": (SOLUTION.replace(
        "model.add(Activation('relu'))\nmodel.add(MaxPooling2D(pool_size=pool_size))",
        "model.add(MaxPooling2D(pool_size=pool_size))\nmodel.add(Activation('relu'))"), True, ()),
}


@pytest.mark.kernel
@pytest.mark.parametrize("case", THROUGH_NOTEBOOKS, ids=str)
def test_mutations_through_a_real_notebook_get_the_same_verdict(case, write_notebook, data_file,
                                                                 fast_settings):
    code, passes, words = THROUGH_NOTEBOOKS[case]
    assert code != SOLUTION
    result = pipeline.check_notebook(write_notebook(model_only_notebook(code)), SPEC, data_file,
                                     fast_settings, Launcher())
    assert result.status.value == ("passed" if passes else "failed"), result.summary
    for word in words:
        assert word in result.summary

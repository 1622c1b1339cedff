"""An oracle independent of the grader keeps the equivalence table honest.

Each mutation and each equivalent spelling of the block is built as a real Keras model with the
reference's weights wherever they fit (fresh random ones elsewhere) and run on random inputs:
every entry of the table must compute what the reference computes, and every mutation the
grader calls different must compute something else.
"""
import numpy as np
import pytest

from grader.exercise.spec import Spec

from tests import mutations as M
from tests.conftest import ROOT

keras = M.keras
SPEC = Spec.load(ROOT / "reference" / "cnn2")
BLOCK_INPUT = SPEC.infos()[min(SPEC.missing) - 1].input_shape[1:]
INPUTS = np.random.default_rng(0).normal(0.0, 3.0, size=(4, *BLOCK_INPUT)).astype("float32")


def _random(variable, rng) -> np.ndarray:
    if "variance" in variable.path:
        return rng.uniform(0.5, 2.0, variable.shape).astype("float32")
    return rng.normal(0.0, 0.5, variable.shape).astype("float32")


def _build(block: tuple, donors: list | None = None):
    """The block as a Keras model; a layer takes its donor's weights where names and shapes fit."""
    model = keras.Sequential([keras.Input(BLOCK_INPUT)] + [M.keras_layer(r) for r in block])
    rng = np.random.default_rng(1)
    for layer, (_, _, src) in zip(model.layers, block, strict=True):
        donor = {v.path.rsplit("/", 1)[-1]: v for v in donors[src].weights} \
            if donors is not None and src is not None else {}
        for v in layer.weights:
            theirs = donor.get(v.path.rsplit("/", 1)[-1])
            v.assign(theirs.numpy() if theirs is not None and theirs.shape == v.shape else _random(v, rng))
    return model


def _same_function(reference, block: tuple) -> bool:
    try:
        model = _build(block, reference.layers)
    except Exception:  # noqa: BLE001 -- Keras refuses the chain (e.g. pooling after Flatten)
        return False
    a = np.asarray(reference(INPUTS, training=False))
    b = np.asarray(model(INPUTS, training=False))
    return a.shape == b.shape and bool(np.allclose(a, b, rtol=1e-4, atol=1e-4))


@pytest.fixture(scope="module")
def reference():
    return _build(tuple(M.block_recipes(SPEC)))


def test_the_reference_agrees_with_itself_and_a_mutation_is_seen(reference):
    assert _same_function(reference, tuple(M.block_recipes(SPEC)))
    assert not _same_function(reference, M.mutants(SPEC)[0].block)


def test_every_equivalent_computes_the_same_and_every_other_mutation_differs(reference):
    wrong = []
    for mutant in M.mutants(SPEC) + M.spellings(SPEC):
        if _same_function(reference, mutant.block) != mutant.equivalent:
            wrong.append(f"{mutant.label}: graded {'same' if mutant.equivalent else 'different'}")
    assert wrong == []

"""Checks are declared by the exercise (kinds and points), and reports read their fields, not
their names (no kernel needed)."""
import copy
import json
from dataclasses import replace
from pathlib import Path

import pytest

from grader import api
from grader import layers as L
from grader.checks import registry
from grader.checks import scoring as structure
from grader.checks.accuracy import Accuracy
from grader.checks.kind import STRUCTURE, CheckContext, CheckKind
from grader.exceptions import SpecError
from grader.exercise.spec import Spec, checks_of, load_exercise
from grader.render import view
from grader.result import Check, Result, Status

from tests import reports
from tests.conftest import ROOT


def declaring(spec: Spec, checks=None, **fields) -> Spec:
    """The spec with other declared checks (and other fields)."""
    return replace(spec, checks=copy.deepcopy(spec.checks if checks is None else checks), **fields)


def graded(spec: Spec, layers) -> Result:
    result = Result(submission="s", status=Status.ERROR, max_score=registry.max_score(spec, verified=False))
    checks, rows = structure.check_layers(spec, L.infer(layers, tuple(spec.input_shape)))
    result.checks, result.alignment = checks, [r.to_dict() for r in rows]
    structure.score(result)
    return result


def test_the_report_groups_added_layers_by_their_fields_not_their_display_names(spec):
    result = reports.no_padding(spec)
    before = view.added_layers(result)
    for number, check in enumerate(result.checks):
        check.name = f"Prüfung {number}: teil: {number % 3}"  # colons, as a translation might have
    after = view.added_layers(result)
    assert after == before
    assert [[a["title"] for a in card["aspects"]] for card in after] == \
        [["type", "arguments", "output shape", "parameters"]] * len(spec.missing)


def test_the_maximum_score_is_the_sum_of_the_checks_the_exercise_declares(spec):
    fewer = declaring(spec, [{"kind": "added_layers", "points": {"type": 2, "params": 1}},
                             {"kind": "architecture", "points": 5}])
    assert registry.max_score(fewer) == registry.max_score(fewer, verified=False) == 3 * len(spec.missing) + 5
    checks, _ = structure.check_layers(fewer, spec.infos())
    categories = ["added_layer"] * 4 * len(spec.missing) + ["architecture"]
    assert [c.category for c in checks] == categories
    assert sum(c.points for c in checks) == registry.max_score(fewer)
    assert {c.aspect: c.max_points for c in checks if c.group} == \
        {"type": 2.0, "args": 0.0, "output_shape": 0.0, "params": 1.0}


def test_the_accuracy_counts_only_when_the_architecture_is_trained(spec):
    accuracy = spec.points["accuracy"]
    assert spec.training and registry.max_score(spec) - registry.max_score(spec, verified=False) == accuracy
    assert registry.max_score(declaring(spec, training=None)) == registry.max_score(spec, verified=False)


def test_the_accuracy_check_gets_the_points_the_exercise_declares(spec):
    made = Check(name="accuracy", passed=True, message="0.93", points=3.0, max_points=3.0,
                 category="training")
    kind = Accuracy(7)

    def points(made):
        return [(c.points, c.max_points) for c in kind.run(CheckContext(spec, verification=made))]
    assert points(made) == [(7.0, 7.0)]
    assert points(replace(made, passed=False, points=0.0)) == [(0.0, 7.0)]
    assert kind.run(CheckContext(spec)) == []


def test_an_unknown_check_kind_is_refused_as_a_spec_error(spec, tmp_path):
    data = json.loads(Path(spec.path).read_text())
    data["checks"].append({"kind": "style", "points": 1})
    (tmp_path / "spec.json").write_text(json.dumps(data))
    with pytest.raises(SpecError, match="unknown check kind 'style'"):
        api.load_spec(tmp_path)


def test_a_new_check_kind_is_one_class_and_one_registration(spec, monkeypatch):
    class LayerCount(CheckKind):
        kind, stage = "layer_count", STRUCTURE

        def run(self, context):
            n = len(context.comparison.student)
            ok = n == len(context.spec.layers)
            return [Check(name="Number of layers", passed=ok, message=f"{n} layers",
                          points=float(self.points) if ok else 0.0, max_points=float(self.points),
                          category="layer_count")]
    monkeypatch.setitem(registry.KINDS, "layer_count", LayerCount)
    counted = declaring(spec, [*spec.checks, {"kind": "layer_count", "points": 2}])
    assert registry.max_score(counted) == registry.max_score(spec) + 2
    checks, _ = structure.check_layers(counted, spec.infos())
    assert checks[-1].category == "layer_count" and checks[-1].points == 2.0


def test_the_summary_counts_the_layers_the_exercise_has_students_add(spec):
    assert graded(spec, spec.ref_layers).summary == \
        "All checks passed: the four layers match the reference."
    two = declaring(spec, missing=spec.missing[:2])
    assert graded(two, spec.ref_layers).summary == \
        "All checks passed: the two layers match the reference."
    one = declaring(spec, missing=spec.missing[:1])
    assert graded(one, spec.ref_layers).summary == \
        "All checks passed: the one layer matches the reference."


def test_the_hint_for_nothing_added_names_the_exercise_s_marker(spec):
    ref = spec.ref_layers
    empty = ref[:min(spec.missing)] + ref[max(spec.missing) + 1:]
    marked = declaring(spec, markers={"start": "## YOUR LAYERS BELOW"})
    assert "where the notebook says '## YOUR LAYERS BELOW'" in graded(marked, empty).summary
    unmarked = declaring(spec, markers={})
    assert "nothing was added where your layers go" in graded(unmarked, empty).summary


@pytest.mark.parametrize("folder", sorted(p.parent for p in (ROOT / "reference").glob("*/spec.json")),
                         ids=lambda p: p.name)
def test_every_spec_carries_the_checks_markers_and_split_of_its_exercise_json(folder):
    exercise, spec = load_exercise(folder), Spec.load(folder)
    assert spec.checks == exercise["checks"] and spec.markers == exercise["markers"]
    assert spec.questions == exercise.get("questions", [])
    assert spec.data["split"] == exercise["data"]["split"] == spec.training["split"]


def test_an_older_points_object_declares_the_same_checks():
    legacy = {"points": {"missing_layer": {"type": 1, "args": 1, "output_shape": 1, "params": 1},
                         "architecture": 2, "totals": 1, "accuracy": 3}}
    declared = load_exercise(ROOT / "reference" / "cnn2")["checks"]
    assert checks_of(legacy) == [c for c in declared if c["kind"] != "facts"]  # facts: new kind


def test_layers_after_flatten_are_told_the_exercise_s_markers():
    from grader import advice
    error = "ValueError: Input 0 of layer \"conv2d\" is incompatible: expected ndim=4, found ndim=2"
    marked = advice.Facts("data.pkl.gz", markers={"start": "# BEGIN", "end": "# END"})
    assert "between the markers `# BEGIN` and `# END` in the model cell" in \
        advice.advise("cell_error", error, None, "", marked)
    assert "between the markers in the model cell" in \
        advice.advise("cell_error", error, None, "", advice.Facts("data.pkl.gz"))


def test_the_verification_trains_on_the_exercise_s_split(spec, data_file):
    from grader.settings import Settings
    from grader.verify.verifier import make_job
    def split_of(spec):
        return make_job(spec.ref_layers, spec.input_shape, spec, data_file, Settings())["split"]
    split = {"train": [0, 100], "validation": [100, 150]}
    assert split_of(declaring(spec, training={**spec.training, "split": split})) == split
    declared = declaring(spec, training={k: v for k, v in spec.training.items() if k != "split"},
                         data={**spec.data, "split": split})
    assert split_of(declared) == split
    with pytest.raises(SpecError, match="no data split"):
        split_of(replace(declared, data=spec.data | {"split": None}))


def test_cnn2_keeps_its_points_through_the_declaration(spec):
    assert (registry.max_score(spec, answers=False), registry.max_score(spec, verified=False, answers=False)) == \
        (22.0, 19.0)
    # the written answers' facts: 1 + 0.5 (a), 1 (b), 0 (c: a claim worth nothing)
    assert registry.max_score(spec) - registry.max_score(spec, answers=False) == 2.5

"""Points follow the student's work, for every shipped exercise: the untouched template scores 0,
the solution full marks, a single mistake is charged once, a missing layer costs more than a
wrong argument, two mistakes more than either, and every output says why a ✗ kept (or got no)
points. Graded from the spec (no kernel) with the verification training assumed to pass, so
that only the exercise's rule can keep the template from being paid; the real notebooks:
``test_the_template_notebook_scores_zero_and_the_solution_full_marks``."""
from __future__ import annotations

import copy
import json
from dataclasses import replace

import pytest

from grader import layers as L
from grader.checks import registry, validate
from grader.checks import scoring as structure
from grader.exceptions import GraderError, SpecError
from grader.exercise.build import build
from grader.exercise.spec import Spec, exercises
from grader.render import gradescope, html, points, terminal
from grader.result import Result, Status

from tests import mutations as M

SPECS = {name: Spec.load(folder) for name, folder in exercises().items()}
MUTANTS = {name: [m for m in M.mutants(spec) if not m.equivalent] for name, spec in SPECS.items()}


def score(spec: Spec, layers: list[L.Layer]) -> float:
    full = registry.max_score(spec, answers=False)
    return validate.Validation(full, validate.graded(spec, layers), []).template_score


def scored(spec: Spec, block: tuple) -> float | None:
    """The score of the template with ``block``; None for a chain no model could be (refused)."""
    try:
        layers = M.grader_layers(spec, block)
        L.infer(layers, tuple(spec.input_shape))
    except GraderError:
        return None
    return score(spec, layers)


def graded_result(spec: Spec, layers: list[L.Layer]) -> Result:
    result = Result(submission="s", status=Status.ERROR, max_score=registry.max_score(spec, answers=False))
    result.checks = validate.graded(spec, layers)
    structure.score(result)
    return result


@pytest.fixture(params=sorted(SPECS), ids=str)
def exercise(request) -> str:
    return request.param


# --- the template and the solution ------------------------------------------------------------

def test_every_exercise_scores_its_template_zero_and_its_solution_full_marks(exercise):
    checked = validate.validate(SPECS[exercise])
    assert checked.problems() == []
    assert checked.template_score == 0 and checked.solution_score == checked.max_score > 0


def test_the_template_keeps_no_points_even_where_its_network_is_right(exercise):
    """The template's architecture differs only as a consequence, and its training passes: the
    rule, not the checks, is what keeps these from paying."""
    spec = SPECS[exercise]
    checks = validate.graded(spec, validate.template_layers(spec))
    whole = [c for c in checks if c.category != "added_layer"]
    assert whole and all(c.points == 0 and c.withheld for c in whole)
    assert any(c.passed or c.follows_from for c in whole)  # found right, still not paid


def test_points_that_reward_the_template_are_refused_by_grader_spec(exercise):
    spec = SPECS[exercise]
    loose = [{k: v for k, v in c.items() if k != "requires"} for c in spec.checks]
    unfair = replace(spec, checks=loose)
    problems = validate.validate(unfair).problems()
    assert problems and "untouched template would score" in problems[0]
    exercise_json = {"exercise": spec.exercise, "data": spec.data, "checks": loose,
                     "markers": spec.markers}
    template = L.infer(validate.template_layers(spec), tuple(spec.input_shape))
    with pytest.raises(SpecError, match="untouched template would score"):
        build(exercise_json, spec.infos(), template, tuple(spec.input_shape), {},
              training=spec.training)
    fair = build({**exercise_json, "checks": copy.deepcopy(spec.checks)}, spec.infos(), template,
                 tuple(spec.input_shape), {}, training=spec.training)
    assert fair.missing == spec.missing


@pytest.mark.parametrize("requires, words", [
    (["accuracy"], "not declared before it"), (["style"], "not declared before it"),
    ("added_layers", None), ([1], "must be a list"),
])
def test_requires_names_kinds_declared_before_it(requires, words):
    spec = SPECS["cnn2"]
    checks = copy.deepcopy(spec.checks)
    checks[1]["requires"] = requires  # the architecture check
    changed = replace(spec, checks=checks)
    if words is None:
        assert registry.max_score(changed) == registry.max_score(spec)
    else:
        with pytest.raises(SpecError, match=words):
            registry.max_score(changed)


def test_a_structure_check_cannot_wait_for_the_training():
    spec = SPECS["cnn2"]
    checks = [c for c in copy.deepcopy(spec.checks) if c["kind"] != "accuracy"]
    reordered = [{"kind": "accuracy", "points": 3}, *checks]
    reordered[1 + 1]["requires"] = ["accuracy"]
    with pytest.raises(SpecError, match="cannot require 'accuracy'"):
        registry.max_score(replace(spec, checks=reordered))


# --- the fairness ladder ----------------------------------------------------------------------

def test_a_single_mistake_is_charged_once_and_never_closes_the_gate(exercise):
    spec, full = SPECS[exercise], registry.max_score(SPECS[exercise], answers=False)
    per_layer = sum(spec.points["added_layers"].values())
    for mutant in MUTANTS[exercise]:
        got = scored(spec, mutant.block)
        if got is None:
            continue
        assert 0 < got < full, f"{mutant.label}: {got}"
        if mutant.label.startswith("remove"):
            assert full - got == per_layer, f"{mutant.label} costs {full - got}"


def _argument_mutants(exercise: str) -> list[M.Mutant]:
    return [m for m in MUTANTS[exercise] if "=" in m.label and " for " not in m.label]


def test_a_missing_layer_costs_more_than_any_wrong_argument(exercise):
    spec = SPECS[exercise]
    removed = [scored(spec, m.block) for m in MUTANTS[exercise] if m.label.startswith("remove")]
    wrong = [s for s in (scored(spec, m.block) for m in _argument_mutants(exercise))
             if s is not None]
    assert removed and wrong and max(removed) < min(wrong)


def test_two_mistakes_cost_more_than_either_and_more_than_nothing_added(exercise):
    spec = SPECS[exercise]
    ref = M.block_recipes(spec)
    for mutant in _argument_mutants(exercise)[::7]:
        k = next(j for j, (a, b) in enumerate(zip(ref, mutant.block, strict=True)) if a != b)
        one = scored(spec, mutant.block)
        if one is None:
            continue
        for j in range(1, len(ref) - 1):
            if j == k:
                continue
            removed = tuple(r for i, r in enumerate(mutant.block) if i != j)
            missing_alone = scored(spec, tuple(r for i, r in enumerate(ref) if i != j))
            both = scored(spec, removed)
            if both is None:
                continue
            assert 0 < both < min(one, missing_alone), f"{mutant.label} and no layer {j}"


def test_nothing_added_is_the_bottom_of_the_ladder(exercise):
    spec = SPECS[exercise]
    nothing = score(spec, validate.template_layers(spec))
    scores = [s for s in (scored(spec, m.block) for m in MUTANTS[exercise]) if s is not None]
    assert nothing == 0 < min(scores)


def test_a_changed_template_layer_still_costs_when_the_block_is_right(exercise):
    spec = SPECS[exercise]
    ref = spec.ref_layers
    k = next(k for k, layer in enumerate(ref) if k not in spec.missing and layer.kind == "Dense")
    units = ref[k].args["units"] * 2
    damaged = [*ref[:k], L.Layer("Dense", {**ref[k].args, "units": units}, ref[k].name), *ref[k + 1:]]
    checks = validate.graded(spec, damaged)
    architecture = next(c for c in checks if c.category == "architecture")
    assert architecture.points == 0 and not architecture.withheld
    assert score(spec, damaged) < registry.max_score(spec, answers=False)


# --- every line shows its points --------------------------------------------------------------

def _no_pooling(spec: Spec) -> list[L.Layer]:
    last = max(spec.missing)
    return [layer for k, layer in enumerate(spec.ref_layers) if k != last]


def test_the_terminal_shows_points_per_check_and_why_a_failed_one_kept_them(exercise):
    spec = SPECS[exercise]
    result = graded_result(spec, _no_pooling(spec))
    lines = terminal.summary(result).splitlines()
    for check in result.checks:
        line = next(x for x in lines if f" {check.name}: " in x and points.fraction(check) in x)
        kept = not check.passed and check.follows_from and check.points == check.max_points
        assert ("points kept" in line) == bool(kept), line
    assert any("follows from layer" in x and "points kept" in x for x in lines)


def test_the_template_s_lines_say_no_points_are_kept(exercise):
    spec = SPECS[exercise]
    result = graded_result(spec, validate.template_layers(spec))
    text = terminal.summary(result)
    assert result.score == 0 and "points kept" not in text.replace("no points kept", "")
    assert "but no points kept" in text and "not paid: the layers you added earned no points" \
        in text
    tests = gradescope.gradescope_results(result)["tests"]
    assert all(t["output"].startswith(f"**{t['score']:g}/{t['max_score']:g} points**")
               for t in tests)
    assert sum("what the template already holds earns nothing" in t["output"] for t in tests) == \
        sum(1 for c in result.checks if c.withheld)
    page = html.render_report(result)
    assert page.count("what the template already holds earns nothing") >= 2


def test_the_rule_s_reason_survives_the_json_result(exercise):
    spec = SPECS[exercise]
    result = graded_result(spec, validate.template_layers(spec))
    back = Result.from_dict(json.loads(json.dumps(result.to_dict())))
    assert [c.withheld for c in back.checks] == [c.withheld for c in result.checks]

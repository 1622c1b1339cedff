"""Stage 3b: of all the Keras models a notebook holds, choose the one to grade.

A notebook may keep last week's ``cnn1`` beside this week's network, or name it ``model2``.
Every gradable candidate (a real chain of allowed layers, not over the parameter limit) is
aligned with the reference exactly as the comparison will align it, and the best alignment
score wins; ``model`` wins only a tie (then the kernel's order: by name). The others are listed
in the result with why they were not graded. When none is gradable, the error of ``model`` (else
of the first model) is raised, naming the others, so a message never says "none found" beside a
list of what was found.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from grader import layers as L
from grader.compare import align as compare
from grader.compare import equivalence
from grader.exceptions import ModelTooLarge, NotGradable
from grader.exercise.spec import Spec
from grader.extract import report as extract

MAX_LISTED = 20


@dataclass
class Choice:
    """The graded model, its inferred layers, and every other model found (for the result)."""

    model: extract.ExtractedModel
    infos: list[L.LayerInfo]
    totals: dict
    others: list[dict] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)


def choose(report: dict, spec: Spec, max_params_factor: float) -> Choice:
    """The best-matching gradable model; raises the preferred candidate's error if none is."""
    found = extract.candidates(report, tuple(spec.input_shape))
    scored = _scored(found, spec, max_params_factor)
    unexamined = [str(v)[:100] for v in report.get("unexamined", [])][:MAX_LISTED] \
        if isinstance(report.get("unexamined"), list) else []
    if not scored:
        raise _none_gradable(found, unexamined)
    _, _, _, chosen, infos, totals = max(scored, key=lambda s: s[:3])
    others = [_listing(c, "gradable, but matches the exercise less well" if c.error is None
                       else None) for c in found if c is not chosen]
    others += [{"variable": v, "model_class": None, "error_kind": None,
                "reason": "not examined: too many models in the notebook"} for v in unexamined]
    return Choice(chosen.model, infos, totals, others[:MAX_LISTED], _warnings(chosen, found))


def _scored(found: list[extract.Candidate], spec: Spec, factor: float) -> list[tuple]:
    """(score, is ``model``, -order, candidate, infos, totals) of each gradable candidate; a
    candidate whose shapes do not work out or that is too large gets its error instead."""
    ref, scored = spec.infos(), []
    for order, candidate in enumerate(found):
        if candidate.error is not None:
            continue
        try:
            assert candidate.model is not None  # a candidate has its model or its error
            infos = L.infer(candidate.model.layers, candidate.model.input_shape)
            totals = L.totals(infos)
            _check_size(totals, spec, factor)
            score = match_score(ref, infos)
        except NotGradable as exc:
            candidate.error = exc
            continue
        scored.append((score, candidate.variable == "model", -order, candidate, infos, totals))
    return scored


def match_score(ref: list[L.LayerInfo], stu: list[L.LayerInfo]) -> float:
    """The alignment's own score: what the comparison will find, summed over the rows (of the
    chains in canonical form, as ``structure.check_layers`` aligns them)."""
    ref = equivalence.tidy(ref)
    stu, _ = equivalence.normalize(stu, ref)
    return sum(compare._score(ref[r], stu[s]) if r is not None and s is not None else compare.GAP
               for r, s in compare.align(ref, stu))


def _check_size(totals: dict, spec: Spec, factor: float) -> None:
    """Refused before anything is built: the verifier would train it."""
    if totals["total"] > spec.totals["total"] * factor:
        raise ModelTooLarge(f"the model has {totals['total']:,} parameters, more than "
                            f"{factor:g} times the reference's {spec.totals['total']:,}; "
                            "it was not built")


def _listing(candidate: extract.Candidate, reason: str | None) -> dict:
    error = candidate.error
    return {"variable": candidate.variable, "model_class": candidate.model_class,
            "error_kind": error.kind if error else None,
            "reason": reason or (error.message[:300] if error else "")}


def _warnings(chosen: extract.Candidate, found: list[extract.Candidate]) -> list[str]:
    model = next((c for c in found if c.variable == "model"), None)
    if model is None or model is chosen:
        return []
    why = (f"it is not gradable ({model.error.kind})" if model.error
           else "it matches the exercise less well")
    return [f"graded the model in `{chosen.variable}`, not the one in `model`: {why}"]


def _none_gradable(found: list[extract.Candidate], unexamined: list[str]) -> NotGradable:
    """The error of ``model`` (else the first model), naming every other model found."""
    first = found[0]
    error = first.error
    assert error is not None  # none was gradable: each has its error
    others = [_listing(c, None) for c in found[1:]][:MAX_LISTED]
    names = [f"{o['variable']} ({o['model_class']}: {o['error_kind']})" for o in others]
    names += [f"{v} (not examined)" for v in unexamined]
    if names:
        error.message = (f"{error.message} No other model could be graded either: "
                         f"{', '.join(names[:MAX_LISTED])}.")
    error.details.setdefault("variable", first.variable)
    error.details["other_models"] = others
    return error

"""A written answer's fact about a reference model: the number the student quotes (e.g. cnn1's
validation accuracy) lies within what the grader measured for it (``baselines.json``)."""
from __future__ import annotations

from grader.answers import numbers
from grader.baselines import store
from grader.result import Check

RUNS = ("verification", "course")


def measured_range(data: dict | None, fact: dict) -> tuple[float, float] | None:
    """min..max of the fact's metric over the model's stored runs, widened by the tolerance."""
    model = ((data or {}).get("models") or {}).get(str(fact["baseline"]))
    if not model:
        return None
    metric = str(fact.get("metric", "val_accuracy"))
    kinds = RUNS if fact.get("runs", "all") == "all" else (str(fact["runs"]),)
    found = [_metric(run, metric) for kind in kinds for run in model.get(kind) or []]
    values = [v for v in found if v is not None]
    if not values:
        return None
    tolerance = float(fact.get("tolerance", 0.02))
    return round(min(values) - tolerance, 6), round(max(values) + tolerance, 6)


def _metric(run: dict, metric: str) -> float | None:
    if metric in run and isinstance(run[metric], (int, float)):
        return float(run[metric])
    curve = (run.get("curves") or {}).get(metric)
    return float(curve[-1]) if curve and isinstance(curve[-1], (int, float)) else None


def check(base: Check, fact: dict, text: str, spec) -> Check:
    """The fact's check: passed when a quoted number (0..1 or a percentage) is in the range."""
    name = str(fact["baseline"])
    span = measured_range(store.load(spec), fact)
    quoted = [(token, v) for token, values in numbers.numbers_in(text) for v in values
              if 0 <= v <= 1]
    base.actual = [t for t, _ in quoted][:5] or None
    if span is None:
        base.message = f"not checked: the grader has no measurements of {name} (grader baselines)"
        base.passed = base.max_points == 0
        return base
    low, high = span
    base.expected = [low, high]
    measured = f"{low:.3f}–{high:.3f}"
    return numbers.settle(
        base, quoted, lambda v: low <= v <= high,
        f"“{{hit}}” is within what the grader measured for {name} ({measured})",
        f"quoted {{quoted}}; the grader measured {name} at {measured}",
        f"no accuracy quoted (the grader measured {name} at {measured})")

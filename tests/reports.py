"""Results for the report tests, built without a kernel: layers → checks → Result.

Each one is shaped like the pipeline's (the same check and scoring code); the hostile ones
carry markup in every place a submission controls.
"""
from __future__ import annotations

from grader import advice
from grader import layers as L
from grader.checks import registry
from grader.checks import scoring as structure
from grader.checks.kind import TRAINING, CheckContext
from grader.result import Check, ErrorInfo, Result, Status

#: markup that would set ``window.__pwned`` (or open a dialog) if a report ran it
SCRIPT = "<script>window.__pwned = 1; alert(1)</script>"
IMG = "<img src=x onerror=\"window.__pwned = 2\">"
CURVES = {"accuracy": [0.72, 0.90, 0.95], "val_accuracy": [0.75, 0.90, 0.93],
          "loss": [0.90, 0.33, 0.17], "val_loss": [0.80, 0.36, 0.24]}
STUDENT_HISTORY = {"accuracy": [0.80], "loss": [0.70], "val_accuracy": [0.60], "val_loss": [2.5]}


def renamed(layer: L.Layer, name: str) -> L.Layer:
    return L.Layer(layer.kind, layer.args, name, layer.class_name)


def with_args(layer: L.Layer, **changes) -> L.Layer:
    return L.Layer(layer.kind, {**layer.args, **changes}, layer.name, layer.class_name)


def edited(spec, edit) -> list[L.Layer]:
    """The reference's layers with ``edit`` applied to the layers the student adds."""
    ref = spec.ref_layers
    first, last = min(spec.missing), max(spec.missing)
    return ref[:first] + edit([ref[i] for i in spec.missing]) + ref[last + 1:]


def graded(spec, layers: list[L.Layer], name: str, *, accuracy: float | None = None,
           history: dict | None = None) -> Result:
    """A Result as the pipeline builds it; ``accuracy`` adds a verification run with curves."""
    result = Result(submission=name, status=Status.ERROR, max_score=registry.max_score(spec),
                    versions={"grader": "0.1.0", "tensorflow": "2.21.0", "keras": "3.15.1"},
                    spec={"exercise": spec.exercise, "sha256": "ab" * 32, "path": "reference/spec.json"},
                    sandbox="off", timings={"execute": 7.6, "total": 8.1}, model_variable="model")
    infos = L.infer(layers, tuple(spec.input_shape))
    result.layers = [i.to_dict() for i in infos]
    result.totals, result.reference_totals = L.totals(infos), spec.totals
    checks, rows = structure.check_layers(spec, infos)
    result.checks, result.alignment = checks, [r.to_dict() for r in rows]
    result.student_history = history
    _answered(spec, result)
    if accuracy is not None:
        low = 0.88
        result.training = {"val_accuracy": accuracy, "range": [low, 1.0], "epochs": 3,
                           "seconds": 14.2, "curves": {**CURVES, "val_accuracy": [0.75, 0.9, accuracy]}}
        ok = accuracy >= low
        made = Check(name="Verification accuracy", passed=ok, category="training",
                     message=f"validation accuracy {accuracy:.3f} (range {low:.3f}–1.000)",
                     points=3.0 if ok else 0.0, max_points=3.0,
                     hint=None if ok else "the architecture trains badly")
        # through the exercise's declared accuracy check, its rule included (as the pipeline)
        result.checks += registry.run(CheckContext(spec, training=result.training, verification=made,
                                              earlier=list(result.checks)), TRAINING)
        result.max_score += 0 if spec.training else 3.0
    structure.score(result)
    return result


def _answered(spec, result: Result) -> None:
    """The written answers of the reference solution (the samples carry them), with their facts
    as the pipeline adds them."""
    if not spec.questions or not spec.path:
        return
    from pathlib import Path

    from grader.answers import extract as found
    from grader.checks import registry
    from grader.checks.kind import ANSWERS, CheckContext
    cells = found.notebook_cells(Path(spec.path).parent / "solution.ipynb")
    answers = found.find_answers(cells, spec.questions)
    result.answers = [a.to_dict() for a in answers]
    result.checks += registry.run(CheckContext(spec, answers=answers), ANSWERS)


def passing(spec) -> Result:
    return graded(spec, spec.ref_layers, "alice_solution", accuracy=0.931,
                  history={**STUDENT_HISTORY, "lr": [0.001]})


def no_padding(spec, layer_name: str = "conv2d_3") -> Result:
    """The usual mistake: the added Conv2D without padding='same'."""
    layers = edited(spec, lambda m: [renamed(with_args(m[0], padding="valid"), layer_name), *m[1:]])
    return graded(spec, layers, "bob_no_padding", history=STUDENT_HISTORY)


def no_pooling(spec) -> Result:
    return graded(spec, edited(spec, lambda m: m[:3]), "carol_no_pooling")


def hostile_failing(spec) -> Result:
    """Markup in a layer name, the model variable, a warning and a history key."""
    result = no_padding(spec, layer_name=SCRIPT)
    result.submission = "eve_failing"
    result.model_variable = IMG
    result.warnings = [f"the notebook printed {SCRIPT}"]
    result.student_history = {**STUDENT_HISTORY, SCRIPT: [1.0]}
    return result


def error(spec, name: str = "mallory_typo", message: str = "name 'MaxPoolling2D' is not defined") -> Result:
    """A cell that raised, with the traceback as nbclient gives it (colour codes included)."""
    source = ("model = Sequential()\nmodel.add(Conv2D(64, kernel_size, padding='same'))\n"
              f"model.add(MaxPoolling2D(pool_size=pool_size))  # {message}")
    trace = ("An error occurred while executing the following cell:\n------------------\n"
             f"{source}\n------------------\n\n\x1b[0;31mNameError\x1b[0m   Traceback (most recent call last)\n"
             "Cell In[8], line 3\n\x1b[1;32m----> 3\x1b[0m model.add(MaxPoolling2D(pool_size=pool_size))\n\n"
             f"\x1b[0;31mNameError\x1b[0m: {message}\n")
    return Result(submission=name, status=Status.ERROR, max_score=registry.max_score(spec),
                  summary=f"Not graded (cell 8): cell 8 raised NameError: {message}",
                  error=ErrorInfo(kind="cell_error", message=f"cell 8 raised NameError: {message}",
                                  cell_index=8, cell_source=source, traceback=trace,
                                  advice=advice.GENERIC["cell_error"]),
                  versions={"grader": "0.1.0"}, spec={"exercise": spec.exercise},
                  timings={"total": 3.1}, sandbox="off")


def hostile_error(spec) -> Result:
    return error(spec, name=f"mallory{IMG}", message=f"{IMG} {SCRIPT}")


def code_full_marks(result: Result | dict) -> bool:
    """Every check of the code earned its maximum (a notebook without answer cells still
    lacks the written answers' facts, which are not the code's)."""
    checks = result["checks"] if isinstance(result, dict) else [c.to_dict() for c in result.checks]
    code = [c for c in checks if c["category"] != "answers"]
    return bool(code) and all(c["points"] == c["max_points"] for c in code)


#: what a cross-check measures of the host and of its per-run probe (a random seed each run)
CROSSCHECK_VOLATILE = ("seconds", "seconds_total", "max_abs_diff")


def without_volatile_crosscheck(result: dict) -> dict:
    """A result dict whose cross-check keeps its verdict (matched, reason, mismatches,
    compared) but not its duration and the float error of this run's probe."""
    found = result.get("crosscheck")
    if not isinstance(found, dict):
        return result
    return {**result, "crosscheck": {k: v for k, v in found.items()
                                     if k not in CROSSCHECK_VOLATILE}}

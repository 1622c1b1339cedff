"""``grader baselines``: train an exercise's declared reference models once, store the numbers.

Each model is trained by the verification worker (``grader.verify.verifier.Verifier``) with a
job made by the same ``make_job`` as a student's verification: the calibrated epochs, batch
size, data split, validation (BatchNormalization statistics re-estimated) and thread count, so
the conditions are identical by construction. Only the declared optimizer and the per-pixel
standardization differ, as the course's notebooks train these models. Every declared seed is
trained (the spread is what a fact about a baseline is checked against); with ``course_epochs``
each model, and the reference solution, is trained once more for that many epochs (the course's
own ``fit``: the report's "as in the course" row).
"""
from __future__ import annotations

import datetime as dt
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

from grader import layers as L
from grader.baselines.declare import Baseline, Declaration
from grader.exceptions import SpecError
from grader.exercise.spec import Spec
from grader.settings import Settings
from grader.verify.memo import NoMemo
from grader.verify.verifier import Verifier, classes, make_job, split_of

REFERENCE_ID = "reference"
KEPT = ("val_accuracy", "curves", "epochs", "batch_size", "seed", "seconds", "versions")


def train_all(spec: Spec, declaration: Declaration, data_file: Path, settings: Settings,
              progress: Callable[[str], None] | None = None, command: str = "") -> dict:
    """The content of ``baselines.json`` (plain data)."""
    if spec.training is None:
        raise SpecError("the spec is not calibrated: run `grader calibrate` first (the baselines "
                        "are trained with the verification's settings)")
    settings = settings.with_(verify_epochs=None)
    reference = Baseline(REFERENCE_ID, f"{spec.exercise}, the reference solution", "image",
                         spec.ref_layers,
                         {"name": str(spec.training.get("optimizer", "adam")),
                          "learning_rate": float(spec.training["learning_rate"])})
    started = time.monotonic()
    models: dict[str, dict] = {}
    versions: dict = {}
    # measured now, never remembered; trainings only, with no kernel beside them: never recycled
    with Verifier(settings, memo=NoMemo(), recycle_rss=None) as verifier:
        for model in [*declaration.models, reference]:
            entry = _describe(model, spec)
            if model is not reference:
                entry["verification"] = [
                    _run(verifier, spec, model, data_file, settings, seed, None, progress)
                    for seed in declaration.seeds]
            if declaration.course_epochs:
                entry["course"] = [_run(verifier, spec, model, data_file, settings,
                                        int(spec.training["seed"]), declaration.course_epochs,
                                        progress)]
            for run in entry.get("verification", []) + entry.get("course", []):
                versions = run.pop("versions", None) or versions
            models[model.id] = entry
    return {"exercise": spec.exercise, "by": "grader baselines", "command": command,
            "date": dt.date.today().isoformat(), "spec_sha256": spec.sha256,
            "settings": {"epochs": int(spec.training["epochs"]),
                         "batch_size": int(spec.training["batch_size"]),
                         "grading_seed": int(spec.training["seed"]),
                         "seeds": list(declaration.seeds),
                         "course_epochs": declaration.course_epochs,
                         "split": split_of(spec), "threads": int(settings.tf_threads),
                         "data_sha256": spec.data["sha256"]},
            "versions": versions, "seconds": round(time.monotonic() - started, 1),
            "models": models}


def _describe(model: Baseline, spec: Spec) -> dict:
    infos = L.infer(model.layers, tuple(model.input_shape(spec.input_shape)))
    return {"title": model.title, "input": model.input, "optimizer": model.optimizer,
            "standardize": model.standardize, "note": model.note,
            "layers": [i.layer.describe() for i in infos], "params": L.totals(infos)}


def _run(verifier: Verifier, spec: Spec, model: Baseline, data_file: Path, settings: Settings,
         seed: int, epochs: int | None, progress: Callable[[str], None] | None) -> dict:
    assert spec.training is not None
    trial = replace(spec, training={**spec.training, "seed": seed})
    job = make_job(model.layers, model.input_shape(spec.input_shape), trial, data_file,
                   settings.with_(verify_epochs=epochs))
    job.update(optimizer=model.optimizer["name"], learning_rate=model.optimizer["learning_rate"],
               standardize=model.standardize)
    assert job["classes"] == classes(spec)
    run = verifier.train(job, settings.with_(verify_timeout=max(settings.verify_timeout, 1800.0)))
    if progress:
        progress(f"{model.id}: seed {seed}, {job['epochs']} epoch(s): validation accuracy "
                 f"{run['val_accuracy']:.4f} ({run['seconds']:.1f} s)")
    kept = {k: run[k] for k in KEPT if k in run}
    kept["gap"] = gap(run)
    return kept


def gap(run: dict) -> float | None:
    """Training minus validation accuracy at the last epoch (positive: overfitting). The
    training accuracy is Keras's mean over the last epoch's batches (dropout active)."""
    curves = run.get("curves") or {}
    train, val = (curves.get("accuracy") or [None])[-1], run.get("val_accuracy")
    return None if train is None or val is None else round(train - val, 6)

"""Calibration: the accuracy range of the verification check, measured on the reference.

The reference architecture (the spec's layers) is trained over several seeds with exactly the
settings used when grading; the lower bound is the worst accuracy seen minus ``MARGIN``.
Why 0.05: over seeds the solution spreads by about ±0.01 after one epoch, and another machine or
a patch release of TensorFlow changes the numbers about as much as another seed does; 0.05 lies
several spreads below the worst seed, while architectures that learn badly (a 1–2 unit
bottleneck, a sigmoid collapse, no softmax) measure 0.1–0.35. Recalibrate (one command:
``grader calibrate``) when TensorFlow, Keras or the training settings change.
"""
from __future__ import annotations

import datetime as dt
import math
import statistics
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from grader.exceptions import UsageError
from grader.exercise.spec import Spec
from grader.settings import Settings
from grader.verify.memo import NoMemo
from grader.verify.persistent import WriteOnly, store_for
from grader.verify.verifier import DEFAULTS, Verifier, make_job, split_of

MARGIN = 0.05
#: defaults measured on a 2-core CPU: one epoch of the course's batch size takes ~4.5 s and
#: separates the solution (0.91–0.94) from architectures that learn badly (≤ 0.35)
DEFAULT_EPOCHS = 1
DEFAULT_BATCH_SIZE = 128
DEFAULT_SEEDS = tuple(range(1, 11))


@dataclass(frozen=True)
class Plan:
    """What ``grader calibrate`` was asked for; ``None``: the spec's previous calibration's
    value, else the default. ``seed``: the one verification trains with when grading."""

    seeds: tuple[int, ...] | None = None
    epochs: int | None = None
    batch_size: int | None = None
    seed: int | None = None
    margin: float = MARGIN


def calibrate(spec: Spec, data_file: Path, settings: Settings, plan: Plan = Plan(),
              progress: Callable[[int, dict], None] | None = None) -> dict:
    """Train the reference over the plan's seeds; returns the spec's new ``training`` object."""
    previous = spec.training or {}
    margin = plan.margin
    seeds = [int(s) for s in (plan.seeds or previous.get("calibration", {}).get("seeds")
                              or DEFAULT_SEEDS)]
    draft: dict[str, Any] = {"epochs": int(plan.epochs or previous.get("epochs") or DEFAULT_EPOCHS),
             "batch_size": int(plan.batch_size or previous.get("batch_size") or DEFAULT_BATCH_SIZE),
             "seed": int(plan.seed if plan.seed is not None else seeds[0]),
             "optimizer": "adam", "learning_rate": DEFAULTS["learning_rate"],
             "loss": "categorical_crossentropy", "bn_images": DEFAULTS["bn_images"],
             "split": split_of(spec),
             "preprocessing": "none: the data file is already standardized per pixel"}
    if draft["epochs"] < 1 or draft["batch_size"] < 1 or len(seeds) < 2:
        raise UsageError("calibration needs epochs and a batch size of at least 1, and two seeds")
    settings = settings.with_(verify_epochs=None)
    runs = []
    # every seed trained afresh (this machine's numbers now), each written to the memo kept
    # between runs: the grading seed's entry is the answer a later check of the reference gets
    kept = store_for(settings.memo)
    with Verifier(settings, memo=WriteOnly(kept) if kept else NoMemo(),
                  recycle_rss=None) as verifier:  # trainings only: no kernel beside them
        for s in seeds:
            trial = replace(spec, training={**draft, "seed": s, "range": [0.0, 1.0]})
            job = make_job(spec.ref_layers, tuple(spec.input_shape), trial, data_file, settings)
            run = verifier.train(job, settings)
            runs.append(run)
            if progress:
                progress(s, run)
    accuracies = [r["val_accuracy"] for r in runs]
    if any(a is None for a in accuracies):
        raise UsageError("the reference architecture did not train (no accuracy): check the spec")
    low = math.floor((min(accuracies) - margin) * 100) / 100
    return {**draft, "range": [max(low, 0.0), 1.0],
            "calibration": {
                "seeds": seeds, "accuracies": accuracies,
                "mean": round(statistics.mean(accuracies), 4),
                "stdev": round(statistics.stdev(accuracies), 4),
                "margin": margin, "rule": "low = min(accuracies) - margin, rounded down to 0.01",
                "seconds": [r["seconds"] for r in runs],
                "peak_rss_bytes": max(r["peak_rss_bytes"] for r in runs)},
            "versions": runs[0].get("versions"), "threads": runs[0].get("threads"),
            "date": dt.date.today().isoformat(), "by": "grader calibrate"}

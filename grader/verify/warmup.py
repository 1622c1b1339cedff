"""A verification worker's warm-up: the first job a grading's verifier gives each worker it
starts ahead of the notebook (``{"kind": "warm_up"}``; its answer is read with the worker's
ready line, so a worker that dies there fails as one that did not start, never as the
student's training).

A worker's first training costs ~0.7 s more than its later ones (cnn2 on 2 cores: 5.0–5.2 s
against 4.2–4.5 s, 2026-12-07): the first ``tf.function`` traced in a process, the modules Keras
and TensorFlow import on first use, the first optimizer and dataset. The worker's own ``train``
on a tiny fixed job and random data pays them in ~0.9 s. The grader starts a worker before the
notebook runs, and its first real job (the cross-check, then the training) comes only once the
notebook has run, seconds later: in a check that time is otherwise idle. A worker started on
demand, just before a job, and a verifier that only cross-checks (``--no-verify``) skip it:
there it would delay the job, or cost ~0.9 CPU-s to save ~0.3 s of the cross-check.

Nothing of it stays: a training clears the session and sets its own seeds, and a cross-check
loads every weight and compares no random layer's output, so a job's numbers are the same with
or without the warm-up (``tests/test_verify_worker.py``, ``tests/test_verify.py``). It trains
only this module's fixed job, never anything of a student's or of the exercise's, so no result
can come from it.
"""
from __future__ import annotations

import sys
import time
import traceback
from collections.abc import Callable
from typing import Any

#: the tiny job: one layer of each kind a course network uses (its first use is what costs),
#: trained by the worker's own ``train``, so the warm-up goes the way every training goes
JOB = {"layers": [{"kind": "Conv2D", "args": {"filters": 2, "kernel_size": [3, 3], "padding": "same"}},
                  {"kind": "BatchNormalization", "args": {}},
                  {"kind": "Activation", "args": {"activation": "relu"}},
                  {"kind": "MaxPooling2D", "args": {"pool_size": [2, 2]}},
                  {"kind": "Flatten", "args": {}},
                  {"kind": "Dropout", "args": {"rate": 0.3}},
                  {"kind": "Dense", "args": {"units": 10}},
                  {"kind": "Activation", "args": {"activation": "softmax"}}],
       "input_shape": [None, 8, 8, 1], "epochs": 1, "batch_size": 32, "seed": 0,
       "learning_rate": 0.001, "bn_images": 32}
IMAGES, CLASSES = 64, 10


class Arrays:
    """The warm-up's data, in the shape ``worker.Data.get`` gives a job's: random flat images
    and one-hot labels (training, then validation), the same each time."""

    def get(self, job: dict) -> tuple:
        import numpy as np

        rng = np.random.default_rng(0)
        pixels = int(np.prod(job["input_shape"][1:]))
        x = rng.normal(size=(2 * IMAGES, pixels)).astype("float32")
        y = np.eye(CLASSES, dtype="float32")[rng.integers(0, CLASSES, size=2 * IMAGES)]
        return x[:IMAGES], y[:IMAGES], x[IMAGES:], y[IMAGES:]


def quietly(train: Callable[[dict, Any], dict]) -> float | None:
    """Seconds the worker's ``train`` (passed in: the two modules do not import each other)
    took on ``JOB``, or None where it failed (an exception, or memory the worker's limit
    refuses): that costs only the time it would have saved, and its traceback goes to the
    worker's log (stderr)."""
    start = time.monotonic()
    try:
        train(JOB, Arrays())
    except Exception:
        traceback.print_exc(file=sys.stderr)
        return None
    return round(time.monotonic() - start, 3)

"""A verification worker's warm-up: the first job a grading's verifier gives each worker it
starts ahead of the notebook (``{"kind": "warm_up"}``; its answer is read with the worker's
ready line, so a worker that dies there fails as one that did not start, never as the
student's training).

A worker's first training costs ~0.7 s more than its later ones (cnn2 on 2 cores: 5.0–5.2 s
against 4.2–4.5 s, 2026-12-07): the first ``tf.function`` traced in a process, the modules Keras
and TensorFlow import on first use, the first optimizer and dataset. A fit of a tiny fixed model
on random data pays them in ~0.9 s. The grader starts a worker before the notebook runs, and
its first real job (the cross-check, then the training) comes only once the notebook has run,
seconds later: in a check that time is otherwise idle. A worker started on demand, just before a
job, and a verifier that only cross-checks (``--no-verify``) skip it: there it would delay the
job, or cost ~0.9 CPU-s to save ~0.3 s of the cross-check.

Nothing of it stays: the session is cleared before and after, a training clears it again and
sets its own seeds, and a cross-check loads every weight and compares no random layer's output,
so a job's numbers are the same with or without the warm-up (``tests/test_verify_worker.py``,
``tests/test_verify.py``). It trains only this module's fixed model, never anything of
a student's or of the exercise's, so no result can come from it.
"""
from __future__ import annotations

import sys
import time
import traceback
from collections.abc import Callable
from typing import Any

#: the tiny model: one layer of each kind a course network uses (its first use is what costs)
LAYERS = [{"kind": "Conv2D", "args": {"filters": 2, "kernel_size": [3, 3], "padding": "same"}},
          {"kind": "BatchNormalization", "args": {}},
          {"kind": "Activation", "args": {"activation": "relu"}},
          {"kind": "MaxPooling2D", "args": {"pool_size": [2, 2]}},
          {"kind": "Flatten", "args": {}},
          {"kind": "Dropout", "args": {"rate": 0.3}},
          {"kind": "Dense", "args": {"units": 10}},
          {"kind": "Activation", "args": {"activation": "softmax"}}]
IMAGE = (8, 8, 1)
INPUT_SHAPE: list[int | None] = [None, *IMAGE]
IMAGES, BATCH = 64, 32


def run(keras, build_model: Callable[..., Any], build_state: Callable[..., None]) -> float:
    """Fit the tiny model one epoch and call it as the validation and the cross-check do;
    returns the seconds it took. ``build_model``/``build_state``: the worker's own (passed in:
    the two modules do not import each other)."""
    import numpy as np

    start = time.monotonic()
    keras.utils.clear_session(free_memory=False)
    keras.utils.set_random_seed(0)
    rng = np.random.default_rng(0)
    x = rng.normal(size=(IMAGES, *IMAGE)).astype("float32")
    y = np.eye(10, dtype="float32")[rng.integers(0, 10, size=IMAGES)]
    model = build_model(keras, LAYERS, INPUT_SHAPE)
    model.compile(optimizer=keras.optimizers.Adam(learning_rate=0.001),
                  loss="categorical_crossentropy", metrics=["accuracy"])
    build_state(model, y)
    model.fit(x, y, batch_size=BATCH, epochs=1, shuffle=True, verbose=0)
    np.asarray(model(x[:BATCH], training=False))  # as the validation and the cross-check call it
    keras.utils.clear_session(free_memory=False)
    return time.monotonic() - start


def quietly(build_model: Callable[..., Any], build_state: Callable[..., None]) -> float | None:
    """``run``'s seconds, or None where it failed (an exception, or memory the worker's limit
    refuses): that costs only the time it would have saved, and its traceback goes to the
    worker's log (stderr)."""
    import keras

    try:
        return round(run(keras, build_model, build_state), 3)
    except Exception:
        traceback.print_exc(file=sys.stderr)
        return None

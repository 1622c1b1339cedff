"""Whether a notebook is worth the processes that have imported TensorFlow ahead of it.

A kernel forked from the kernel zygote, and a verification worker started before the notebook
runs, save a notebook that imports TensorFlow ~3 CPU-s each; for one that never does (a notebook
with a syntax error, a half-finished one, most of the tests' small notebooks) they cost ~3 CPU-s
each for nothing: such a kernel starts as a child in 0.3 CPU-s, and no model means nothing to
verify. The answer is a hint read from the notebook's bytes, never a verdict: a notebook that
hides its ``import keras`` (``__import__("ker" + "as")``) only runs in a kernel that imports
Keras itself, and gets its verification worker when its model is found, as it would anyway
(``Verifier`` starts one on demand). What the grader concludes does not depend on it.
"""
from __future__ import annotations

import re
from collections.abc import Iterable
from pathlib import Path

#: what a notebook that imports TensorFlow or Keras contains (in any spelling of the course's
#: notebooks: ``import keras``, ``from keras.layers``, ``import tensorflow as tf``, Keras 1)
NAMES = re.compile(rb"keras|tensorflow", re.IGNORECASE)


def wants_tensorflow(data: bytes) -> bool:
    """Whether these notebook bytes name Keras or TensorFlow anywhere."""
    return NAMES.search(data) is not None


def count_wanting(notebooks: Iterable[Path], limit: int) -> int:
    """How many of these notebooks (the grader's own private copies) name Keras or
    TensorFlow; one that cannot be read, or is over ``limit`` bytes, is not counted (its
    grading refuses it before any kernel starts)."""
    found = 0
    for path in notebooks:
        try:
            if path.stat().st_size <= limit and wants_tensorflow(path.read_bytes()):
                found += 1
        except OSError:
            continue
    return found

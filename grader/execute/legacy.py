"""Which notebooks run through the Keras 1/2 compatibility layer: detected from their code.

Only notebooks written for Keras 1/2 (the course's 2017 notebooks) get the layer
(``grader/kernel/compat.py``), because Keras 3 reads some of the same calls differently:
``Convolution2D(64, 3, 3)`` is a 3x3 kernel in Keras 1 and a stride of 3 in Keras 3. So the
name ``Convolution2D`` alone, which Keras 3 still has, is no marker: a notebook that runs on
Keras 3 is graded as Keras 3 reads it.
"""
from __future__ import annotations

import re

import nbformat

#: what marks a notebook's source as Keras 1/2 (name -> pattern); one hit is enough
MARKERS = {
    "border_mode=": r"\bborder_mode\s*=",
    "fit(nb_epoch=)": r"\.fit\s*\((?:[^()]|\([^()]*\))*\bnb_epoch\s*=",
    "init=": r"[(,]\s*init\s*=",
    "subsample=": r"\bsubsample\s*=",
    "output_dim=": r"\boutput_dim\s*=",
    "batch_input_shape=": r"\bbatch_input_shape\s*=",
    "keras.layers.<Keras 2 module>": r"\bkeras\.layers\.(normalization|convolutional|core|pooling)\b",
    "np_utils": r"\bnp_utils\b",
    "tf.set_random_seed": r"\btf\.set_random_seed\b",
    "predict_classes": r"\.predict_classes\s*\(",
    "history['acc']": r"""\[\s*['"](val_)?acc['"]\s*\]""",
}

def detect(source: str) -> list[str]:
    """Names of the Keras 1/2 markers found in a notebook's code (empty: a Keras 3 notebook).

    A plain assignment such as ``nb_epoch = 8`` is no marker: only ``fit(nb_epoch=...)`` is.
    """
    return [name for name, pattern in MARKERS.items() if re.search(pattern, source)]


def legacy_markers(nb: nbformat.NotebookNode) -> list[str]:
    """The Keras 1/2 markers in the notebook's code: non-empty means the compatibility layer."""
    return detect("\n".join(c.source for c in nb.cells if c.cell_type == "code"))

"""Stage 3: turn the kernel's untrusted JSON report into validated, allow-listed layers."""
from __future__ import annotations

import math
import re
from dataclasses import dataclass

from . import layers as L
from .exceptions import DisallowedLayer, InvalidModel, NoModel

MAX_LAYERS = 200
MAX_HISTORY = 1000
EPOCH = re.compile(r"^Epoch \d+/\d+", re.MULTILINE)
SAFE_DETAIL = re.compile(r"[^\w./ :,+-]")
METRIC = re.compile(r"\b([A-Za-z_]{1,40}): (nan|[-+]?\d*\.?\d+(?:[eE][-+]?\d+)?)")


@dataclass
class ExtractedModel:
    variable: str
    model_class: str
    input_shape: tuple
    layers: list[L.Layer]
    history: dict | None


def from_report(report: dict, default_input_shape: tuple | None = None) -> ExtractedModel:
    """Validate the report; every problem is a clear ``NotGradable`` naming what was found."""
    if not report.get("ok"):
        found = [str(f)[:100] for f in report.get("found", [])][:20]
        listing = ", ".join(found) if found else "none"
        raise NoModel("no Keras model found: the grader looks for a variable named `model`, or "
                      f"else the only Keras model in the notebook. Keras models found: {listing}.",
                      advice="Keep the course's variable name `model` for your network.")
    raw_layers = report.get("layers")
    if not isinstance(raw_layers, list) or not raw_layers:
        raise InvalidModel("the model has no layers")
    if len(raw_layers) > MAX_LAYERS:
        raise InvalidModel(f"the model has {len(raw_layers)} layers; at most {MAX_LAYERS} are graded")
    _check_chain(raw_layers)
    layers, input_shape = [], _shape(report.get("input_shape"))
    for raw in raw_layers:
        if not isinstance(raw, dict) or not isinstance(raw.get("config"), dict):
            raise InvalidModel("the model report has a malformed layer")
        class_name = str(raw.get("class_name"))[:100]
        if not str(raw.get("module", "")).startswith("keras."):
            raise DisallowedLayer(f"layer {class_name!r} is defined in the notebook "
                                  f"({str(raw.get('module'))[:100]}), not by Keras: the grader "
                                  "accepts only standard Keras layers", layer=class_name)
        layer = L.from_keras(class_name, raw["config"])
        if layer.kind == "InputLayer":
            input_shape = input_shape or _shape(layer.args.get("batch_shape")
                                                or layer.args.get("batch_input_shape"))
            continue
        layers.append(layer)
    input_shape = input_shape or default_input_shape
    if not input_shape:
        raise InvalidModel("the model has no input shape: give the first layer `input_shape=` or "
                           "start with `Input(shape=...)`")
    return ExtractedModel(str(report.get("variable", "model"))[:100],
                          str(report.get("model_class", ""))[:100], input_shape, layers,
                          _history(report.get("history")))


def _check_chain(raw_layers: list) -> None:
    """Only a straight chain of layers can be compared with the reference."""
    previous = None
    for raw in raw_layers:
        inbound = raw.get("inbound") if isinstance(raw, dict) else None
        name = (raw.get("config") or {}).get("name") if isinstance(raw, dict) else None
        if inbound is not None and previous is not None and list(inbound) != [previous]:
            raise InvalidModel(f"layer {name!r} does not take the previous layer's output as its "
                               "only input: the grader compares straight chains of layers only")
        previous = name


def _shape(value) -> tuple | None:
    if not isinstance(value, list) or not 2 <= len(value) <= 5:
        return None
    dims = value[1:]
    if not all(isinstance(d, int) and not isinstance(d, bool) and 0 < d <= L.MAX_DIM for d in dims):
        return None
    return (None, *dims)


def _history(value) -> dict | None:
    """Keep only finite numbers; the history is shown, never trusted."""
    if not isinstance(value, dict):
        return None
    out = {}
    for key, series in list(value.items())[:20]:
        if isinstance(series, list):
            nums = [float(x) for x in series[:MAX_HISTORY]
                    if isinstance(x, (int, float)) and not isinstance(x, bool) and math.isfinite(x)]
            if nums:
                out[str(key)[:50]] = nums
    return out or None


def environment(report: dict, mappings: dict, neutralized: dict) -> tuple[list[str], list[str]]:
    """The compatibility mappings used and the lines neutralized, as the kernel reported them:
    only names the grader knows are kept, each as the sentence the grader writes for it."""
    compat = report.get("compat") if isinstance(report.get("compat"), list) else []
    used = [f"{name} → {mappings[name]}" for name in dict.fromkeys(compat)
            if isinstance(name, str) and name in mappings]
    entries = report.get("neutralized") if isinstance(report.get("neutralized"), list) else []
    lines = []
    for entry in entries[:50]:
        what = entry.get("what") if isinstance(entry, dict) else None
        if isinstance(what, str) and what in neutralized:
            detail = SAFE_DETAIL.sub("", str(entry.get("detail") or ""))[:120]
            line = neutralized[what] + (f" ({detail})" if detail else "")
            if line not in lines:
                lines.append(line)
    return used, lines


def saved_history(nb) -> dict | None:
    """The training log the student's own run left in the submitted notebook's outputs.

    Keras prints one ``Epoch i/n`` line per epoch, then ``… - loss: 0.75 - accuracy: 0.78 …``;
    the last such line of each epoch gives its numbers. Shown in the report, never trusted.
    """
    for cell in getattr(nb, "cells", []):
        if cell.get("cell_type") != "code":
            continue
        text = "".join(o.get("text", "") for o in cell.get("outputs", [])
                       if o.get("output_type") == "stream" and isinstance(o.get("text"), str))
        curves: dict[str, list] = {}
        for chunk in EPOCH.split(text[:1_000_000])[1:]:
            lines = [line for line in re.split(r"[\r\n]", chunk) if "loss:" in line]
            for key, value in METRIC.findall(lines[-1] if lines else ""):
                curves.setdefault(key, []).append(float(value))
        if curves:
            return _history(curves)
    return None

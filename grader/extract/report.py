"""Stage 3: turn the kernel's untrusted JSON report into validated, allow-listed layers.

Each Keras model the notebook holds becomes a ``Candidate``: its layers if it is a real chain of
standard layers (``graph.layer_chain``), else the reason it cannot be graded. Which candidate is
graded is ``select.choose``'s decision."""
from __future__ import annotations

import math
import re
from dataclasses import dataclass, field

from grader import errors
from grader import layers as L
from grader.errors import ErrorKind
from grader.exceptions import DisallowedLayer, InvalidModel, NoModel, NotGradable
from grader.extract import graph

MAX_LAYERS = 200
MAX_MODELS = 20
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
    #: other variables bound to the same model object (``model = net``)
    aliases: list[str] = field(default_factory=list)


@dataclass
class Candidate:
    """One Keras model of the notebook: validated (``model``) or refused (``error``)."""

    variable: str
    model_class: str
    model: ExtractedModel | None = None
    error: NotGradable | None = None


def candidates(report: dict, default_input_shape: tuple | None = None) -> list[Candidate]:
    """Every model the kernel described, in its order (``model`` first), each validated alone."""
    if not report.get("ok"):
        raise no_model(report)
    raw_models = report.get("models")
    if not isinstance(raw_models, list) or not raw_models:
        raise InvalidModel("the model report lists no models")
    history = _history(report.get("history"))
    out = []
    for desc in raw_models[:MAX_MODELS]:
        desc = desc if isinstance(desc, dict) else {}
        variable = str(desc.get("variable", "?"))[:100]
        candidate = Candidate(variable, str(desc.get("class_name", ""))[:100])
        try:
            candidate.model = _validate(desc, variable, default_input_shape, history)
        except NotGradable as exc:
            candidate.error = exc
        out.append(candidate)
    return out


def from_report(report: dict, default_input_shape: tuple | None = None) -> ExtractedModel:
    """The model named ``model`` (else the only one), validated: for ``grader spec``, where
    there is no reference yet to choose by. Grading chooses with ``select.choose``."""
    found = candidates(report, default_input_shape)
    if found[0].variable != "model" and len(found) > 1:
        raise NoModel("no variable named `model`, and several Keras models: "
                      + ", ".join(c.variable for c in found))
    if found[0].error is not None:
        raise found[0].error
    assert found[0].model is not None  # a candidate has its model or its error
    return found[0].model


def no_model(report: dict) -> NoModel:
    """Nothing bound to a top-level variable is a Keras model; say what was found elsewhere."""
    nested = [str(n)[:100] for n in report.get("nested", [])][:20] \
        if isinstance(report.get("nested"), list) else []
    where = (f" Keras models were found only inside containers ({', '.join(nested)}), which "
             "are not graded: assign the one to grade to `model`." if nested else "")
    return NoModel("no Keras model found: after the notebook runs, no variable holds a Keras "
                   "model (the grader grades the model in `model`, or the one of all models "
                   f"found that best matches the exercise).{where}",
                   advice=errors.default_advice(ErrorKind.NO_MODEL))


def _validate(desc: dict, variable: str, default_input_shape, history) -> ExtractedModel:
    """A real Keras graph, a chain of allow-listed layers with a known input shape."""
    where = f"the model `{variable}`"
    raw_layers = graph.layer_chain(desc, where)
    if not raw_layers:
        raise InvalidModel(f"{where} has no layers")
    if len(raw_layers) > MAX_LAYERS:
        raise InvalidModel(f"{where} has {len(raw_layers)} layers; at most {MAX_LAYERS} are graded")
    layers, input_shape = [], _shape(desc.get("input_shape"))
    for raw in raw_layers:
        if not isinstance(raw.get("config"), dict):
            raise InvalidModel(f"{where}: the model report has a malformed layer")
        class_name = str(raw.get("class_name"))[:100]
        if raw.get("keras_class") is False:  # by identity with the kernel's Keras snapshot
            raise DisallowedLayer(f"layer {class_name!r} is defined in the notebook, not one of "
                                  "Keras's own classes (whatever its name and module say): the "
                                  "grader accepts only standard Keras layers", layer=class_name)
        if not str(raw.get("module", "")).startswith("keras."):
            raise DisallowedLayer(f"layer {class_name!r} is defined in the notebook "
                                  f"({str(raw.get('module'))[:100]}), not by Keras: the grader "
                                  "accepts only standard Keras layers", layer=class_name)
        function_module = raw.get("activation_module")
        if function_module is not None and not str(function_module).startswith(
                ("keras.", "tensorflow.")):
            raise DisallowedLayer(
                f"layer {class_name!r} uses an activation function defined in the notebook "
                f"({str(function_module)[:100]}), not by Keras, even if it has a Keras name: "
                "the grader accepts only standard Keras activations, e.g. "
                "activation='relu' or Activation('relu')", layer=class_name)
        layer = L.from_keras(class_name, raw["config"])
        if layer.kind == "InputLayer":
            input_shape = input_shape or _shape(layer.args.get("batch_shape")
                                                or layer.args.get("batch_input_shape"))
            continue
        layers.append(layer)
    input_shape = input_shape or default_input_shape
    if not input_shape:
        raise InvalidModel(f"{where} has no input shape: give the first layer `input_shape=` or "
                           "start with `Input(shape=...)`")
    aliases = [str(a)[:100] for a in desc.get("aliases", [])][:20] \
        if isinstance(desc.get("aliases"), list) else []
    return ExtractedModel(variable, str(desc.get("class_name", ""))[:100], input_shape, layers,
                          history, aliases)


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
    found = report.get("compat")
    compat: list = found if isinstance(found, list) else []
    used = [f"{name} → {mappings[name]}" for name in dict.fromkeys(compat)
            if isinstance(name, str) and name in mappings]
    listed = report.get("neutralized")
    entries: list = listed if isinstance(listed, list) else []
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

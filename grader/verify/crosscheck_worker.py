"""The cross-check's computation, in the verification worker (never in the grader's process).

The described architecture is rebuilt from the allow-list (``worker.build_model``), loaded with
the weights the student's model held in the kernel (raw float32 bytes, checked against the
described shapes; nothing is unpickled), and run on the same probe batch the kernel used
(``grader.execute.kernel.probe``). Its outputs are compared with what the student's own model
computed in the kernel: the model's call in inference and training mode and, for a Sequential,
each layer's output (which names the first layer that disagrees).
"""
from __future__ import annotations

import base64
import binascii
import time
from collections.abc import Callable
from typing import Any

#: float tolerance: |kernel - rebuild| <= ATOL + RTOL * max|rebuild| (float32 sums in another
#: thread order or backend differ by ~1e-6 relative; a different network by far more)
ATOL, RTOL = 1e-5, 1e-3


class Mismatch(Exception):
    """The exported weights do not fit the described layers."""


def run(job: dict, build_model: Callable[..., Any]) -> dict:
    """``{"matched", "mismatches": [...], "max_abs_diff", "compared", "seconds"}``;
    ``build_model``: the verification worker's builder (``grader.verify.worker``), passed in
    so that the two modules do not import each other."""
    import keras
    import numpy as np

    from grader.execute.kernel import probe as P

    start = time.monotonic()
    kernel = job["probe"]
    keras.utils.clear_session(free_memory=False)  # the worker collects after each job
    model = build_model(keras, job["layers"], job["input_shape"])
    try:
        _load(np, model, job["names"], kernel.get("weights") or {})
    except Mismatch as exc:
        return {"matched": False, "mismatches": [{"what": "weights", "layer": str(exc)}],
                "max_abs_diff": None, "compared": 0, "seconds": _since(start)}
    x = P.probe_batch(np, job["input_shape"][1:], seed=job.get("seed"))
    mine = rebuild_outputs(np, keras.ops.convert_to_numpy, model, x)
    stochastic = any(layer["kind"] in P.STOCHASTIC for layer in job["layers"])
    found = Comparison(np)
    found.pair("model output (inference)", None, kernel.get("inference"), mine["inference"])
    # the kernel's model run in a traced graph (as fit and predict run it) against the same
    # inference output: one that computes otherwise there than eagerly is not the network
    found.pair("model output (compiled, as predict runs it)", None, kernel.get("compiled"),
               mine["inference"])
    if not stochastic:
        found.pair("model output (training mode)", None, kernel.get("training"), mine["training"])
    for mode in ("inference", "training"):
        listed = kernel.get(f"layers_{mode}")
        theirs = _by_name(listed)
        for index, (_, summary) in enumerate(mine[f"layers_{mode}"]):
            name = job["names"][index]
            at = _at(listed, index, name)  # by position: a layer object added twice has one name
            if at is not None or name in theirs:
                found.pair(f"layer output ({mode})", f"layer {index + 1} `{name}`",
                           at if at is not None else theirs[name], summary)
    return {"matched": not found.mismatches, "mismatches": found.mismatches[:10],
            "max_abs_diff": found.worst, "compared": found.count, "seconds": _since(start)}


def rebuild_outputs(np, to_numpy, model, x) -> dict:
    """What ``probe.outputs`` computes for the rebuild (without ``compiled``: its inference
    output stands for it), the model's own outputs taken from its layer chain: a rebuilt
    Sequential's call is that chain, the same operations in the same order, so the same numbers
    (``tests/test_crosscheck.py``); calling it again cost ~0.13 of a cross-check's ~0.45 CPU-s.
    In training mode the chain runs stochastic layers in inference mode, and the model's own
    training-mode output is then not compared (``run``)."""
    from grader.execute.kernel import probe as P

    layers = list(model.layers)
    inference = P.per_layer(np, to_numpy, layers, x, False)
    training = P.per_layer(np, to_numpy, layers, x, True)
    return {"inference": inference[-1][1], "layers_inference": inference,
            "training": training[-1][1], "layers_training": training}


def _load(np, model, names: list, weights: dict) -> None:
    """Each rebuilt layer's variables from the kernel's arrays of the layer of that name."""
    for index, layer in enumerate(model.layers):
        where = f"layer {index + 1} `{names[index]}`"
        arrays = weights.get(names[index])
        if not isinstance(arrays, list):
            if layer.weights or names[index] not in weights:
                raise Mismatch(f"{where}: the kernel exported no weights for it")
            continue
        if len(arrays) != len(layer.weights):
            raise Mismatch(f"{where}: {len(arrays)} weight arrays in the notebook, the "
                           f"described layer holds {len(layer.weights)}")
        for variable, item in zip(layer.weights, arrays, strict=True):
            value = _array(np, item, where)
            if tuple(value.shape) != tuple(variable.shape):
                raise Mismatch(f"{where}: weights of shape {tuple(value.shape)} in the notebook, "
                               f"the described layer's are {tuple(variable.shape)}")
            variable.assign(value)


def _array(np, item, where: str):
    try:
        shape = tuple(int(d) for d in item["shape"])
        raw = base64.b64decode(item["data"], validate=True)
        return np.frombuffer(raw, dtype="<f4").reshape(shape)
    except (KeyError, TypeError, ValueError, binascii.Error):
        raise Mismatch(f"{where}: malformed weights") from None


def _at(pairs, index: int, name: str):
    """The kernel's summary at ``index`` when the layer there has ``name`` (else None)."""
    if isinstance(pairs, list) and index < len(pairs):
        pair = pairs[index]
        if isinstance(pair, list) and len(pair) == 2 and str(pair[0]) == name:
            return pair[1]
    return None


def _by_name(pairs) -> dict:
    if not isinstance(pairs, list):
        return {}
    return {str(p[0]): p[1] for p in pairs if isinstance(p, list) and len(p) == 2}


class Comparison:
    """Pairs of summaries (kernel, rebuild) compared within the float tolerance."""

    def __init__(self, np) -> None:
        self.mismatches: list[dict] = []
        self.np, self.worst, self.count = np, 0.0, 0

    def pair(self, what: str, layer: str | None, theirs, mine: dict) -> None:
        self.count += 1
        diff = self.difference(theirs, mine)
        if diff is None or diff > 0:
            shown = None if diff is None else round(self.last, 8)
            self.mismatches.append({"what": what, "layer": layer, "max_abs_diff": shown})
        if diff is not None:
            self.worst = max(self.worst, round(self.last, 8))

    def difference(self, theirs, mine: dict) -> float | None:
        """None: not comparable (shape or form); else how far past the tolerance (<= 0: ok)."""
        np = self.np
        self.last = 0.0
        if not isinstance(theirs, dict) or theirs.get("shape") != mine["shape"]:
            return None
        excess = -1.0
        for key in ("sample", "mean", "square"):
            try:
                a = np.asarray(theirs.get(key), dtype="float64")
                b = np.asarray(mine[key], dtype="float64")
            except (TypeError, ValueError):
                return None
            if a.shape != b.shape:
                return None
            if not a.size:
                continue
            with np.errstate(invalid="ignore"):
                gaps = np.where(np.isnan(a) & np.isnan(b), 0.0, np.abs(a - b))
            gap = float(np.max(np.nan_to_num(gaps, nan=np.inf)))
            scale = float(np.max(np.abs(np.nan_to_num(b, nan=0.0, posinf=0.0, neginf=0.0))))
            self.last = max(self.last, gap)
            excess = max(excess, gap - (ATOL + RTOL * scale))
        return excess


def _since(start: float) -> float:
    return round(time.monotonic() - start, 3)

"""Short human forms of layers (``Conv2D(64, 3x3, padding='same')``), as reports show them."""
from __future__ import annotations


def describe(kind: str, a: dict) -> str:
    """The form a student wrote (``MaxPooling2D(2x2)``): defaults left out, so that a report
    shows what differs, not every argument Keras fills in."""
    if kind == "Conv2D":
        extra = "" if a.get("padding") == "valid" else f", padding='{a.get('padding')}'"
        extra += "" if a.get("activation") in (None, "linear") else f", activation='{a['activation']}'"
        extra += "" if a.get("strides") in (None, [1, 1]) else f", strides={tuple(a['strides'])}"
        k = a.get("kernel_size", ["?", "?"])
        return f"Conv2D({a.get('filters')}, {k[0]}x{k[1]}{extra})"
    if kind == "Dense":
        act = "" if a.get("activation") in (None, "linear") else f", activation='{a['activation']}'"
        return f"Dense({a.get('units')}{act})"
    if kind == "Activation":
        return f"Activation('{a.get('activation')}')"
    if kind in ("MaxPooling2D", "AveragePooling2D"):
        p = a.get("pool_size", ["?", "?"])
        return f"{kind}({p[0]}x{p[1]})"
    if kind in ("Dropout", "SpatialDropout2D"):
        return f"{kind}({a.get('rate')})"
    if kind in ("ReLU", "LeakyReLU", "BatchNormalization"):  # the arguments that are not defaults
        defaults = {"max_value": None, "threshold": 0.0, "center": True, "scale": True, "axis": -1,
                    "negative_slope": 0.0 if kind == "ReLU" else 0.3}
        shown = [f"{k}={v!r}" for k, v in a.items() if k in defaults and v != defaults[k]]
        return f"{kind}({', '.join(shown)})"
    return f"{kind}()"


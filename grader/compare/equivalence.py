"""The table of what counts as the same network, applied to a chain of layers before comparing.

Single layers are folded in ``layers._canonical`` (``ReLU()`` is ``Activation('relu')``, int and
tuple sizes, default strides written out, ``activation=None`` is ``'linear'``). The rules here
need a layer's neighbours or its input shape; each one rewrites a chain into one that provably
computes the same function, and says what it accepted, so the report can show it:

- pooling with ``padding='same'`` that pads nothing (2x2/2 on 14x14) is ``padding='valid'``
  (only pooling: for a Conv2D the padding is the usual mistake and is reported as written);
- BatchNormalization over the last axis written as a number (``axis=3`` on images) is ``-1``;
- a ``Conv2D`` or ``Dense`` with ``activation=a`` is that layer followed by ``Activation(a)``
  where the reference writes it so (``Dense(10, activation='softmax')`` for ``Dense(10)`` and
  ``Activation('softmax')``): the same function by Keras's definition of the argument;
- ``ZeroPadding2D`` followed by a ``Conv2D`` with ``padding='valid'`` and stride 1 is that Conv2D
  with ``padding='same'`` when it pads exactly what 'same' would ((k - 1) // 2 before,
  k // 2 after, per axis);
- ``Activation('relu')`` twice in a row is one (relu is idempotent);
- ``Activation('relu')`` and ``MaxPooling2D`` side by side commute (relu is monotone, max
  pooling picks the largest value), so the student's order is put in the reference's.

Nothing else is an equivalence: BatchNormalization and pooling do not commute (the statistics
differ), so a fused ``Conv2D(activation='relu')`` where the reference has BatchNormalization
before its ReLU stays as written (and is the mistake it is); AveragePooling2D is not
MaxPooling2D.
"""
from __future__ import annotations

from grader import layers as L

RELU = ("Activation", "relu")


def normalize(stu: list[L.LayerInfo], ref: list[L.LayerInfo]) -> tuple[list[L.LayerInfo], list[str]]:
    """The student's chain in canonical form, and one note per rule that changed it."""
    if not stu:
        return stu, []
    notes: list[str] = []
    layers = _split_activations([i.layer for i in stu], _written_apart(ref), notes)
    if not any(i.layer.kind == "ZeroPadding2D" for i in ref):  # else compared as written
        layers = _fold_zero_padding(layers, notes)
    layers = _collapse_relus(layers, notes)
    layers = _commute(layers, _pool_first(ref), notes)
    infos = L.infer(layers, stu[0].input_shape)
    return tidy(infos, notes), notes


def tidy(infos: list[L.LayerInfo], notes: list[str] | None = None) -> list[L.LayerInfo]:
    """Arguments that mean the same on these shapes, written one way (keeps every layer)."""
    if not infos:
        return infos
    layers = [_tidy_one(i, notes) for i in infos]
    return L.infer(layers, infos[0].input_shape)


def _tidy_one(info: L.LayerInfo, notes: list[str] | None) -> L.Layer:
    layer, args = info.layer, dict(info.layer.args)
    if layer.kind in ("MaxPooling2D", "AveragePooling2D") and args.get("padding") == "same" \
            and not _pads(info):
        args["padding"] = "valid"
        _note(notes, f"{layer.describe()} with padding='same' pads nothing on "
                     f"{_hw(info.input_shape)}: the same as padding='valid'")
    if layer.kind == "BatchNormalization" and args.get("axis") == len(info.input_shape) - 1:
        args["axis"] = -1
        _note(notes, f"BatchNormalization(axis={len(info.input_shape) - 1}) is the last axis: "
                     "the same as axis=-1")
    return L.Layer(layer.kind, args, layer.name, layer.class_name)


def _pads(info: L.LayerInfo) -> bool:
    """Whether ``padding='same'`` adds any row or column on this input."""
    a = info.layer.args
    k, s = a["pool_size"], a.get("strides") or a["pool_size"]
    for axis in range(2):
        size = info.input_shape[axis + 1]
        out = -(-size // s[axis])
        if (out - 1) * s[axis] + k[axis] - size > 0:
            return True
    return False


FUSING = ("Conv2D", "Dense")


def _written_apart(ref: list[L.LayerInfo]) -> set[tuple[str, str]]:
    """(kind, activation) pairs the reference writes as a linear layer and then an Activation."""
    return {(a.layer.kind, str(b.layer.args.get("activation")))
            for a, b in zip(ref, ref[1:], strict=False)
            if a.layer.kind in FUSING and a.layer.args.get("activation") in (None, "linear")
            and b.layer.kind == "Activation" and not a.layer.args.get("frozen")}


def _split_activations(layers: list[L.Layer], apart: set[tuple[str, str]],
                       notes: list[str]) -> list[L.Layer]:
    """Each fused activation the reference writes apart (``apart``) as the layer and its own
    ``Activation``: Keras applies ``activation=`` to the layer's output and nothing else."""
    out: list[L.Layer] = []
    for layer in layers:
        wanted = layer.args.get("activation")
        if layer.kind in FUSING and (layer.kind, wanted) in apart:
            linear = L.Layer(layer.kind, {**layer.args, "activation": "linear"}, layer.name,
                             layer.class_name)
            out += [linear, L.Layer("Activation", {"activation": wanted}, "", "Activation")]
            _note(notes, f"{layer.kind}(..., activation='{wanted}') is {layer.kind}(...) followed "
                         f"by Activation('{wanted}')")
            continue
        out.append(layer)
    return out


def _fold_zero_padding(layers: list[L.Layer], notes: list[str]) -> list[L.Layer]:
    """A ``ZeroPadding2D`` and the valid Conv2D after it as that Conv2D with
    ``padding='same'``, where the padding is exactly what 'same' adds (``_same_as_padding``);
    only for a reference that has no ZeroPadding2D of its own (``normalize``)."""
    out: list[L.Layer] = []
    for layer in layers:
        before = out[-1] if out else None
        if before is not None and before.kind == "ZeroPadding2D" and _same_as_padding(before, layer):
            out[-1] = L.Layer(layer.kind, {**layer.args, "padding": "same"}, layer.name,
                              layer.class_name)
            _note(notes, f"ZeroPadding2D(padding={before.args.get('padding')}) before a Conv2D "
                         "with padding='valid' pads what padding='same' pads: the same as "
                         "Conv2D(..., padding='same')")
            continue
        out.append(layer)
    return out


def _same_as_padding(pad: L.Layer, conv: L.Layer) -> bool:
    """Whether ``pad`` adds exactly the rows and columns ``padding='same'`` would give ``conv``."""
    a = conv.args
    if conv.kind != "Conv2D" or a.get("padding") != "valid" or a.get("frozen") \
            or list(a.get("strides") or [1, 1]) != [1, 1] \
            or list(a.get("dilation_rate") or [1, 1]) != [1, 1]:
        return False
    p = pad.args.get("padding")
    if isinstance(p, int):
        sides = [[p, p], [p, p]]
    elif isinstance(p, list) and len(p) == 2:
        sides = p if isinstance(p[0], list) else [[p[0], p[0]], [p[1], p[1]]]
    else:
        return False
    kernel = a.get("kernel_size") or [0, 0]
    return all(list(sides[i]) == [(kernel[i] - 1) // 2, kernel[i] // 2] for i in range(2))


def _collapse_relus(layers: list[L.Layer], notes: list[str]) -> list[L.Layer]:
    out: list[L.Layer] = []
    for layer in layers:
        if out and _is_relu(layer) and _is_relu(out[-1]):
            _note(notes, "Activation('relu') twice in a row is one ReLU (relu(relu(x)) = relu(x))")
            continue
        out.append(layer)
    return out


def _commute(layers: list[L.Layer], pool_first: bool, notes: list[str]) -> list[L.Layer]:
    out = list(layers)
    for k in range(len(out) - 1):
        a, b = out[k], out[k + 1]
        wrong = (_is_relu(a) and b.kind == "MaxPooling2D") if pool_first else \
            (a.kind == "MaxPooling2D" and _is_relu(b))
        if wrong:
            out[k], out[k + 1] = b, a
            _note(notes, "Activation('relu') and MaxPooling2D side by side commute: "
                         "max(relu(x)) = relu(max(x))")
    return out


def _pool_first(ref: list[L.LayerInfo]) -> bool:
    """The reference puts MaxPooling2D before the ReLU (and never after): use its order."""
    pairs = list(zip(ref, ref[1:], strict=False))
    before = any(a.layer.kind == "MaxPooling2D" and _is_relu(b.layer) for a, b in pairs)
    after = any(_is_relu(a.layer) and b.layer.kind == "MaxPooling2D" for a, b in pairs)
    return before and not after


def _is_relu(layer: L.Layer) -> bool:
    return (layer.kind, layer.args.get("activation")) == RELU and not layer.args.get("frozen")


def _hw(shape) -> str:
    return f"{shape[1]}x{shape[2]}" if len(shape) == 4 else L.fmt_shape(shape)


def _note(notes: list[str] | None, text: str) -> None:
    if notes is not None and text not in notes:
        notes.append(text)

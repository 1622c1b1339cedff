"""Stage 3a: from one model's untrusted description to the chain of layers it computes.

Only a real graph is graded: exactly Keras's ``Sequential`` or functional ``Model``, read from
the model's own graph (the Sequential's layer stack, the functional model's operations in
topological order with their connections). A subclass is refused whatever its attributes say,
because its ``call()`` decides what runs; a graph that branches or merges is refused as not a
chain. Both checks come before the allow-list of layer types, so that a residual ``Add`` is
reported as a branch, not as a disallowed layer.
"""
from __future__ import annotations

from grader.exceptions import InvalidModel, NotAChain, SubclassedModel

#: (module, class) of the only model classes graded, and how their graph is read
REAL = {("keras.src.models.sequential", "Sequential"): "sequential",
        ("keras.src.models.functional", "Functional"): "functional"}
MAX_DEPTH = 4


def layer_chain(desc: dict, where: str, depth: int = 0) -> list[dict]:
    """The raw layer entries in the order the model applies them, nested models inlined."""
    graph = _check_real(desc, where)
    if desc.get("describe_error"):
        raise InvalidModel(f"{where} could not be read: {str(desc['describe_error'])[:200]}")
    raw = desc.get("layers")
    if not isinstance(raw, list) or not all(isinstance(e, dict) for e in raw):
        raise InvalidModel(f"{where}: the model report has malformed layers")
    if graph == "functional":
        _check_functional_chain(raw, desc.get("outputs"), desc.get("inputs"), where)
    out = []
    for item in raw:
        if "model" in item:
            if depth >= MAX_DEPTH or not isinstance(item["model"], dict):
                raise InvalidModel(f"{where}: models nested deeper than {MAX_DEPTH} levels")
            inner = _name(item)
            out += [e for e in layer_chain(item["model"], f"{where}, inside {inner!r}", depth + 1)
                    if e.get("class_name") != "InputLayer"]
        else:
            out.append(item)
    return out


def _check_real(desc: dict, where: str) -> str:
    """The graph kind of an exact Keras model class; anything else is refused as a subclass."""
    key = (str(desc.get("module"))[:200], str(desc.get("qualname", desc.get("class_name")))[:200])
    graph = REAL.get(key)
    if graph is not None and desc.get("graph") == graph:
        return graph
    found = desc.get("bases")
    bases: list = found if isinstance(found, list) else []
    parent = next((f"keras.{str(b).rsplit('.', 1)[-1]}"[:100] for b in bases[:5]
                   if str(b).startswith("keras.")), "keras.Model")
    origin = "defined in the notebook" if key[0] == "__main__" else f"from module {key[0]!r}"
    raise SubclassedModel(
        f"{where} is a `{key[1]}`, a class {origin} that subclasses {parent}: the grader grades "
        "only networks built as keras.Sequential or with the functional API, because a "
        "subclass's call() decides which layers run and in which order, and the grader cannot "
        "read it from the layers the class defines.")


def _check_functional_chain(raw: list[dict], outputs, inputs, where: str) -> None:
    """Each layer takes exactly the previous layer's output; one input, one output."""
    ends = "the grader compares one straight chain of layers from one input to one output."
    if inputs not in (None, 1) or sum(e.get("class_name") == "InputLayer" for e in raw) > 1:
        raise NotAChain(f"{where} has several inputs: {ends}")
    if isinstance(outputs, list) and len(outputs) != 1:
        raise NotAChain(f"{where} has {len(outputs)} outputs: {ends}")
    previous, breaks = None, []
    for item in raw:
        name, inbound = _name(item), item.get("inbound")
        if not isinstance(inbound, list):
            raise InvalidModel(f"{where}: layer {name!r} has no connections in the model report")
        inbound = [str(i)[:100] for i in inbound[:20]]
        if previous is not None and inbound != [previous]:
            breaks.append((item, inbound, previous))
        previous = name
    if breaks:  # name the merge (Add, Concatenate, a reused layer) rather than a branch's start
        raise NotAChain(_branch(where, *max(breaks, key=lambda b: len(b[1]) > 1)))
    if isinstance(outputs, list) and outputs and str(outputs[0])[:100] != previous:
        raise NotAChain(f"{where} is not a straight chain: its output is layer "
                        f"{str(outputs[0])[:100]!r}, not the last layer {previous!r}.")


def _branch(where: str, item: dict, inbound: list[str], previous: str) -> str:
    """Says which layer breaks the chain and what it takes instead."""
    name, kind = _name(item), str(item.get("class_name"))[:100]
    reused = " is used more than once and" if name in inbound else ""
    takes = ("no input" if not inbound else
             "the output of " + " and ".join(repr(i) for i in inbound[:4]))
    if len(set(inbound)) < len(inbound):
        takes += " (the same output more than once)"
    return (f"{where} is not a straight chain: layer {name!r} ({kind}){reused} takes {takes}, "
            f"not just the output of the layer before it ({previous!r}). The grader compares "
            "straight chains of layers only, so a branch, a merge or a layer used twice cannot "
            "be graded.")


def _name(item: dict) -> str:
    return str(item.get("name") or (item.get("config") or {}).get("name") or "?")[:100]

"""Runs in the kernel at the report (``guard.py`` loads it): what a graded model computes
through that no Keras class or module attribute shows, so the class snapshot cannot see it.

Each check names, one line per finding, notebook code placed where the model's computation
reads it; the guard adds them to the changed computation (``computation``), so the grader does
not vouch for such a model (``grader.verify.crosscheck.changed_computation``). They look at
what honest Keras code never does (measured on every layer kind of the allow-list, fitted,
predicted, summarised, frozen, saved and loaded, 2026-12-07) and were each found by a red team
getting full marks for a wrong network with it:

- a method of the class shadowed on the instance (``layer.convolution_op = f``);
- an ``activation`` that is not, by identity, the function its Keras or TensorFlow module held
  under its name when Keras was snapshotted (a ``functools.wraps(relu)`` wrapper is not);
- a Sequential whose ``_functional`` graph (what it computes through) is not its layers';
- a weight whose training differs from what its layer says: made trainable or frozen on the
  variable, given a constraint or regularizer the layer's arguments do not give, or marked to
  be overwritten by its gradient; a method of its class shadowed on the variable;
- TensorFlow op callbacks (they rewrite the ops of every graph built, e.g. by ``fit``), and
  TensorFlow's API dispatch tables changed since the snapshot (``dispatch_for_api``);
- a functional graph (a Functional model, a Sequential's ``_functional``) whose nodes run an
  operation it does not list; the graph object and its nodes go through the checks above.

Plain, self-contained Python: the kernel receives it as source text.
"""

#: methods Keras itself sets on every layer instance (wrappers of the class's own)
KERAS_SET = frozenset({"build", "quantize"})
#: methods a model or layer computes through when called: examined wherever they are defined
CALLED = frozenset({"call", "__call__", "predict", "predict_on_batch"})


def is_code(attr):
    """A class attribute that is code (a function, method or property), not data."""
    return callable(attr) or isinstance(attr, property)


def findings(snapshot, obj, describing):
    """Every finding on one model or layer (``describing``: method names that only describe a
    model, reported elsewhere as review entries)."""
    return (own_code(snapshot, obj, describing) + activation(snapshot, obj)
            + variables(snapshot, obj) + graph(snapshot, obj) + unlisted_operations(snapshot, obj))


_NAMES: dict = {}


def code_names(cls, skip_trainer=True):
    """The names of the code attributes along ``cls``'s MRO (a trainer's, e.g. ``loss``, which
    ``compile`` stores on the model, only where the model computes through it); once per class
    and report (``clear``)."""
    key = (cls, skip_trainer)
    if key not in _NAMES:
        _NAMES[key] = _code_names(cls, skip_trainer)
    return _NAMES[key]


def clear():
    """Forget the names found (a class may change before the next report)."""
    _NAMES.clear()


def _code_names(cls, skip_trainer):
    names = set()
    for c in cls.__mro__:
        trainer = "trainer" in str(getattr(c, "__module__", "")).split(".")[-1] or \
            str(getattr(c, "__module__", "")).startswith("keras.src.trainers")
        for key, value in list(vars(c).items()):
            if type(key) is str and is_code(value) and (not (trainer and skip_trainer) or key in CALLED):
                names.add(key)
    return names


def own_code(snapshot, obj, describing):
    """A code attribute of the class shadowed on the instance by something other than a Keras
    method; another Keras model's own ``call`` (a redirection, which the cross-check compares)
    is not notebook code. Every plain-``str`` key of the instance is looked at (no cap: a
    notebook could pad the dict to push one past it)."""
    found = []
    own = getattr(obj, "__dict__", {})
    names = code_names(type(obj))
    for key in [k for k in list(own) if type(k) is str]:
        if key not in names or key in describing or key in KERAS_SET:
            continue
        value = own[key]
        if not callable(value):
            continue
        func = getattr(value, "__func__", None)
        if func is None or not any(func is d.get(key) for d in snapshot.dicts.values()):
            found.append(f"{getattr(obj, 'name', '?')!s:.80}.{key} set on the instance")
    return found


def activation(snapshot, obj):
    """A layer's activation that is not the function its module held under its name when Keras
    was snapshotted (a module the snapshot never held, or one added since, does not count)."""
    function = getattr(obj, "__dict__", {}).get("activation")
    if function is None or not callable(function):
        return []
    module_name = str(getattr(function, "__module__", ""))
    name = str(getattr(function, "__name__", ""))
    module = snapshot.modules.get(module_name)
    ok = (module_name.split(".")[0] in ("keras", "tensorflow") and module is not None
          and vars(module).get(name) is function
          and snapshot.bindings.get((module_name, name)) is function)
    return [] if ok else [f"{getattr(obj, 'name', '?')!s:.80}.activation is not a Keras or "
                          "TensorFlow function"]


def variables(snapshot, obj):
    """Weights whose training differs from what their layer says (the module docstring)."""
    found = []
    layer = f"{getattr(obj, 'name', '?')!s:.80}"
    own = getattr(obj, "__dict__", {})
    given = {key.rsplit("_", 1)[-1] for key, value in list(own.items())
             if type(key) is str and value is not None
             and (key.endswith("_constraint") or key.endswith("_regularizer"))}
    frozen = own.get("_trainable", True) is False
    for created_trainable in (True, False):
        listed = own.get("_trainable_variables" if created_trainable else "_non_trainable_variables")
        for variable in list(listed if type(listed) is list else [])[:50]:
            name = f"{layer}: weight {getattr(variable, 'path', '?')!s:.80}"
            mine = getattr(variable, "__dict__", {})
            expected = created_trainable and not frozen
            if mine.get("_trainable", expected) is not expected:
                found.append(f"{name} made {'' if mine.get('_trainable') else 'non-'}trainable "
                             "on the variable")
            for kind in ("constraint", "regularizer"):
                if mine.get(f"_{kind}") is not None and kind not in given:
                    found.append(f"{name} given a {kind} on the variable")
            if mine.get("_overwrite_with_gradient", False) is not False:
                found.append(f"{name} overwritten by its gradient")
            names = code_names(type(variable), skip_trainer=False)
            found += [f"{name}: {key} set on the variable" for key in list(mine)
                      if type(key) is str and key in names]
    return found


def graph(snapshot, obj):
    """A Sequential computes through its ``_functional`` graph: it must be the graph of the
    layers it lists (a layer listed twice is one operation applied twice)."""
    if type(obj) is not snapshot.sequential:
        return []
    built = getattr(obj, "__dict__", {}).get("_functional")
    if built is None:
        return []
    try:
        layers, unique = list(obj.layers), []  # type: ignore[var-annotated]
        for layer in layers:
            if not any(layer is u for u in unique):
                unique.append(layer)
        ops = [op for op in list(built._operations) if type(op).__name__ != "InputLayer"]
        same = (type(built) is snapshot.functional and len(ops) == len(unique)
                and all(a is b for a, b in zip(ops, unique, strict=False))
                and len(built._nodes) == len(layers) + 1)
    except Exception:
        same = False
    return [] if same else [f"{getattr(obj, 'name', '?')!s:.80}._functional is not the graph "
                            "of its layers"]


def graph_parts(snapshot, obj):
    """The objects a model computes through besides its layers: a Sequential's ``_functional``
    graph, and every node of a functional graph (each checked like a layer)."""
    parts = []
    built = getattr(obj, "__dict__", {}).get("_functional")
    if built is not None:
        parts.append(built)
    for graph_obj in [obj, *parts]:
        by_depth = getattr(graph_obj, "__dict__", {}).get("_nodes_by_depth")
        if isinstance(by_depth, dict):
            for nodes in list(by_depth.values())[:1000]:
                parts += list(nodes)[:1000] if isinstance(nodes, list) else []
    return parts


def unlisted_operations(snapshot, obj):
    """A functional graph's nodes that run an operation the graph does not list (its
    ``_operations``, which the description reads)."""
    own = getattr(obj, "__dict__", {})
    by_depth, listed = own.get("_nodes_by_depth"), own.get("_operations")
    if not isinstance(by_depth, dict) or not isinstance(listed, list):
        return []
    for nodes in list(by_depth.values()):
        for node in list(nodes) if isinstance(nodes, list) else []:
            operation = getattr(node, "__dict__", {}).get("operation")
            if not any(operation is op for op in listed):
                return [f"{getattr(obj, 'name', '?')!s:.80}: a node runs an operation the graph "
                        "does not list"]
    return []


def dispatch_state(modules):
    """The sizes of TensorFlow's API dispatch tables (``dispatch_for_api`` and the like add to
    them): compared between the snapshot and the report."""
    dispatch = modules.get("tensorflow.python.util.dispatch")
    if dispatch is None:
        return None
    state = []
    for name, value in sorted((k, v) for k, v in list(vars(dispatch).items()) if type(k) is str):
        if name.startswith("__") or "cache" in name or not isinstance(value, (dict, list, set)):
            continue
        items = list(value.values()) if isinstance(value, dict) else list(value)
        inner = sum(len(v) for v in items if isinstance(v, (dict, list, set, tuple)))
        state.append((name, len(value), inner))
    return tuple(state)


def dispatch_changed(snapshot):
    before = getattr(snapshot, "dispatch", None)
    if before is None:
        return []
    return [] if dispatch_state(snapshot.modules) == before else [
        "TensorFlow's API dispatch tables changed (dispatch_for_api or the like)"]


def op_callbacks(modules):
    """TensorFlow op callbacks of this thread: they rewrite the ops of every graph built."""
    context = modules.get("tensorflow.python.eager.context")
    try:
        installed = list(context.context().op_callbacks) if context is not None else []
    except Exception:
        installed = []
    return [f"{len(installed)} TensorFlow op callback(s) installed"] if installed else []

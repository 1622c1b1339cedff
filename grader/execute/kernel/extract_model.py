"""Runs last in the student's kernel: describes the notebook's Keras models as plain JSON.

Only data leaves the kernel (class names and modules, configs, graph connections, training
history); the grader validates all of it, decides which model is gradable and which one to grade,
and recomputes every number, so nothing here is trusted. Every model bound to a top-level
variable is described (``model`` first, then by name, at most ``max_models``), each from its own
graph: a Sequential's layer stack, a functional model's operations in topological order with
their inbound connections. A model of any other class (a subclass, even of Sequential) is
described by its class only: its ``call()`` decides what it computes, and attribute order says
nothing about that.
"""


def __grader_extract(path, namespace, max_models=10, max_layers=201):
    """Write the report on ``namespace``'s Keras models to ``path`` (the module docstring):
    the in-notebook self-check's form. The grader's own run uses ``__grader_describe``."""
    import json

    with open(path, "w") as f:
        json.dump(__grader_describe(namespace, max_models, max_layers), f)


def __grader_describe(namespace, max_models=10, max_layers=201, snapshot=None):
    """The report as a dict. ``snapshot``: the Keras classes captured before the student's
    code ran (``guard.py``); with it, Keras and its model classes come from the snapshot and
    every layer says whether its type is one of the snapshot's real Keras classes."""
    return _GraderModels(namespace, max_models, max_layers, snapshot).report()


class _GraderModels:
    """The report's parts, one method each; ``keras`` is imported only when the notebook did."""

    def __init__(self, namespace, max_models, max_layers, snapshot=None):
        self.namespace, self.snapshot = namespace, snapshot
        self.max_models, self.max_layers = max_models, max_layers

    def report(self):
        return dict(self.models_report(), **self.environment())

    def models_report(self):
        import sys

        if self.snapshot is not None:
            if self.snapshot.keras is None:  # Keras never imported: no model to find
                return {"ok": False, "error": "no_model", "found": [], "nested": []}
            keras, sequential, functional = (self.snapshot.keras, self.snapshot.sequential,
                                             self.snapshot.functional)
        elif "keras" not in sys.modules:  # no Keras imported: no model to find
            return {"ok": False, "error": "no_model", "found": [], "nested": []}
        else:
            keras = sys.modules["keras"]
            functional = sys.modules["keras.src.models.functional"].Functional
            sequential = sys.modules["keras.src.models.sequential"].Sequential
        self.keras = keras
        self.model_class = self.snapshot.model if self.snapshot is not None else keras.Model
        self.real = {sequential: "sequential", functional: "functional"}
        by_object = self.models_by_object()
        if not by_object:
            return {"ok": False, "error": "no_model", "found": [], "nested": self.nested()}
        groups = list(by_object.values())
        self.graded_objects = [v for v, _ in groups[:self.max_models]]
        return {"ok": True, "models": [self.model_entry(v, n) for v, n in groups[:self.max_models]],
                "found": len(by_object),
                "unexamined": [names[0] for _, names in groups[self.max_models:]][:50],
                "nested": self.nested(), "history": self.safely(self.history)}

    def models_by_object(self):
        """One model under several names is one model (``model = net``): ``model`` first."""
        by_object: dict = {}
        for name, value in sorted(self.namespace.items(),
                                  key=lambda kv: (kv[0] != "model", str(kv[0]))):
            if not str(name).startswith("_") and self.is_model(value):
                by_object.setdefault(id(value), (value, []))[1].append(str(name)[:100])
        return by_object

    def model_entry(self, value, names):
        try:
            described = self.describe(value)
        except Exception as exc:
            described = dict(self.class_of(value), graph=None, describe_error=repr(exc)[:300])
        return dict(described, variable=names[0], aliases=names[1:20])

    @staticmethod
    def environment():
        """What the compatibility layer mapped and what was neutralized (checked by the grader)."""
        import sys

        ledger = sys.modules.get("__grader_ledger__")
        compat = [str(c)[:100] for c in list(getattr(ledger, "compat", []))[:100]]
        neutral = [{"what": str(n.get("what"))[:100], "detail": str(n.get("detail"))[:200]}
                   for n in list(getattr(ledger, "neutralized", []))[:100] if isinstance(n, dict)]
        return {"compat": compat, "neutralized": neutral}

    @staticmethod
    def is_a(value, cls):
        """By the real type: a hostile or faked ``__class__`` neither stops nor fools this."""
        try:
            return issubclass(type(value), cls)
        except Exception:
            return False

    def is_model(self, value):
        return self.is_a(value, self.model_class)

    def plain(self, value, depth=0):
        """JSON-safe copy: anything exotic becomes a short string."""
        if depth > 8:
            return None
        if value is None or isinstance(value, (bool, int, str)):
            return value if not isinstance(value, str) else value[:500]
        if isinstance(value, float):
            return value if value == value and abs(value) != float("inf") else None
        if isinstance(value, dict):
            return {str(k)[:100]: self.plain(v, depth + 1) for k, v in list(value.items())[:200]}
        if isinstance(value, (list, tuple)):
            return [self.plain(v, depth + 1) for v in list(value)[:1000]]
        try:
            return float(value)
        except Exception:
            return repr(value)[:200]

    def history_names(self, node, found):
        if isinstance(node, dict):
            if "keras_history" in node and isinstance(node["keras_history"], (list, tuple)):
                found.append(str(node["keras_history"][0]))
            for v in node.values():
                self.history_names(v, found)
        elif isinstance(node, (list, tuple)):
            for v in node:
                self.history_names(v, found)
        return found

    @staticmethod
    def class_of(obj):
        cls = type(obj)
        return {"class_name": str(cls.__name__)[:100], "qualname": str(cls.__qualname__)[:200],
                "module": str(cls.__module__)[:200],
                "bases": [f"{b.__module__}.{b.__qualname__}"[:200] for b in cls.__mro__[1:6]]}

    def entry(self, layer, inbound, depth):
        item = dict(self.class_of(layer), name=str(getattr(layer, "name", ""))[:200],
                    inbound=inbound)
        if self.snapshot is not None:  # by identity: a notebook class named like Keras's is not
            item["keras_class"] = type(layer) in self.snapshot.classes
        if self.is_model(layer):
            item["model"] = self.describe(layer, depth + 1)
        else:
            function = getattr(layer, "activation", None)
            if callable(function):  # Keras names any function by its __name__: say whose it is
                item["activation_module"] = str(getattr(function, "__module__", None))[:200]
            try:
                item["config"] = self.plain(layer.get_config())
            except Exception as exc:
                item["config"] = None
                item["config_error"] = repr(exc)[:200]
        return item

    def connections(self, model, ops):
        """Each operation's inputs within this model, from its graph nodes (no layer's
        get_config is needed); Keras's own serialized config if the nodes cannot be read."""
        try:
            from keras.src.ops.function import make_node_key
            inbound: dict = {}
            for op in ops:
                names = inbound.setdefault(op.name, [])
                for index, node in enumerate(op._inbound_nodes):
                    if make_node_key(op, index) in model._nodes:
                        names += [t._keras_history[0].name for t in node.input_tensors]
            return inbound
        except Exception:
            return {e.get("name"): self.history_names(e.get("inbound_nodes", []), [])
                    for e in model.get_config().get("layers", [])}

    def describe(self, model, depth=0):
        out = self.class_of(model)
        out["graph"] = self.real.get(type(model))
        if out["graph"] is None or depth > 4:
            return out
        try:
            if out["graph"] == "sequential":
                out["layers"] = [self.entry(layer, None, depth)
                                 for layer in list(model.layers)[:self.max_layers]]
            else:
                ops = list(getattr(model, "_operations", None) or model.layers)[:self.max_layers]
                inbound = self.connections(model, ops)
                out["layers"] = [self.entry(op, inbound.get(op.name), depth) for op in ops]
                out["outputs"] = [str(t._keras_history[0].name) for t in model.outputs][:20]
                out["inputs"] = len(model.inputs)
        except Exception as exc:
            out["describe_error"] = repr(exc)[:300]
        out["input_shape"] = self.input_shape(model)
        return out

    @staticmethod
    def input_shape(model):
        try:
            return [None if d is None else int(d) for d in model.inputs[0].shape]
        except Exception:
            return None

    def history(self):
        history_class = self.keras.callbacks.History
        model = self.namespace.get("model")
        candidates = [self.namespace.get("history"),
                      getattr(model, "history", None) if self.is_model(model) else None]
        candidates += [v for v in self.namespace.values() if self.is_a(v, history_class)]
        for h in candidates:
            if self.is_a(h, history_class) and self.is_a(h.history, dict) and h.history:
                return self.plain({k: list(v) for k, v in h.history.items()})
        return None

    @staticmethod
    def safely(function):
        """The history is shown, never needed: a failure to read it loses only the history."""
        try:
            return function()
        except Exception:
            return None

    def nested(self):
        """Models kept only inside a top-level list, tuple or dict: named, never graded."""
        found = []
        for name, value in sorted(self.namespace.items(), key=lambda kv: str(kv[0])):
            if str(name).startswith("_") or type(value) not in (list, tuple, dict):
                continue
            items = list(value.items())[:100] if type(value) is dict else \
                list(enumerate(value[:100]))
            found += [f"{name}[{k!r}]"[:100] for k, v in items if self.is_model(v)]
        return found[:20]

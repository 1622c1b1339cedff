"""Runs in the kernel before any student cell: captures what the extraction will use.

Student code shares this process, so nothing here is absolute (``gc``, ``ctypes`` and ``/proc``
reach everything); the grader's guarantee is the cross-check outside the kernel
(``grader.verify.crosscheck``). What this does is make forging harder and noisier:

- ``json``, ``base64``, ``sys.modules``, the IPython shell and its namespace are captured now;
- on the first ``import keras`` (an import hook: a notebook that never imports Keras pays
  nothing, and the student's backend choice holds) the real Keras classes are snapshotted, with
  their ``__dict__`` and every module attribute that names a Keras class or function;
- the report names what changed since (a class attribute replaced, a module attribute
  rebound, run hooks, input transformers or threads the notebook added), removes the
  notebook's run hooks and input transformers, and identifies layer classes by identity with
  the snapshot;
- the report leaves through a function stored under a name with a per-run nonce, which the
  grader evaluates as a ``user_expressions`` entry of a silent, empty execute request: no cell
  runs, so IPython runs neither ``pre_run_cell``/``post_run_cell`` hooks nor the rest of a
  cell's machinery around it, and nothing is written to a file the notebook could rewrite.
"""


def __grader_guard(ledger, nonce, describe_source, probe_source, computing_source,
                   hygiene_source, default_shape, budget):
    import base64
    import gc
    import itertools
    import json
    import sys
    import threading

    from IPython import get_ipython

    shell = get_ipython()
    # the builtins as they are now, before any student cell (``__grader_load`` gave this module
    # a copy): a notebook that later replaces ``builtins.type`` does not reach the grader's code
    scope: dict = {"__name__": "__grader_describe", "__builtins__": __builtins__}
    exec(compile(describe_source, "<grader extract_model>", "exec"), scope)
    probe = {"__name__": "__grader_probe", "__builtins__": __builtins__}
    exec(compile(probe_source, "<grader probe>", "exec"), probe)
    checks: dict = {"__name__": "__grader_computing", "__builtins__": __builtins__}
    exec(compile(computing_source, "<grader computing>", "exec"), checks)
    hygiene: dict = {"__name__": "__grader_hygiene", "__builtins__": __builtins__}
    exec(compile(hygiene_source, "<grader hygiene>", "exec"), hygiene)
    around = hygiene["Report"](shell, sys, threading, gc, itertools)
    snapshot = _Snapshot(sys.modules, around.hooks.events.get("pre_run_cell", []), checks)
    if "keras" in sys.modules:  # imported by the grader's own setup (the compatibility layer)
        snapshot.take()
    else:
        sys.meta_path.insert(0, _KerasFinder(snapshot, sys.meta_path))
    tools = {"dumps": json.JSONEncoder().encode, "b64": base64.b64encode, "scope": scope,
             "probe": probe,
             "default_shape": default_shape, "budget": int(budget), "ledger": ledger}

    def report(seed=None, evidence=True):
        # evidence=False: the description alone (the runner's preview: no weights, no probe)
        namespace, added = around.begin()  # first: the collector stops before any allocation
        try:
            tools["seed"] = seed
            models = scope["_GraderModels"](namespace, 10, 201, snapshot if snapshot.keras else None)
            found = models.report() if snapshot.keras is not None else dict(
                {"ok": False, "error": "no_model", "found": [], "nested": []}, **models.environment())
            objects = getattr(models, "graded_objects", [])
            found["guard"] = {"snapshot": snapshot.keras is not None, "hooks": added,
                              "changed": (snapshot.changes() + _shadowed(objects, snapshot))[:50],
                              "computation": snapshot.computing(objects)}
            if found.get("ok") and evidence:
                _export(found["models"], objects, snapshot, tools)
            return tools["dumps"](found)
        finally:
            around.end()

    shell.user_ns["__grader_report_" + nonce] = report


class _KerasFinder:
    """A ``sys.meta_path`` entry that lets ``keras`` import as usual, then snapshots it; it and
    ``tensorflow`` import without garbage collections (as it was after): their million objects
    hold few cycles, and a sandboxed kernel of the solution took 4.06 CPU-s with the collections,
    3.77 without (as the zygotes import them, ``grader.sandbox.zygote_server.gc_paused``)."""

    def __init__(self, snapshot, meta_path):
        self.snapshot, self.meta_path = snapshot, meta_path

    def find_spec(self, name, path=None, target=None):
        if name not in ("keras", "tensorflow") or self.snapshot.keras is not None:
            return None
        for finder in list(self.meta_path):
            find = getattr(finder, "find_spec", None)
            spec = None if finder is self or find is None else find(name, path, target)
            if spec is not None:
                break
        else:
            return None
        loader, snapshot = spec.loader, self.snapshot
        run = loader.exec_module

        def exec_module(module):
            import gc
            was = gc.isenabled()
            gc.disable()
            try:
                run(module)
            finally:
                if was:
                    gc.enable()
            if name == "keras":
                snapshot.take()

        loader.exec_module = exec_module
        return spec


#: the modules whose attributes are snapshotted: Keras, and what a Keras model computes through
#: (TensorFlow's API and ops modules, its eager executor, numpy, which the probe's export uses)
SNAPSHOT_NAMES = ("keras", "tensorflow", "numpy", "tensorflow.python.pywrap_tfe")
SNAPSHOT_PREFIXES = ("keras.", "tensorflow._api.v2.", "tensorflow.python.ops.",
                     "tensorflow.python.eager.", "tensorflow.python.framework.", "numpy.")
#: of those, the modules holding the computation: a function rebound there changes what a
#: model computes (a rebinding elsewhere in Keras, e.g. ``keras.layers.Conv2D``, names a class)
COMPUTING = ("tensorflow", "numpy", "tensorflow.python.pywrap_tfe", "tensorflow.", "numpy.",
             "keras.src.backend", "keras.src.ops", "keras.src.layers", "keras.src.models",
             "keras.src.activations")


class _Snapshot:
    """The real Keras classes and the names bound to Keras objects, as the import left them."""

    #: class attributes Python or Keras set while running honest code (caches, ABC state;
    #: ``__annotations__`` is created on a class the first time something reads it)
    VOLATILE = ("_abc_impl", "__abstractmethods__", "__parameters__", "__weakref__", "__doc__",
                "__annotations__", "__annotate__")

    def __init__(self, modules, own_hooks, checks=None):
        self.modules, self.keras, self.own_hooks = modules, None, list(own_hooks)
        #: the computing checks (``computing.py``'s namespace; none: only classes and bindings)
        self.checks, self.dispatch = checks, None
        self.classes, self.dicts, self.bindings = set(), {}, {}

    def take(self):
        """Snapshot Keras once the grader's own patches (``fit`` skipped, downloads answered:
        its ``pre_run_cell`` hooks, run here first) are in place."""
        for hook in self.own_hooks:
            try:
                hook(None)
            except Exception:
                pass
        from keras.src.layers.layer import Layer
        from keras.src.models.functional import Functional
        from keras.src.models.model import Model
        from keras.src.models.sequential import Sequential

        self.keras = self.modules["keras"]
        self.model, self.sequential, self.functional = Model, Sequential, Functional
        self.to_numpy = self.keras.ops.convert_to_numpy
        self.numpy = self.modules["numpy"]
        pending = [Layer]
        while pending:
            cls = pending.pop()
            if cls not in self.classes:
                self.classes.add(cls)
                self.dicts[cls] = dict(vars(cls))
                pending.extend(type.__subclasses__(cls))
        for cls in Layer.__mro__[1:-1]:  # Operation, the backend's layer, ...: Layer's bases
            self.dicts.setdefault(cls, dict(vars(cls)))
        for root in _computing_roots(self.modules):  # a weight's, a dtype policy's, a node's
            for cls in [*root.__mro__[:-1], *_subclasses(root)]:
                self.dicts.setdefault(cls, dict(vars(cls)))
        for cls in list(self.classes):  # the bases outside Layer's tree: Function, the trainers
            for base in cls.__mro__[:-1]:
                self.dicts.setdefault(base, dict(vars(base)))
        if self.checks is not None:
            self.dispatch = self.checks["dispatch_state"](self.modules)
        module_type = type(self.modules["sys"])
        for name, module in list(self.modules.items()):
            if module is None or not (name in SNAPSHOT_NAMES or name.startswith(SNAPSHOT_PREFIXES)):
                continue
            # modules too, but only Keras's (TensorFlow's lazy loaders replace themselves)
            keep_modules = name == "keras" or name.startswith("keras.")
            for attr, value in list(vars(module).items()):
                if callable(value) or (keep_modules and isinstance(value, module_type)):
                    self.bindings[(name, attr)] = value

    def changes(self):
        """What the notebook changed in Keras since the snapshot, one line each (at most 50)."""
        if self.keras is None:
            return []
        found = []
        for cls, before in self.dicts.items():
            now = vars(cls)
            for key in set(before) | set(now):
                if key not in self.VOLATILE and now.get(key, self) is not before.get(key, self):
                    found.append(f"{cls.__module__}.{cls.__qualname__}.{key} replaced")
        return sorted(found + self.rebound())[:50]

    def rebound(self, prefixes=None):
        """Module attributes rebound since the snapshot (in modules named by ``prefixes``)."""
        found = []
        for (name, attr), value in self.bindings.items():
            if prefixes is not None and not (name in prefixes or name.startswith(prefixes)):
                continue
            module = self.modules.get(name)
            if module is not None and vars(module).get(attr, self) is not value:
                found.append(f"{name}.{attr} rebound")
        return found

    def computing(self, models):
        """What the notebook changed in the code the graded models compute with: attributes
        replaced on a class in the MRO of a class they, their layers or their weights are,
        other than the describing ones; functions rebound in the backend, TensorFlow or numpy;
        and what ``computing.py`` finds on the objects themselves."""
        if self.keras is None:
            return []
        classes: set = set()
        found = []
        for model in models[:10]:
            try:
                objects = [model] + list(_all_layers(model, self))[:300]
            except Exception:
                objects = [model]
            if self.checks is not None:  # a Sequential's graph and the graphs' nodes
                objects += [p for o in objects for p in self.checks["graph_parts"](self, o)][:3000]
            for obj in objects:
                classes.update(c for c in type(obj).__mro__ if c in self.dicts)
                for part in [*list(getattr(obj, "weights", []) or [])[:50],
                             getattr(obj, "dtype_policy", None)]:
                    classes.update(c for c in type(part).__mro__ if c in self.dicts)
                if self.checks is not None:
                    found += self.checks["findings"](self, obj, _DESCRIBING)
        if self.checks is not None:
            found += self.checks["op_callbacks"](self.modules) + self.checks["dispatch_changed"](self)
            self.checks["clear"]()
        for cls in classes:
            before, now = self.dicts[cls], vars(cls)
            for key in set(before) | set(now):
                if (key not in self.VOLATILE and key not in _DESCRIBING
                        and now.get(key, self) is not before.get(key, self)):
                    found.append(f"{cls.__module__}.{cls.__qualname__}.{key} replaced")
        return sorted(found + self.rebound(COMPUTING))[:50]


def _computing_roots(modules):
    """The base classes of a weight and of a dtype policy, where this Keras has them."""
    roots = []
    for module, name in (("keras.src.backend.common.variables", "Variable"),
                         ("keras.src.dtype_policies.dtype_policy", "DTypePolicy"),
                         ("keras.src.ops.node", "Node")):
        found = getattr(modules.get(module), name, None)
        if isinstance(found, type):
            roots.append(found)
    return roots


def _subclasses(root):
    found, pending = [], [root]
    while pending:
        cls = pending.pop()
        for sub in type.__subclasses__(cls):
            if sub not in found:
                found.append(sub)
                pending.append(sub)
    return found


#: what describes or computes a model (Keras itself sets ``build``/``quantize`` on instances)
_WATCHED = frozenset({"call", "__call__", "predict", "predict_on_batch", "get_config", "to_json",
                      "count_params", "summary", "get_weights", "compute_output_shape",
                      "compute_output_spec", "layers", "weights", "trainable_weights",
                      "non_trainable_weights", "evaluate"})


#: class attributes that describe a model, or train, evaluate or save it, without being what
#: the network computes: a replaced one is a review flag (the cross-check compares the
#: description with the computation, and the grader trains the described network itself)
_DESCRIBING = frozenset({"get_config", "to_json", "count_params", "summary", "layers",
                         "get_weights", "weights", "trainable_weights", "non_trainable_weights",
                         "compute_output_shape", "compute_output_spec", "evaluate", "fit",
                         "train_on_batch", "test_on_batch", "train_step", "test_step", "compile",
                         "make_train_function", "make_test_function", "save", "save_weights",
                         "load_weights", "get_compile_config", "compile_from_config"})


def _shadowed(models, snapshot):
    """Methods and properties of a model or its layers replaced on the instance itself
    (``model.call = other.call``): what a class snapshot cannot see."""
    found = []
    for model in models[:10]:
        try:
            objects = [model] + list(_leaves(model, snapshot))[:300]
        except Exception:
            objects = [model]
        for obj in objects:
            cls = type(obj)
            for key in [k for k in list(getattr(obj, "__dict__", {})) if type(k) is str]:
                attr = getattr(cls, str(key), None)
                if key in _WATCHED and (callable(attr) or isinstance(attr, property)):
                    found.append(f"{getattr(obj, 'name', '?')!s:.80}.{key!s:.80} set on the instance")
    return found[:20]


def _export(entries, objects, snapshot, tools):
    """Each described model's weights (float32 bytes, base64) and its outputs on the probe,
    within the byte budget (``model`` first); a failure is reported, never raised."""
    np, left = snapshot.numpy, tools["budget"]
    for entry, model in zip(entries, objects, strict=False):
        if entry.get("graph") not in ("sequential", "functional"):
            continue
        try:
            entry["probe"], used = _probe(np, model, snapshot, tools, left)
            left -= used
        except Exception as exc:
            entry["probe_error"] = repr(exc)[:300]


def _probe(np, model, snapshot, tools, budget):
    probe = tools["probe"]
    shape = _input_shape(model) or list(tools["default_shape"])
    x = probe["probe_batch"](np, shape[1:], seed=tools.get("seed"))
    if not model.built:
        model(x)
    weights, used = {}, 0
    for layer in _leaves(model, snapshot):
        arrays = []
        for variable in layer.weights:
            a = np.ascontiguousarray(snapshot.to_numpy(variable), dtype="float32")
            used += a.nbytes
            if used > budget:
                raise ValueError(f"weights over the cross-check's budget of {budget} bytes")
            arrays.append({"shape": [int(d) for d in a.shape],
                           "data": tools["b64"](a.tobytes()).decode("ascii")})
        key = str(layer.name)[:200]
        weights[key] = None if key in weights else arrays  # None: the name is ambiguous
    layers = list(model.layers) if type(model) is snapshot.sequential else None
    found = probe["outputs"](np, snapshot.to_numpy, model, layers, x)
    return dict(found, input_shape=[None, *shape[1:]], weights=weights), used


def _all_layers(model, snapshot, depth=0):
    """Every layer of a model, nested models included (themselves and their layers)."""
    for layer in list(model.layers):
        yield layer
        if issubclass(type(layer), snapshot.model) and depth < 4:
            yield from _all_layers(layer, snapshot, depth + 1)


def _input_shape(model):
    try:
        return [None if d is None else int(d) for d in model.inputs[0].shape]
    except Exception:
        return None


def _leaves(model, snapshot, depth=0):
    """The layers that hold weights, nested models opened (as the description inlines them)."""
    for layer in list(model.layers):
        if issubclass(type(layer), snapshot.model) and depth < 4:
            yield from _leaves(layer, snapshot, depth + 1)
        else:
            yield layer

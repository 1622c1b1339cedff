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


def __grader_guard(ledger, nonce, describe_source, probe_source, default_shape, budget):
    import base64
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
    baseline = _Hooks(shell, threading, sys)
    tracing = _Tracing(sys, threading)
    snapshot = _Snapshot(sys.modules, baseline.events.get("pre_run_cell", []))
    if "keras" in sys.modules:  # imported by the grader's own setup (the compatibility layer)
        snapshot.take()
    else:
        sys.meta_path.insert(0, _KerasFinder(snapshot, sys.meta_path))
    tools = {"dumps": json.JSONEncoder().encode, "b64": base64.b64encode, "scope": scope,
             "probe": probe,
             "default_shape": default_shape, "budget": int(budget), "ledger": ledger}

    def report(seed=None):
        tools["seed"] = seed
        added = tracing.disarm() + baseline.disarm()
        namespace, odd = _plain_names(shell.user_ns)
        if odd:
            added.append(f"{odd} variable(s) whose name is not a plain string (its comparisons "
                         "run notebook code)")
        models = scope["_GraderModels"](namespace, 10, 201, snapshot if snapshot.keras else None)
        found = models.report() if snapshot.keras is not None else dict(
            {"ok": False, "error": "no_model", "found": [], "nested": []}, **models.environment())
        objects = getattr(models, "graded_objects", [])
        found["guard"] = {"snapshot": snapshot.keras is not None, "hooks": added,
                          "changed": (snapshot.changes() + _shadowed(objects, snapshot))[:50],
                          "computation": snapshot.computing(objects)}
        if found.get("ok"):
            _export(found["models"], objects, snapshot, tools)
        return tools["dumps"](found)

    shell.user_ns["__grader_report_" + nonce] = report


def _plain_names(namespace):
    """The namespace with only plain ``str`` names (a copy: building it compares no names), and
    how many others it held: a ``str`` subclass as a name runs its own ``__eq__``/``__ne__``/
    ``__hash__`` whenever a name is compared, e.g. while the grader looks up ``model``."""
    plain, odd = {}, 0
    for name, value in list(dict.items(namespace)):
        if type(name) is str:
            plain[name] = value
        else:
            odd += 1
    return plain, odd


class _Tracing:
    """Profile and trace functions the notebook installs (``sys.setprofile``/``settrace``, also
    for new threads): they run on every call of the grader's code, e.g. to swap ``model`` while
    it is described. An audit hook (it cannot be removed) records each installation; the report
    removes the functions and names them. A function that acts on the report's very first call
    acts before it is removed: its installation is still named."""

    EVENTS = ("sys.setprofile", "sys.settrace")

    def __init__(self, sys, threading):
        self.sys, self.threading = sys, threading
        self.seen: list = []
        events, seen = self.EVENTS, self.seen

        def audit(event, args):
            if event in events and len(seen) < 50:
                seen.append(event)

        sys.addaudithook(audit)

    def disarm(self):
        sys, threading = self.sys, self.threading
        found = [f"{event} called by the notebook (a profile or trace function)"
                 for event in sorted(set(self.seen))]
        for name in ("setprofile", "settrace"):
            for module in (sys, threading):
                try:
                    getattr(module, name)(None)
                except Exception:
                    pass
        self.seen.clear()
        return found


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

    def __init__(self, modules, own_hooks):
        self.modules, self.keras, self.own_hooks = modules, None, list(own_hooks)
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
        replaced on a class in the MRO of a class they (or their layers) are, other than the
        describing ones, and functions rebound in the backend, TensorFlow or numpy."""
        if self.keras is None:
            return []
        classes: set = set()
        found = []
        for model in models[:10]:
            try:
                objects = [model] + list(_all_layers(model, self))[:300]
            except Exception:
                objects = [model]
            for obj in objects:
                classes.update(c for c in type(obj).__mro__ if c in self.dicts)
                found += self._own_code(obj) + self._activation(obj) + self._variables(obj)
            found += self._graph(model)
        for cls in classes:
            before, now = self.dicts[cls], vars(cls)
            for key in set(before) | set(now):
                if (key not in self.VOLATILE and key not in _DESCRIBING
                        and now.get(key, self) is not before.get(key, self)):
                    found.append(f"{cls.__module__}.{cls.__qualname__}.{key} replaced")
        return sorted(found + self.rebound(COMPUTING))[:50]

    def _own_code(self, obj):
        """A method of the class shadowed on the instance by something other than a Keras
        method (``layer.call = f``, ``layer.convolution_op = f``: what the layer computes
        through); a Keras model's own, e.g. another model's ``call`` (a redirection, which the
        cross-check then compares), is not notebook code. The describing methods are review
        entries (``_shadowed``); Keras itself sets ``build`` and ``quantize`` on instances."""
        found = []
        own = getattr(obj, "__dict__", {})
        for key in [k for k in list(own)[:500] if type(k) is str]:
            value = own[key]
            if key in _DESCRIBING or key in _KERAS_SET or not callable(value):
                continue
            if not any(key in vars(c) and _is_code(vars(c)[key]) for c in type(obj).__mro__):
                continue
            func = getattr(value, "__func__", None)
            if func is None or not any(func is d.get(key) for d in self.dicts.values()):
                found.append(f"{getattr(obj, 'name', '?')!s:.80}.{key} set on the instance")
        return found

    def _activation(self, obj):
        """A layer's activation function that is not Keras's or TensorFlow's own object (one
        wrapped to carry a Keras name and module, ``functools.wraps(relu)``, is not): by
        identity with the function its module holds under its name, as the snapshot saw it."""
        function = getattr(obj, "__dict__", {}).get("activation")
        if function is None or not callable(function):
            return []
        module_name = str(getattr(function, "__module__", ""))
        name = str(getattr(function, "__name__", ""))
        module = self.modules.get(module_name)
        held = self.bindings.get((module_name, name), self)
        ok = (module_name.split(".")[0] in ("keras", "tensorflow") and module is not None
              and vars(module).get(name) is function and held in (self, function))
        return [] if ok else [f"{getattr(obj, 'name', '?')!s:.80}.activation is not a Keras or "
                              "TensorFlow function"]

    def _variables(self, obj):
        """Weights made trainable or frozen one by one, or given a constraint, after Keras
        created them: what a training does with them, which no description says."""
        found = []
        layer = f"{getattr(obj, 'name', '?')!s:.80}"
        configured = _configured_constraints(obj)
        for trainable in (True, False):
            listed = getattr(obj, "_trainable_variables" if trainable else "_non_trainable_variables", [])
            for variable in list(listed if type(listed) is list else [])[:50]:
                name = f"{getattr(variable, 'path', '?')!s:.80}"
                if getattr(variable, "_trainable", trainable) is not trainable:
                    found.append(f"{layer}: weight {name} made {'non-' if trainable else ''}"
                                 "trainable on the variable")
                if getattr(variable, "_constraint", None) is not None and not configured:
                    found.append(f"{layer}: weight {name} given a constraint on the variable")
        return found

    def _graph(self, model):
        """A Sequential computes through its ``_functional`` graph: it must be the graph of the
        layers it lists (each once, in order); one rebuilt by the notebook is not."""
        if type(model) is not self.sequential:
            return []
        graph = getattr(model, "__dict__", {}).get("_functional")
        if graph is None:
            return []
        try:
            ops = [op for op in list(graph._operations) if type(op).__name__ != "InputLayer"]
            layers = list(model.layers)
            same = (type(graph) is self.functional and len(ops) == len(layers)
                    and all(a is b for a, b in zip(ops, layers, strict=False))
                    and len(graph._nodes) == len(graph._operations))
        except Exception:
            same = False
        return [] if same else [f"{getattr(model, 'name', '?')!s:.80}._functional is not the "
                                "graph of its layers"]


class _Hooks:
    """IPython run hooks, input transformers and threads present once the grader's setup ran."""

    def __init__(self, shell, threading, sys):
        self.shell, self.threading = shell, threading
        #: where installed libraries live: their hooks (matplotlib's) are not the notebook's
        self.installed = tuple({p for p in (sys.prefix, sys.base_prefix, sys.exec_prefix) if p})
        self.events = {k: list(v) for k, v in shell.events.callbacks.items()}
        self.transformers = {k: list(self.lists()[k]) for k in self.lists()}
        self.threads = set(threading.enumerate())

    def lists(self):
        manager = self.shell.input_transformer_manager
        return {"input_transformers_cleanup": manager.cleanup_transforms,
                "input_transformers_post": self.shell.input_transformers_post,
                "line_transforms": manager.line_transforms,
                "token_transformers": manager.token_transformers}

    def library(self, function):
        """Defined in a file of an installed library (matplotlib's hooks, not a cell's)."""
        code = getattr(getattr(function, "__func__", function), "__code__", None)
        path = str(getattr(code, "co_filename", ""))
        return path.startswith(self.installed) and "site-packages" in path

    def disarm(self):
        """Remove the notebook's run hooks and transformers; name them (and new threads)."""
        added = []
        for event, callbacks in self.shell.events.callbacks.items():
            for callback in [c for c in callbacks if c not in self.events.get(event, [])
                             and not self.library(c)]:
                callbacks.remove(callback)
                added.append(f"IPython {event} hook {getattr(callback, '__name__', '?')!s:.80}")
        for name, items in self.lists().items():
            for item in [t for t in items if t not in self.transformers.get(name, [])]:
                items.remove(item)
                added.append(f"IPython {name} entry {getattr(item, '__name__', '?')!s:.80}")
        threads = [t for t in self.threading.enumerate() if t not in self.threads and t.is_alive()
                   and not self.library(getattr(t, "run", None))]
        added += [f"thread {t.name!s:.80} still running" for t in threads]
        return added[:50]


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


#: methods Keras itself sets on every layer instance (wrappers of the class's own)
_KERAS_SET = frozenset({"build", "quantize"})


def _is_code(attr):
    """A class attribute that is code (a function, method or property), not data."""
    return callable(attr) or isinstance(attr, property)


def _configured_constraints(layer):
    """Whether the layer's own arguments give a weight a constraint (``kernel_constraint=``)."""
    return any(key.endswith("_constraint") and value is not None
               for key, value in list(getattr(layer, "__dict__", {}).items())[:500]
               if type(key) is str)


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
            for key in list(getattr(obj, "__dict__", {}))[:500]:
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

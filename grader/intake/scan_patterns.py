"""The patterns the static scan looks for, as tables (``grader.intake.scan_rules`` applies them).

What the grader's extraction relies on (modules, builtins, describing attributes), what a
notebook may set innocently, and the calls that hook, defer or reach behind the grader, each
with the finding's code and the words a TA reads. A new pattern is usually one entry here.
"""
from __future__ import annotations

from dataclasses import dataclass

from grader.layers.allowlist import ALIASES, ALLOWED

#: modules whose attributes the grader's extraction relies on; a chain rooted at one is guarded
GUARDED = ("keras", "tensorflow", "tf_keras", "json", "builtins", "sys", "gc", "IPython",
           "ipykernel", "__builtins__", "get_ipython", "numpy", "os", "io")
#: attributes (and entries) of guarded modules a notebook may set innocently: arguments, the
#: environment, and the aliases old code needs on a new NumPy (``np.float = float``)
ALLOWED_SETS = frozenset({"sys.argv", "os.environ", *(f"numpy.{name}" for name in (
    "float", "int", "bool", "object", "complex", "str", "long", "unicode"))})
#: what describes or computes a model: set on any object, it rewrites what the grader reads
DESCRIBING = frozenset({
    "_layers", "layers", "_self_tracked_trackables", "get_config", "to_json", "count_params",
    "summary", "call", "__call__", "predict", "predict_on_batch", "build", "output_shape",
    "compute_output_shape", "compute_output_spec", "get_weights", "weights", "trainable_weights",
    "non_trainable_weights", "variables", "trainable_variables", "__getattr__",
    "__getattribute__", "__setattr__", "__dict__"})
#: names the grader's injected cell calls; rebinding one at the top level of a notebook changes it
PROTECTED = frozenset({
    "globals", "locals", "vars", "open", "__import__", "type", "print", "isinstance",
    "issubclass", "getattr", "setattr", "hasattr", "delattr", "id", "dir", "super", "object",
    "exec", "eval", "compile", "get_ipython", "__build_class__", "callable", "repr", "len",
    "__builtins__"})
#: members of a class that make ``type``/``isinstance`` questions answer wrongly
LYING_MEMBERS = frozenset({"__class__", "__instancecheck__", "__subclasscheck__"})
#: members of a class that route every attribute to another object
PROXY_MEMBERS = frozenset({"__getattr__", "__getattribute__"})
KERAS_NAMES = frozenset(ALLOWED) | frozenset(ALIASES) | {
    "Sequential", "Model", "Functional", "Layer", "InputSpec", "Input"}
IPYTHON_HOOKS = frozenset({"input_transformers_cleanup", "input_transformers_post",
                           "input_transformer_manager", "ast_transformers", "set_hook",
                           "set_custom_exc", "register_post_execute"})
#: dotted call -> (code, message)
CALLS = {
    "sys.addaudithook": ("interpreter-hook", "adds an audit hook (code that runs on every event)"),
    "sys.settrace": ("interpreter-hook", "sets a trace function (code that runs on every line)"),
    "sys.setprofile": ("interpreter-hook", "sets a profile function (code that runs on every call)"),
    "threading.settrace": ("interpreter-hook", "sets a trace function for threads"),
    "atexit.register": ("late-code", "registers code to run when the kernel exits"),
    "weakref.finalize": ("late-code", "registers code to run when an object is collected"),
    "threading.Thread": ("background", "starts a thread (code that runs beside the grader's)"),
    "threading.Timer": ("background", "starts a timer thread (code that runs later)"),
    "_thread.start_new_thread": ("background", "starts a thread"),
    "os.fork": ("background", "forks the kernel process"),
    "concurrent.futures.ThreadPoolExecutor": ("background", "starts worker threads"),
    "gc.get_referrers": ("reach-objects", "reaches objects through the garbage collector"),
    "gc.get_referents": ("reach-objects", "reaches objects through the garbage collector"),
    "gc.get_objects": ("reach-objects", "reaches objects through the garbage collector"),
    "sys._getframe": ("reach-objects", "reads the interpreter's call frames"),
    "inspect.currentframe": ("reach-objects", "reads the interpreter's call frames"),
    "inspect.stack": ("reach-objects", "reads the interpreter's call frames"),
    "exec": ("hidden-code", "runs code built from a string, which the scan cannot read"),
    "eval": ("hidden-code", "evaluates code built from a string, which the scan cannot read"),
    "compile": ("hidden-code", "compiles code from a string, which the scan cannot read"),
}
#: attributes whose mere reading reaches behind a function or frame (the grader's own report
#: function and its captured state are reachable this way)
INTERNALS = frozenset({"__closure__", "cell_contents", "__globals__", "co_freevars", "f_back",
                       "f_globals", "f_locals", "tb_frame", "gi_frame", "__code__"})
#: TensorFlow's hooks into every op or API call (a graph built by fit or predict runs them)
TF_HOOKS = frozenset({"add_op_callback", "dispatch_for_api", "dispatch_for_unary_elementwise_apis",
                      "dispatch_for_binary_elementwise_apis", "register_dispatchable_type",
                      "add_dispatch_support", "_tf_api_dispatcher", "RegisterGradient",
                      "gradient_override_map", "op_callbacks"})
#: methods that change a mapping or list in place
MUTATORS = frozenset({"update", "__setitem__", "__delitem__", "setdefault", "pop", "popitem",
                      "clear", "append", "insert", "extend", "remove"})
#: containers of the interpreter that decide what an import returns
IMPORT_STATE = frozenset({"sys.modules", "sys.meta_path", "sys.path_hooks",
                          "sys.path_importer_cache"})


@dataclass(frozen=True)
class Finding:
    """One flagged line of one cell (``line`` counts from 1 within the cell)."""

    line: int
    code: str
    message: str

"""What the static scan looks for in one cell's syntax tree (``grader.intake.scan`` drives it).

Each rule is a kind of code that tampers with the grading environment: changing Keras, ``json``,
``builtins``, ``sys`` or ``gc`` from the notebook, hooking into IPython or the interpreter,
running code later (threads, ``atexit``, ``__del__``), redefining the names the grader's own
cell uses, faking a Keras class, or reaching objects behind the grader's back (``ctypes``,
``gc.get_referrers``). A finding is a flag for a person to look at, never a verdict: the
cross-check decides. Names are resolved through the cell's imports and plain aliases
(``L = keras.layers``) tracked across cells; nothing is executed.
"""
from __future__ import annotations

import ast

from grader.intake.scan_patterns import (
    ALLOWED_SETS,
    CALLS,
    DESCRIBING,
    GUARDED,
    IMPORT_STATE,
    INTERNALS,
    IPYTHON_HOOKS,
    KERAS_NAMES,
    LYING_MEMBERS,
    MUTATORS,
    PROTECTED,
    PROXY_MEMBERS,
    TF_HOOKS,
    Finding,
)


class Scanner(ast.NodeVisitor):
    """Walks cells in order; ``aliases`` (name -> dotted origin) persists from cell to cell."""

    def __init__(self) -> None:
        self.aliases: dict[str, str] = {name: name for name in ("__builtins__", "get_ipython")}
        self.findings: list[Finding] = []
        self.depth = 0  # > 0 inside a function or class body

    def scan(self, tree: ast.AST) -> list[Finding]:
        self.findings = []
        self.visit(tree)
        return self.findings

    def flag(self, node: ast.AST, code: str, message: str) -> None:
        self.findings.append(Finding(getattr(node, "lineno", 1), code, message))

    # -- names ---------------------------------------------------------------------------------

    def origin(self, node: ast.AST) -> str | None:
        """The dotted name ``node`` stands for (``keras.layers.Conv2D``), through imports,
        aliases, ``get_ipython()``, ``__import__('json')``, ``getattr(x, 'y')``, ``vars(x)``
        and subscripts of them; None for anything else (a call's result, a literal)."""
        if isinstance(node, ast.Name):
            return self.aliases.get(node.id)
        if isinstance(node, ast.Attribute):
            base = self.origin(node.value)
            return f"{base}.{node.attr}" if base else None
        if isinstance(node, ast.Subscript):
            base = self.origin(node.value)
            key = node.slice
            if base and isinstance(key, ast.Constant) and isinstance(key.value, str):
                return f"{base}[{key.value}]"
            return f"{base}[]" if base else None
        if isinstance(node, ast.Call):
            return self._call_origin(node)
        return None

    def _call_origin(self, node: ast.Call) -> str | None:
        func = self.origin(node.func) or _dotted(node.func) or ""
        first = node.args[0] if node.args else None
        literal = first.value if isinstance(first, ast.Constant) and isinstance(first.value, str) else None
        if func == "get_ipython":
            return "get_ipython"
        if func in ("__import__", "builtins.__import__", "importlib.import_module") and literal:
            return literal
        if func in ("vars", "builtins.vars") and first is not None:
            base = self.origin(first)
            return f"{base}.__dict__" if base else None
        if func in ("getattr", "builtins.getattr") and first is not None and len(node.args) > 1:
            base, name = self.origin(first), node.args[1]
            if base and isinstance(name, ast.Constant) and isinstance(name.value, str):
                return f"{base}.{name.value}"
        if func in ("globals", "builtins.globals"):
            return "globals()"
        return None

    @staticmethod
    def guarded(dotted: str | None) -> bool:
        return bool(dotted) and str(dotted).split(".")[0].split("[")[0] in GUARDED

    # -- imports and aliases -------------------------------------------------------------------

    def visit_Import(self, node: ast.Import) -> None:
        for alias in node.names:
            if alias.name.split(".")[0] in ("ctypes", "_ctypes", "cffi"):
                self.flag(node, "native-access", f"imports {alias.name}, which can change any "
                                                 "object in memory")
            if alias.asname:
                self.aliases[alias.asname] = alias.name
                self._bind(node, alias.asname)
            else:
                top = alias.name.split(".")[0]
                self.aliases[top] = top

    def visit_ImportFrom(self, node: ast.ImportFrom) -> None:
        module = node.module or ""
        if module.split(".")[0] in ("ctypes", "_ctypes", "cffi"):
            self.flag(node, "native-access", f"imports from {module}, which can change any "
                                             "object in memory")
        for alias in node.names:
            if alias.name == "*":
                continue
            bound = alias.asname or alias.name
            self.aliases[bound] = f"{module}.{alias.name}" if module else alias.name
            self._bind(node, bound)

    # -- assignments ---------------------------------------------------------------------------

    def visit_Assign(self, node: ast.Assign) -> None:
        for target in node.targets:
            self._target(target, node)
        self._alias(node.targets, node.value)
        self.generic_visit(node)

    def visit_AnnAssign(self, node: ast.AnnAssign) -> None:
        self._target(node.target, node)
        self.generic_visit(node)

    def visit_AugAssign(self, node: ast.AugAssign) -> None:
        self._target(node.target, node)
        self.generic_visit(node)

    def visit_Delete(self, node: ast.Delete) -> None:
        for target in node.targets:
            self._target(target, node)
        self.generic_visit(node)

    def visit_NamedExpr(self, node: ast.NamedExpr) -> None:
        self._bind(node, node.target.id)
        self.generic_visit(node)

    def visit_For(self, node: ast.For) -> None:
        self._target(node.target, node)
        self.generic_visit(node)

    def visit_withitem(self, node: ast.withitem) -> None:
        if node.optional_vars is not None:
            self._target(node.optional_vars, node.context_expr)
        self.generic_visit(node)

    def _alias(self, targets: list[ast.expr], value: ast.expr) -> None:
        """``L = keras.layers`` or ``ip = get_ipython()`` makes the name guarded; at the top
        level, rebinding a name to anything else forgets it (in a function it is only added)."""
        found = self.origin(value)
        keep = found if self.guarded(found) or found == "globals()" else None
        for target in targets:
            if not isinstance(target, ast.Name):
                continue
            if keep:
                self.aliases[target.id] = keep
            elif self.depth == 0:
                self.aliases.pop(target.id, None)

    def _target(self, target: ast.expr, node: ast.AST) -> None:
        if isinstance(target, (ast.Tuple, ast.List)):
            for element in target.elts:
                self._target(element, node)
        elif isinstance(target, ast.Starred):
            self._target(target.value, node)
        elif isinstance(target, ast.Name):
            self._bind(node, target.id)
        elif isinstance(target, ast.Attribute):
            self._attribute(target, node)
        elif isinstance(target, ast.Subscript):
            self._subscript(target, node)

    def _bind(self, node: ast.AST, name: str) -> None:
        if name in PROTECTED and self.depth == 0:
            self.flag(node, "redefine-builtin", f"redefines {name}() at the top level of the "
                                                "notebook, which the grader's own code calls")

    def _attribute(self, target: ast.Attribute, node: ast.AST) -> None:
        base = self.origin(target.value)
        dotted = f"{base}.{target.attr}" if base else None
        if target.attr == "__class__":
            self.flag(node, "class-swap", "changes an object's __class__ (it then reports "
                                          "another class than it is)")
        elif target.attr in ("__module__", "__qualname__", "__name__") and _keras_string(node):
            self.flag(node, "fake-keras-class", f"sets {target.attr} to a Keras name (a class "
                                                "of the notebook posing as Keras's)")
        elif self.guarded(base) and dotted not in ALLOWED_SETS:
            self.flag(node, "patch-module", f"changes {dotted}, part of {_root(base)} that the "
                                            "grader relies on")
        elif target.attr in DESCRIBING:
            self.flag(node, "patch-model", f"replaces .{target.attr} of an object (it describes "
                                           "or computes a model)")

    def _subscript(self, target: ast.Subscript, node: ast.AST) -> None:
        base = self.origin(target.value)
        if base in IMPORT_STATE:
            self.flag(node, "import-hook", f"changes {base}, which decides what an import returns")
        elif base == "globals()":
            key = target.slice
            name = key.value if isinstance(key, ast.Constant) else None
            if name in PROTECTED:
                self.flag(node, "redefine-builtin", f"redefines {name}() through globals(), "
                                                    "which the grader's own code calls")
        elif self.guarded(base) and base not in ALLOWED_SETS:
            self.flag(node, "patch-module", f"changes an entry of {base}, part of "
                                            f"{_root(base)} that the grader relies on")

    # -- calls, definitions --------------------------------------------------------------------

    def visit_Call(self, node: ast.Call) -> None:
        name = self.origin(node.func) or _dotted(node.func)
        if name in CALLS:
            self.flag(node, *CALLS[name])
        elif name in ("setattr", "delattr", "builtins.setattr", "object.__setattr__",
                      "builtins.object.__setattr__"):
            self._setattr(node, name.rsplit(".", 1)[-1])
        elif name in ("type", "builtins.type") and len(node.args) == 3:
            if _keras_string(node) or _keras_name(node.args[0]):
                self.flag(node, "fake-keras-class", "creates a class with a Keras name or module "
                                                    "(it poses as Keras's own)")
        elif isinstance(node.func, ast.Attribute):
            self._method(node, node.func)
        self.generic_visit(node)

    def _setattr(self, node: ast.Call, how: str) -> None:
        if not node.args:
            return
        base = self.origin(node.args[0])
        attr = node.args[1] if len(node.args) > 1 else None
        name = attr.value if isinstance(attr, ast.Constant) and isinstance(attr.value, str) else None
        if self.guarded(base):
            self.flag(node, "patch-module", f"{how}() on {base}, part of {_root(base)} that the "
                                            "grader relies on")
        elif name == "__class__":
            self.flag(node, "class-swap", f"{how}() changes an object's __class__")
        elif name in DESCRIBING or name is None:
            what = f".{name}" if name else "an attribute named at run time"
            self.flag(node, "patch-model", f"{how}() replaces {what} of an object")

    def _method(self, node: ast.Call, func: ast.Attribute) -> None:
        owner = self.origin(func.value)
        if func.attr in IPYTHON_HOOKS or (func.attr in ("register", "unregister")
                                          and isinstance(func.value, ast.Attribute)
                                          and func.value.attr == "events"):
            self.flag(node, "ipython-hook", f"registers code with IPython ({func.attr}), which "
                                            "then runs around the grader's own cell")
        elif func.attr in MUTATORS and owner in IMPORT_STATE:
            self.flag(node, "import-hook", f"changes {owner}, which decides what an import returns")
        elif func.attr in MUTATORS and owner and (owner.endswith("__dict__") or owner == "globals()") \
                and (self.guarded(owner) or owner == "globals()"):
            self.flag(node, "patch-module", f"changes {owner} in place")

    def visit_Attribute(self, node: ast.Attribute) -> None:
        if node.attr in INTERNALS:
            self.flag(node, "reach-objects", f"reads {node.attr}, behind a function or frame "
                                             "(where the grader's own code keeps its state)")
        elif node.attr in TF_HOOKS:
            self.flag(node, "interpreter-hook", f"uses TensorFlow's {node.attr} (code that runs "
                                                "on every op or API call)")
        if node.attr in IPYTHON_HOOKS or (node.attr == "callbacks" and isinstance(node.value, ast.Attribute)
                                          and node.value.attr == "events"):
            if not any(f.line == node.lineno and f.code == "ipython-hook" for f in self.findings):
                self.flag(node, "ipython-hook", f"reaches IPython's {node.attr}, code that runs "
                                                "around the grader's own cell")
        self.generic_visit(node)

    def visit_Global(self, node: ast.Global) -> None:
        for name in node.names:
            if name in PROTECTED:
                self.flag(node, "redefine-builtin", f"declares {name} global to redefine it, "
                                                    "which the grader's own code calls")

    def visit_FunctionDef(self, node: ast.FunctionDef | ast.AsyncFunctionDef) -> None:
        self._bind(node, node.name)
        if node.name == "__del__":
            self.flag(node, "late-code", "defines __del__ (code that runs when an object is "
                                         "collected, after the notebook's cells)")
        for decorator in node.decorator_list:
            self.visit(decorator)
        self._nested(node.body)

    visit_AsyncFunctionDef = visit_FunctionDef

    def _nested(self, body: list[ast.stmt]) -> None:
        """Visit a function's or class's body one level deeper (top-level rules no longer
        apply there)."""
        self.depth += 1
        try:
            for child in body:
                self.visit(child)
        finally:
            self.depth -= 1

    def visit_ClassDef(self, node: ast.ClassDef) -> None:
        self._bind(node, node.name)
        if node.name in KERAS_NAMES:
            self.flag(node, "fake-keras-class", f"defines a class named {node.name}, like "
                                                "Keras's own")
        for statement in node.body:
            self._member(statement)
        for item in [*node.bases, *node.keywords, *node.decorator_list]:
            self.visit(item)
        self._nested(node.body)

    def _member(self, statement: ast.stmt) -> None:
        """What a class body defines: a Keras module or name, a ``__class__`` that lies, an
        ``isinstance`` that lies, an object that answers for another."""
        names = [t.id for t in getattr(statement, "targets", []) if isinstance(t, ast.Name)]
        if isinstance(statement, (ast.FunctionDef, ast.AsyncFunctionDef)):
            names = [statement.name]
        if any(n in ("__module__", "__qualname__") for n in names) and _keras_string(statement):
            self.flag(statement, "fake-keras-class", "gives a class of the notebook a Keras "
                                                     "module or name")
        elif any(n in LYING_MEMBERS for n in names):
            self.flag(statement, "class-swap", f"defines {names[0]} in a class (its objects "
                                               "then report another class than they are)")
        elif any(n in PROXY_MEMBERS for n in names):
            self.flag(statement, "proxy", f"defines {names[0]} (an object that answers for "
                                          "another, e.g. a model standing in for a hidden one)")


def _dotted(node: ast.AST) -> str | None:
    """``a.b.c`` as written (for a builtin such as ``object.__setattr__`` that nothing imports)."""
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        base = _dotted(node.value)
        return f"{base}.{node.attr}" if base else None
    return None


def _root(dotted: str | None) -> str:
    root = str(dotted).split(".")[0].split("[")[0]
    return {"get_ipython": "IPython", "__builtins__": "builtins"}.get(root, root)


def _keras_string(node: ast.AST) -> bool:
    """A string literal in ``node`` naming a Keras module (``keras.src…``) or class."""
    for child in ast.walk(node):
        if isinstance(child, ast.Constant) and isinstance(child.value, str):
            text = child.value
            if text.split(".")[0] in ("keras", "tensorflow", "tf_keras") or text in KERAS_NAMES:
                return True
    return False


def _keras_name(node: ast.AST) -> bool:
    return isinstance(node, ast.Constant) and node.value in KERAS_NAMES

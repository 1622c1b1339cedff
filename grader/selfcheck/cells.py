"""Grader side of the student's self-check: recognise the self-check cell by its content.

The template's optional last cell calls ``grader.notebook.check``. During grading it must cost
nothing and change nothing, so a code cell that does *only* that is replaced by a comment
before the notebook runs. It is recognised by what its code does, never by its tags or
metadata (a student controls those): every statement must be the import of
``grader.notebook``'s ``check`` (bare or in a ``try`` whose handlers only pass, print or bind a
fallback ``check``), a call of ``check`` with plain names or constants (``exercise='…'``) after
that import in the same cell (a ``check`` from an earlier cell may be the student's own), or the
magics ``%load_ext grader`` / ``%grader_check``. A cell that does anything else runs as written
(the kernel's stub makes its self-check a no-op: ``kernel/selfcheck_stub.py``).
"""
from __future__ import annotations

import ast
import re

SKIPPED = "# the self-check cell: skipped by the grader (it checks your model itself)"
MAGIC = re.compile(r"^\s*%(load_ext\s+grader|grader_check(\s+\w+)?)\s*$")
MODULE = "grader.notebook"


def is_selfcheck_cell(source: str) -> bool:
    """True when every line of the cell is the self-check and nothing else."""
    lines = [line for line in str(source).splitlines() if not MAGIC.match(line)]
    if not lines or all(not line.strip() or line.lstrip().startswith("#") for line in lines):
        return len(lines) < len(str(source).splitlines())  # only magics (and comments)
    try:
        tree = ast.parse("\n".join(lines))
    except SyntaxError:
        return False
    bound = [False]  # ``check`` is the grader's only once this cell imported it
    return bool(tree.body) and all(_allowed(node, bound) for node in tree.body)


def _allowed(node: ast.stmt, bound: list) -> bool:
    """``bound[0]``: this cell has imported ``check``; a call before that would call whatever
    ``check`` an earlier cell defined (it may change the model), so the cell must run."""
    if isinstance(node, ast.ImportFrom):
        ok = node.module == MODULE and node.level == 0 and \
            all(a.name == "check" and a.asname in (None, "check") for a in node.names)
        bound[0] = bound[0] or ok
        return ok
    if isinstance(node, ast.Try):
        return (all(_allowed(n, bound) for n in node.body + node.orelse) and not node.finalbody
                and all(_names(h.type) for h in node.handlers)
                and all(_fallback(n) for h in node.handlers for n in h.body))
    if isinstance(node, ast.Expr):
        return bound[0] and _check_call(node.value)
    return False


def _names(value: ast.expr | None) -> bool:
    """An ``except`` clause's type: ``ImportError``, ``(ImportError, X)`` or none."""
    if value is None or isinstance(value, ast.Name):
        return True
    return isinstance(value, ast.Tuple) and all(isinstance(e, ast.Name) for e in value.elts)


def _check_call(value: ast.expr) -> bool:
    """``check()``, ``check(model)``, ``check(exercise='cnn2_2018')``: no argument may run code."""
    return (isinstance(value, ast.Call) and isinstance(value.func, ast.Name)
            and value.func.id == "check"
            and all(k.arg is not None and isinstance(k.value, ast.Constant)
                    for k in value.keywords)
            and all(isinstance(a, (ast.Name, ast.Constant)) for a in value.args))


def _fallback(node: ast.stmt) -> bool:
    """What an ``except ImportError`` may do: pass, print a constant, bind ``check`` to a
    lambda that prints (``check = lambda *a: print("…")``) or to None."""
    if isinstance(node, ast.Pass):
        return True
    if isinstance(node, ast.Expr):
        return _print(node.value)
    if isinstance(node, ast.Assign) and [getattr(t, "id", None) for t in node.targets] == ["check"]:
        v = node.value
        return (isinstance(v, ast.Constant) and v.value is None) or (
            isinstance(v, ast.Lambda) and _print(v.body))
    return False


def _print(value: ast.expr) -> bool:
    return (isinstance(value, ast.Call) and isinstance(value.func, ast.Name)
            and value.func.id == "print" and not value.keywords
            and all(isinstance(a, ast.Constant) for a in value.args))

"""Runs first in the grading kernel: the student's self-check does nothing there.

A notebook may end with the template's self-check cell (``from grader.notebook import check``,
``check()``) or use ``%load_ext grader`` / ``%grader_check``. The grader skips a cell that does
only that (``execute.is_selfcheck_cell``); anywhere else, these names resolve to this stub, so
the notebook neither checks itself again (no recursion, no cost) nor fails where the grader is
not importable (the sandbox). The verdict never reads what the stub returns: the grader
extracts and checks the model itself, so patching or faking the self-check changes nothing.
"""


def __grader_selfcheck_stub(ledger):
    import importlib.util
    import sys
    import types

    def skipped(*args, **kwargs):
        ledger.neutralized.append({"what": "self-check", "detail": ""})
        return None

    def register(ipython):
        ipython.register_magic_function(lambda line="": skipped(), "line", "grader_check")

    stub = types.ModuleType("grader.notebook")
    stub.check, stub.register = skipped, register
    sys.modules["grader.notebook"] = stub
    try:
        present = importlib.util.find_spec("grader") is not None
    except (ImportError, ValueError):
        present = False
    if not present:  # e.g. in the sandbox: ``%load_ext grader`` still finds an extension
        package = types.ModuleType("grader")
        package.__path__ = []
        package.notebook = stub
        package.load_ipython_extension = register
        sys.modules["grader"] = package

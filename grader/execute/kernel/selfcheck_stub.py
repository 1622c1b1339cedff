"""Runs first in the grading kernel: the student's self-check does nothing there.

A notebook may end with the template's self-check cell (``from grader.notebook import check``,
``check()``) or use ``%load_ext grader`` / ``%grader_check``. The grader skips a cell that does
only that (``execute.is_selfcheck_cell``); anywhere else, these names resolve to this stub, so
the notebook neither checks itself again (no recursion, no cost) nor fails where the grader is
not importable (the sandbox). The notebook's kernel never needs the real package:
the grader's own kernel code is sent as cells. The verdict never reads what the stub returns: the grader
extracts and checks the model itself, so patching or faking the self-check changes nothing.
"""

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # IPython's builtin in the kernel this code runs in
    def get_ipython() -> Any: ...


def __grader_selfcheck_stub(ledger):
    import sys
    import types

    def skipped(*args, **kwargs):
        ledger.neutralized.append({"what": "self-check", "detail": ""})
        return None

    def register(ipython):
        ipython.register_magic_function(lambda line="": skipped(), "line", "grader_check")

    stub = types.ModuleType("grader.notebook")
    vars(stub).update(check=skipped, register=register)
    package = types.ModuleType("grader")  # whether or not the grader is importable here
    vars(package).update(__path__=[], notebook=stub, load_ipython_extension=register)
    sys.modules["grader"], sys.modules["grader.notebook"] = package, stub
    register(get_ipython())  # %grader_check even without %load_ext

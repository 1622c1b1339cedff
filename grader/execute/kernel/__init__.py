"""Code injected into the student's kernel. Each module is plain, self-contained Python whose
source is sent to the kernel as a cell. The grader itself imports only ``compat``'s detection
and mapping names; the rest runs in the kernel alone (and in unit tests)."""
from __future__ import annotations

from pathlib import Path

HERE = Path(__file__).parent
#: what the kernel's modules record for the report; read back by ``extract_model``
LEDGER = "__grader_ledger__"

_LOADER = """\
def __grader_load(name, source):
    import sys, types
    ledger = sys.modules.get({ledger!r})
    if ledger is None:
        ledger = sys.modules[{ledger!r}] = types.ModuleType({ledger!r})
        ledger.compat, ledger.neutralized = [], []
    module = types.ModuleType('__grader_' + name)
    # a copy of the builtins as they are before any student cell: the module's functions keep
    # it, so a notebook that replaces e.g. builtins.type later does not change the grader's code
    module.__dict__['__builtins__'] = dict(vars(__import__('builtins')))
    exec(compile(source, '<grader ' + name + '>', 'exec'), module.__dict__)
    return module, ledger
"""


def text(name: str) -> str:
    """The module's source, as sent to the kernel."""
    return (HERE / f"{name}.py").read_text()


def source(name: str, call: str) -> str:
    """The module's source followed by one call, as the text of a cell."""
    return (HERE / f"{name}.py").read_text() + "\n" + call + "\n"


def isolated(name: str, function: str, *args: object) -> str:
    """A cell that runs the module in its own namespace (its helpers stay out of the
    notebook's globals) and calls ``function(ledger, *args)``."""
    text = (HERE / f"{name}.py").read_text()
    arguments = "".join(f", {a!r}" for a in args)
    return (_LOADER.format(ledger=LEDGER)
            + f"__grader_m, __grader_l = __grader_load({name!r}, {text!r})\n"
            + f"getattr(__grader_m, {function!r})(__grader_l{arguments})\n"
            + "del __grader_load, __grader_m, __grader_l\n")

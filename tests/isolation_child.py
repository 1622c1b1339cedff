"""The target of a spawned child in tests/test_isolation.py: reports how it was started.
Standard library only, so that importing it in the child imports nothing else."""
from __future__ import annotations

import json
import os
import sys


def report(path: str) -> None:
    main = sys.modules.get("__main__")
    with open(path, "w") as f:
        json.dump({"cwd": os.getcwd(), "path": sys.path, "isolated": sys.flags.isolated,
                   "main": getattr(main, "__file__", None)}, f)

"""The built-in plugins of a registry (check kinds, formats, executors), imported once.

Each registry names its built-in modules; importing one registers what it declares (a class
decorated with the registry's ``register``). Imported by name on first use, so that a plugin
module may import its registry without a circle.
"""
from __future__ import annotations

import importlib
from functools import cache


@cache
def load(modules: tuple[str, ...], optional: bool = False) -> None:
    """Import ``modules`` in order, once (later calls return at once); ``optional``: a module
    whose own dependency is missing is left out (its plugin is not offered)."""
    for module in modules:
        try:
            importlib.import_module(module)
        except ImportError:
            if not optional:
                raise

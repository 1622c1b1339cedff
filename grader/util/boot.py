"""Start a grader module in a Python that sees nothing of the folder it was started from.

Run as ``python -I …/grader/util/boot.py MODULE ARGS…``: ``-I`` keeps the working folder, the
script's folder, ``PYTHONPATH`` and the user's site-packages off ``sys.path``, so a student's
``json.py`` or ``sitecustomize.py`` beside a notebook is never imported. The grader itself is
then loaded from the one folder this file belongs to, as the package ``grader`` only (its parent
folder, which may be anyone's working folder, never goes on ``sys.path``): an uninstalled
checkout runs the same code as the process that started this one. Standard library only.

Also the ``__main__`` of the grader's multiprocessing children (``grader.util.isolation``):
imported as ``__mp_main__`` it only loads the package.
"""
import importlib.util
import os
import runpy
import sys

PACKAGE_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def load_grader(package_dir: str = PACKAGE_DIR) -> None:
    """Import the package ``grader`` from ``package_dir`` (no-op when one is imported)."""
    if "grader" in sys.modules:
        return
    spec = importlib.util.spec_from_file_location(
        "grader", os.path.join(package_dir, "__init__.py"), submodule_search_locations=[package_dir])
    if spec is None or spec.loader is None:
        raise ImportError(f"no grader package in {package_dir}")
    module = importlib.util.module_from_spec(spec)
    sys.modules["grader"] = module
    try:
        spec.loader.exec_module(module)
    except BaseException:
        del sys.modules["grader"]
        raise


if __name__ == "__main__":
    load_grader()
    target = sys.argv[1]
    if target != "grader" and not target.startswith("grader."):
        sys.exit(f"boot.py runs grader modules only, not {target!r}")
    del sys.argv[0]
    runpy.run_module(target, run_name="__main__", alter_sys=True)
elif __name__ == "__mp_main__":
    load_grader()

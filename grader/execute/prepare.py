"""What the kernel runs: the submission as parsed once, with the grader's own cells around it.

Outputs and execution tags are stripped (the grader decides what runs), self-check cells are
skipped, and the prelude, the neutralization of environment cells, the compatibility layer
(Keras 1/2 notebooks only) and the extraction are added as cells of their own.
"""
from __future__ import annotations

from pathlib import Path

import nbformat

from grader import errors
from grader.exceptions import InvalidNotebook
from grader.execute import kernel
from grader.execute.legacy import legacy_markers
from grader.selfcheck import cells as selfcheck
from grader.settings import Settings
from grader.util.text import first_line

#: tags that would make nbclient skip a cell or swallow its error: the grader decides that
EXECUTION_TAGS = frozenset({"skip-execution", "raises-exception", "skip", "remove-cell"})


def read_notebook(path: Path, data: bytes | None = None) -> nbformat.NotebookNode:
    """Parse and validate ``data`` (the bytes read once, else ``path``'s); a broken file is the
    submission's fault, not the grader's."""
    try:
        raw = Path(path).read_bytes() if data is None else data
        nb = nbformat.reads(raw.decode("utf-8"), as_version=4)
        nbformat.validate(nb)
    except Exception as exc:  # nbformat raises many types for bad input
        raise InvalidNotebook(f"{path.name} is not a valid Jupyter notebook: {first_line(exc)}",
                              advice=errors.UNPARSABLE_NOTEBOOK) from None
    language = notebook_language(nb)
    if language not in ("", "python"):
        raise InvalidNotebook(f"{path.name} is a notebook for {language!r} (its kernel, as saved); "
                              "the exercise is Python with Keras", advice=errors.OTHER_LANGUAGE_NOTEBOOK)
    return nb


def notebook_language(nb: nbformat.NotebookNode) -> str:
    """The language the notebook says it was written in: "python" when anything in its metadata
    says Python (a kernelspec language such as "Python 3", "ipython3", PySpark, a ``.py`` file
    extension, a Python mimetype), "" when it says nothing, else the language it names."""
    meta = nb.get("metadata") or {}
    spec, info = meta.get("kernelspec") or {}, meta.get("language_info") or {}
    spec = spec if isinstance(spec, dict) else {}
    info = info if isinstance(info, dict) else {}
    said = [str(v).strip().lower()[:40] for v in (spec.get("language"), info.get("name")) if v]
    if any("python" in v or v.startswith("py") for v in said) \
            or info.get("file_extension") == ".py" or info.get("mimetype") == "text/x-python":
        return "python"
    return said[0] if said else ""


def prepare(nb: nbformat.NotebookNode, settings: Settings, nonce: str, data_name: str = "",
            data_url: str | None = None,
            input_shape: tuple | list | None = None) -> nbformat.NotebookNode:
    """Strip outputs and execution tags; add the prelude, the neutralization of environment
    cells, (for Keras 1/2 notebooks only) the compatibility layer and the guard first. The
    extraction is no cell: the runner asks the guard's ``__grader_report_<nonce>`` for it
    (``runner.REPORT``). ``input_shape``: the exercise's, to build a model never built."""
    nb = nbformat.from_dict(nb)
    nb.metadata.pop("kernelspec", None)
    nb.metadata.pop("widgets", None)
    for cell in nb.cells:
        if cell.cell_type == "code":
            cell.outputs, cell.execution_count = [], None
        tags = cell.metadata.get("tags", [])
        cell.metadata["tags"] = [t for t in tags if t not in EXECUTION_TAGS]
        if cell.cell_type == "code" and selfcheck.is_selfcheck_cell(cell.source):
            cell.source = selfcheck.SKIPPED
    prelude = kernel.source("prelude", f"__grader_prelude({int(settings.notebook_epochs)}, "
                                       f"{int(settings.notebook_steps)})")
    setup = [prelude, kernel.isolated("neutralize", "__grader_neutralize", data_name, data_url),
             kernel.isolated("selfcheck_stub", "__grader_selfcheck_stub")]
    if legacy_markers(nb):
        setup.append(kernel.isolated("compat", "__grader_compat"))
    shape = [None, *list(input_shape)[1:]] if input_shape else None
    setup.append(kernel.isolated("guard", "__grader_guard", nonce, kernel.text("extract_model"),
                                 kernel.text("probe"), kernel.text("computing"),
                                 kernel.text("hygiene"), shape, int(settings.crosscheck_limit_bytes)))
    nb.cells.insert(0, nbformat.v4.new_code_cell("\n".join(setup)))
    return nb

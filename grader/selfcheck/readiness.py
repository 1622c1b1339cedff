"""What commonly breaks only at final grading, checked from the student's own session.

The in-notebook self-check sees the live model, not the grading machine. The grading machine
runs the whole notebook from the top, offline, without Colab or a GPU, with the exercise's data
file beside the notebook (README: "What the grading machine has"). These checks read the
session's own code (IPython's raw input history: every cell the student ran, as typed) and the working
directory, and say in one line each what would fail there and the fix. They inform, never score.
"""
from __future__ import annotations

import ast
import re
from dataclasses import dataclass
from pathlib import Path

from grader import advice
from grader.intake.data import MISSING, why_unusable

#: (pattern on a line of code, what fails on the grading machine and the fix); ``{data}`` is
#: the exercise's data file name
LINE_RULES: tuple[tuple[re.Pattern, str], ...] = (
    (re.compile(r"/content/|drive\.mount\(|MyDrive"),
     "Google Drive paths (`/content/…`, `drive.mount`) exist only on Colab: load the data as "
     "`gzip.open('{data}', 'rb')`, the file lies beside your notebook there."),
    (re.compile(r"['\"]\.\./"),
     "`../…` paths point into your own folders, which the grading machine does not have: load "
     "the data by its bare name `'{data}'`."),
    (re.compile(r"^\s*[!%]\s*pip\s+install|pip\.main\(|\.system\(['\"]pip\s+install"),
     "`pip install` needs the network: the grading machine is offline, so only what it already "
     "has (TensorFlow, Keras, numpy, matplotlib) can be used."),
    (re.compile(r"^\s*!\s*(git\s+clone|apt|apt-get|conda)\b"
                r"|\.system\(['\"](git\s+clone|apt|conda)\b"),
     "this shell command needs the network or Colab: the grading machine is offline."),
    (advice.GPU_CODE,
     "GPU set-up: the grading machine has no GPU, so code that expects one fails there; "
     "leave it out (a `with tf.device(...)` scope alone is fine)."),
)
#: downloads: only the exercise's own data URL is answered (with the provided file)
DOWNLOAD = re.compile(r"!\s*(?:wget|curl)\b|\.system\(['\"](?:wget|curl)\b"
                      r"|urlretrieve\(|urlopen\(|requests\.get\(|get_file\(")
#: the self-check's own lines (raw or as IPython translated them) and comments
SELF = re.compile(r"grader\.notebook|grader_check|load_ext\s+grader|['\"]grader['\"]|^\s*#")


@dataclass
class Note:
    """One thing to fix before submitting (``level`` "warn") or a plain fact ("info")."""

    level: str
    text: str


def data_note(data: dict, folder: Path) -> Note:
    """Is the exercise's data file beside the notebook, as a regular file with the right bytes?"""
    name = data["file"]
    why = why_unusable(folder / name, data["sha256"])
    if why is None:
        return Note("info", f"{name} is beside your notebook, the same file the grader uses.")
    if why == MISSING:
        return Note("warn", f"{name} is not beside your notebook ({folder}): the grading machine "
                            f"puts it there; load it as `gzip.open('{name}', 'rb')`.")
    return Note("warn", f"{name} beside your notebook cannot be used: {why}; the grading "
                        "machine puts the course's file there.")


def source_notes(cells: list[str], data: dict) -> list[Note]:
    """One note per rule that some line of the code the student ran breaks (each rule once)."""
    code = [line for cell in cells for line in str(cell).splitlines() if not SELF.search(line)]
    notes, url = [], str(data.get("url") or "")
    for pattern, text in LINE_RULES:
        if any(pattern.search(line) for line in code):
            notes.append(Note("warn", text.format(data=data["file"])))
    downloads = [line for line in code if DOWNLOAD.search(line)
                 and not (url and url in line) and data["file"] not in line]
    if downloads:
        notes.append(Note("warn", "a download other than the exercise's data file: the grading "
                                  "machine is offline, so it fails there."))
    if any(_unguarded_colab(cell) for cell in cells):
        notes.append(Note("warn", "`google.colab` is imported without a guard: it does not exist "
                                  "on the grading machine; write `try: from google.colab import "
                                  "drive` … `except ImportError: pass`."))
    return notes


def _unguarded_colab(cell: str) -> bool:
    """An import of ``google.colab`` outside any ``try``/``if`` (magics make a cell unparsable:
    those lines are dropped first)."""
    text = "\n".join("" if line.lstrip().startswith(("!", "%")) else line
                     for line in str(cell).splitlines())
    try:
        tree = ast.parse(text)
    except SyntaxError:
        return False
    return any(_imports_colab(node) for node in tree.body)


def _imports_colab(node: ast.AST) -> bool:
    if isinstance(node, ast.Import):
        return any(a.name.startswith("google.colab") for a in node.names)
    if isinstance(node, ast.ImportFrom):
        return (node.module or "").startswith("google.colab") or (
            node.module == "google" and any(a.name == "colab" for a in node.names))
    if isinstance(node, (ast.Try, ast.If)) or not hasattr(node, "body"):
        return False
    return any(_imports_colab(child) for child in getattr(node, "body", []))


def pick_note(checked: list[str], chosen: str | None) -> Note | None:
    """``check(model)`` on a model the grader would not grade: say which one it grades."""
    if chosen is None or chosen in checked:
        return None
    yours = f"`{checked[0]}`" if checked else "this model (it is in no top-level variable)"
    return Note("warn", f"the grader would grade the model in `{chosen}`, not {yours}: keep "
                        "your network in `model` (or remove the other models).")

"""The README names only source paths that exist.
"""
from __future__ import annotations

from tests.conftest import ROOT


def test_every_source_path_the_readme_names_exists():
    """The layout moved the modules into subpackages (``grader/intake.py`` is now
    ``grader/intake/submissions.py``), but the README still sent readers to 13 paths that no
    longer exist; a reader (or a reviewer checking a security claim) finds nothing there."""
    import re

    text = (ROOT / "README.md").read_text()
    named = sorted(set(re.findall(r"grader/[\w/]+\.(?:py|j2)", text)))
    missing = [path for path in named if not (ROOT / path).exists()]
    assert named and not missing, f"README names paths that do not exist: {missing}"

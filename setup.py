"""Build hook: every exercise's reference spec ships inside the package (``grader/exercises/``).

The in-notebook self-check (``grader.notebook``) runs where only the package is installed (a
student's Colab or laptop, offline), so each reference folder's ``exercise.json`` and
``spec.json`` are copied into the built package at build time. The repository keeps one copy of
them, in ``reference/NAME/`` (one folder per exercise, e.g. ``reference/cnn2/``); the notebooks,
the solution and the samples never ship. Everything else is in ``pyproject.toml``.
"""
import json
import shutil
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

ROOT = Path(__file__).resolve().parent
SHIPPED = ("exercise.json", "spec.json", "baselines.json")


def exercise_folders(reference: Path = ROOT / "reference") -> list[Path]:
    """Every folder below ``reference/`` holding an ``exercise.json`` and a ``spec.json``."""
    return sorted(p.parent for p in reference.glob("**/exercise.json") if (p.parent / "spec.json").is_file())


class BuildWithExercises(build_py):
    def run(self) -> None:
        super().run()
        for folder in exercise_folders():
            name = json.loads((folder / "exercise.json").read_text())["exercise"]
            target = Path(self.build_lib) / "grader" / "exercises" / name
            target.mkdir(parents=True, exist_ok=True)
            for file in SHIPPED:
                if (folder / file).is_file():  # baselines.json: only where measured
                    shutil.copyfile(folder / file, target / file)


setup(cmdclass={"build_py": BuildWithExercises})

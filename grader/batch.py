"""Grading a folder of submissions: one result per student, whatever each notebook does."""
from __future__ import annotations

from pathlib import Path

from . import api, pipeline
from .exceptions import UsageError
from .exitcodes import ExitCode
from .render import terminal
from .render.files import write_json
from .result import Result
from .settings import Settings


def find_submissions(folder: Path) -> list[Path]:
    if not folder.is_dir():
        raise UsageError(f"no such folder: {folder}")
    return sorted(p for p in folder.glob("*.ipynb") if p.is_file())


def grade_folder(folder: Path, out: Path, *, reference: Path | None = None,
                 settings: Settings | None = None) -> ExitCode:
    settings = settings or Settings(sandbox="required")
    spec = api.load_spec(reference)
    data_file = api.resolve_data(spec, settings.data_path)
    launcher = api.make_launcher(settings.sandbox)
    verifier = api.verifier_for(settings)
    results: list[Result] = []
    for notebook in find_submissions(folder):
        result = pipeline.check_notebook(notebook, spec, data_file, settings, launcher, verifier)
        write_json(out / f"{notebook.stem}.json", result.to_dict())
        print(f"{result.submission}: {result.status.value} {result.score:g}/{result.max_score:g}",
              flush=True)
        results.append(result)
    print(terminal.batch_table(results))
    faults = [r for r in results if r.exit_code == ExitCode.GRADER_ERROR]
    return ExitCode.GRADER_ERROR if faults else ExitCode.PASSED

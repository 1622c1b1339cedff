"""The Extending table (docs/extending.md) is literally true: a check kind with a category of
its own, an executor and a format with an option of its own are each ONE new module, written
here into a temporary folder and imported; nothing else in the grader changes. No kernel runs.
"""
from __future__ import annotations

import csv
import importlib
import io
import json
import shutil
import sys
import textwrap
from dataclasses import replace

import pytest

from grader import cli, options
from grader.batch import executor
from grader.checks import registry
from grader.checks import scoring as structure
from grader.cli_args import parser
from grader.render import csv_out, gradescope, html, writers
from grader.result import Result, Status

from tests.conftest import DATA, ROOT

TOY_KIND = '''
"""A toy check kind: the student's model has at most as many layers as the reference."""
from grader.result import Check
from grader.checks.kind import OWN, STRUCTURE, CheckKind
from grader.checks.registry import register


@register
class LayerBudget(CheckKind):
    kind, stage = "layer_budget", STRUCTURE
    category, title, section, csv_column = "budget", "Layer budget", OWN, "budget_points"

    def run(self, context):
        n, most = len(context.comparison.student), len(context.spec.layers)
        ok = n <= most
        return [Check(name="Layer budget", passed=ok, message=f"{n} of at most {most} layers",
                      points=float(self.points) if ok else 0.0, max_points=float(self.points),
                      category=self.category)]
'''

TOY_EXECUTOR = '''
"""A toy executor: grades nothing, reports a fixed result per task, chosen by --toy-run."""
from grader import options
from grader.batch.executor import Executor, register
from grader.result import Result, Status

options.declare(options.Option("--toy-run", "grade with the toy executor", ("grade",),
                               setting=options.EXTRA, action="store_true"))


@register
class ToyExecutor(Executor):
    name = "toy"
    grades_here = False  # no kernel on this machine: its sandbox is not asked for

    @classmethod
    def wanted(cls, settings):
        return bool(settings.extras.get("toy_run"))

    @classmethod
    def default_size(cls, settings, pending):
        return 1

    @classmethod
    def announce(cls, settings):
        return "toy executor: nothing runs"

    def run(self, tasks):
        for task in tasks:
            result = Result(submission=task.student, status=Status.PASSED, score=1.0,
                            max_score=1.0, summary="graded by the toy")
            self.on_result(task, result.to_dict())
'''

TOY_FORMAT = '''
"""A toy format with an option of its own: one greeting line per result."""
from grader import options
from grader.render import writers

options.declare(options.Option("--toy-greeting", "the toy format's greeting",
                               ("check", "grade"), default="hello", metavar="WORD"))

WRITER = writers.register(writers.Writer(
    name="toy", help="write the toy greeting here", file_name="toy.txt",
    student_file="toy/{}.txt",
    one=lambda result, context: f"{context.of('toy')}, {result.submission}\\n",
    read_options=lambda args: args.toy_greeting))
'''


@pytest.fixture
def plugin(tmp_path, monkeypatch):
    """Write one module into a folder on sys.path and import it (its registrations happen)."""
    monkeypatch.syspath_prepend(str(tmp_path))
    names = []

    def load(name: str, source: str):
        (tmp_path / f"{name}.py").write_text(textwrap.dedent(source))
        names.append(name)
        return importlib.import_module(name)
    yield load
    for name in names:
        sys.modules.pop(name, None)


def test_a_check_kind_with_a_new_category_is_one_module_and_every_output_shows_it(plugin, spec):
    plugin("toy_kind", TOY_KIND)
    try:
        declared = replace(spec, checks=[*spec.checks, {"kind": "layer_budget", "points": 2}])
        assert registry.max_score(declared, verified=False) == \
            registry.max_score(spec, verified=False) + 2
        result = Result(submission="s", status=Status.ERROR,
                        max_score=registry.max_score(declared, verified=False, answers=False))
        checks, rows = structure.check_layers(declared, spec.infos())
        result.checks, result.alignment = checks, [r.to_dict() for r in rows]
        structure.score(result)
        assert result.status is Status.PASSED and result.score == result.max_score

        assert {"name": "Layer budget", "category": "budget", "points": 2.0}.items() <= \
            json.loads(json.dumps(result.to_dict()))["checks"][-1].items()
        page = html.render_report(result)
        assert 'id="checks-budget"' in page and "<h2>Layer budget</h2>" in page
        table = list(csv.DictReader(io.StringIO(csv_out.grades_csv([result]))))
        assert table[0]["budget_points"] == "2"
        tests = gradescope.gradescope_results(result, {"budget": "hidden"})["tests"]
        assert [(t["tags"], t["visibility"]) for t in tests if t["name"] == "Layer budget"] == \
            [(["budget"], "hidden")]
        assert "budget" in gradescope.categories()
    finally:
        registry.unregister("layer_budget")
    assert "budget_points" not in csv_out.grades_csv([result]).splitlines()[0]
    with pytest.raises(ValueError, match="category must be one of"):
        gradescope.check_visibility({"budget": "hidden"})


def test_an_executor_is_one_module_with_its_option_and_grade_uses_it(plugin, tmp_path, capsys,
                                                                      monkeypatch):
    monkeypatch.setenv("GRADER_DATA", str(DATA))
    module = plugin("toy_executor", TOY_EXECUTOR)
    folder, out = tmp_path / "subs", tmp_path / "out"
    folder.mkdir()
    for name in ("alice_solution", "bob_no_padding"):
        shutil.copy(ROOT / "submissions" / f"{name}.ipynb", folder)
    try:
        assert executor.chosen(options.settings_from(parser().parse_args(
            ["grade", str(folder), "--toy-run"]))) is module.ToyExecutor
        code = cli.main(["grade", str(folder), "--out", str(out), "--toy-run"])
        assert code == 0
        said = capsys.readouterr().out
        assert "grader: toy executor: nothing runs" in said
        saved = json.loads((out / "students" / "alice_solution.json").read_text())
        assert saved["summary"] == "graded by the toy"
        assert (out / "grades.csv").read_text().count("passed") == 2
        assert executor.chosen(options.settings_from(parser().parse_args(
            ["grade", str(folder)]))).name == "local"
    finally:
        executor.unregister(module.ToyExecutor)
        options.withdraw("--toy-run")


def test_a_format_with_an_option_of_its_own_is_one_module(plugin, tmp_path):
    plugin("toy_format", TOY_FORMAT)
    try:
        args = parser().parse_args(["check", "nb.ipynb", "--format", "toy", "--toy-greeting",
                                    "salut", "--out", str(tmp_path)])
        targets = cli.check_targets(args)
        assert [(w.name, p) for w, p in targets] == [("toy", tmp_path / "toy.txt")]
        context = cli.format_context(args, [w for w, _ in targets])
        result = Result(submission="alice", status=Status.PASSED, score=1.0, max_score=1.0)
        targets[0][0].write_one(result, targets[0][1], context)
        assert (tmp_path / "toy.txt").read_text() == "salut, alice\n"
        default = parser().parse_args(["grade", "f", "--format", "toy"])
        assert writers.context_from(default, writers.parse_formats(default.format)).of("toy") \
            == "hello"
        assert "--toy" in writers.reserved_options() | {w.option for w in
                                                         writers.available().values()}
    finally:
        writers.unregister("toy")
        options.withdraw("--toy-greeting")
    assert "toy" not in writers.available()

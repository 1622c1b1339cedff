"""The README's usage block and exit-code table are what the CLI does: a pipeline author reads
them, not argparse. An option, choice, argument or exit code changed without the README fails
here (the README is written by hand, so the test reads it the way a person does)."""
from __future__ import annotations

import argparse
import re
from dataclasses import dataclass, field

import pytest

from grader.cli import parser
from grader.exitcodes import ExitCode

from tests.conftest import ROOT

README = (ROOT / "README.md").read_text(encoding="utf-8")
VALUE = r"(?:\s+(?!\[?--)(?P<value>[^\s\]\[]*(?:\[[^\s\]]*\][^\s\]]*)?))?"
OPTION = re.compile(r"(?P<option>--[a-z][a-z-]*)" + VALUE + r"(?P<many>\s+\.\.\.)?")


@dataclass
class Usage:
    """One command as a person reads it: its positionals, and each option with its value."""

    positionals: list[tuple[str, bool]] = field(default_factory=list)  # (NAME, optional)
    options: dict[str, tuple[bool, frozenset[str], bool]] = field(default_factory=dict)


def section(title: str) -> str:
    """The README text from a heading to the next heading of any level."""
    start = README.find(f"\n{title}\n")
    assert start >= 0, f"the README has no heading {title!r} (renamed? update this test)"
    end = README.find("\n#", start + len(title) + 2)
    return README[start:end if end >= 0 else None]


def documented() -> dict[str, Usage]:
    """The ```text block of "## Using it", one entry per `grader COMMAND` (continuations
    included); `# comments` are left out."""
    block = section("## Using it").split("```text\n", 1)[1].split("```", 1)[0]
    commands: dict[str, str] = {}
    name = ""
    for line in block.splitlines():
        line = line.split("#", 1)[0]
        if line.startswith("grader "):
            first, _, rest = line.removeprefix("grader ").partition(" ")
            name, line = ("", line.removeprefix("grader ")) if first.startswith("--") else (
                first, rest)
        commands[name] = commands.get(name, "") + " " + line
    return {name: read_usage(text) for name, text in commands.items()}


def read_usage(text: str) -> Usage:
    usage = Usage()
    for word in text.split():
        if word.startswith(("--", "[--")):
            break
        usage.positionals.append((word.strip("[]"), word.startswith("[")))
    for m in OPTION.finditer(text):
        value = m["value"] or ""
        choices = frozenset(value.split("|")) if "|" in value else frozenset()
        usage.options[m["option"]] = (bool(value), choices, bool(m["many"]))
    return usage


def subcommands(top: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    """argparse keeps subcommands in a private action; there is no public accessor."""
    [sub] = [a for a in top._actions if isinstance(a, argparse._SubParsersAction)]
    return dict(sub.choices)


def implemented(p: argparse.ArgumentParser) -> Usage:
    usage = Usage()
    for action in p._actions:
        if isinstance(action, (argparse._HelpAction, argparse._SubParsersAction)):
            continue
        if not action.option_strings:
            usage.positionals.append((action.metavar or action.dest.upper(), action.nargs == "?"))
            continue
        many = action.nargs in ("+", "*") or isinstance(action, argparse._AppendAction)
        for option in action.option_strings:
            usage.options[option] = (action.nargs != 0, frozenset(action.choices or ()), many)
    return usage


CLI = parser()
COMMANDS = subcommands(CLI)
README_COMMANDS = documented()


def test_the_usage_block_lists_every_subcommand_and_nothing_else():
    assert set(README_COMMANDS) - {""} == set(COMMANDS)


def test_the_usage_block_shows_the_top_level_options():
    assert set(README_COMMANDS[""].options) == set(implemented(CLI).options)


@pytest.mark.parametrize("command", sorted(COMMANDS))
def test_each_subcommand_documents_exactly_its_options(command):
    readme, cli = README_COMMANDS[command].options, implemented(COMMANDS[command]).options
    assert sorted(readme) == sorted(cli), "the README's usage block and argparse disagree"


@pytest.mark.parametrize("command", sorted(COMMANDS))
def test_each_option_takes_a_value_and_choices_as_documented(command):
    readme, cli = README_COMMANDS[command].options, implemented(COMMANDS[command]).options
    for option in set(readme) & set(cli):
        takes_value, choices, many = cli[option]
        assert readme[option][0] == takes_value, f"{command} {option}: value or flag?"
        assert readme[option][1] == choices, f"{command} {option}: choices"
        assert readme[option][2] == many, f"{command} {option}: repeatable (`...`)?"


@pytest.mark.parametrize("command", sorted(COMMANDS))
def test_each_subcommand_documents_its_positional_arguments(command):
    readme = README_COMMANDS[command].positionals
    cli = implemented(COMMANDS[command]).positionals
    assert [optional for _, optional in readme] == [optional for _, optional in cli]


def exit_code_table() -> dict[int, tuple[str, str]]:
    """``| 0 | `PASSED` | meaning |`` rows of the README's exit-code table."""
    rows = re.findall(r"^\| *(\d+) *\| *`(\w+)` *\| *(.+?) *\|$",
                      section("### Exit codes (`grader.ExitCode`)"), re.MULTILINE)
    return {int(value): (name, meaning) for value, name, meaning in rows}


def test_the_exit_code_table_has_every_code_with_its_name_and_nothing_else():
    table = exit_code_table()
    assert {v: name for v, (name, _) in table.items()} == {int(c): c.name for c in ExitCode}


def test_the_exit_code_table_says_what_each_code_means():
    table = exit_code_table()
    for code in ExitCode:
        assert table[int(code)][1] == code.meaning, f"the meaning of {code.name} differs"


def test_every_pytest_marker_is_explained_in_the_development_section():
    registered = (ROOT / "pyproject.toml").read_text().split("\nmarkers = [", 1)[1].split("\n]")[0]
    markers = re.findall(r'^ *"(\w+): ', registered, re.MULTILINE)
    development = section("## Development")
    assert "kernel" in markers and "fast" in markers
    assert [m for m in markers if f"`{m}`" not in development and f"-m {m}" not in development] == []

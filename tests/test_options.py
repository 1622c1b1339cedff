"""Options are declared once (``grader.options``): the parsers, the settings and the reserved
flags follow from the table, every option explains itself, and a new option is one entry."""
from __future__ import annotations

import argparse

import pytest

from grader import options
from grader.cli_args import parser
from grader.exceptions import UsageError
from grader.render import writers
from grader.settings import Settings


def subcommands() -> dict[str, argparse.ArgumentParser]:
    sub = next(a for a in parser()._actions if isinstance(a, argparse._SubParsersAction))
    return dict(sub.choices)


@pytest.mark.parametrize("command", ["check", "grade", "spec", "calibrate", "data", "doctor"])
def test_every_option_of_every_command_has_help_text(command):
    p = subcommands()[command]
    silent = [a.option_strings for a in p._actions if a.option_strings and not a.help]
    assert silent == []


@pytest.mark.parametrize("command", ["check", "grade", "spec", "calibrate", "data"])
def test_each_command_offers_exactly_its_declared_options(command):
    p = subcommands()[command]
    offered = {o for a in p._actions for o in a.option_strings if o.startswith("--")} - {"--help"}
    if command == "check":
        offered -= {w.option for w in writers.available().values()}
    assert offered == {o.flag for o in options.of(command)}


def test_an_option_s_default_is_its_settings_field_s_unless_it_gives_its_own():
    args = parser().parse_args(["check", "nb.ipynb"])
    assert args.timeout == Settings.notebook_timeout and args.sandbox == "auto"
    assert parser().parse_args(["grade", "f"]).sandbox == "required"


def test_the_settings_follow_from_the_options_that_name_a_field(tmp_path):
    args = parser().parse_args(["grade", "f", "--timeout", "12", "--no-verify", "--sandbox",
                                "off", "--data", str(tmp_path / "d.pkl.gz"), "--force"])
    settings = options.settings_from(args)
    assert (settings.notebook_timeout, settings.verify, settings.sandbox, settings.data_path) == \
        (12.0, False, "off", tmp_path / "d.pkl.gz")
    assert options.settings_from(parser().parse_args(["grade", "f"])).verify is True


def test_a_declared_check_refuses_a_bad_value_as_a_usage_error():
    with pytest.raises(UsageError, match="--timeout must be positive"):
        options.settings_from(parser().parse_args(["check", "nb.ipynb", "--timeout", "0"]))


def test_an_environment_variable_gives_the_default(monkeypatch):
    monkeypatch.setenv("GRADER_CLUSTER", "tcp://h:1")
    assert parser().parse_args(["grade", "f"]).cluster == "tcp://h:1"
    monkeypatch.delenv("GRADER_CLUSTER")
    assert parser().parse_args(["grade", "f"]).cluster is None


def test_a_new_option_is_one_entry_and_reaches_the_settings_extras():
    options.declare(options.Option("--toy-level", "a plugin's own level", (options.GRADE,),
                                   setting=options.EXTRA, type=int, default=3))
    try:
        args = parser().parse_args(["grade", "f", "--toy-level", "5"])
        assert options.settings_from(args).extras == {"toy_level": 5}
        assert options.settings_from(parser().parse_args(["grade", "f"])).extras["toy_level"] == 3
        with pytest.raises(SystemExit):
            parser().parse_args(["check", "nb.ipynb", "--toy-level", "5"])
    finally:
        options.withdraw("--toy-level")


def test_a_flag_a_command_has_already_is_refused():
    with pytest.raises(ValueError, match="--timeout is an option of grader check already"):
        options.declare(options.Option("--timeout", "again", (options.CHECK,)))

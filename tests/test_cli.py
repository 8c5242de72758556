"""The ``emostyle`` app: a run builds only the command it names, and that command behaves as in
the whole app."""

from __future__ import annotations

import pytest
import typer
from typer.testing import CliRunner

from emostyle.cli import COMMANDS, GROUPS, app, app_for

NAMES = [name for name, _ in (*COMMANDS, *GROUPS)]


def test_a_named_command_is_built_alone():
    group = typer.main.get_command(app_for(["stylize", "photo.jpg"]))
    assert list(group.commands) == ["stylize"]
    group = typer.main.get_command(app_for(["ensemble", "--help"]))
    assert list(group.commands) == ["ensemble"]


@pytest.mark.parametrize("args", [[], ["--help"], ["stylze", "x"], ["--bogus", "stylize"]])
def test_no_command_named_gets_the_whole_app(args):
    assert app_for(args) is app
    assert set(typer.main.get_command(app).commands) == set(NAMES)


@pytest.mark.parametrize("name", NAMES)
def test_a_command_alone_says_and_refuses_the_same(name):
    runner = CliRunner()
    for args in ([name, "--help"], [name, "--no-such-option"]):
        alone, whole = runner.invoke(app_for(args), args), runner.invoke(app, args)
        assert (alone.exit_code, alone.output) == (whole.exit_code, whole.output)
        assert "Traceback" not in alone.output


@pytest.mark.parametrize("text", ["a.jpg -> out/a_happy.jpg (mood happy 99%, 1 face)",
                                  "x:fire:[b].jpg [bold]not markup[/] 😄",
                                  "bell\a back\b tab\t vt\v ff\f cr\r end"])
def test_a_plain_line_is_printed_as_rich_prints_it(text, capsys):
    from rich.console import Console

    from emostyle import cli_common

    cli_common.say(text)
    cli_common.say(text, stderr=True)
    ours = capsys.readouterr()
    Console(**cli_common.out._options).print(text, markup=False)
    Console(**cli_common.err._options).print(text, markup=False)
    assert ours == capsys.readouterr()

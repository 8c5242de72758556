"""The ``emostyle`` command line: one Typer app, every command registered from one list.

Each command lives in a ``cli_*`` module and reads as parse -> call -> print: it checks its
options, calls the library (which builds the records, reports and output names) and prints
what comes back. What the commands share about the terminal (consoles, error reporting,
progress bars, the model options) is in :mod:`emostyle.cli_common`; none imports this module,
so a command cannot be forgotten by an import that was left out. The command modules import
nothing heavy at the top: numpy, ONNX Runtime and torch load inside the command run.
"""

from __future__ import annotations

import gc
import sys

import typer

from emostyle import cli_analyze, cli_app, cli_style, cli_train, cli_video

# (name, function), in the order `emostyle --help` lists them.
COMMANDS = (
    ("analyze", cli_analyze.analyze),
    ("stylize", cli_style.stylize),
    ("video", cli_video.video),
    ("app", cli_app.app_command),
    ("info", cli_analyze.info),
    ("train", cli_train.train),
    ("evaluate", cli_train.evaluate),
    ("compare", cli_train.compare),
    ("export", cli_train.export),
    ("train-style", cli_train.train_style),
    ("export-style", cli_train.export_style),
    ("add-style", cli_train.add_style),
)

GROUPS = (("ensemble", cli_train.ensemble_app),)  # commands with sub-commands


def _no_options() -> None:
    # The app's callback: it takes no options of its own, and with it the app stays a group of
    # commands (`emostyle stylize ...`) even when it is built with only one.
    pass


def build_app(commands: tuple = COMMANDS, groups: tuple = GROUPS) -> typer.Typer:
    """The ``emostyle`` app with ``commands`` and ``groups`` (all of them by default)."""
    built = typer.Typer(
        help="Read the emotion on every face, show it as an emoji, repaint the picture in its "
             "mood.", callback=_no_options,
        no_args_is_help=True, add_completion=False, pretty_exceptions_enable=False)
    for name, command in commands:
        built.command(name)(command)
    for name, group in groups:
        built.add_typer(group, name=name)
    return built


app = build_app()


def app_for(args: list[str]) -> typer.Typer:
    """The app to run ``args`` with: one of only the command they name, when they name one.

    Typer builds every registered command's options from its signature and annotations when
    the app runs, 60 ms of CPU for all of ours (2 cores under load) against 7 ms for one;
    ``emostyle``, ``--help`` and unknown names get the whole app and its listing.
    """
    named = tuple(c for c in COMMANDS if args and c[0] == args[0])
    named_groups = tuple(g for g in GROUPS if args and g[0] == args[0])
    return build_app(named, named_groups) if named or named_groups else app


def main() -> None:
    """Console-script entry point."""
    try:
        app_for(sys.argv[1:])()
    except BrokenPipeError:  # `emostyle analyze ... | head`
        sys.stderr.close()
    finally:
        # The process ends with the command. Frozen, the objects it made are left to the
        # operating system: Python's teardown would otherwise search them all for garbage
        # cycles again (numpy, ONNX Runtime, OpenCV and typer make that slow): one stylised
        # 512x384 photo took 1128 instead of 982 ms of CPU (medians of 21, 2 cores under
        # load). Exit handlers still run and files are still flushed and closed.
        gc.freeze()


if __name__ == "__main__":
    main()

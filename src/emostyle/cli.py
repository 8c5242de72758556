"""The ``emostyle`` command line: one Typer app, every command registered from one list.

Each command lives in a ``cli_*`` module and reads as parse -> call -> print: it checks its
options, calls the library (which builds the records, reports and output names) and prints
what comes back. What the commands share about the terminal (consoles, error reporting,
progress bars, the model options) is in :mod:`emostyle.cli_common`; none imports this module,
so a command cannot be forgotten by an import that was left out. The list names each command's
function by module, and a run imports only the module of the command it names. The command
modules import nothing heavy at the top: numpy, ONNX Runtime and torch load inside the command
run.
"""

from __future__ import annotations

import gc
import importlib
import os
import sys
from functools import cache
from typing import Any

import typer

# (name, "module:function"), in the order `emostyle --help` lists them. Named, not imported: a
# run imports the module of its own command only (`stylize` has no use for the workbench's
# options: importing the CLI and building `stylize` took 82 instead of 88 ms of CPU when
# cli_train was 500 lines, medians of 21, 2 cores under load).
COMMANDS = (
    ("analyze", "emostyle.cli_analyze:analyze"),
    ("stylize", "emostyle.cli_style:stylize"),
    ("video", "emostyle.cli_video:video"),
    ("app", "emostyle.cli_app:app_command"),
    ("info", "emostyle.cli_analyze:info"),
    ("train", "emostyle.cli_train:train"),
    ("evaluate", "emostyle.cli_train:evaluate"),
    ("compare", "emostyle.cli_train:compare"),
    ("export", "emostyle.cli_train:export"),
    ("train-style", "emostyle.cli_train:train_style"),
    ("export-style", "emostyle.cli_train:export_style"),
    ("add-style", "emostyle.cli_train:add_style"),
)

GROUPS = (("ensemble", "emostyle.cli_train:ensemble_app"),)  # commands with sub-commands


# The commands whose arithmetic is ONNX Runtime's and OpenCV's (each with its own threads), never
# numpy's linear algebra: they start numpy's OpenBLAS with one thread. OpenBLAS otherwise starts
# a worker per core when numpy is imported: `import numpy` took 109 instead of 69 ms of CPU, and
# one 512x384 photo's whole `emostyle stylize` 670 instead of 724 ms (medians of 21 and 15,
# alternated, 2 cores under load); the pixels are the same. A user's own OPENBLAS_NUM_THREADS
# wins. The workbench (torch, metrics over whole test sets) keeps all cores.
ONE_BLAS_THREAD = ("analyze", "stylize", "video", "info")


def resolve(target: str) -> Any:
    """``"module:attribute"`` -> the attribute, importing the module."""
    module, _, name = target.partition(":")
    return getattr(importlib.import_module(module), name)


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
        built.command(name)(resolve(command))
    for name, group in groups:
        built.add_typer(resolve(group), name=name)
    return built


@cache
def whole_app() -> typer.Typer:
    """The app with every command (its modules imported on first use)."""
    return build_app()


def __getattr__(name: str) -> Any:
    # `emostyle.cli.app`, built on first use, so that a run that names its command imports only
    # that command's module (PEP 562).
    if name == "app":
        return whole_app()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def app_for(args: list[str]) -> typer.Typer:
    """The app to run ``args`` with: one of only the command they name, when they name one.

    Typer builds every registered command's options from its signature and annotations when
    the app runs, 60 ms of CPU for all of ours (2 cores under load) against 7 ms for one;
    ``emostyle``, ``--help`` and unknown names get the whole app and its listing.
    """
    named = tuple(c for c in COMMANDS if args and c[0] == args[0])
    named_groups = tuple(g for g in GROUPS if args and g[0] == args[0])
    return build_app(named, named_groups) if named or named_groups else whole_app()


def main() -> None:
    """Console-script entry point."""
    if sys.argv[1:2] and sys.argv[1] in ONE_BLAS_THREAD:
        os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")  # before numpy is imported
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

"""What every ``emostyle`` command shares: consoles, error reporting, progress bars, the input
list, the model options and the options made from a run's config. Command modules import this,
never :mod:`emostyle.cli` (which registers them). Only what is about the terminal lives here;
output paths, records and reports are the library's (:mod:`emostyle.outputs`,
:mod:`emostyle.batch` ...).
"""

from __future__ import annotations

import dataclasses
import functools
import inspect
import json
import shlex
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, get_type_hints

import typer

from emostyle.detection import DEFAULT_MIN_SCORE
from emostyle.errors import EmostyleError, InputError
from emostyle.model_files import installed_emotion_models

if TYPE_CHECKING:
    from rich.console import Console


class LazyConsole:
    """A rich ``Console`` made on first use: ``out.print(...)`` as with the console itself.

    A command that prints only plain lines (:func:`say`) never loads rich: one stylised photo
    imported it for nothing (``import emostyle.cli_style``: CPU 84 -> 66 ms without it, medians
    of 31, alternated, 2 cores under load). Set attributes on :attr:`console`.
    """

    def __init__(self, **options: Any) -> None:
        self._options = options
        self._console: Console | None = None

    @property
    def console(self) -> Console:
        if self._console is None:
            from rich.console import Console

            self._console = Console(**self._options)
        return self._console

    def __getattr__(self, name: str) -> Any:
        return getattr(self.console, name)


# No emoji codes: messages hold emoji themselves, and a file named "x:fire:.jpg" is printed as
# it is named.
out = LazyConsole(highlight=False, soft_wrap=True, emoji=False)
err = LazyConsole(stderr=True, highlight=False, soft_wrap=True, emoji=False)
# What rich leaves out of a printed text (rich.control.strip_control_codes): bell, backspace,
# vertical tab, form feed, carriage return.
_CONTROL_CODES = dict.fromkeys((7, 8, 11, 12, 13))


def say(text: str, stderr: bool = False) -> None:
    """Print one plain line (no markup) as ``out.print(text, markup=False)`` (``err`` with
    ``stderr``) would, without loading rich; the stream is looked up now, so a rich progress
    display that redirects it still keeps its bars below the line."""
    if "\t" in text:  # rich expands tabs to its cell widths: a rare name, let rich print it
        (err if stderr else out).print(text, markup=False)
        return
    stream = sys.stderr if stderr else sys.stdout
    stream.write(text.translate(_CONTROL_CODES) + "\n")


# Only the models installed here are offered ('accurate' is built with `emostyle ensemble`).
INSTALLED_MODELS = " or ".join(f"'{n}'" for n in installed_emotion_models()) or "none bundled"
ModelOpt = Annotated[str, typer.Option(
    "--model", "-m", help=f"Emotion model: {INSTALLED_MODELS} or a path to an exported .onnx.")]
FaceModelOpt = Annotated[Path | None, typer.Option(
    "--face-model", help="YuNet .onnx file (else $EMOSTYLE_FACE_MODEL, then the user cache).")]
MinScoreOpt = Annotated[float, typer.Option(
    "--min-score", min=0.0, max=1.0, help="Minimum face detection score.")]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print one JSON document.")]
OverwriteOpt = Annotated[bool, typer.Option(
    "--overwrite", help="Replace output files that already exist (inputs are never replaced).")]
MIN_SCORE = DEFAULT_MIN_SCORE  # the default of every --min-score


# ------------------------------------------------------------------------------------ errors

def fail(exc: EmostyleError) -> typer.Exit:
    from rich.markup import escape

    # escape: a file name like "photo[edited].jpg" is not markup (it was eaten or crashed rich)
    err.print(f"[bold red]error:[/] {escape(str(exc))}", markup=True, highlight=False)
    return typer.Exit(exc.exit_code)


def run_guarded(fn: Callable[[], int | None]) -> None:
    """Run a command body: our errors become one line and an exit code, never a traceback."""
    try:
        code = fn()
    except EmostyleError as exc:
        raise fail(exc) from None
    except KeyboardInterrupt:
        err.print("interrupted")
        raise typer.Exit(130) from None
    except OSError as exc:  # a file problem no check foresaw (disk full, a vanished folder)
        from rich.markup import escape

        where = f"{exc.filename}: " if exc.filename else ""
        err.print(f"[bold red]error:[/] {escape(where + (exc.strerror or str(exc)))}")
        raise typer.Exit(2) from None
    if code:
        raise typer.Exit(code)


def report_failures(problems: list[tuple[Path | str, str]], verb: str = "analyzed") -> int:
    """List the inputs that failed at the end of a batch; the exit code (2 if any)."""
    if not problems:
        return 0
    err.print(f"{len(problems)} input(s) could not be {verb}:")
    for p, why in problems:
        err.print(f"  {p}: {why}", markup=False)
    return 2


def print_json_report(results: list[dict], problems: list[tuple[Path | str, str]]) -> None:
    """The ``--json`` document of a batch: every result and every failed input."""
    doc = {"results": results,
           "errors": [{"source": str(p), "error": why} for p, why in problems]}
    print(json.dumps(doc, ensure_ascii=False, indent=2))


def given_options(ctx: typer.Context, *names: str) -> list[str]:
    """Which of the parameters ``names`` the user typed (``--split``), whatever the value: an
    option that does not apply is refused even when it is given its default value."""
    flags = {p.name: p.opts[0] for p in ctx.command.params}
    # by name: typer carries its own copy of click, whose ParameterSource is another enum
    return [flags[n] for n in names
            if getattr(ctx.get_parameter_source(n), "name", None) == "COMMANDLINE"]


def this_command() -> str:
    """The command line as typed, for a run's ``command.txt`` and model cards."""
    return "emostyle " + " ".join(shlex.quote(a) for a in sys.argv[1:])


# ----------------------------------------------------------------------- options of a config

def config_options(config: type) -> Callable[[Callable], Callable]:
    """Decorator: the command's keyword ``settings`` becomes one option per field of the
    dataclass ``config`` with a ``help`` in its metadata (its type, default and help: written
    once, in the config; see :func:`emostyle.training.configs.option`), in field order; the
    command is called with ``settings``, those fields' values for ``config(**settings)``.

    Metadata: ``flag`` names the option when not the field ("--batch"); ``path``: a str field
    where "" is none becomes an optional path; ``option_default`` replaces the field's default;
    ``nested``: a dict field whose keys are that dataclass's options (a style network's shape).
    """
    # (field, the dict field it belongs to or None, a path given as "" or str)
    found: list[tuple[inspect.Parameter, str | None, bool]] = []

    def add_fields(cls: type, into: str | None) -> None:
        hints = get_type_hints(cls)
        for f in dataclasses.fields(cls):
            meta = f.metadata
            if "nested" in meta:
                add_fields(meta["nested"], f.name)
                continue
            if "help" not in meta:
                continue
            if meta.get("path"):
                kind, default = Path | None, None
            else:
                kind, default = hints[f.name], meta.get("option_default", f.default)
                if default is dataclasses.MISSING:
                    default = f.default_factory()
            opt = typer.Option(*meta.get("flag", "").split(), help=meta["help"] or None)
            found.append((inspect.Parameter(f.name, inspect.Parameter.KEYWORD_ONLY,
                                            default=default, annotation=Annotated[kind, opt]),
                          into, bool(meta.get("path"))))

    add_fields(config, None)

    def decorate(command: Callable) -> Callable:
        own = inspect.signature(command, eval_str=True).parameters
        at = list(own).index("settings")
        params = [p.replace(kind=inspect.Parameter.KEYWORD_ONLY) for p in own.values()]
        params[at:at + 1] = [p for p, _, _ in found]

        @functools.wraps(command)
        def run(**given: Any) -> Any:
            settings: dict[str, Any] = {}
            for p, into, path in found:
                value = given.pop(p.name)
                if path:
                    value = "" if value is None else str(value)
                (settings.setdefault(into, {}) if into else settings)[p.name] = value
            return command(**given, settings=settings)

        run.__signature__ = inspect.Signature(params)  # a name given twice raises here
        run.__annotations__ = {p.name: p.annotation for p in params}
        return run

    return decorate


# ---------------------------------------------------------------------------------- progress

def rich_progress():  # noqa: ANN201 - rich Progress
    """The one look of every bar: label, bar, done/total, a rate when given, time left."""
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        ProgressColumn,
        TextColumn,
        TimeRemainingColumn,
    )
    from rich.text import Text

    class RateColumn(ProgressColumn):
        def render(self, task) -> Text:  # noqa: ANN001 - rich Task
            return Text(task.fields.get("rate", ""))

    return Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                    RateColumn(), TimeRemainingColumn(), console=err.console, transient=True)


class Bars:
    """What :func:`progress` yields: call it when one item is done; :meth:`count` sets any
    other row (the tiles of a big picture, the frames of a video).

    On an interactive stderr: rich bars with done/total and time left, one row per label,
    each appearing on first use (so short work shows none); in pipes and logs, nothing.
    """

    def __init__(self, total: int = 0, label: str = "", min_total: int = 2) -> None:
        self._bar = None
        # label -> [task id, start time, rate unit, done, done at the start time]
        self._rows: dict[str, list] = {}
        self._main = label if label and total >= min_total else None
        if self._main is not None:
            self.count(self._main, 0, total)

    def __call__(self) -> None:
        if self._main is not None:
            row = self._rows.get(self._main)
            self.count(self._main, (row[3] if row else 0) + 1, None)

    def count(self, label: str, done: int, total: int | None, rate: str | None = None
              ) -> None:
        """Row ``label`` at ``done`` of ``total`` (0 or None: unknown, or as set before);
        ``rate`` names a unit ("fps") to show items per second in. A row that goes back
        (the next picture's tiles) starts again, its time left measured afresh."""
        if not err.is_terminal:
            return
        import time

        if self._bar is None:
            self._bar = rich_progress()
            self._bar.start()
        now = time.monotonic()
        if label not in self._rows:
            self._rows[label] = [self._bar.add_task(label, total=total or None), now, rate, 0,
                                 done]
        row = self._rows[label]
        if done < row[3]:
            self._bar.reset(row[0], total=total or None)
            row[1], row[4] = now, done
        row[3] = done
        # the rate counts from the row's first update: items done since, in the time since
        # (the first update alone, one frame in no time, read '1000000000.0 fps')
        shown = (f"{(done - row[4]) / (now - row[1]):.1f} {row[2]}"
                 if row[2] and done > row[4] and now > row[1] else "")
        self._bar.update(row[0], completed=done, rate=shown,
                         **({"total": total} if total else {}))

    def close(self) -> None:
        if self._bar is not None:
            self._bar.stop()


@contextmanager
def progress(total: int = 0, label: str = "", min_total: int = 2) -> Iterator[Bars]:
    """``with progress(n, "analyzing") as advance:`` - bars on a terminal, silent in pipes.

    ``advance()`` counts one of ``n`` items (a row shown from ``min_total`` items on);
    ``advance.count(label, done, total)`` drives other rows.
    """
    bars = Bars(total, label, min_total)
    try:
        yield bars
    finally:
        bars.close()


# ------------------------------------------------------------------------------------ inputs

def input_files(paths: list[str], verb: str) -> tuple[list[Path], list[tuple[Path, str]]]:
    """Files, folders and globs -> (pictures, unusable inputs); none at all is an error."""
    from emostyle.images import expand_inputs

    files, problems = expand_inputs(paths)
    if not files:  # name every unusable input, not just "no images"
        raise InputError("; ".join(f"{p}: {why}" for p, why in problems)
                         or f"no images to {verb}")
    return files, problems

"""Progress of a long training run: a rich bar on a terminal, plain lines in logs and pipes."""

from __future__ import annotations

import sys
from typing import TextIO


class Reporter:
    """A rich progress bar on a terminal; otherwise only the lines given to :meth:`line`,
    written to ``stream``."""

    def __init__(self, total: int, done: int, label: str = "training",
                 stream: TextIO | None = None) -> None:
        self.stream = stream
        self.progress = None
        if sys.stderr.isatty():
            from rich.progress import (
                BarColumn,
                MofNCompleteColumn,
                Progress,
                TextColumn,
                TimeElapsedColumn,
                TimeRemainingColumn,
            )
            self.progress = Progress(TextColumn("{task.description}"), BarColumn(),
                                     MofNCompleteColumn(), TimeElapsedColumn(),
                                     TimeRemainingColumn(), transient=False)
            self.progress.start()
            self.task = self.progress.add_task(label, total=total, completed=done)

    def step(self, text: str) -> None:
        if self.progress is not None:
            self.progress.update(self.task, advance=1, description=text)

    def set(self, done: float, text: str) -> None:
        """Move the bar to ``done`` (for runs measured in seconds rather than steps)."""
        if self.progress is not None:
            self.progress.update(self.task, completed=done, description=text)

    def line(self, text: str) -> None:
        if self.progress is not None:
            self.progress.console.print(text)
        else:
            print(text, file=self.stream or sys.stderr, flush=True)

    def close(self) -> None:
        if self.progress is not None:
            self.progress.stop()

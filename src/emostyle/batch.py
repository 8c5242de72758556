"""Analyzing many pictures: parallel decoding, faces batched across pictures, resumable output.

Memory stays flat however many files there are: at most a window of decoded pictures is held,
results are written as they come, and nothing accumulates except the list of file paths.
:func:`analyze_files` is the whole job of ``emostyle analyze`` short of printing: each picture's
JSON line, annotated copy and explanation maps, planned beforehand by
:func:`plan_analyze_outputs`.
"""

from __future__ import annotations

import json
import os
from collections import deque
from collections.abc import Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from emostyle.errors import InputError
from emostyle.explain import Explainer, write_explanations
from emostyle.images import read_image, write_image
from emostyle.outputs import OutputPlan, commit, output_path, temp_beside
from emostyle.overlay import annotate
from emostyle.pipeline import Analyzer
from emostyle.results import Analysis


@dataclass
class Item:
    """One input of a batch run: its analysis, or the reason it failed."""

    path: Path
    image: np.ndarray | None = None
    analysis: Analysis | None = None
    error: str | None = None


def decoded(paths: Iterable[Path], workers: int, window: int) -> Iterator[Item]:
    """Pictures decoded on ``workers`` threads (Pillow releases the GIL), in input order."""
    def load(path: Path) -> Item:
        try:
            return Item(path, image=read_image(path))
        except InputError as exc:
            return Item(path, error=str(exc).removeprefix(f"{path}: "))

    if workers <= 1:
        yield from (load(p) for p in paths)
        return
    with ThreadPoolExecutor(workers, thread_name_prefix="decode") as pool:
        pending: deque[Future[Item]] = deque()
        for path in paths:
            pending.append(pool.submit(load, path))
            if len(pending) >= window:
                yield pending.popleft().result()
        while pending:
            yield pending.popleft().result()


def analyze_stream(paths: Iterable[Path], analyzer: Analyzer, workers: int = 2,
                   batch_images: int = 8, keep_images: bool = False) -> Iterator[Item]:
    """Analyze pictures in order; faces of ``batch_images`` pictures share one classifier call.

    Decoded pixels are dropped after analysis unless ``keep_images`` (for annotating).
    """
    group: list[Item] = []

    def flush() -> Iterator[Item]:
        ok = [it for it in group if it.image is not None]
        results = analyzer.analyze_many([it.image for it in ok], [str(it.path) for it in ok])
        for it, res in zip(ok, results, strict=True):
            it.analysis = res
        for it in group:
            if not keep_images:
                it.image = None
            yield it
        group.clear()

    for item in decoded(paths, workers, window=max(4, 2 * workers + batch_images)):
        group.append(item)
        if len(group) >= batch_images:
            yield from flush()
    if group:
        yield from flush()


def done_sources(jsonl: Path) -> set[str]:
    """Sources already analyzed in a JSONL output, for ``--resume``.

    A half-written last line (a killed run) is cut off, and lines recording a failure are
    dropped (the file is rewritten through a temporary file), so the failed pictures are tried
    again and each source ends up with one line.
    """
    if not jsonl.is_file():
        return set()
    done: set[str] = set()
    kept: list[bytes] = []
    good_bytes = 0
    with open(jsonl, "rb") as fh:
        for line in fh:
            try:
                record = json.loads(line)
            except json.JSONDecodeError:
                break
            if not line.endswith(b"\n"):
                break
            good_bytes += len(line)
            if "error" not in record:
                done.add(record["source"])
                kept.append(line)
    if sum(map(len, kept)) != good_bytes:  # failures to drop
        tmp = temp_beside(jsonl)
        with open(tmp, "wb") as fh:
            fh.writelines(kept)
            fh.flush()
            os.fsync(fh.fileno())
        commit(tmp, jsonl)
    elif good_bytes != jsonl.stat().st_size:
        with open(jsonl, "r+b") as fh:
            fh.truncate(good_bytes)
    return done


class JsonlWriter:
    """Appends one JSON line per item and flushes, so a crash loses at most one line.

    The file is written in place, not through a temporary file, so that a killed run can be
    continued with ``--resume``. A new file is created exclusively: without ``overwrite`` an
    existing file is never truncated (``append`` continues it).
    """

    def __init__(self, path: Path, append: bool, overwrite: bool = False) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        mode = "a" if append else "w" if overwrite else "x"
        try:
            self.fh = open(path, mode, encoding="utf-8")
        except FileExistsError:
            raise InputError(f"{path}: already exists, not replaced (give --overwrite, or "
                             "--resume to continue it)") from None
        except OSError as exc:
            raise InputError(f"{path}: cannot write ({exc.strerror or exc})") from None

    def write(self, record: dict) -> None:
        self.fh.write(json.dumps(record, ensure_ascii=False) + "\n")
        self.fh.flush()

    def close(self) -> None:
        os.fsync(self.fh.fileno())
        self.fh.close()


def record(item: Item) -> dict:
    if item.analysis is not None:
        return item.analysis.to_dict()
    return {"source": str(item.path), "error": item.error}


def analyze_files(paths: Iterable[Path], analyzer: Analyzer, workers: int = 2, *,
                  jsonl: JsonlWriter | None = None, annotate_dir: Path | None = None,
                  explainer: Explainer | None = None, explain_dir: Path | None = None,
                  inputs: set[Path] | None = None, overwrite: bool = False) -> Iterator[Item]:
    """:func:`analyze_stream`, writing what each picture gets as it comes.

    Each item's record goes to ``jsonl``; with ``annotate_dir`` the picture with boxes and
    emoji (``<stem>_emostyle``), with ``explainer`` and ``explain_dir`` its class activation
    maps (see :func:`emostyle.explain.write_explanations`). ``inputs`` are never replaced. A
    picture whose files cannot be written is yielded as failed, and the batch goes on.
    """
    inputs = set() if inputs is None else inputs
    written: set[Path] = set()
    for item in analyze_stream(paths, analyzer, workers,
                               keep_images=bool(annotate_dir or explain_dir)):
        result = item.analysis
        try:
            if result is not None and explainer is not None and result.faces:
                write_explanations(explainer, item.image, result, item.path, explain_dir,
                                   inputs, written, overwrite)
            if result is not None and annotate_dir is not None:
                dest = output_path(item.path, annotate_dir, "emostyle", inputs, written)
                write_image(annotate(item.image, result, copy=False), dest, overwrite=overwrite)
        except InputError as exc:
            item.error, item.analysis = str(exc), None
        item.image = None
        if jsonl is not None:
            jsonl.write(record(item))
        yield item


def plan_analyze_outputs(plan: OutputPlan, files: list[Path], output: Path | None,
                         resume: bool, annotate_dir: Path | None,
                         explain_dir: Path | None) -> None:
    """Every file ``analyze`` may write: -o, the annotated pictures, the explanation maps."""
    plan.file(output, "-o", append=resume)
    plan.named_files(files, annotate_dir, "--annotate", ["emostyle"])
    plan.named_files(files, explain_dir, "--explain", ["explain"])
    if explain_dir is not None and explain_dir.is_dir():
        # the per-face maps' count is known only after detection: any such file already
        # there for one of these pictures might be replaced
        there = [p for p in explain_dir.iterdir() if "_face" in p.name]
        stems = {f.stem for f in files}
        for p in there:
            stem, _, rest = p.name.rpartition("_face")
            if stem in stems and "_explain" in rest:
                plan.file(p, "--explain")


def summary_line(analyzed: int, failed: int, skipped: int, output: Path, where: str = "") -> str:
    """``12 picture(s) analyzed into out.jsonl, 2 failed (10 already there)``."""
    return (f"{analyzed} picture(s) analyzed{where} into {output}"
            + (f", {failed} failed (tried again by --resume)" if failed else "")
            + (f" ({skipped} already there)" if skipped else ""))

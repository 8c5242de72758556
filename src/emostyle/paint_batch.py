"""Painting many pictures: load the models once, paint each picture, write it, say what it got.

:func:`paint_files` is the whole job of ``emostyle stylize`` short of printing; which style a
picture gets is :func:`emostyle.pipeline.paint`'s decision. Each picture yields a
:class:`Painted` with its record (the ``--json`` one) or the reason it failed, and the batch goes
on past a bad file. The job is two steps, :func:`paint_file` (read, analyse, paint) and
:meth:`PaintingSaver.save` (name, write, record), so that the Ray run
(:mod:`emostyle.distributed`) does the first on its workers and the second here, exactly as
this module does both.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from emostyle.detection import DEFAULT_MIN_SCORE
from emostyle.errors import InputError
from emostyle.images import read_image, write_encoded, write_image
from emostyle.outputs import output_path
from emostyle.pipeline import Analyzer, Painting, StyleChoice, StyleRequest, paint
from emostyle.results import Analysis
from emostyle.stylizer import Stylizer

PAINTING_SUFFIX = ".jpg"  # every painting is written as <stem>_<style>.jpg


def load_painters(request: StyleRequest, style_model: str | Path = "styles",
                  styles_toml: Path | bool | None = None, model: str | Path = "default",
                  face_model: str | Path | None = None, min_score: float = DEFAULT_MIN_SCORE,
                  threads: int | None = None) -> tuple[Stylizer, Analyzer | None]:
    """The style model, and the face and emotion models when ``request`` looks at faces.

    The style names the request may use are checked here, so a bad one is one clear error
    before any picture is read. ``styles_toml`` as :class:`Stylizer` takes it (``False``: no
    user styles.toml); ``threads`` per ONNX Runtime session (None: all cores). The models are
    opened for a command (``use="command"``).
    """
    if not request.needs_analysis:
        stylizer = Stylizer(style_model, styles_toml=styles_toml, threads=threads, use="command")
        stylizer.style_weights(request.emotion)
        return stylizer, None
    # ONNX Runtime builds a session without holding the GIL: load the style model in a thread
    # while the face and emotion models load (~40 ms less on 2 cores).
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(1) as pool:
        loading = pool.submit(Stylizer, style_model, styles_toml=styles_toml, threads=threads,
                              use="command")
        try:
            analyzer = Analyzer(model, face_model, min_score=min_score, threads=threads,
                                use="command")
        finally:
            stylizer = loading.result()
    stylizer.style_weights(request.fallback)
    if request.mode == "per_face":
        stylizer.require_style_maps()
    return stylizer, analyzer


@dataclass(frozen=True)
class Painted:
    """One input of a painting batch: its record and written file, or why it failed.

    ``notice`` is one line for the user when the picture got the fallback style.
    """

    path: Path
    record: dict | None = None
    error: str | None = None
    notice: str | None = None


def paint_file(path: Path, stylizer: Stylizer, analyzer: Analyzer | None,
               request: StyleRequest, on_tile: Callable[[int, int], None] | None = None
               ) -> tuple[Analysis | None, Painting]:
    """Read one picture, read its faces (``analyzer``; None for ``mode="emotion"``) and paint
    it as ``request`` asks. Raises :class:`InputError` for a picture that cannot be read."""
    image = read_image(path)
    analysis = analyzer.analyze(image, source=str(path)) if analyzer else None
    return analysis, paint(stylizer, image, analysis, request, on_tile)


class PaintingSaver:
    """Names and writes one run's paintings into ``out_dir``, in input order.

    Inputs are never replaced, and two inputs with the same name get ``_2``, ``_3``...;
    without ``overwrite`` an existing file is never replaced either.
    """

    def __init__(self, request: StyleRequest, out_dir: Path, inputs: set[Path] | None = None,
                 overwrite: bool = False) -> None:
        self.request, self.out_dir, self.overwrite = request, out_dir, overwrite
        self.inputs = set() if inputs is None else inputs
        self.taken: set[Path] = set()

    def save(self, path: Path, analysis: Analysis | None, choice: StyleChoice,
             picture: np.ndarray | bytes) -> Painted:
        """Write ``picture`` (pixels, or :func:`~emostyle.images.encode_image` bytes) as
        ``out_dir/<stem>_<style>.jpg``; raises :class:`InputError` when it cannot be."""
        dest = output_path(path, self.out_dir, choice.tag, self.inputs, self.taken,
                           suffix=PAINTING_SUFFIX)
        if isinstance(picture, bytes):
            write_encoded(picture, dest, overwrite=self.overwrite)
        else:
            write_image(picture, dest, overwrite=self.overwrite)
        notice = None
        if choice.fallback:
            why = "; ".join(analysis.notes) or "its mood has no style in this model"
            notice = f"{path}: {why}; using the {self.request.fallback} style (--fallback)"
        return Painted(path, stylize_record(path, dest, analysis, choice), notice=notice)


def paint_files(paths: Iterable[Path], stylizer: Stylizer, analyzer: Analyzer | None,
                request: StyleRequest, out_dir: Path, inputs: set[Path] | None = None,
                overwrite: bool = False, on_tile: Callable[[int, int], None] | None = None
                ) -> Iterator[Painted]:
    """Paint each picture as ``request`` asks into ``out_dir/<stem>_<style>.jpg``.

    ``analyzer`` reads the faces first (None for ``mode="emotion"``); see
    :class:`PaintingSaver` for the names. ``on_tile(done, total)`` follows a picture painted
    in tiles.
    """
    saver = PaintingSaver(request, out_dir, inputs, overwrite)
    for path in paths:
        try:
            analysis, painting = paint_file(path, stylizer, analyzer, request, on_tile)
            yield saver.save(path, analysis, painting.choice, painting.image)
        except InputError as exc:
            yield failed(path, exc)


def failed(path: Path, exc: InputError) -> Painted:
    """The :class:`Painted` of a picture that could not be painted or written."""
    return Painted(path, error=str(exc).removeprefix(f"{path}: "))


def stylize_record(path: Path, dest: Path, analysis: Analysis | None, choice: StyleChoice
                   ) -> dict:
    """The ``--json`` record of one stylised picture."""
    record: dict = {"source": str(path)}
    if analysis is not None:
        record["faces"] = len(analysis.faces)
        if choice.fallback:
            record["fallback"] = True
        elif choice.weights is not None:
            record["mood"] = analysis.mood
            record["weights"] = choice.weights
        else:
            record["mood"] = analysis.mood
            record["confidence"] = round(max(analysis.mood_probabilities), 4)
    if choice.faces:
        record["per_face"] = [{"box": [round(v, 1) for v in box], "style": style}
                              for box, style in choice.faces]
    record.update(style=choice.tag, output=str(dest))
    return record


def stylize_note(record: dict) -> str:
    """`` (mood happy 98%, 1 face)`` or `` (happy 80%, sad 15%, ...)`` after the output path."""
    if "confidence" in record:
        faces = record["faces"]
        return (f" (mood {record['mood']} {record['confidence']:.0%}, "
                f"{faces} face{'s' if faces != 1 else ''})")
    if "weights" in record:
        top = sorted(record["weights"].items(), key=lambda t: -t[1])[:3]
        return " (" + ", ".join(f"{e} {p:.0%}" for e, p in top) + ")"
    return ""

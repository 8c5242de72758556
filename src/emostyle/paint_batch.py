"""Painting many pictures: load the models once, paint each picture, write it, say what it got.

:func:`paint_files` is the whole job of ``emostyle stylize`` short of printing; which style a
picture gets is :func:`emostyle.pipeline.paint`'s decision. Each picture yields a
:class:`Painted` with its record (the ``--json`` one) or the reason it failed, and the batch goes
on past a bad file.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

from emostyle.detection import DEFAULT_MIN_SCORE
from emostyle.errors import InputError
from emostyle.images import read_image, write_image
from emostyle.outputs import output_path
from emostyle.pipeline import Analyzer, StyleChoice, StyleRequest, paint
from emostyle.results import Analysis
from emostyle.stylizer import Stylizer


def load_painters(request: StyleRequest, style_model: str | Path = "styles",
                  styles_toml: Path | None = None, model: str | Path = "default",
                  face_model: str | Path | None = None, min_score: float = DEFAULT_MIN_SCORE
                  ) -> tuple[Stylizer, Analyzer | None]:
    """The style model, and the face and emotion models when ``request`` looks at faces.

    The style names the request may use are checked here, so a bad one is one clear error
    before any picture is read. The models are opened for a command (``use="command"``).
    """
    if not request.needs_analysis:
        stylizer = Stylizer(style_model, styles_toml=styles_toml, use="command")
        stylizer.style_weights(request.emotion)
        return stylizer, None
    # ONNX Runtime builds a session without holding the GIL: load the style model in a thread
    # while the face and emotion models load (~40 ms less on 2 cores).
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(1) as pool:
        loading = pool.submit(Stylizer, style_model, styles_toml=styles_toml, use="command")
        try:
            analyzer = Analyzer(model, face_model, min_score=min_score, use="command")
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


def paint_files(paths: Iterable[Path], stylizer: Stylizer, analyzer: Analyzer | None,
                request: StyleRequest, out_dir: Path, inputs: set[Path] | None = None,
                overwrite: bool = False, on_tile: Callable[[int, int], None] | None = None
                ) -> Iterator[Painted]:
    """Paint each picture as ``request`` asks into ``out_dir/<stem>_<style>.jpg``.

    ``analyzer`` reads the faces first (None for ``mode="emotion"``). Inputs are never
    replaced, and two inputs with the same name get ``_2``, ``_3``... ``on_tile(done, total)``
    follows a picture painted in tiles.
    """
    inputs = set() if inputs is None else inputs
    taken: set[Path] = set()
    for path in paths:
        try:
            image = read_image(path)
            analysis = analyzer.analyze(image, source=str(path)) if analyzer else None
            painting = paint(stylizer, image, analysis, request, on_tile)
            del image
            dest = output_path(path, out_dir, painting.choice.tag, inputs, taken, suffix=".jpg")
            write_image(painting.image, dest, overwrite=overwrite)
            notice = None
            if painting.choice.fallback:
                why = "; ".join(analysis.notes) or "its mood has no style in this model"
                notice = f"{path}: {why}; using the {request.fallback} style (--fallback)"
            yield Painted(path, stylize_record(path, dest, analysis, painting.choice),
                          notice=notice)
        except InputError as exc:
            yield Painted(path, error=str(exc).removeprefix(f"{path}: "))


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

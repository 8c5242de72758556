"""``emostyle stylize``: repaint pictures in the mood of their faces (no torch).

The decision which style a picture gets is :func:`emostyle.pipeline.paint`'s; this command
reads the pictures, calls it and writes and reports what it painted.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from emostyle.cli_common import (
    INSTALLED_MODELS,
    MIN_SCORE,
    FaceModelOpt,
    JsonOpt,
    MinScoreOpt,
    OverwriteOpt,
    err,
    input_files,
    out,
    output_path,
    output_plan,
    plan_named_outputs,
    print_json_report,
    progress,
    report_failures,
    run_guarded,
)
from emostyle.errors import InputError

# A picture painted in at least this many tiles (about 1 s each on 2 cores) gets a bar.
MIN_TILES_SHOWN = 4


def style_output_path(src: Path, out_dir: Path, tag: str, inputs: set[Path],
                      taken: set[Path]) -> Path:
    """``out_dir/<stem>_<tag>.jpg``; never an input, never twice in one run."""
    return output_path(src, out_dir, tag, inputs, taken, suffix=".jpg")


def stylize(
    paths: Annotated[list[str], typer.Argument(help="Image files, folders or glob patterns.")],
    out_dir: Annotated[Path, typer.Option(
        "-o", "--out", help="Output folder; pictures are written as <stem>_<emotion>.jpg.")
                       ] = Path("stylized"),
    emotion: Annotated[str, typer.Option(
        "--emotion", "-e", help="'auto' (the mood of the faces), an emotion, or a style name.")
                       ] = "auto",
    blend: Annotated[bool, typer.Option(
        "--blend", help="auto only: mix the styles by the mood's emotion probabilities.")
                     ] = False,
    per_face: Annotated[bool, typer.Option(
        "--per-face", help="auto only: paint every person in the style of their own emotion "
                           "and the rest of the picture in the mood's style.")] = False,
    strength: Annotated[float, typer.Option(
        "--strength", "-s", min=0.0, max=1.0, help="1 = fully stylised, 0 = the photo.")
                        ] = 1.0,
    keep_colors: Annotated[bool, typer.Option(
        "--keep-colors", help="Keep the photo's colours (stylise the luminance only).")
                           ] = False,
    max_side: Annotated[int, typer.Option(
        "--max-side", min=0, help="Run the network on a copy at most this many pixels on the "
                                  "long side and bring it back to full size edge-aware; 0 = "
                                  "full resolution (big photos in tiles: slower, finer "
                                  "strokes).")] = 1024,
    fallback: Annotated[str, typer.Option(
        "--fallback", help="Emotion to use when auto finds no face.")] = "neutral",
    style_model: Annotated[str, typer.Option(
        "--style-model", help="Style model: 'styles' (bundled) or a path to an .onnx.")
                           ] = "styles",
    styles_toml: Annotated[Path | None, typer.Option(
        "--styles", help="TOML mapping emotions to styles (default: $EMOSTYLE_STYLES or "
                         "~/.config/emostyle/styles.toml).")] = None,
    model: Annotated[str, typer.Option(
        "--model", "-m", help=f"Emotion model for auto: {INSTALLED_MODELS} or a path.")
                     ] = "default",
    face_model: FaceModelOpt = None,
    min_score: MinScoreOpt = MIN_SCORE,
    as_json: JsonOpt = False,
    overwrite: OverwriteOpt = False,
) -> None:
    """Repaint pictures in the style of an emotion - by default the mood of their faces.

    The mood of a picture is the mean of its faces' emotion probabilities weighted by face
    area (bigger faces count more); the style is its most likely emotion, or with --blend
    every emotion's style mixed by its probability. A picture without a face gets the
    --fallback emotion's style. Inputs are never overwritten, other existing files only with
    --overwrite (checked before any work). On a terminal, stderr shows a bar of the pictures
    done and, for a picture painted in 4 or more tiles (--max-side 0 on a big photo), of its
    tiles, with the time left. Exit code 0 when every picture was stylised, 2 when some could
    not be read (the others are still done), 3 when a model file is missing.
    """

    def body() -> int:
        from emostyle.images import read_image, write_image
        from emostyle.pipeline import StyleRequest, paint
        from emostyle.stylizer import Stylizer

        auto = emotion.strip().lower() == "auto"
        if 0 < max_side < 32:
            raise InputError(f"--max-side must be 0 (full resolution) or at least 32, "
                             f"got {max_side}")
        if blend and not auto:
            raise InputError("--blend mixes styles by the detected mood: use it with "
                             "--emotion auto")
        if per_face and (blend or not auto):
            raise InputError("--per-face paints each face in the style of its own emotion: "
                             "use it with --emotion auto and without --blend")
        mode = "per_face" if per_face else "blend" if blend else "auto" if auto else "emotion"
        try:
            request = StyleRequest(mode, emotion,
                                   strength, keep_colors, max_side or None, fallback.strip())
        except InputError as exc:
            raise InputError(f"--{exc}") from None
        files, problems = input_files(paths, "stylize")
        inputs = {f.resolve() for f in files}
        plan = output_plan(inputs, overwrite)
        plan_named_outputs(plan, files, out_dir, "-o", possible_tags(request), suffix=".jpg")
        plan.check()
        analyzer = None
        if request.needs_analysis:
            # ONNX Runtime builds a session without holding the GIL: load the style model in a
            # thread while the face and emotion models load (~40 ms less on 2 cores).
            from concurrent.futures import ThreadPoolExecutor

            from emostyle.pipeline import Analyzer
            with ThreadPoolExecutor(1) as pool:
                loading = pool.submit(Stylizer, style_model, styles_toml=styles_toml)
                try:
                    analyzer = Analyzer(model, face_model, min_score=min_score)
                finally:
                    stylizer = loading.result()
            stylizer.style_weights(request.fallback)
            if per_face:
                stylizer.require_style_maps()  # one clear error before any work
        else:
            stylizer = Stylizer(style_model, styles_toml=styles_toml)
            stylizer.style_weights(emotion)  # a bad name: one clear error before any work
        taken: set[Path] = set()
        results = []
        with progress(len(files), "stylizing") as advance:
            def on_tile(done: int, total: int) -> None:
                if total >= MIN_TILES_SHOWN:
                    advance.count("tiles", done, total)

            for path in files:
                try:
                    image = read_image(path)
                    analysis = (analyzer.analyze(image, source=str(path)) if analyzer else None)
                    painting = paint(stylizer, image, analysis, request, on_tile)
                    del image
                    dest = style_output_path(path, out_dir, painting.choice.tag, inputs, taken)
                    write_image(painting.image, dest, overwrite=overwrite)
                    record = stylize_record(path, dest, analysis, painting.choice)
                    results.append(record)
                    if painting.choice.fallback:
                        why = "; ".join(analysis.notes) or "its mood has no style in this model"
                        err.print(f"{path}: {why}; using the {request.fallback} style "
                                  "(--fallback)", markup=False)
                    if not as_json:
                        out.print(f"{path} -> {dest}{stylize_note(record)}", markup=False)
                except InputError as exc:
                    problems.append((path, str(exc).removeprefix(f"{path}: ")))
                finally:
                    advance()
        if as_json:
            print_json_report(results, problems)
        return report_failures(problems, "stylized")

    run_guarded(body)


def possible_tags(request) -> set[str]:  # noqa: ANN001 - StyleRequest
    """Every tag a picture's file name may get under ``request`` (the mood is not known yet)."""
    from emostyle.emotions import EMOTIONS, canonical

    if request.mode == "emotion":
        return {request.emotion.strip().lower()}
    fallback = canonical(request.fallback)
    if request.mode == "blend":
        return {"blend", fallback}
    # per_face: "per-face", or the auto style when no face can be read
    return {*EMOTIONS, fallback, *(("per-face",) if request.mode == "per_face" else ())}


def stylize_record(path: Path, dest: Path, analysis, choice) -> dict:  # noqa: ANN001
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

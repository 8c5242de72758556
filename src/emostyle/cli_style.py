"""``emostyle stylize``: repaint pictures in the mood of their faces (no torch).

Which style a picture gets is decided by :func:`emostyle.pipeline.paint`; reading, painting
and writing each picture is :func:`emostyle.paint_batch.paint_files`. This command checks its
options and outputs, calls them and prints what was painted.
"""

from __future__ import annotations

from contextlib import closing, nullcontext
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
    input_files,
    print_json_report,
    progress,
    report_failures,
    run_guarded,
    say,
)
from emostyle.errors import InputError
from emostyle.outputs import OutputPlan

# A picture painted in at least this many tiles (about 1 s each on 2 cores) gets a bar.
MIN_TILES_SHOWN = 4


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
    ray_address: Annotated[str | None, typer.Option(
        "--ray", help="Paint on Ray: 'local' starts Ray here, 'auto' joins this machine's "
                      "cluster, or a HOST:PORT or ray://HOST:PORT address. The same "
                      "pictures, names and options as without it.")] = None,
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
    not be read (the others are still done), 3 when a model file is missing. With --ray the
    workers of a Ray cluster paint and this process writes the same files; Ray, the cluster
    and the models are checked before any file is written (exit 1 when Ray cannot run).
    """

    def body() -> int:
        from emostyle.paint_batch import load_painters, paint_files, stylize_note
        from emostyle.pipeline import StyleRequest
        from emostyle.stylizer import MIN_SIDE  # the smallest side the network paints at

        auto = emotion.strip().lower() == "auto"
        if 0 < max_side < MIN_SIDE:
            raise InputError(f"--max-side must be 0 (full resolution) or at least {MIN_SIDE}, "
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
        plan = OutputPlan(inputs, overwrite)
        plan.named_files(files, out_dir, "-o", request.tags(), suffix=".jpg")
        plan.check()
        painter = None
        if ray_address is not None:
            from emostyle.distributed import start_paint_ray

            painter = start_paint_ray(request, style_model, styles_toml, model, face_model,
                                      ray_address, min_score=min_score)
        else:
            stylizer, analyzer = load_painters(request, style_model, styles_toml, model,
                                               face_model, min_score)
        results = []
        with (progress(len(files), "stylizing") as advance,
              closing(painter) if painter else nullcontext()):
            def on_tile(done: int, total: int) -> None:
                if total >= MIN_TILES_SHOWN:
                    advance.count("tiles", done, total)

            items = (painter.paint(files, out_dir, inputs, overwrite) if painter else
                     paint_files(files, stylizer, analyzer, request, out_dir, inputs,
                                 overwrite, on_tile))
            for item in items:
                advance()
                if item.record is None:
                    problems.append((item.path, item.error))
                    continue
                results.append(item.record)
                if item.notice:
                    say(item.notice, stderr=True)
                if not as_json:
                    say(f"{item.path} -> {item.record['output']}{stylize_note(item.record)}")
        if as_json:
            print_json_report(results, problems)
        return report_failures(problems, "stylized")

    run_guarded(body)

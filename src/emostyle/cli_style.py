"""``emostyle stylize / train-style / export-style``: repaint pictures in the mood of their faces.

``stylize`` is on the inference path and imports no torch; ``train-style`` and ``export-style``
import it inside the command (they need the ``train`` extra).
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from emostyle.cli_common import (
    MIN_SCORE,
    FaceModelOpt,
    JsonOpt,
    MinScoreOpt,
    err,
    input_files,
    need_torch,
    out,
    output_path,
    print_json_report,
    progress,
    report_failures,
    run_guarded,
    this_command,
)
from emostyle.errors import InputError


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
        "--model", "-m", help="Emotion model for auto: 'default', 'accurate' or a path.")
                     ] = "default",
    face_model: FaceModelOpt = None,
    min_score: MinScoreOpt = MIN_SCORE,
    as_json: JsonOpt = False,
) -> None:
    """Repaint pictures in the style of an emotion - by default the mood of their faces.

    The mood of a picture is the mean of its faces' emotion probabilities weighted by face
    area (bigger faces count more); the style is its most likely emotion, or with --blend
    every emotion's style mixed by its probability. A picture without a face gets the
    --fallback emotion's style. Inputs are never overwritten. Exit code 0 when every picture
    was stylised, 2 when some could not be read (the others are still done), 3 when a model
    file is missing.
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
        try:
            request = StyleRequest("blend" if blend else "auto" if auto else "emotion", emotion,
                                   strength, keep_colors, max_side or None, fallback.strip())
        except InputError as exc:
            raise InputError(f"--{exc}") from None
        files, problems = input_files(paths, "stylize")
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
        else:
            stylizer = Stylizer(style_model, styles_toml=styles_toml)
            stylizer.style_weights(emotion)  # a bad name: one clear error before any work
        inputs = {f.resolve() for f in files}
        taken: set[Path] = set()
        results = []
        with progress(len(files), "stylizing") as advance:
            for path in files:
                try:
                    image = read_image(path)
                    analysis = (analyzer.analyze(image, source=str(path)) if analyzer else None)
                    painting = paint(stylizer, image, analysis, request)
                    del image
                    dest = style_output_path(path, out_dir, painting.choice.tag, inputs, taken)
                    write_image(painting.image, dest)
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


def train_style(
    style: Annotated[list[str] | None, typer.Option(
        "--style", help="NAME=PAINTING, repeatable. A NAME that is an emotion makes the style "
                        "that emotion's default.")] = None,
    content_dir: Annotated[Path | None, typer.Option(
        "--content-dir", help="Folder of content photos (searched recursively).")] = None,
    vgg: Annotated[Path | None, typer.Option(
        "--vgg", help="VGG16 state dict: the Caffe conv weights or torchvision's vgg16.")
                   ] = None,
    out_dir: Annotated[Path, typer.Option("--out", help="Run directory.")] = Path(
        "runs/styles"),
    vgg_kind: Annotated[str, typer.Option(
        "--vgg-kind", help="caffe (BGR 0-255 minus mean) | torchvision (RGB mean/std) | auto")
                        ] = "auto",
    crop: Annotated[int, typer.Option(help="Training crop side in pixels.")] = 256,
    batch_size: Annotated[int, typer.Option("--batch", help="Photos per step.")] = 4,
    iterations: int = 4000,
    minutes: Annotated[float, typer.Option(
        help="Stop after this many minutes of training (0: no limit); the learning-rate "
             "decay follows whichever of --iterations and --minutes ends first.")] = 0.0,
    lr: float = 1e-3,
    content_weight: Annotated[float | None, typer.Option(
        help="Default depends on --vgg-kind (caffe 1, torchvision 1e5).")] = None,
    style_weight: Annotated[float | None, typer.Option(
        help="Default depends on --vgg-kind (caffe 10, torchvision 1e10).")] = None,
    tv_weight: Annotated[float | None, typer.Option(help="Total variation (default 0).")
                         ] = None,
    style_size: Annotated[int, typer.Option(
        help="Long side (px) of the paintings when their Gram matrices are taken.")] = 512,
    single: Annotated[bool, typer.Option(
        "--single", help="One network per style (the seed's recipe), in OUT/<name>/.")] = False,
    holdout: Annotated[int, typer.Option(
        help="Content photos kept out of training; losses on them go to metrics.json.")
                       ] = 100,
    width: Annotated[int, typer.Option(help="Channels of the first layer.")] = 16,
    blocks: Annotated[int, typer.Option(help="Residual blocks.")] = 3,
    separable: Annotated[bool, typer.Option(
        help="Depthwise-separable convolutions in the residual blocks.")] = True,
    in_kernel: Annotated[int, typer.Option(help="Kernel of the first convolution.")] = 9,
    out_kernel: Annotated[int, typer.Option(help="Kernel of the last convolution.")] = 3,
    max_content: Annotated[int, typer.Option(
        help="Train on this many photos only (0: all).")] = 0,
    sample_every: Annotated[int, typer.Option(
        help="Write sample pictures every N iterations (0: only at the end).")] = 250,
    log_every: int = 20,
    seed: int = 0,
    amp: Annotated[bool, typer.Option(
        help="bf16 autocast where the hardware has bf16 (CUDA, AVX512-BF16/AMX CPUs: 2-2.5x "
             "faster); float32 elsewhere.")] = True,
    device: Annotated[str, typer.Option(help="auto | cpu | cuda")] = "auto",
    threads: Annotated[int, typer.Option(
        help="Torch CPU threads (0: default). Use 1 when other jobs share the CPU.")] = 0,
    resume: Annotated[bool, typer.Option(
        help="Continue the run in --out with its saved settings.")] = False,
    export: Annotated[Path | None, typer.Option(
        "--export", help="At the end, export to this .onnx with its card.")] = None,
) -> None:
    """Train a style network (several styles in one, or --single) with the VGG16 loss."""

    def body() -> int:
        need_torch()
        from emostyle.training.style_fit import (
            StyleFitConfig,
            parse_style_args,
            train_single_styles,
            train_styles,
        )

        if single and export is not None:
            raise InputError("--single trains one network per style: export each "
                             "OUT/<name> with `emostyle export-style`")
        if vgg_kind not in ("auto", "caffe", "torchvision"):
            raise InputError(f"--vgg-kind must be caffe, torchvision or auto, got {vgg_kind!r}")
        if resume:
            cfg = StyleFitConfig()  # the run directory's own config is used
        else:
            missing = [o for o, v in (("--style", style), ("--content-dir", content_dir),
                                      ("--vgg", vgg)) if not v]
            if missing:
                raise InputError(f"missing {', '.join(missing)} (needed unless --resume)")
            from emostyle.training.vgg_loss import load_vgg
            kind = load_vgg(vgg, None if vgg_kind == "auto" else vgg_kind).kind
            cfg = StyleFitConfig(
                styles=parse_style_args(style), content_dir=str(content_dir), vgg=str(vgg),
                vgg_kind=kind, crop=crop, batch_size=batch_size, iterations=iterations,
                minutes=minutes, lr=lr, content_weight=content_weight,
                style_weight=style_weight, tv_weight=tv_weight, style_size=style_size,
                holdout=holdout, max_content=max_content,
                net={"width": width, "blocks": blocks, "separable": separable,
                     "in_kernel": in_kernel, "out_kernel": out_kernel},
                seed=seed, device=device, amp=amp, threads=threads, log_every=log_every,
                sample_every=sample_every)
        command = this_command()
        if single:
            runs = train_single_styles(cfg, out_dir, resume=resume)
            for name, m in runs.items():
                report(name, m)
            return 0
        metrics = train_styles(cfg, out_dir, resume=resume)
        (out_dir / "command.txt").write_text(command + "\n")
        report(out_dir.name, metrics)
        if export is not None:
            _export(out_dir, export, name=export.stem, summary="", command=command)
        return 0

    run_guarded(body)


def report(name: str, metrics: dict) -> None:
    hold = metrics.get("holdout", {}).get("mean")
    line = f"{name}: {metrics['iterations']} iterations in {metrics['train_seconds'] / 60:.1f} min"
    if hold:
        line += (f"; held-out content loss {hold['content_weighted']:.4g}, style loss "
                 f"{hold['style_weighted']:.4g} (weighted, mean over styles)")
    out.print(line)


def _export(run_dir: Path, output: Path, name: str, summary: str, command: str) -> None:
    from emostyle.training.style_export import export_style_onnx, style_card, write_card
    from emostyle.training.style_fit import load_style_run

    if output.suffix.lower() != ".onnx":
        raise InputError(f"{output}: the output must end in .onnx")
    net, cfg, metrics = load_style_run(run_dir)
    parity = export_style_onnx(net, output)
    if not command and (run_dir / "command.txt").is_file():
        command = (run_dir / "command.txt").read_text().strip()
    card = style_card(name, net, cfg, metrics, output, parity, summary=summary,
                      command=command)
    write_card(output, card)
    out.print(f"wrote {output} ({output.stat().st_size / 1e6:.2f} MB) and its card; parity "
              f"max |pixel diff| {parity['max_abs_pixel_diff']:.1e} (0..255)")


def export_style(
    run_dir: Annotated[Path, typer.Argument(help="A run directory made by train-style.")],
    output: Annotated[Path, typer.Option("-o", "--output", help="ONNX file to write.")],
    name: Annotated[str | None, typer.Option(help="Model name for the card.")] = None,
    summary: Annotated[str, typer.Option(help="One line for the card.")] = "",
) -> None:
    """Export a style run to ONNX (dynamic size, style-weight input) with a parity check."""

    def body() -> int:
        need_torch()
        _export(run_dir, output, name or output.stem, summary, "")
        return 0

    run_guarded(body)

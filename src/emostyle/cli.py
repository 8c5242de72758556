"""The ``emostyle`` command line."""

from __future__ import annotations

import json
import platform
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from emostyle.errors import EmostyleError, InputError

app = typer.Typer(
    help="Read the emotion on every face, show it as an emoji, repaint the picture in its mood.",
    no_args_is_help=True, add_completion=False, pretty_exceptions_enable=False)
out = Console(highlight=False, soft_wrap=True)
err = Console(stderr=True, highlight=False, soft_wrap=True)


def fail(exc: EmostyleError) -> typer.Exit:
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
    if code:
        raise typer.Exit(code)


def progress_bar(total: int, label: str):  # noqa: ANN201 - rich Progress or None
    """A progress bar on an interactive terminal for more than one item; None otherwise."""
    if total < 2 or not err.is_terminal:
        return None
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeRemainingColumn,
    )
    return Progress(TextColumn(label), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(),
                    console=err, transient=True)


def output_path(src: Path, out_dir: Path, tag: str, inputs: set[Path],
                taken: set[Path] | None = None) -> Path:
    """``out_dir/<stem>_<tag><suffix>``; refuses a path that is one of the inputs.

    ``taken`` collects the paths already written in this run: two inputs with the same name
    in different folders get ``_2``, ``_3``... instead of overwriting each other.
    """
    suffix = src.suffix.lower() if src.suffix.lower() in (".png", ".jpg", ".jpeg", ".webp") \
        else ".png"
    dest = out_dir / f"{src.stem}_{tag}{suffix}"
    n = 1
    while taken is not None and dest.resolve() in taken:
        n += 1
        dest = out_dir / f"{src.stem}_{tag}_{n}{suffix}"
    if dest.resolve() in inputs:
        raise InputError(f"{dest}: refusing to overwrite an input file")
    if taken is not None:
        taken.add(dest.resolve())
    return dest


def report_failures(problems: list[tuple[Path | str, str]]) -> int:
    """List the inputs that failed at the end of a batch; the exit code (2 if any)."""
    if not problems:
        return 0
    err.print(f"{len(problems)} input(s) could not be analyzed:")
    for p, why in problems:
        err.print(f"  {p}: {why}", markup=False)
    return 2


def write_explanations(explainer, image, analysis, path: Path, out_dir: Path,  # noqa: ANN001
                       inputs: set[Path], written: set[Path]) -> None:
    """``<stem>_explain.jpg`` (maps on the picture) and ``<stem>_face<N>_explain.png``."""
    from emostyle.explain import overlay_on_picture
    from emostyle.images import write_image

    explanations = explainer.explain(image, analysis=analysis)
    write_image(overlay_on_picture(image, explanations),
                output_path(path, out_dir, "explain", inputs, written))
    for i, ex in enumerate(explanations, 1):
        face_png = output_path(path.with_suffix(".png"), out_dir, f"face{i}_explain", inputs,
                               written)
        write_image(ex.overlay(), face_png)


def face_table(analysis) -> Table:  # noqa: ANN001 - Analysis
    table = Table(title=escape(f"{analysis.source}  ({analysis.width}x{analysis.height})"),
                  title_justify="left")
    for col in ("face", "box (x, y, w, h)", "emotion", "", "confidence", "top-3"):
        table.add_column(col)
    for i, f in enumerate(analysis.faces, 1):
        x, y, w, h = (round(v) for v in f.box)
        top3 = ", ".join(f"{e} {p:.0%}" for e, p in f.top(3))
        table.add_row(str(i), f"{x}, {y}, {w}, {h}", f.emotion, f.emoji, f"{f.confidence:.1%}",
                      top3)
    return table


ModelOpt = Annotated[str, typer.Option(
    "--model", "-m", help="Emotion model: 'default', 'accurate' or a path to an exported .onnx.")]
FaceModelOpt = Annotated[Path | None, typer.Option(
    "--face-model", help="YuNet .onnx file (else $EMOSTYLE_FACE_MODEL, then the user cache).")]


@app.command()
def analyze(
    paths: Annotated[list[str], typer.Argument(help="Image files, folders or glob patterns.")],
    model: ModelOpt = "default",
    face_model: FaceModelOpt = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON document.")] = False,
    as_jsonl: Annotated[bool, typer.Option("--jsonl", help="Print one JSON line per image.")
                        ] = False,
    annotate_dir: Annotated[Path | None, typer.Option(
        "--annotate", help="Write pictures with boxes, emoji and labels into this folder.")
                            ] = None,
    no_detect: Annotated[bool, typer.Option(
        "--no-detect", help="Inputs are already face crops: classify each whole picture.")
                         ] = False,
    min_score: Annotated[float, typer.Option(
        "--min-score", min=0.0, max=1.0, help="Minimum face detection score.")] = 0.7,
    output: Annotated[Path | None, typer.Option(
        "-o", "--output", help="Write one JSON line per picture to this file (for big "
                               "folders; see --resume).")] = None,
    resume: Annotated[bool, typer.Option(
        help="With --output: skip pictures already in that file and append the rest.")
                      ] = False,
    workers: Annotated[int, typer.Option(min=1, help="Threads decoding pictures.")] = 2,
    explain_dir: Annotated[Path | None, typer.Option(
        "--explain", help="Write class activation maps (where the model looked) into this "
                          "folder: the whole picture and each face.")] = None,
    ray_address: Annotated[str | None, typer.Option(
        "--ray", help="Run on Ray (needs --output): 'local' starts Ray here, 'auto' joins this "
                      "machine's cluster, or a ray://host:port address.")] = None,
) -> None:
    """Find the faces in pictures and read the emotion of each.

    Exit code 0 when every input was read, 2 when some could not be (the others are still
    processed and the failures listed at the end), 3 when a model file is missing.
    """

    def run_on_ray(files: list[Path], skipped: int, problems: list) -> int:
        from emostyle.batch import JsonlWriter
        from emostyle.distributed import analyze_on_ray

        if output is None or as_json or as_jsonl or annotate_dir or explain_dir or no_detect:
            raise InputError("--ray writes to --output FILE.jsonl only (no --json, --jsonl, "
                             "--annotate, --explain or --no-detect)")
        writer = JsonlWriter(output, append=resume)
        failed = []

        def write(rec: dict) -> None:
            writer.write(rec)
            if "error" in rec:
                failed.append((rec["source"], rec["error"]))

        try:
            n = analyze_on_ray(files, write, model, face_model, ray_address)
        finally:
            writer.close()
        err.print(f"{n} picture(s) analyzed on Ray into {output}"
                  + (f" ({skipped} already there)" if skipped else ""), markup=False)
        return report_failures(problems + failed)

    def body() -> int:
        from emostyle.batch import JsonlWriter, analyze_stream, done_sources, record
        from emostyle.images import expand_inputs, write_image
        from emostyle.overlay import annotate
        from emostyle.pipeline import Analyzer

        if resume and output is None:
            raise InputError("--resume needs --output FILE.jsonl")
        files, problems = expand_inputs(paths)
        if not files:  # name every unusable input, not just "no images"
            raise InputError("; ".join(f"{p}: {why}" for p, why in problems)
                             or "no images to analyze")
        inputs = {f.resolve() for f in files}
        if output is not None and output.resolve() in inputs:
            raise InputError(f"{output}: refusing to overwrite an input file")
        skipped = 0
        if resume:
            done = done_sources(output)
            kept = [f for f in files if str(f) not in done]
            skipped = len(files) - len(kept)
            files = kept
        if ray_address is not None:
            return run_on_ray(files, skipped, problems)
        analyzer = Analyzer(model, face_model, detect=not no_detect, min_detection_score=min_score)
        explainer = None
        if explain_dir is not None:
            from emostyle.explain import Explainer
            if not analyzer.classifier.has_cam:
                raise InputError(f"--explain: model {analyzer.classifier.name} has no class "
                                 "activation output; re-export it with `emostyle export`")
            explainer = Explainer(analyzer)
        writer = JsonlWriter(output, append=resume) if output is not None else None
        written: set[Path] = set()
        results = []
        bar = progress_bar(len(files), "analyzing")
        task = bar.add_task("", total=len(files)) if bar else None
        if bar:
            bar.start()
        try:
            for item in analyze_stream(files, analyzer, workers,
                                       keep_images=bool(annotate_dir or explain_dir)):
                path, result = item.path, item.analysis
                if bar:
                    bar.advance(task)
                if result is not None and explainer is not None and result.faces:
                    try:
                        write_explanations(explainer, item.image, result, path, explain_dir,
                                           inputs, written)
                    except InputError as exc:
                        item.error, item.analysis, result = str(exc), None, None
                if result is not None and annotate_dir is not None:
                    try:
                        dest = output_path(path, annotate_dir, "emostyle", inputs, written)
                        write_image(annotate(item.image, result, copy=False), dest)
                    except InputError as exc:
                        item.error, item.analysis, result = str(exc), None, None
                    item.image = None
                if writer is not None:
                    writer.write(record(item))
                if result is None:
                    problems.append((path, item.error or "unknown error"))
                    if as_jsonl:
                        print(json.dumps({"source": str(path), "error": item.error}), flush=True)
                    continue
                if as_json:
                    results.append(result)
                elif as_jsonl:
                    print(json.dumps(result.to_dict(), ensure_ascii=False), flush=True)
                elif writer is None:
                    if result.faces:
                        out.print(face_table(result))
                    else:
                        note = "; ".join(result.notes) or "no face found"
                        out.print(f"{path}: {note}", markup=False)
        finally:
            if bar:
                bar.stop()
            if writer is not None:
                writer.close()
        if as_json:
            doc = {"results": [r.to_dict() for r in results],
                   "errors": [{"source": str(p), "error": why} for p, why in problems]}
            print(json.dumps(doc, ensure_ascii=False, indent=2))
        if writer is not None and not (as_json or as_jsonl):
            err.print(f"{len(files)} picture(s) analyzed into {output}"
                      + (f" ({skipped} already there)" if skipped else ""), markup=False)
        return report_failures(problems)

    run_guarded(body)


@app.command()
def info(face_model: FaceModelOpt = None) -> None:
    """Versions, ONNX Runtime providers, and the model files with their cards."""

    def body() -> int:
        import cv2
        import numpy
        import onnxruntime
        import PIL

        from emostyle import __version__
        from emostyle.faces import resolve_face_model
        from emostyle.model_files import bundled_models, load_card

        out.print(f"emostyle {__version__}  python {platform.python_version()}  "
                  f"({platform.system()} {platform.machine()})")
        out.print(f"numpy {numpy.__version__}  opencv {cv2.__version__}  "
                  f"onnxruntime {onnxruntime.__version__}  pillow {PIL.__version__}")
        out.print(f"onnxruntime providers: {', '.join(onnxruntime.get_available_providers())}")
        try:
            out.print(f"face model: {resolve_face_model(face_model, download=False)}")
        except EmostyleError as exc:
            out.print(f"face model: not found - {exc}")
        table = Table(title="bundled models", title_justify="left")
        for col in ("file", "size", "architecture", "PrivateTest acc", "notes"):
            table.add_column(col)
        for path in bundled_models():
            card = load_card(path)
            metrics = card.get("metrics", {})
            acc = metrics.get("private_accuracy")
            table.add_row(path.name, f"{path.stat().st_size / 1e6:.1f} MB",
                          str(card.get("architecture", "?")),
                          f"{acc:.2%}" if isinstance(acc, float) else "-",
                          str(card.get("summary", "")))
        out.print(table)
        return 0

    run_guarded(body)


def main() -> None:
    """Console-script entry point."""
    # Register the other commands; none of these modules imports torch at import time.
    import emostyle.cli_app  # noqa: F401
    import emostyle.cli_style  # noqa: F401
    import emostyle.cli_train  # noqa: F401
    import emostyle.cli_video  # noqa: F401

    try:
        app()
    except BrokenPipeError:  # `emostyle analyze ... | head`
        sys.stderr.close()


if __name__ == "__main__":
    # Run as `python -m emostyle.cli`: the other command modules register on the imported
    # `emostyle.cli` module's app, not on this `__main__` copy, so go through that module.
    from emostyle.cli import main as registered_main

    registered_main()

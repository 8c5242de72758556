"""``emostyle analyze`` and ``emostyle info``: read the faces of pictures; say what is installed."""

from __future__ import annotations

import json
import platform
from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape
from rich.table import Table

from emostyle.cli_common import (
    MIN_SCORE,
    FaceModelOpt,
    JsonOpt,
    MinScoreOpt,
    ModelOpt,
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
from emostyle.errors import EmostyleError, InputError
from emostyle.outputs import OutputPlan


def write_explanations(explainer, image, analysis, path: Path, out_dir: Path,  # noqa: ANN001
                       inputs: set[Path], written: set[Path], overwrite: bool = True) -> None:
    """``<stem>_explain.jpg`` (maps on the picture) and ``<stem>_face<N>_explain.png``."""
    from emostyle.explain import overlay_on_picture
    from emostyle.images import write_image

    explanations = explainer.explain(image, analysis=analysis)
    write_image(overlay_on_picture(image, explanations),
                output_path(path, out_dir, "explain", inputs, written), overwrite=overwrite)
    for i, ex in enumerate(explanations, 1):
        face_png = output_path(path.with_suffix(".png"), out_dir, f"face{i}_explain", inputs,
                               written)
        write_image(ex.overlay(), face_png, overwrite=overwrite)


def plan_analyze_outputs(plan: OutputPlan, files: list[Path], output: Path | None,
                         resume: bool, annotate_dir: Path | None,
                         explain_dir: Path | None) -> None:
    """Every file ``analyze`` may write: -o, the annotated pictures, the explanation maps."""
    plan.file(output, "-o", append=resume)
    plan_named_outputs(plan, files, annotate_dir, "--annotate", ["emostyle"])
    plan_named_outputs(plan, files, explain_dir, "--explain", ["explain"])
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


def analyze(
    paths: Annotated[list[str], typer.Argument(help="Image files, folders or glob patterns.")],
    model: ModelOpt = "default",
    face_model: FaceModelOpt = None,
    as_json: JsonOpt = False,
    as_jsonl: Annotated[bool, typer.Option("--jsonl", help="Print one JSON line per image.")
                        ] = False,
    annotate_dir: Annotated[Path | None, typer.Option(
        "--annotate", help="Write pictures with boxes, emoji and labels into this folder.")
                            ] = None,
    no_detect: Annotated[bool, typer.Option(
        "--no-detect", help="Inputs are already face crops: classify each whole picture.")
                         ] = False,
    min_score: MinScoreOpt = MIN_SCORE,
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
    overwrite: OverwriteOpt = False,
) -> None:
    """Find the faces in pictures and read the emotion of each.

    Exit code 0 when every input was read, 2 when some could not be (the others are still
    processed and the failures listed at the end), 3 when a model file is missing.
    """

    def run_on_ray(files: list[Path], skipped: int, problems: list) -> int:
        import os

        from emostyle.batch import JsonlWriter
        from emostyle.distributed import start_ray

        if output is None or as_json or as_jsonl or annotate_dir or explain_dir or no_detect:
            raise InputError("--ray writes to --output FILE.jsonl only (no --json, --jsonl, "
                             "--annotate, --explain or --no-detect)")
        if output.is_dir():
            raise InputError(f"{output}: is a directory, expected a .jsonl file")
        # Ray, the cluster and the models are checked before the output is touched, and a new
        # output is written beside it and renamed into place: a failed run leaves it as it was.
        run = start_ray(model, face_model, ray_address, min_score=min_score)
        target = output if resume else output.with_name(f".{output.name}.{os.getpid()}.part")
        failed: list = []
        try:
            writer = JsonlWriter(target, append=resume)

            def write(rec: dict) -> None:
                writer.write(rec)
                if "error" in rec:
                    failed.append((rec["source"], rec["error"]))

            try:
                n = run.analyze(files, write)
            finally:
                writer.close()
            if target != output:
                os.replace(target, output)
        finally:
            run.close()
            if target != output:
                target.unlink(missing_ok=True)
        problems.extend(failed)
        err.print(summary_line(n - len(failed), len(failed), skipped, output, " on Ray"),
                  markup=False)
        return report_failures(problems)

    def body() -> int:
        from emostyle.batch import JsonlWriter, analyze_stream, done_sources, record
        from emostyle.images import write_image
        from emostyle.overlay import annotate
        from emostyle.pipeline import Analyzer

        if resume and output is None:
            raise InputError("--resume needs --output FILE.jsonl")
        files, problems = input_files(paths, "analyze")
        unusable_inputs = len(problems)  # missing paths, empty folders: not counted as tried
        inputs = {f.resolve() for f in files}
        plan = output_plan(inputs, overwrite)
        plan_analyze_outputs(plan, files, output, resume, annotate_dir, explain_dir)
        plan.check()
        skipped = 0
        if resume:
            done = done_sources(output)
            kept = [f for f in files if str(f) not in done]
            skipped, files = len(files) - len(kept), kept
        if ray_address is not None:
            return run_on_ray(files, skipped, problems)
        analyzer = Analyzer(model, face_model, detect=not no_detect, min_score=min_score)
        explainer = None
        if explain_dir is not None:
            from emostyle.explain import Explainer
            if not analyzer.classifier.has_cam:
                raise InputError(f"--explain: model {analyzer.classifier.name} has no class "
                                 "activation output; re-export it with `emostyle export`")
            explainer = Explainer(analyzer)
        writer = (JsonlWriter(output, append=resume, overwrite=overwrite)
                  if output is not None else None)
        written: set[Path] = set()
        results = []
        try:
            with progress(len(files), "analyzing") as advance:
                for item in analyze_stream(files, analyzer, workers,
                                           keep_images=bool(annotate_dir or explain_dir)):
                    path, result = item.path, item.analysis
                    advance()
                    try:
                        if result is not None and explainer is not None and result.faces:
                            write_explanations(explainer, item.image, result, path,
                                               explain_dir, inputs, written, overwrite)
                        if result is not None and annotate_dir is not None:
                            dest = output_path(path, annotate_dir, "emostyle", inputs, written)
                            write_image(annotate(item.image, result, copy=False), dest,
                                        overwrite=overwrite)
                    except InputError as exc:
                        item.error, item.analysis, result = str(exc), None, None
                    item.image = None
                    if writer is not None:
                        writer.write(record(item))
                    if result is None:
                        problems.append((path, item.error or "unknown error"))
                        if as_jsonl:
                            print(json.dumps({"source": str(path), "error": item.error}),
                                  flush=True)
                    elif as_json:
                        results.append(result.to_dict())
                    elif as_jsonl:
                        print(json.dumps(result.to_dict(), ensure_ascii=False), flush=True)
                    elif writer is None and result.faces:
                        out.print(face_table(result))
                    elif writer is None:
                        note = "; ".join(result.notes) or "no face found"
                        out.print(f"{path}: {note}", markup=False)
        finally:
            if writer is not None:
                writer.close()
        if as_json:
            print_json_report(results, problems)
        if writer is not None and not (as_json or as_jsonl):
            failed = len(problems) - unusable_inputs
            err.print(summary_line(len(files) - failed, failed, skipped, output), markup=False)
        return report_failures(problems)

    run_guarded(body)


def info(face_model: FaceModelOpt = None) -> None:
    """Versions, ONNX Runtime providers, and the model files with their cards."""

    def body() -> int:
        import cv2
        import numpy
        import onnxruntime
        import PIL

        from emostyle import __version__
        from emostyle.faces import resolve_face_model
        from emostyle.model_files import bundled_models, model_bytes, read_card

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
            card = read_card(path)
            acc = card.metrics.get("private_accuracy")
            table.add_row(path.name, f"{model_bytes(path) / 1e6:.1f} MB", card.architecture,
                          f"{acc:.2%}" if isinstance(acc, float) else "-", card.summary)
        out.print(table)
        return 0

    run_guarded(body)

"""``emostyle analyze`` and ``emostyle info``: read the faces of pictures; say what is installed."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.markup import escape

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
    print_json_report,
    progress,
    report_failures,
    run_guarded,
)
from emostyle.errors import InputError
from emostyle.outputs import OutputPlan

if TYPE_CHECKING:
    from rich.table import Table


def face_table(analysis) -> Table:  # noqa: ANN001 - Analysis
    from rich.table import Table  # here: every command loads this module, few print tables

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
        from emostyle.batch import summary_line
        from emostyle.distributed import analyze_into_jsonl

        if output is None or as_json or as_jsonl or annotate_dir or explain_dir or no_detect:
            raise InputError("--ray writes to --output FILE.jsonl only (no --json, --jsonl, "
                             "--annotate, --explain or --no-detect)")
        n, failed = analyze_into_jsonl(files, output, model, face_model, ray_address,
                                       min_score, append=resume)
        problems.extend(failed)
        err.print(summary_line(n - len(failed), len(failed), skipped, output, " on Ray"),
                  markup=False)
        return report_failures(problems)

    def body() -> int:
        from emostyle.batch import (
            JsonlWriter,
            analyze_files,
            done_sources,
            plan_analyze_outputs,
            summary_line,
        )
        from emostyle.pipeline import Analyzer

        if resume and output is None:
            raise InputError("--resume needs --output FILE.jsonl")
        files, problems = input_files(paths, "analyze")
        unusable_inputs = len(problems)  # missing paths, empty folders: not counted as tried
        inputs = {f.resolve() for f in files}
        plan = OutputPlan(inputs, overwrite)
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
        results = []
        try:
            with progress(len(files), "analyzing") as advance:
                for item in analyze_files(files, analyzer, workers, jsonl=writer,
                                          annotate_dir=annotate_dir, explainer=explainer,
                                          explain_dir=explain_dir, inputs=inputs,
                                          overwrite=overwrite):
                    advance()
                    path, result = item.path, item.analysis
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
        from rich.table import Table

        from emostyle.about import MODEL_COLUMNS, bundled_model_rows, face_model_line, versions

        for line in versions():
            out.print(line)
        out.print(face_model_line(face_model))
        table = Table(title="bundled models", title_justify="left")
        for col in MODEL_COLUMNS:
            table.add_column(col)
        for row in bundled_model_rows():
            table.add_row(*row)
        out.print(table)
        return 0

    run_guarded(body)

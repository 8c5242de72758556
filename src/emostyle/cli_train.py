"""``emostyle train / evaluate / compare / export / train-style / export-style``: the workbench.

These need the ``train`` extra and import torch and :mod:`emostyle.training` inside the command
run only; they are the one CLI module allowed to (tests/test_imports.py checks it). The options
of ``train``, ``train-style`` and ``add-style`` that set a field of the run's config come from
that field (:mod:`emostyle.training.configs`, torch-free): its default and help are written
there once; the options written here are the command's own (--out, --resume ...).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer

from emostyle.cli_common import (
    INSTALLED_MODELS,
    OverwriteOpt,
    config_options,
    given_options,
    out,
    run_guarded,
    this_command,
)
from emostyle.errors import EmostyleError, InputError
from emostyle.model_files import check_style_model_output
from emostyle.training.configs import (
    DEFAULT_DATA,
    DEFAULT_SPLIT,
    AddStyleConfig,
    StyleFitConfig,
    TrainConfig,
)


def need_torch() -> None:
    try:
        import torch  # noqa: F401
    except ImportError:
        raise EmostyleError("this command needs the training extra: pip install "
                            "'emostyle[train]' (CPU only: first pip install torch torchvision "
                            "--index-url https://download.pytorch.org/whl/cpu)") from None


DataOpt = Annotated[Path, typer.Option(
    "--data", help="fer2013.npz, a FER2013 csv, or an image-folder dataset (train/<class>/).")]


@config_options(TrainConfig)
def train(
    data: DataOpt = DEFAULT_DATA,
    out_dir: Annotated[Path, typer.Option("--out", help="Run directory.")] = Path("runs/run"),
    *,
    settings: dict[str, Any],  # TrainConfig's options
    width: Annotated[int | None, typer.Option(help="Width override for architectures "
                                                      "that take one.")] = None,
    resume: Annotated[bool, typer.Option(help="Continue the run in --out.")] = False,
    list_archs: Annotated[bool, typer.Option("--list", help="List architectures and exit.")
                          ] = False,
) -> None:
    """Train an expression classifier; selects the best epoch on PublicTest."""

    def body() -> int:
        need_torch()
        from emostyle.training.architectures import available
        if list_archs:
            out.print("\n".join(available()))
            return 0
        from emostyle.training.fit import train_run

        cfg = TrainConfig(data=str(data), arch_kwargs={"width": width} if width else {},
                          **settings)
        if not cfg.teacher:
            cfg.teacher_weight = 0.0  # the run records no teacher's share without a teacher
        if cfg.init and resume:
            raise InputError("--init, --resume: a resumed run keeps its own weights; give one")
        best = train_run(cfg, out_dir, resume=resume, command=this_command())
        out.print(f"best PublicTest accuracy {best['public_acc']:.4f} at epoch "
                  f"{best['epoch']}; weights in {out_dir / 'best.pt'}")
        return 0

    run_guarded(body)


def export(
    run_dir: Annotated[Path, typer.Argument(help="A run directory made by `emostyle train`.")],
    output: Annotated[Path, typer.Option("-o", "--output", help="ONNX file to write.")],
    data: Annotated[Path | None, typer.Option(
        "--data", help="Evaluate on this dataset and put the metrics and the temperature "
                       "(fitted on PublicTest) in the card.")] = None,
    tta: Annotated[bool, typer.Option(help="Average with the mirrored face at inference.")
                   ] = False,
    name: Annotated[str | None, typer.Option(help="Model name for the card.")] = None,
    summary: Annotated[str, typer.Option(help="One line for the card.")] = "",
    int8: Annotated[bool, typer.Option(
        "--int8", help="Write the int8 copy (about 2.5x faster on CPUs with VNNI), calibrated "
                       "on --data's Training faces; the card gives float32's accuracy beside "
                       "it.")] = False,
    overwrite: OverwriteOpt = False,
) -> None:
    """Export a trained run to ONNX (with a PyTorch parity check) and write its card."""

    def body() -> int:
        need_torch()
        from emostyle.training.export import export_lines, export_run

        card, parity = export_run(run_dir, output, data, tta, name, summary, overwrite, int8)
        for line in export_lines(output, card, parity):
            out.print(line)
        return 0

    run_guarded(body)


def evaluate(
    ctx: typer.Context,
    source: Annotated[str, typer.Argument(help="A run directory, an .onnx file, or a bundled "
                                               f"model name ({INSTALLED_MODELS}).")],
    data: DataOpt = DEFAULT_DATA,
    split: Annotated[str, typer.Option(help="private (PrivateTest) or public (PublicTest).")
                     ] = DEFAULT_SPLIT,
    tta: Annotated[bool, typer.Option(help="Average with the mirrored face.")] = False,
    out_dir: Annotated[Path | None, typer.Option(
        "--out", help="Folder for metrics.json and the figures (default: RUN_DIR/eval_SPLIT, "
                      "./eval_MODEL_SPLIT, or ./eval_MODEL_photos with --photos/--manifest)."
    )] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the metrics as JSON.")] = False,
    photos: Annotated[Path | None, typer.Option(
        "--photos", help="Evaluate on whole photos instead: a folder with one sub-folder per "
                         "emotion (synonyms such as anger/happiness accepted).")] = None,
    manifest: Annotated[Path | None, typer.Option(
        "--manifest", help="Evaluate on the photos a CSV lists instead: columns file,label "
                           "and optional source (one table per source) and crop (yes: the "
                           "file is a face crop); paths relative to the CSV.")] = None,
    no_detect: Annotated[bool, typer.Option(
        "--no-detect", help="With --photos/--manifest: every picture is a face crop already."
    )] = False,
    no_face: Annotated[str, typer.Option(
        "--no-face", help="With a manifest's sources: per-source macro-F1 and recall count a "
                          "picture without a face as wrong (end to end) or skip it.")
    ] = "wrong",
    predictions: Annotated[Path | None, typer.Option(
        "--predictions", help="With --photos/--manifest: also write one CSV row per picture "
                              "(label, prediction, confidence, faces found, probabilities).")
    ] = None,
    overwrite: OverwriteOpt = False,
) -> None:
    """Accuracy, macro-F1, per-class precision/recall/F1, confusion matrix, calibration.

    On FER2013 by default; on labelled photos (detected end to end) with --photos or --manifest.
    """

    def photo_body() -> int:
        from emostyle.training.photo_eval import evaluate_photo_set
        from emostyle.training.photo_eval import report_lines as photo_lines

        report, note, target = evaluate_photo_set(source, photos, manifest, out_dir,
                                                  not no_detect, no_face, predictions, overwrite)
        if as_json:
            print(json.dumps(report, indent=2))
            return 0
        for line in photo_lines(report):
            out.print(line, markup=False)
        if note:  # not markup: "pip install 'emostyle[train]'" lost its "[train]"
            out.print(note, markup=False)
        out.print(f"metrics.json{'' if note else ' and figures'} in {target}"
                  + (f"; predictions in {predictions}" if predictions else ""), markup=False)
        return 0

    def body() -> int:
        from emostyle.training.photo_eval import check_evaluate_options

        check_evaluate_options(photos, manifest, tta, split, data, no_detect, no_face,
                               predictions, typed=given_options(
                                   ctx, "tta", "split", "data", "no_detect", "no_face",
                                   "predictions"))
        if photos is not None or manifest is not None:
            return photo_body()
        from emostyle.training.report import (
            checked_eval_dir,
            evaluate_source,
            headline,
            report_lines,
        )

        target = checked_eval_dir(source, split, out_dir, overwrite)
        if Path(source).is_dir():
            need_torch()
        report = evaluate_source(source, data, split, tta, target)
        if as_json:
            print(json.dumps(headline(report), indent=2))
            return 0
        for line in report_lines(report):
            out.print(line, markup=False)
        out.print(f"figures and metrics.json in {target}", markup=False)
        return 0

    run_guarded(body)


def compare(
    runs: Annotated[list[Path], typer.Argument(help="Run directories (evaluated) or "
                                                    "metrics.json files.")],
    out_dir: Annotated[Path, typer.Option("--out", help="Folder for the table and plot.")
                       ] = Path("comparison"),
    title: str = "FER2013 PrivateTest",
    overwrite: OverwriteOpt = False,
) -> None:
    """A markdown + JSON table and a bar plot comparing evaluated runs."""

    def body() -> int:
        from emostyle.training.report import compare as run_compare

        rows = run_compare(runs, out_dir, title, overwrite)
        out.print((out_dir / "comparison.md").read_text())
        out.print(f"{len(rows)} runs compared; table and plot in {out_dir}")
        return 0

    run_guarded(body)


@config_options(AddStyleConfig)
def add_style(
    painting: Annotated[Path, typer.Argument(help="The painting to add as a style.")],
    name: Annotated[str, typer.Option(help="Name of the new style.")],
    output: Annotated[Path, typer.Option("-o", "--output", help="The new model (.onnx) to "
                                                                "write; never the source.")],
    *,
    settings: dict[str, Any],  # AddStyleConfig's options
    model: Annotated[str, typer.Option(
        "--model", help="Source style model: 'styles' (bundled) or an .onnx.")] = "styles",
    content_dir: Annotated[Path, typer.Option(
        help="Photos to train on (the held-out split of the source's run is kept out).")
                           ] = Path("content"),
    vgg: Annotated[Path, typer.Option(help="VGG16 weights for the perceptual loss.")
                   ] = Path("vgg16_imagenet_caffe_features_fp16.pth"),
    overwrite: OverwriteOpt = False,
) -> None:
    """Add a painting as one more style: only its normalisation row is trained."""

    def body() -> int:
        need_torch()
        from emostyle.training.add_style import add_style as run_add_style
        from emostyle.training.add_style import summary_lines

        cfg = AddStyleConfig(str(painting), name, str(content_dir), str(vgg), **settings)
        added = run_add_style(model, output, cfg, overwrite=overwrite)
        for line in summary_lines(added, name, output):
            out.print(line)
        return 0

    run_guarded(body)


ensemble_app = typer.Typer(
    help="Ensemble members and the 'accurate' model: add a run, build, distillation targets.",
    no_args_is_help=True)


@ensemble_app.command("add")
def ensemble_add(
    source: Annotated[Path, typer.Argument(help="A run directory, or an exported .onnx with "
                                                "its card.")],
    name: Annotated[str, typer.Option(help="Member name (file name under "
                                           "models/members/).")],
    data: DataOpt = DEFAULT_DATA,
    summary: Annotated[str, typer.Option(help="One line for the card.")] = "",
) -> None:
    """Export a run as an ensemble member (int8 or fp16 when it holds), evaluated with flip TTA."""

    def body() -> int:
        need_torch()
        from emostyle.training.members import add_member, member_line

        out.print(member_line(name, add_member(source, name, data, summary)))
        return 0

    run_guarded(body)


@ensemble_app.command("build")
def ensemble_build(data: DataOpt = DEFAULT_DATA) -> None:
    """Choose members on PublicTest and write the 'accurate' card (PrivateTest read once)."""

    def body() -> int:
        need_torch()
        from emostyle.training.members import build_ensemble, ensemble_lines

        for line in ensemble_lines(build_ensemble(data)):
            out.print(line)
        return 0

    run_guarded(body)


@ensemble_app.command("targets")
def ensemble_targets(
    model: Annotated[str, typer.Argument(help="The teacher: 'accurate' or a model file.")],
    out_file: Annotated[Path, typer.Option("--out", help=".npy file to write.")],
    data: DataOpt = DEFAULT_DATA,
) -> None:
    """A model's calibrated TTA probabilities on every Training row, for `train --teacher`."""

    def body() -> int:
        need_torch()
        if out_file.exists():
            raise InputError(f"{out_file}: exists; choose another --out")
        from emostyle.training.members import teacher_agreement, teacher_targets

        probs = teacher_targets(model, data, out_file)
        agree = teacher_agreement(probs, data)
        out.print(f"wrote {out_file}: {probs.shape[0]} Training rows; the teacher agrees "
                  f"with the labels on {agree:.4f}")
        return 0

    run_guarded(body)


@config_options(StyleFitConfig)
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
    *,
    settings: dict[str, Any],  # StyleFitConfig's options
    single: Annotated[bool, typer.Option(
        "--single", help="One network per style (the seed's recipe), in OUT/<name>/.")] = False,
    resume: Annotated[bool, typer.Option(
        help="Continue the run in --out with its saved settings.")] = False,
    export: Annotated[Path | None, typer.Option(
        "--export", help="At the end, export to this .onnx with its card.")] = None,
    init: Annotated[Path | None, typer.Option(
        "--init", help="Start from this exported style model's weights (same network and "
                       "styles) instead of random ones.")] = None,
    overwrite: OverwriteOpt = False,
) -> None:
    """Train a style network (several styles in one, or --single) with the VGG16 loss."""

    def body() -> int:
        need_torch()
        from emostyle.training.style_fit import (
            new_run_config,
            run_line,
            train_single_styles,
            train_styles,
        )

        if single and export is not None:
            raise InputError("--single trains one network per style: export each "
                             "OUT/<name> with `emostyle export-style`")
        if export is not None:
            check_style_model_output(export, "--export", overwrite,
                                     [init] if init is not None else [])
        cfg = StyleFitConfig() if resume else new_run_config(  # resume: the run's own config
            style, content_dir, vgg, vgg_kind, init, **settings)
        command = this_command()
        if single:
            runs = train_single_styles(cfg, out_dir, resume=resume)
            for name, m in runs.items():
                out.print(run_line(name, m))
            return 0
        metrics = train_styles(cfg, out_dir, resume=resume)
        (out_dir / "command.txt").write_text(command + "\n")
        out.print(run_line(out_dir.name, metrics))
        if export is not None:  # checked above
            from emostyle.training.style_export import export_line, export_style_run

            out.print(export_line(export, export_style_run(out_dir, export, command=command)))
        return 0

    run_guarded(body)


def export_style(
    run_dir: Annotated[Path, typer.Argument(help="A run directory made by train-style.")],
    output: Annotated[Path, typer.Option("-o", "--output", help="ONNX file to write.")],
    name: Annotated[str | None, typer.Option(help="Model name for the card.")] = None,
    summary: Annotated[str, typer.Option(help="One line for the card.")] = "",
    overwrite: OverwriteOpt = False,
) -> None:
    """Export a style run to ONNX (dynamic size, style-weight input) with a parity check."""

    def body() -> int:
        check_style_model_output(output, "-o", overwrite, [])
        need_torch()
        from emostyle.training.style_export import export_line, export_style_run

        out.print(export_line(output, export_style_run(run_dir, output, name, summary)))
        return 0

    run_guarded(body)

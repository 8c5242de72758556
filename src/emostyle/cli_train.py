"""``emostyle train / evaluate / compare / export / train-style / export-style``: the workbench.

These need the ``train`` extra and import torch and :mod:`emostyle.training` inside the command
run only; they are the one CLI module allowed to (tests/test_imports.py checks it).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from emostyle.cli_common import (
    INSTALLED_MODELS,
    OverwriteOpt,
    given_options,
    out,
    run_guarded,
    this_command,
)
from emostyle.errors import EmostyleError, InputError
from emostyle.model_files import check_style_model_output
from emostyle.outputs import OutputPlan


def need_torch() -> None:
    try:
        import torch  # noqa: F401
    except ImportError:
        raise EmostyleError("this command needs the training extra: pip install "
                            "'emostyle[train]' (CPU only: first pip install torch torchvision "
                            "--index-url https://download.pytorch.org/whl/cpu)") from None


DataOpt = Annotated[Path, typer.Option(
    "--data", help="fer2013.npz, a FER2013 csv, or an image-folder dataset (train/<class>/).")]
# The training commands' shared options: one help text each.
AmpOpt = Annotated[bool, typer.Option(
    help="bf16 autocast where the hardware has bf16 (CUDA, AVX512-BF16/AMX CPUs: 2-2.5x "
         "faster); float32 elsewhere.")]
DeviceOpt = Annotated[str, typer.Option(help="auto | cpu | cuda")]
ThreadsOpt = Annotated[int, typer.Option(
    help="Torch CPU threads (0: default). Use 1 when other jobs share the CPU.")]


def train(
    arch: Annotated[str, typer.Option(help="Architecture name (see `emostyle train --list`).")
                    ] = "vgg_small",
    data: DataOpt = Path("fer2013.npz"),
    out_dir: Annotated[Path, typer.Option("--out", help="Run directory.")] = Path("runs/run"),
    labels: Annotated[str, typer.Option(help="fer2013 | ferplus-majority | ferplus-soft")
                      ] = "fer2013",
    balance: Annotated[str, typer.Option(
        help="none | weighted-loss | weighted-sampler | oversample | undersample")] = "none",
    epochs: int = 60,
    batch_size: int = 128,
    lr: float = 0.05,
    optimizer: Annotated[str, typer.Option(help="sgd | adamw")] = "sgd",
    scheduler: Annotated[str, typer.Option(help="cosine | step | constant")] = "cosine",
    weight_decay: float = 5e-4,
    warmup_epochs: float = 2.0,
    label_smoothing: float = 0.0,
    augment: Annotated[str, typer.Option(
        help="none | light | strong | real (strong + downscale, blur, gamma)")] = "strong",
    mix: Annotated[str, typer.Option(
        help="Batch mixing: none | mixup | cutmix | both (half the batches are mixed).")
                   ] = "none",
    teacher: Annotated[Path | None, typer.Option(
        help="Soft targets of the Training rows (.npy) to distil from (made by 'emostyle "
             "ensemble targets').")] = None,
    teacher_weight: Annotated[float, typer.Option(
        help="Share of the teacher in the target (the rest: the label).")] = 0.7,
    patience: Annotated[int, typer.Option(help="Early stop after this many epochs without "
                                               "PublicTest gain (0: never).")] = 0,
    seed: int = 0,
    img_size: Annotated[int, typer.Option(help="Network input side in pixels.")] = 48,
    in_chans: Annotated[int, typer.Option(help="1 (gray) or 3 (gray repeated).")] = 1,
    width: Annotated[int | None, typer.Option(help="Width override for architectures "
                                                      "that take one.")] = None,
    max_train: Annotated[int, typer.Option(help="Train on this many images only (0: all).")
                         ] = 0,
    time_budget: Annotated[float, typer.Option(
        help="Minutes of training (0: no limit); the schedule then runs on elapsed time.")
                           ] = 0.0,
    budget_clock: Annotated[str, typer.Option(
        help="wall (elapsed time) or cpu (CPU time of this process: equal compute per run).")
                            ] = "wall",
    device: DeviceOpt = "auto",
    amp: AmpOpt = True,
    threads: ThreadsOpt = 0,
    landmarks: Annotated[Path | None, typer.Option(
        help="Landmark features of --data for landmark_mlp (made by 'python -m "
             "emostyle.training.landmarks DATA FILE').")] = None,
    init: Annotated[Path | None, typer.Option(
        "--init", help="Start from these weights of the same --arch: a run directory, a .pt, "
                       "or an exported .onnx with its card (BatchNorm restored); the "
                       "learning-rate schedule starts afresh.")] = None,
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
        from emostyle.training.fit import TrainConfig, train_run

        cfg = TrainConfig(arch=arch, data=str(data), labels=labels, balance=balance,
                          epochs=epochs, batch_size=batch_size, lr=lr, optimizer=optimizer,
                          scheduler=scheduler, weight_decay=weight_decay,
                          warmup_epochs=warmup_epochs, label_smoothing=label_smoothing,
                          augment=augment, patience=patience, seed=seed, img_size=img_size,
                          in_chans=in_chans, arch_kwargs={"width": width} if width else {},
                          max_train=max_train, time_budget_min=time_budget, mix=mix,
                          teacher=str(teacher) if teacher else "",
                          teacher_weight=teacher_weight if teacher else 0.0,
                          budget_clock=budget_clock, device=device,
                          amp=amp, threads=threads,
                          landmarks=str(landmarks) if landmarks else "",
                          init=str(init) if init else "")
        if init is not None and resume:
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
    overwrite: OverwriteOpt = False,
) -> None:
    """Export a trained run to ONNX (with a PyTorch parity check) and write its card."""

    def body() -> int:
        need_torch()
        from emostyle.training.export import export_lines, export_run

        card, parity = export_run(run_dir, output, data, tta, name, summary, overwrite)
        for line in export_lines(output, card, parity):
            out.print(line)
        return 0

    run_guarded(body)


def evaluate(
    ctx: typer.Context,
    source: Annotated[str, typer.Argument(help="A run directory, an .onnx file, or a bundled "
                                               f"model name ({INSTALLED_MODELS}).")],
    data: DataOpt = Path("fer2013.npz"),
    split: Annotated[str, typer.Option(help="private (PrivateTest) or public (PublicTest).")
                     ] = "private",
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

    def check_outputs(target: Path, names: tuple[str, ...], inputs: set[Path] | None = None
                      ) -> None:
        plan = OutputPlan(inputs or set(), overwrite)
        plan.folder(target, "--out")
        for name in names:
            plan.file(target / name, "--out")
        plan.file(predictions, "--predictions")
        plan.check()

    def photo_body() -> int:
        from emostyle.training import photo_eval as pe

        given = "--manifest" if manifest is not None else "--photos"
        ignored = given_options(ctx, "tta", "split", "data")
        if ignored:
            raise InputError(f"{', '.join(ignored)}: not used with {given} (they choose "
                             "FER2013 faces); leave them out")
        items, read = pe.photos_to_evaluate(photos, manifest, no_face)
        target = out_dir or pe.default_photo_eval_dir(source)
        check_outputs(target, pe.PHOTO_REPORT_FILES, {p.path for p in items} |
                      ({manifest} if manifest is not None else set()))
        report, note = pe.evaluate_into(source, items, target, not no_detect, no_face,
                                        predictions, overwrite, **read)
        if as_json:
            print(json.dumps(report, indent=2))
            return 0
        for line in pe.report_lines(report):
            out.print(line, markup=False)
        if note:  # not markup: "pip install 'emostyle[train]'" lost its "[train]"
            out.print(note, markup=False)
        out.print(f"metrics.json{'' if note else ' and figures'} in {target}"
                  + (f"; predictions in {predictions}" if predictions else ""), markup=False)
        return 0

    def body() -> int:
        if photos is not None or manifest is not None:
            return photo_body()
        unused = given_options(ctx, "no_detect", "no_face", "predictions")
        if unused:
            raise InputError(f"{', '.join(unused)}: only used with --photos or --manifest")
        from emostyle.training.report import (
            EVAL_FILES,
            default_eval_dir,
            evaluate_source,
            headline,
            report_lines,
        )

        target = out_dir or default_eval_dir(source, split)
        check_outputs(target, EVAL_FILES)
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


def add_style(
    painting: Annotated[Path, typer.Argument(help="The painting to add as a style.")],
    name: Annotated[str, typer.Option(help="Name of the new style.")],
    output: Annotated[Path, typer.Option("-o", "--output", help="The new model (.onnx) to "
                                                                "write; never the source.")],
    emotion: Annotated[str | None, typer.Option(
        help="Paint this emotion in the new style (in the new model).")] = None,
    model: Annotated[str, typer.Option(
        "--model", help="Source style model: 'styles' (bundled) or an .onnx.")] = "styles",
    content_dir: Annotated[Path, typer.Option(
        help="Photos to train on (the held-out split of the source's run is kept out).")
                           ] = Path("content"),
    vgg: Annotated[Path, typer.Option(help="VGG16 weights for the perceptual loss.")
                   ] = Path("vgg16_imagenet_caffe_features_fp16.pth"),
    minutes: Annotated[float, typer.Option(help="CPU minutes of training.")] = 10.0,
    threads: ThreadsOpt = 0,
    overwrite: OverwriteOpt = False,
) -> None:
    """Add a painting as one more style: only its normalisation row is trained."""

    def body() -> int:
        need_torch()
        from emostyle.training.add_style import AddStyleConfig, summary_lines
        from emostyle.training.add_style import add_style as run_add_style

        cfg = AddStyleConfig(str(painting), name, str(content_dir), str(vgg), emotion,
                             minutes=minutes, threads=threads)
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
    data: DataOpt = Path("fer2013.npz"),
    summary: Annotated[str, typer.Option(help="One line for the card.")] = "",
) -> None:
    """Export a run as an ensemble member (fp16 when it holds), evaluated with flip TTA."""

    def body() -> int:
        need_torch()
        from emostyle.training.members import add_member, member_line

        out.print(member_line(name, add_member(source, name, data, summary)))
        return 0

    run_guarded(body)


@ensemble_app.command("build")
def ensemble_build(data: DataOpt = Path("fer2013.npz")) -> None:
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
    data: DataOpt = Path("fer2013.npz"),
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
    amp: AmpOpt = True,
    device: DeviceOpt = "auto",
    threads: ThreadsOpt = 0,
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
            StyleFitConfig,
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
            style, content_dir, vgg, vgg_kind, init, crop=crop, batch_size=batch_size,
            iterations=iterations, minutes=minutes, lr=lr, content_weight=content_weight,
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

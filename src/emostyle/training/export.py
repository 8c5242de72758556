"""PyTorch -> ONNX export of a trained classifier, with a numeric parity check and a card.

The ONNX graph's outputs: ``logits`` (N, 7); ``features`` (N, C, h, w), the last feature map;
and, for models whose head is global average pooling + linear, ``cam`` (N, 7, h, w), the class
activation maps, whose spatial mean is exactly the logits. Explanations at inference then need
no autograd and no torch; plain analysis asks ONNX Runtime for ``logits`` alone.
"""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

import numpy as np
import onnxruntime as ort
import torch
import torch.nn as nn

from emostyle.errors import EmostyleError
from emostyle.outputs import OutputPlan
from emostyle.training.architectures import create_model
from emostyle.training.fit import TrainConfig
from emostyle.training.model_card import classifier_card


def has_gap_linear_head(model: nn.Module, example: torch.Tensor) -> bool:
    """True when ``forward_head(f) == fc(mean(f))``: then CAM decomposes the logits exactly."""
    fc = getattr(model, "fc", None)
    if not isinstance(fc, nn.Linear) or not hasattr(model, "forward_features"):
        return False
    with torch.no_grad():
        feats = model.forward_features(example)
        if feats.ndim != 4 or feats.shape[1] != fc.in_features:
            return False
        return torch.allclose(model.forward_head(feats), fc(feats.mean((2, 3))), atol=1e-5)


class WithFeatures(nn.Module):
    """Expose the last feature map (and class activation maps) beside the logits."""

    def __init__(self, model: nn.Module, example: torch.Tensor) -> None:
        super().__init__()
        self.model = model.eval()
        self.split = hasattr(model, "forward_features") and hasattr(model, "forward_head")
        self.cam = self.split and has_gap_linear_head(model, example)

    def forward(self, x: torch.Tensor):  # noqa: ANN201
        if not self.split:
            return (self.model(x),)
        feats = self.model.forward_features(x)
        logits = self.model.forward_head(feats)
        if not self.cam:
            return logits, feats
        fc = self.model.fc
        cam = torch.einsum("nkhw,ck->nchw", feats, fc.weight) + fc.bias[None, :, None, None]
        return logits, feats, cam

    def output_names(self) -> list[str]:
        return ["logits", "features", "cam"][:1 + self.split + self.cam]


def load_run(run_dir: str | Path, which: str = "best") -> tuple[nn.Module, TrainConfig]:
    """The trained model (eval mode, float32, CPU) and its config from a run directory."""
    run_dir = Path(run_dir)
    ckpt_path = run_dir / f"{which}.pt"
    if not ckpt_path.is_file():
        raise EmostyleError(f"{run_dir}: no {which}.pt (is this a run directory?)")
    ckpt = torch.load(ckpt_path, map_location="cpu", weights_only=False)
    cfg = TrainConfig.from_dict(ckpt["config"])
    model = create_model(cfg.arch, in_chans=cfg.in_chans, img_size=cfg.img_size,
                         **cfg.arch_kwargs)
    model.load_state_dict(ckpt["model"])
    return model.eval().float(), cfg


def export_onnx(model: nn.Module, cfg: TrainConfig, path: str | Path, opset: int = 17,
                tolerance: float = 1e-3) -> dict:
    """Write ``path`` and return the parity report (max |logit difference| vs PyTorch)."""
    if getattr(model, "input_kind", "image") != "image":
        raise EmostyleError(f"{cfg.arch} reads {model.input_kind}, not face pixels: "
                            "emostyle analyze cannot run it, so it is not exported")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    example = torch.randn(2, cfg.in_chans, cfg.img_size, cfg.img_size)
    wrapped = WithFeatures(model, example).eval()
    names = wrapped.output_names()
    tmp = Path(tempfile.mkstemp(suffix=".onnx", dir=path.parent)[1])
    try:
        torch.onnx.export(wrapped, (example,), str(tmp), input_names=["input"],
                          output_names=names, opset_version=opset, dynamo=False,
                          dynamic_axes={"input": {0: "batch"},
                                        **{n: {0: "batch"} for n in names}})
        report = parity(wrapped, tmp, cfg, tolerance)
        tmp.chmod(0o644)
        tmp.replace(path)
    finally:
        tmp.unlink(missing_ok=True)
    return report


@torch.no_grad()
def parity(wrapped: nn.Module, onnx_path: Path, cfg: TrainConfig, tolerance: float) -> dict:
    """Compare PyTorch and ONNX Runtime on random inputs of several batch sizes."""
    sess = ort.InferenceSession(str(onnx_path), providers=["CPUExecutionProvider"])
    worst = 0.0
    gen = torch.Generator().manual_seed(0)
    for n in (1, 5, 32):
        x = torch.randn(n, cfg.in_chans, cfg.img_size, cfg.img_size, generator=gen)
        ref = wrapped(x)[0].numpy()
        got = sess.run(["logits"], {"input": x.numpy()})[0]
        worst = max(worst, float(np.abs(ref - got).max()))
    if worst > tolerance:
        raise EmostyleError(f"ONNX parity check failed: max |logit diff| {worst:.2e} > "
                            f"{tolerance:.0e}")
    return {"max_abs_logit_diff": worst, "tolerance": tolerance, "batch_sizes": [1, 5, 32],
            "outputs": [o.name for o in sess.get_outputs()]}


def write_card(path: str | Path, card: dict) -> Path:
    path = Path(path).with_suffix(".json")
    path.write_text(json.dumps(card, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    return path


def export_run(run_dir: str | Path, output: str | Path, data: str | Path | None = None,
               tta: bool = False, name: str | None = None, summary: str = "",
               overwrite: bool = False, int8: bool = False) -> tuple[dict, dict]:
    """Export a run to ``output`` with its card: (card, parity report).

    The card names the run's best epoch and its command; with ``data`` the model is evaluated
    (with and without flip TTA) and the metrics and the temperature go in the card too. With
    ``int8`` (which needs ``data``: its Training faces calibrate the ranges) the file written is
    the int8 copy (:mod:`emostyle.training.quantize`), the metrics are its own, and the card's
    ``weights`` gives the float32 network's accuracies beside them. The model and its card are
    checked before the run is read: neither replaces a file unless ``overwrite``, nor ever one
    of the run's files (:class:`emostyle.outputs.OutputPlan`).
    """
    run_dir, output = Path(run_dir), Path(output)
    if int8 and data is None:
        raise EmostyleError("--int8 needs --data: its Training faces calibrate the int8 ranges, "
                            "and the card shows what int8 changes")
    plan = OutputPlan({p for p in run_dir.glob("*") if p.is_file()}, overwrite)
    plan.file(output, "-o")
    plan.file(output.with_suffix(".json"), "-o")  # its card (write_card)
    plan.check()
    model, cfg = load_run(run_dir)
    history = run_dir / "history.json"
    best = json.loads(history.read_text()) if history.is_file() else None
    best_rec = max(best, key=lambda r: r["public_acc"]) if best else None
    command = (run_dir / "command.txt").read_text().strip() if (
        run_dir / "command.txt").is_file() else ""

    def card_for(path: Path, report: dict, plain: dict | None = None,
                 flip: dict | None = None) -> dict:
        return classifier_card(name or output.stem, cfg, path, report, summary, best_rec,
                               plain, flip, tta_flip=tta, command=command)

    if not int8:
        report = export_onnx(model, cfg, output)
        card = card_for(output, report)
        write_card(output, card)
        if data is not None:
            from emostyle.training.onnx_eval import evaluate_onnx
            card = card_for(output, report, evaluate_onnx(output, data, tta=False),
                            evaluate_onnx(output, data, tta=True))
            write_card(output, card)
        return card, report
    return _export_int8(model, cfg, output, data, card_for)


def _export_int8(model: nn.Module, cfg: TrainConfig, output: Path, data: str | Path,
                 card_for) -> tuple[dict, dict]:  # noqa: ANN001
    """Export float32 beside ``output``, write its int8 copy as ``output``, evaluate both."""
    from emostyle.training.datasets import load_dataset
    from emostyle.training.onnx_eval import evaluate_onnx
    from emostyle.training.quantize import calibration_faces, quantize_classifier

    faces = calibration_faces(load_dataset(data, "fer2013").train.images)
    output.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=output.parent) as tmp:
        fp32 = Path(tmp) / output.name
        int8 = Path(tmp) / "int8" / output.name
        int8.parent.mkdir()
        report = export_onnx(model, cfg, fp32)
        write_card(fp32, card_for(fp32, report))
        weights = quantize_classifier(fp32, int8, faces)
        write_card(int8, card_for(int8, report))
        fp32_flip = evaluate_onnx(fp32, data, tta=True)
        plain, flip = evaluate_onnx(int8, data, tta=False), evaluate_onnx(int8, data, tta=True)
        int8.replace(output)
        card = card_for(output, report, plain, flip)
        card["weights"] = {"stored_as": "int8", **weights,
                           "parity_with_pytorch": "of the float32 graph quantised",
                           "private_accuracy_tta_fp32": fp32_flip["accuracy"],
                           "private_accuracy_tta_int8": flip["accuracy"],
                           "public_accuracy_tta_fp32": fp32_flip["public_accuracy"],
                           "public_accuracy_tta_int8": flip["public_accuracy"]}
        write_card(output, card)
    return card, report


def export_lines(output: Path, card: dict, report: dict) -> list[str]:
    """What an export wrote, its parity, and its metrics when it was evaluated."""
    lines = [f"wrote {output} ({output.stat().st_size / 1e6:.1f} MB) and its card; "
             f"parity max |diff| {report['max_abs_logit_diff']:.1e}"]
    if "metrics" in card:
        m = card["metrics"]
        lines.append(f"PrivateTest accuracy {m['private_accuracy']:.4f}  macro-F1 "
                     f"{m['private_macro_f1']:.4f}  ECE {m['ece_before']:.4f} -> "
                     f"{m['ece_after']:.4f} (T={m['temperature']:.3f})")
    w = card.get("weights", {})
    if w.get("stored_as") == "int8":
        lines.append(f"int8 (parity above: the float32 graph): flip TTA PublicTest "
                     f"{w['public_accuracy_tta_int8']:.4f} (float32 "
                     f"{w['public_accuracy_tta_fp32']:.4f}), PrivateTest "
                     f"{w['private_accuracy_tta_int8']:.4f} (float32 "
                     f"{w['private_accuracy_tta_fp32']:.4f})")
    return lines

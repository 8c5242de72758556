"""Style network -> ONNX (dynamic size, style-weight input), parity checks, and the card.

Two graphs are written, both with dynamic batch, height and width:

``<name>.onnx`` - the one every picture goes through:
  ``image`` (N, 3, H, W) float32 RGB 0..255 and ``style_weights`` (N, S) float32 (one-hot for
  one style, any mix for a blend) -> ``stylized`` (N, 3, H, W) float32 RGB 0..255.

``<name>_tiling.onnx`` - for pictures cut into tiles (it has its own small card):
  the same inputs plus ``norm_stats`` (N, 2*C) and ``stats_mix`` (N,); outputs ``stylized``
  and ``norm_stats_out`` (N, 2*C), the instance-norm statistics the pass measured. With
  ``stats_mix`` 1 every norm layer uses ``norm_stats`` instead of its own: the stylizer
  measures them once on an overview of the whole picture and normalises every tile with them.
  It computes the statistics explicitly, which costs ~25% more memory than the fused instance
  norm of the main graph - hence two graphs.

``<name>_map.onnx`` - each region in its own style (``emostyle stylize --per-face``):
  the tiling graph with ``style_map`` (N, S, h, w) in place of ``style_weights``: a per-pixel
  blend at any resolution (resized to every layer's), so every face is painted in its own mood
  in one pass. A constant map gives the main graph's result. Statistics as in the tiling
  graph, so per-face painting of big photos is tiled the same way.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import tempfile
import warnings
from pathlib import Path

import numpy as np
import onnxruntime as ort
import torch
import torch.nn as nn

from emostyle.errors import EmostyleError
from emostyle.model_files import style_graph_path
from emostyle.styles import describe_style
from emostyle.training.style_fit import StyleFitConfig, load_style_run
from emostyle.training.style_net import StyleNet, receptive_radius
from emostyle.training.style_weights import net_from_onnx

INPUTS = ["image", "style_weights"]
OUTPUTS = ["stylized"]
TILING_INPUTS = ["image", "style_weights", "norm_stats", "stats_mix"]
TILING_OUTPUTS = ["stylized", "norm_stats_out"]
MAP_INPUTS = ["image", "style_map", "norm_stats", "stats_mix"]
PARITY_SIZES = ((64, 64), (77, 131), (200, 150))


class TilingWrapper(nn.Module):
    def __init__(self, net: StyleNet) -> None:
        super().__init__()
        self.net = net

    def forward(self, image, weights, stats, mix):  # noqa: ANN001, ANN201
        return self.net.forward_with_stats(image, weights, stats, mix)


def tiling_path(path: str | Path) -> Path:
    return style_graph_path(path, "tiling")


def map_path(path: str | Path) -> Path:
    return style_graph_path(path, "map")


def _export(module: nn.Module, example: tuple, path: Path, inputs: list[str],
            outputs: list[str], opset: int) -> Path:
    """Export to a temp file beside ``path``; the caller moves it into place after parity."""
    fd, name = tempfile.mkstemp(suffix=".onnx", dir=path.parent)
    os.close(fd)
    tmp = Path(name)
    dynamic = {"image": {0: "batch", 2: "height", 3: "width"}, "style_weights": {0: "batch"},
               "stylized": {0: "batch", 2: "height", 3: "width"},
               "style_map": {0: "batch", 2: "map_height", 3: "map_width"}}
    dynamic.update({n: {0: "batch"} for n in ("norm_stats", "stats_mix", "norm_stats_out")
                    if n in inputs + outputs})
    dynamic = {k: v for k, v in dynamic.items() if k in inputs + outputs}
    try:
        with warnings.catch_warnings():  # the TorchScript exporter's deprecation chatter
            warnings.simplefilter("ignore")
            torch.onnx.export(module, example, str(tmp), input_names=inputs,
                              output_names=outputs, opset_version=opset, dynamo=False,
                              dynamic_axes=dynamic)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    tmp.chmod(0o644)
    return tmp


def export_style_onnx(net: StyleNet, path: str | Path, opset: int = 17,
                      tolerance: float = 0.05) -> dict:
    """Write ``path`` and its tiling companion; return the parity report (raises on failure).

    ``tolerance`` is the largest allowed |difference| in output pixels on the 0..255 scale.
    Nothing is left behind when export or parity fails.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    net = net.eval().float()
    s, c = net.cfg.num_styles, net.norm_channels
    image, weights = torch.rand(1, 3, 72, 96) * 255, torch.full((1, s), 1.0 / s)
    tmp_main = _export(net, (image, weights), path, INPUTS, OUTPUTS, opset)
    tmp_tiling = tmp_map = None
    try:
        tmp_tiling = _export(TilingWrapper(net).eval(),
                             (image, weights, torch.zeros(1, 2 * c), torch.zeros(1)), path,
                             TILING_INPUTS, TILING_OUTPUTS, opset)
        style_map = weights[:, :, None, None].expand(1, s, 9, 12).contiguous()
        tmp_map = _export(TilingWrapper(net).eval(),
                          (image, style_map, torch.zeros(1, 2 * c), torch.zeros(1)), path,
                          MAP_INPUTS, TILING_OUTPUTS, opset)
        report = parity(net, tmp_main, tmp_tiling, tolerance)
        report["map"] = map_parity(net, tmp_main, tmp_map, tolerance)
        report["max_abs_pixel_diff"] = max(report["max_abs_pixel_diff"],
                                           report["map"]["max_abs_pixel_diff"])
        tmp_map.replace(map_path(path))
        tmp_tiling.replace(tiling_path(path))
        tmp_main.replace(path)
    finally:
        for tmp in (tmp_main, tmp_tiling, tmp_map):
            if tmp is not None:
                tmp.unlink(missing_ok=True)
    return report


@torch.no_grad()
def map_parity(net: StyleNet, main_path: str | Path, map_graph: str | Path, tolerance: float
               ) -> dict:
    """The map graph against PyTorch with a two-style map, and against the main graph with a
    constant map (which must give the plain blend)."""
    main = ort.InferenceSession(str(main_path), providers=["CPUExecutionProvider"])
    sess = ort.InferenceSession(str(map_graph), providers=["CPUExecutionProvider"])
    gen = torch.Generator().manual_seed(1)
    s, c = net.cfg.num_styles, net.norm_channels
    worst, cases = 0.0, []
    for h, w in PARITY_SIZES:
        img = torch.rand(1, 3, h, w, generator=gen) * 255
        split = torch.zeros(1, s, h, w)
        split[:, 0, :, : w // 2] = 1.0
        split[:, s - 1, :, w // 2:] = 1.0
        zeros, mix0 = torch.zeros(1, 2 * c), torch.zeros(1)
        ref, _ = net.forward_with_stats(img, split, zeros, mix0)
        got = sess.run(["stylized"], {"image": img.numpy(), "style_map": split.numpy(),
                                      "norm_stats": zeros.numpy(), "stats_mix": mix0.numpy()})[0]
        diff = float(np.abs(ref.numpy() - got).max())
        cases.append({"graph": "map", "size": [h, w], "map": "two styles", "max_abs_diff": diff})
        worst = max(worst, diff)
        blend = torch.rand(1, s, generator=gen)
        blend /= blend.sum()
        flat = main.run(OUTPUTS, {"image": img.numpy(), "style_weights": blend.numpy()})[0]
        got = sess.run(["stylized"], {"image": img.numpy(),
                                      "style_map": blend[:, :, None, None].numpy(),
                                      "norm_stats": zeros.numpy(), "stats_mix": mix0.numpy()})[0]
        diff = float(np.abs(flat - got).max())
        cases.append({"graph": "map vs main", "size": [h, w], "map": "constant",
                      "max_abs_diff": diff})
        worst = max(worst, diff)
    if worst > tolerance:
        raise EmostyleError(f"ONNX parity check of the map graph failed: max |pixel diff| "
                            f"{worst:.3g} > {tolerance:g} (0..255 scale)")
    return {"max_abs_pixel_diff": worst, "cases": cases}


@torch.no_grad()
def parity(net: StyleNet, main_path: str | Path, tiling: str | Path, tolerance: float) -> dict:
    """PyTorch vs ONNX Runtime on several sizes (odd ones too) and random blends; the tiling
    graph with its own statistics (mix 0) and with another picture's (mix 1)."""
    main = ort.InferenceSession(str(main_path), providers=["CPUExecutionProvider"])
    tiles = ort.InferenceSession(str(tiling), providers=["CPUExecutionProvider"])
    gen = torch.Generator().manual_seed(0)
    s, c = net.cfg.num_styles, net.norm_channels
    worst = 0.0
    cases = []
    for h, w in PARITY_SIZES:
        img = torch.rand(1, 3, h, w, generator=gen) * 255
        weights = torch.rand(1, s, generator=gen)
        weights /= weights.sum()
        ref = net(img, weights).numpy()
        got = main.run(OUTPUTS, {"image": img.numpy(), "style_weights": weights.numpy()})[0]
        diff = float(np.abs(ref - got).max())
        cases.append({"graph": "main", "size": [h, w], "max_abs_diff": diff})
        worst = max(worst, diff)
        _, other = net.forward_with_stats(torch.rand(1, 3, 96, 96, generator=gen) * 255,
                                          weights)
        for mix in (0.0, 1.0):
            stats = other if mix else torch.zeros(1, 2 * c)
            mix_t = torch.full((1,), mix)
            ref_t, ref_stats = net.forward_with_stats(img, weights, stats, mix_t)
            got_t, got_stats = tiles.run(TILING_OUTPUTS, {
                "image": img.numpy(), "style_weights": weights.numpy(),
                "norm_stats": stats.numpy(), "stats_mix": mix_t.numpy()})
            diff = float(np.abs(ref_t.numpy() - got_t).max())
            cases.append({"graph": "tiling", "size": [h, w], "stats_mix": mix,
                          "max_abs_diff": diff})
            worst = max(worst, diff)
            if mix == 0.0:  # the two graphs agree with each other too
                worst = max(worst, float(np.abs(got_t - got).max()))
    if worst > tolerance:
        raise EmostyleError(f"ONNX parity check failed: max |pixel diff| {worst:.3g} > "
                            f"{tolerance:g} (0..255 scale)")
    return {"max_abs_pixel_diff": worst, "tolerance": tolerance, "scale": "0..255",
            "cases": cases}


def style_card(name: str, net: StyleNet, cfg: StyleFitConfig, metrics: dict, onnx_path: Path,
               parity_report: dict, summary: str = "", command: str = "") -> dict:
    """The JSON card that travels beside the ONNX file."""
    styles = [describe_style(n, p) for n, p in cfg.styles]
    emotion_styles = {s["emotion"]: s["name"] for s in styles if s["emotion"]}
    holdout = metrics.get("holdout")
    return {
        "name": name,
        "summary": summary,
        "task": "style transfer, several styles in one network (conditional instance norm)",
        "architecture": "johnson_cin",
        "architecture_kwargs": net.cfg.to_dict(),
        "styles": styles,
        "emotion_styles": emotion_styles,
        "input": {"image": "(N, 3, H, W) float32 RGB 0..255, any H and W",
                  "style_weights": f"(N, {net.cfg.num_styles}) float32, style order as in "
                                   "'styles'; rows sum to 1"},
        "outputs": {"stylized": "(N, 3, H, W) float32 RGB 0..255"},
        "tiling_model": {
            "file": tiling_path(onnx_path).name,
            "extra_inputs": {"norm_stats": f"(N, {2 * net.norm_channels}) instance-norm means "
                                           "then variances (norm_stats_out of another pass)",
                             "stats_mix": "(N,) 0 = own statistics, 1 = norm_stats"},
            "extra_outputs": {"norm_stats_out": "(N, 2*C) statistics measured in this pass"}},
        "map_model": {
            "file": map_path(onnx_path).name,
            "inputs": {"style_map": f"(N, {net.cfg.num_styles}, h, w) float32 per-pixel style "
                                    "weights at any resolution; pixels sum to 1",
                       "norm_stats": "as in the tiling model", "stats_mix": "as in the "
                                                                            "tiling model"}},
        "norm_channels": net.norm_channels,
        "receptive_radius_px": receptive_radius(net.cfg),
        "file": {"name": onnx_path.name, "bytes": onnx_path.stat().st_size},
        "parity_with_pytorch": parity_report,
        "training": {
            "content_dir": Path(cfg.content_dir).name,
            "content_photos": metrics.get("content_photos"),
            "holdout_photos": cfg.holdout,
            "vgg": Path(cfg.vgg).name,
            "vgg_kind": cfg.vgg_kind,
            "loss": "content relu2_2; style Gram relu1_2, relu2_2, relu3_3, relu4_3; TV",
            "loss_weights": cfg.weights(),
            "iterations": metrics.get("iterations"),
            "batch_size": cfg.batch_size,
            "crop": cfg.crop,
            "style_size": cfg.style_size,
            "lr": cfg.lr,
            "minutes_budget": cfg.minutes,
            "train_seconds": metrics.get("train_seconds"),
            "images_seen": metrics.get("images_seen"),
            # Runs from before metrics recorded it trained where bf16 was native.
            "precision": metrics.get("precision",
                                     "bf16 autocast" if cfg.amp else "float32"),
            "command": command,
            # A warm start's earlier training is part of the model: what it started from.
            "started_from": started_from(cfg.init) if cfg.init else None,
        },
        "metrics": {"holdout": holdout} if holdout else {},
        "created": dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
    }


def started_from(init: str) -> dict:
    """The training record of the model a warm-started run began with (from its card)."""
    from emostyle.model_files import load_card

    try:
        before = load_card(init).get("training", {})
    except EmostyleError:
        return {"file": Path(init).name}
    return {"file": Path(init).name,
            **{k: before.get(k) for k in ("train_seconds", "images_seen", "iterations",
                                          "crop", "started_from")}}


def write_card(onnx_path: str | Path, card: dict) -> Path:
    """The card beside the main graph, and a short one beside the tiling graph (every bundled
    .onnx has a card, so `emostyle info` can list it)."""
    path = _write_json(Path(onnx_path).with_suffix(".json"), card)
    for companion, kind, use in ((tiling_path(onnx_path), "tiling", "big photos"),
                                 (map_path(onnx_path), "map", "each face in its own style")):
        if companion.is_file():
            _write_json(companion.with_suffix(".json"), {
                "name": f"{card['name']}_{kind}", "architecture": card["architecture"],
                "summary": f"{kind} companion of {Path(onnx_path).name} ({use})",
                "companion_of": Path(onnx_path).name, "styles": card["styles"],
                "created": card["created"]})
    return path


def export_style_run(run_dir: str | Path, output: str | Path, name: str | None = None,
                     summary: str = "", command: str = "") -> dict:
    """Export a train-style run to ``output`` (with its graphs and cards); the parity report.

    ``command`` goes in the card; without one, the run's ``command.txt`` does.
    """
    run_dir, output = Path(run_dir), Path(output)
    net, cfg, metrics = load_style_run(run_dir)
    report = export_style_onnx(net, output)
    if not command and (run_dir / "command.txt").is_file():
        command = (run_dir / "command.txt").read_text().strip()
    card = style_card(name or output.stem, net, cfg, metrics, output, report, summary=summary,
                      command=command)
    write_card(output, card)
    return report


def export_line(output: Path, report: dict) -> str:
    """What a style export wrote and how close ONNX Runtime came to PyTorch."""
    return (f"wrote {output} ({output.stat().st_size / 1e6:.2f} MB) and its card; parity "
            f"max |pixel diff| {report['max_abs_pixel_diff']:.1e} (0..255)")


def _write_json(path: Path, doc: dict) -> Path:
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(doc, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    tmp.replace(path)
    return path


def add_map_graph(onnx_path: str | Path, opset: int = 17, tolerance: float = 0.05) -> dict:
    """Write ``<name>_map.onnx`` (and its small card) beside an exported model, leaving the
    main and tiling graphs untouched; the model's card gains its ``map_model`` entry."""
    from emostyle.model_files import load_card

    onnx_path = Path(onnx_path)
    net = net_from_onnx(onnx_path)
    s, c = net.cfg.num_styles, net.norm_channels
    image = torch.rand(1, 3, 72, 96) * 255
    style_map = torch.full((1, s, 9, 12), 1.0 / s)
    tmp = _export(TilingWrapper(net).eval(), (image, style_map, torch.zeros(1, 2 * c),
                                              torch.zeros(1)), onnx_path, MAP_INPUTS,
                  TILING_OUTPUTS, opset)
    try:
        report = map_parity(net, onnx_path, tmp, tolerance)
        tmp.replace(map_path(onnx_path))
    finally:
        tmp.unlink(missing_ok=True)
    card = load_card(onnx_path)
    card["map_model"] = {
        "file": map_path(onnx_path).name,
        "inputs": {"style_map": f"(N, {s}, h, w) float32 per-pixel style weights at any "
                                "resolution; pixels sum to 1",
                   "norm_stats": "as in the tiling model", "stats_mix": "as in the tiling "
                                                                         "model"},
        "parity_with_pytorch": report,
        "added": "rebuilt from this model's ONNX weights (training.style_export.add_map_graph)"}
    write_card(onnx_path, card)
    return report

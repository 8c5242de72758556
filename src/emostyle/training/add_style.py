"""A new painting in minutes: one more style for an existing multi-style network.

With conditional instance norm a style is nothing but one row of scale and shift parameters
(Dumoulin et al. 2017): the convolutions are shared by all styles. So a new painting needs no
new network: the model's weights are rebuilt from its ONNX file
(:func:`emostyle.training.style_weights.net_from_onnx`), one row is added (started from the mean
of the existing rows), and only that row is trained with the VGG16 perceptual loss while
everything else stays frozen. That is 1.2% of the bundled network's parameters and learns in
minutes on a CPU.

The result is a **new** model file with one more style (the source model is never modified),
exported with its tiling and map graphs and a card that lists the new style beside the old
ones, with its held-out style and content losses next to theirs.
"""

from __future__ import annotations

import json
import random
import time
from pathlib import Path

import numpy as np
import torch

from emostyle.emotions import EMOTIONS, SYNONYMS
from emostyle.errors import EmostyleError, InputError
from emostyle.images import read_image
from emostyle.model_files import (
    check_style_model_output,
    load_card,
    resolve_model,
    style_graph_path,
    style_model_files,
)
from emostyle.styles import describe_style
from emostyle.training.configs import AddStyleConfig
from emostyle.training.precision import autocast, precision_name
from emostyle.training.progress import Reporter
from emostyle.training.style_export import export_style_onnx, write_card
from emostyle.training.style_fit import (
    ContentSampler,
    centre_crop,
    content_files,
    load_painting,
    lr_at,
    pick_device,
    split_holdout,
    to_tensor,
)
from emostyle.training.style_net import StyleNet
from emostyle.training.style_weights import net_from_onnx
from emostyle.training.vgg_loss import DEFAULT_WEIGHTS, PerceptualLoss, load_vgg


def grow(net: StyleNet) -> StyleNet:
    """A copy of ``net`` with one more style row, the mean of the existing rows."""
    cfg = type(net.cfg)(**{**net.cfg.to_dict(), "num_styles": net.cfg.num_styles + 1})
    bigger = StyleNet(cfg)
    state = net.state_dict()
    state["gamma"] = torch.cat([state["gamma"], state["gamma"].mean(0, keepdim=True)])
    state["beta"] = torch.cat([state["beta"], state["beta"].mean(0, keepdim=True)])
    bigger.load_state_dict(state)
    return bigger


def freeze_all_but_last_style(net: StyleNet) -> list[torch.nn.Parameter]:
    """Only the last style row learns; returns the parameters to optimise."""
    for p in net.parameters():
        p.requires_grad_(False)
    net.gamma.requires_grad_(True)
    net.beta.requires_grad_(True)
    mask = torch.zeros_like(net.gamma)
    mask[-1] = 1.0
    net.gamma.register_hook(lambda g: g * mask)
    net.beta.register_hook(lambda g: g * mask)
    return [net.gamma, net.beta]


def add_style(source: str | Path, output: str | Path, cfg: AddStyleConfig,
              stream: object = None, overwrite: bool = False) -> dict:
    """Train ``cfg``'s painting as one more style of ``source``; write ``output`` (+ graphs,
    card). Returns the card's ``added_style`` section (losses of every style).

    All six files of ``output`` are checked before training: none may be a file of the source
    or the painting, and none is replaced unless ``overwrite``.
    """
    src_path = resolve_model(source)
    output = Path(output)
    if output.suffix != ".onnx":
        raise InputError(f"{output}: the new model must be an .onnx file")
    if output.resolve() == src_path.resolve():
        raise InputError(f"{output}: is the source model; the source is never modified, "
                         "choose another -o")
    check_style_model_output(output, "-o", overwrite,
                             style_model_files(src_path) + [Path(cfg.painting)])
    if not output.parent.is_dir():
        raise InputError(f"{output.parent}: no such folder")
    base = load_card(src_path)
    if cfg.name in [s["name"] for s in base["styles"]]:
        raise InputError(f"--name {cfg.name!r}: the model has a style of that name already")
    emotion = None
    if cfg.emotion:
        emotion = SYNONYMS.get(cfg.emotion.strip().lower(), cfg.emotion.strip().lower())
        if emotion not in EMOTIONS:
            raise InputError(f"--emotion {cfg.emotion!r}: not one of {', '.join(EMOTIONS)}")
    for what, path in (("painting", cfg.painting), ("VGG16 weights", cfg.vgg)):
        if not Path(path).is_file():
            raise InputError(f"{path}: {what} file not found")
    training = base.get("training", {})
    holdout = cfg.holdout if cfg.holdout is not None else int(
        training.get("holdout_photos") or 100)
    files = content_files(cfg.content_dir)
    train_files, held = split_holdout(files, holdout, cfg.seed)
    if not train_files:
        raise InputError(f"{cfg.content_dir}: no photos left to train on")
    crop = cfg.crop or int(training.get("crop", 192))
    style_size = cfg.style_size or int(training.get("style_size", 512))
    vgg_kind = str(training.get("vgg_kind", "caffe"))
    weights = dict(DEFAULT_WEIGHTS[vgg_kind], **training.get("loss_weights", {}))
    if cfg.style_weight is not None:
        weights["style"] = cfg.style_weight
    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    random.seed(cfg.seed)
    torch.manual_seed(cfg.seed)

    device = pick_device("auto")
    net = grow(net_from_onnx(src_path)).to(device)
    new = net.cfg.num_styles - 1
    params = freeze_all_but_last_style(net)
    vgg = load_vgg(cfg.vgg, vgg_kind)
    paintings = [load_painting(p, style_size) for p in
                 [*(_painting_path(base, s, cfg) for s in base["styles"]), cfg.painting]]
    loss_fn = PerceptualLoss(vgg, paintings, weights["content"], weights["style"],
                             weights.get("tv", 0.0)).to(device)
    opt = torch.optim.Adam(params, lr=cfg.lr)
    sampler = ContentSampler(train_files, crop, random.Random(cfg.seed))
    names = [s["name"] for s in base["styles"]] + [cfg.name]
    before = heldout_losses(net, loss_fn, held[:cfg.eval_photos], crop, cfg.amp, names,
                            only=[new])["per_style"][cfg.name]
    net.train()
    budget = cfg.minutes * 60
    # The bar counts CPU seconds of the budget (its ETA is then the budget's), or iterations.
    reporter = Reporter(int(budget) or cfg.iterations, 0, f"adding {cfg.name}", stream=stream)
    started = time.process_time()
    last_line = 0.0
    it = 0
    styles = torch.full((cfg.batch_size,), new, device=device)
    onehot = torch.nn.functional.one_hot(styles, net.cfg.num_styles).float()
    try:
        while it < cfg.iterations:
            spent = time.process_time() - started
            if budget and spent >= budget:
                break
            frac = max(it / cfg.iterations, spent / budget if budget else 0.0)
            for g in opt.param_groups:
                g["lr"] = lr_at(frac, cfg.lr)
            x = sampler.batch(cfg.batch_size).to(device)
            with autocast(device, cfg.amp):
                parts = loss_fn(net(x, onehot), x, styles)
            if not torch.isfinite(parts["total"]):
                raise EmostyleError(f"loss became {float(parts['total'])} at iteration {it}; "
                                    "lower --lr")
            opt.zero_grad(set_to_none=True)
            parts["total"].backward()
            opt.step()
            it += 1
            text = f"adding {cfg.name}: it {it} loss {float(parts['total'].detach()):.4g}"
            reporter.set(spent if budget else it, text)
            if spent - last_line >= 30:  # pipes and logs get a line every 30 CPU seconds
                reporter.line(f"{text} ({spent / 60:.1f} of {cfg.minutes:g} CPU min)")
                last_line = spent
    finally:
        reporter.close()
    cpu_seconds = time.process_time() - started
    measured = heldout_losses(net, loss_fn, held[:cfg.eval_photos], crop, cfg.amp, names)
    measured["new_style_before_training"] = before
    net = net.cpu().eval()
    parity = export_style_onnx(net, output)
    card = _card(base, output, net, cfg, emotion, parity, measured,
                 {"iterations": it, "cpu_seconds": round(cpu_seconds, 1),
                  "images_seen": it * cfg.batch_size, "crop": crop, "style_size": style_size,
                  "loss_weights": weights, "lr": cfg.lr, "source": src_path.name,
                  "precision": precision_name(device, cfg.amp),
                  "trainable_parameters": int(2 * net.norm_channels),
                  "frozen_parameters": int(sum(p.numel() for p in net.parameters()) -
                                           2 * net.norm_channels)})
    write_card(output, card)
    return card["added_style"]


def _painting_path(base: dict, style: dict, cfg: AddStyleConfig) -> str:
    """The source model's paintings are needed for its styles' losses on the same photos;
    they are looked up beside the new painting (the project keeps them in one folder)."""
    path = Path(cfg.painting).parent / style["painting"]
    if not path.is_file():
        raise InputError(f"{path}: painting of the model's style {style['name']!r} not found "
                         "beside the new painting (its losses are measured beside the new "
                         "style's); put the paintings in one folder")
    return str(path)


@torch.no_grad()
def heldout_losses(net: StyleNet, loss_fn: PerceptualLoss, files: list[Path], crop: int,
                   amp: bool, names: list[str], batch: int = 8,
                   only: list[int] | None = None) -> dict:
    """Unweighted content and style losses of every style (or the ``only`` ones) on the same
    held-out photos."""
    net.eval()
    device = next(net.parameters()).device
    photos = torch.stack([to_tensor(centre_crop(read_image(f), crop)) for f in files])
    per_style = {}
    for s, name in enumerate(names):
        if only is not None and s not in only:
            continue
        sums = np.zeros(2)
        for i in range(0, len(photos), batch):
            x = photos[i:i + batch].to(device)
            idx = torch.full((len(x),), s, device=device)
            w = torch.nn.functional.one_hot(idx, len(names)).float()
            with autocast(device, amp):
                raw = loss_fn.unweighted(net(x, w).float(), x, idx)
            sums += [float(raw["content"].sum()), float(raw["style"].sum())]
        per_style[name] = {"content": sums[0] / len(photos), "style": sums[1] / len(photos)}
    return {"photos": len(files), "crop": crop, "per_style": per_style}


def _card(base: dict, output: Path, net: StyleNet, cfg: AddStyleConfig, emotion: str | None,
          parity: dict, measured: dict, training: dict) -> dict:
    card = json.loads(json.dumps(base))  # a deep copy: the source card stays as it is
    styles = card["styles"]
    entry = describe_style(cfg.name, cfg.painting)
    entry["emotion"] = emotion
    if emotion is not None:
        for s in styles:  # the emotion now goes to the new painting
            if s.get("emotion") == emotion:
                s["emotion"] = None
        entry["reason"] = entry.get("reason") or f"added with emostyle add-style for {emotion}"
    styles.append(entry)
    card["emotion_styles"] = {s["emotion"]: s["name"] for s in styles if s.get("emotion")}
    card["name"] = output.stem
    card["summary"] = f"{base.get('summary', base.get('name', ''))} + style {cfg.name!r}"
    card["architecture_kwargs"] = net.cfg.to_dict()
    card["input"]["style_weights"] = (f"(N, {net.cfg.num_styles}) float32, style order as "
                                      "in 'styles'; rows sum to 1")
    card["file"] = {"name": output.name, "bytes": output.stat().st_size}
    card["parity_with_pytorch"] = parity
    card["tiling_model"]["file"] = style_graph_path(output, "tiling").name
    card["map_model"] = {"file": style_graph_path(output, "map").name,
                         "inputs": {"style_map": f"(N, {net.cfg.num_styles}, h, w) float32 "
                                                 "per-pixel style weights; pixels sum to 1",
                                    "norm_stats": "as in the tiling model",
                                    "stats_mix": "as in the tiling model"}}
    card["added_style"] = {"name": cfg.name, "painting": Path(cfg.painting).name,
                           "emotion": emotion, "training": training,
                           "heldout": measured}
    return card


def summary_lines(added: dict, name: str, output: Path) -> list[str]:
    """What :func:`add_style` did: the training, then every style's held-out losses."""
    t = added["training"]
    lines = [f"wrote {output} with style {name!r} ({t['iterations']} iterations, "
             f"{t['cpu_seconds'] / 60:.1f} CPU min, {t['trainable_parameters']} of "
             f"{t['trainable_parameters'] + t['frozen_parameters']} parameters trained)"]
    h = added["heldout"]
    b = h["new_style_before_training"]
    lines.append(f"held-out losses on {h['photos']} photos ({h['crop']} px crops); the new "
                 f"style started at style {b['style']:.4g}, content {b['content']:.4g}:")
    for style, row in h["per_style"].items():
        mark = "  <- new" if style == name else ""
        lines.append(f"  {style:12s} style {row['style']:10.4g}  content "
                     f"{row['content']:10.4g}{mark}")
    return lines

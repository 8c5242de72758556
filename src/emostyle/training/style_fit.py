"""Training style networks with the VGG16 perceptual loss (Johnson et al. 2016).

One network learns every style at once through conditional instance norm (Dumoulin et al. 2017):
each sample of a batch gets a style (round robin over the styles), the network sees that style's
one-hot weights, and the loss compares it with that style's Gram matrices. ``single=True`` trains
one network per style instead (the seed project's recipe) so the two can be compared.

A run directory holds ``config.json``, ``holdout.txt`` (the content photos kept out of training),
``last.pt`` (everything needed to resume or export), ``history.json`` (losses every
``log_every`` iterations), ``samples/`` (held-out photos in every style, written every
``sample_every`` iterations) and, at the end, ``metrics.json`` (content and style losses on the
held-out photos). bf16 autocast and channels_last make a CPU step 2-2.5x faster than float32
where the CPU has native bf16 (float32 elsewhere: :mod:`emostyle.training.precision`).
"""

from __future__ import annotations

import json
import math
import random
import time
from dataclasses import asdict
from pathlib import Path

import cv2
import numpy as np
import torch

from emostyle.errors import DatasetError, EmostyleError, InputError
from emostyle.images import iter_image_files, read_image, write_image
from emostyle.memory import keep_freed_memory
from emostyle.training.configs import StyleFitConfig
from emostyle.training.precision import autocast, precision_name
from emostyle.training.progress import Reporter
from emostyle.training.style_net import StyleNet, StyleNetConfig
from emostyle.training.vgg_loss import (
    PerceptualLoss,
    check_preprocessing,
    load_vgg,
)


def parse_style_args(items: list[str]) -> list[list[str]]:
    """``["fear=munch.jpg", ...]`` -> ``[["fear", "munch.jpg"], ...]`` with checks."""
    out: list[list[str]] = []
    for item in items:
        name, sep, path = item.partition("=")
        name = name.strip()
        if not sep or not name or not path:
            raise InputError(f"--style {item!r}: expected NAME=PAINTING (e.g. fear=scream.jpg)")
        if any(name == n for n, _ in out):
            raise InputError(f"--style {name}: given twice")
        if not Path(path).is_file():
            raise InputError(f"{path}: painting for style {name!r} not found")
        out.append([name, path])
    if not out:
        raise InputError("give at least one --style NAME=PAINTING")
    return out


def new_run_config(style: list[str] | None, content_dir: str | Path | None,
                   vgg: str | Path | None, vgg_kind: str = "auto", init: str | Path | None = None,
                   **settings: object) -> StyleFitConfig:
    """A new run's config from ``train-style``'s options, every option error raised first.

    ``style`` is the NAME=PAINTING list; ``vgg_kind`` ``auto`` reads the kind from the weights
    file; ``settings`` are the remaining :class:`StyleFitConfig` fields.
    """
    if vgg_kind not in ("auto", "caffe", "torchvision"):
        raise InputError(f"--vgg-kind must be caffe, torchvision or auto, got {vgg_kind!r}")
    if init is not None and not Path(init).is_file():
        raise InputError(f"--init {init}: no such file")
    missing = [o for o, v in (("--style", style), ("--content-dir", content_dir),
                              ("--vgg", vgg)) if not v]
    if missing:
        raise InputError(f"missing {', '.join(missing)} (needed unless --resume)")
    from emostyle.training.vgg_loss import load_vgg

    kind = load_vgg(vgg, None if vgg_kind == "auto" else vgg_kind).kind
    return StyleFitConfig(styles=parse_style_args(style), content_dir=str(content_dir),
                          vgg=str(vgg), vgg_kind=kind, init=str(init) if init else "",
                          **settings)


# ---------------------------------------------------------------------------------------- data

def content_files(content_dir: str | Path) -> list[Path]:
    folder = Path(content_dir)
    if not folder.is_dir():
        raise DatasetError(f"{folder}: content folder not found")
    files = sorted(iter_image_files(folder))
    if not files:
        raise DatasetError(f"{folder}: no images in the content folder")
    return files


def split_holdout(files: list[Path], n: int, seed: int) -> tuple[list[Path], list[Path]]:
    """(train, held out): ``n`` photos drawn at random (seeded), so every source set is in both."""
    if n >= len(files):
        raise DatasetError(f"--holdout {n} leaves no training photos ({len(files)} in total)")
    order = np.random.default_rng(seed).permutation(len(files))
    held = sorted(files[i] for i in order[:n])
    held_set = set(held)
    return [f for f in files if f not in held_set], held


def to_tensor(rgb: np.ndarray) -> torch.Tensor:
    """uint8 (H, W, 3) -> float (3, H, W), 0..255."""
    return torch.from_numpy(np.ascontiguousarray(rgb.transpose(2, 0, 1))).float()


def fit_short_side(rgb: np.ndarray, side: int) -> np.ndarray:
    """Resize so the short side is at least ``side`` (never shrinks)."""
    h, w = rgb.shape[:2]
    if min(h, w) >= side:
        return rgb
    s = side / min(h, w)
    return cv2.resize(rgb, (max(side, round(w * s)), max(side, round(h * s))),
                      interpolation=cv2.INTER_CUBIC)


def centre_crop(rgb: np.ndarray, side: int) -> np.ndarray:
    rgb = fit_short_side(rgb, side)
    h, w = rgb.shape[:2]
    y, x = (h - side) // 2, (w - side) // 2
    return rgb[y:y + side, x:x + side]


def load_painting(path: str | Path, long_side: int) -> torch.Tensor:
    """A painting as (3, H, W) 0..255 with its long side ``long_side`` (area-resampled)."""
    rgb = read_image(path)
    h, w = rgb.shape[:2]
    s = long_side / max(h, w)
    if s != 1.0:
        rgb = cv2.resize(rgb, (max(1, round(w * s)), max(1, round(h * s))),
                         interpolation=cv2.INTER_AREA if s < 1 else cv2.INTER_CUBIC)
    return to_tensor(rgb)


class ContentSampler:
    """Random ``crop`` x ``crop`` patches (random flips) from photos decoded on demand.

    Unreadable photos are skipped and remembered, so one bad file does not stop a long run.
    """

    def __init__(self, files: list[Path], crop: int, rng: random.Random) -> None:
        self.files = list(files)
        self.crop = crop
        self.rng = rng
        self.bad: list[str] = []

    def patch(self) -> np.ndarray:
        for _ in range(20):
            path = self.rng.choice(self.files)
            try:
                rgb = fit_short_side(read_image(path), self.crop)
            except InputError as exc:
                self.bad.append(str(exc))
                self.files.remove(path)
                if not self.files:
                    raise DatasetError("no readable content photos left") from None
                continue
            h, w = rgb.shape[:2]
            y, x = self.rng.randint(0, h - self.crop), self.rng.randint(0, w - self.crop)
            out = rgb[y:y + self.crop, x:x + self.crop]
            return out[:, ::-1] if self.rng.random() < 0.5 else out
        raise DatasetError("too many unreadable content photos in a row")

    def batch(self, n: int) -> torch.Tensor:
        return torch.stack([to_tensor(self.patch()) for _ in range(n)])


# ------------------------------------------------------------------------------------ helpers

def lr_at(frac: float, base: float) -> float:
    """Constant, then a cosine decay to a tenth over the last 30% of the run."""
    if frac < 0.7:
        return base
    t = min(1.0, (frac - 0.7) / 0.3)
    return base * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * t)))


def one_hot(styles: torch.Tensor, num_styles: int) -> torch.Tensor:
    return torch.nn.functional.one_hot(styles, num_styles).float()


def build_loss(cfg: StyleFitConfig) -> PerceptualLoss:
    vgg = load_vgg(cfg.vgg, cfg.vgg_kind)
    paintings = [load_painting(p, cfg.style_size) for _, p in cfg.styles]
    w = cfg.weights()
    return PerceptualLoss(vgg, paintings, w["content"], w["style"], w["tv"])


def pick_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(name)


def device_of(module: torch.nn.Module) -> torch.device:
    return next(module.parameters()).device


@torch.no_grad()
def stylize_tensor(net: StyleNet, images: torch.Tensor, style: int, amp: bool) -> torch.Tensor:
    """Stylise a batch (on the network's device); the result comes back to the CPU."""
    net.eval()
    dev = device_of(net)
    w = one_hot(torch.full((len(images),), style), net.cfg.num_styles).to(dev)
    with autocast(dev, amp):
        out = net(images.to(dev), w)
    return out.float().cpu()


def sample_grid(net: StyleNet, photos: torch.Tensor, amp: bool) -> np.ndarray:
    """Rows: photos; columns: the photo, then each style. uint8 RGB."""
    cols = [photos] + [stylize_tensor(net, photos, s, amp) for s in range(net.cfg.num_styles)]
    grid = torch.cat([torch.cat(list(c), dim=2) for c in zip(*cols, strict=True)], dim=1)
    return grid.clamp(0, 255).round().byte().permute(1, 2, 0).numpy()


@torch.no_grad()
def evaluate(net: StyleNet, loss: PerceptualLoss, files: list[Path], crop: int, amp: bool,
             names: list[str], batch: int = 8) -> dict:
    """Mean unweighted and weighted content/style losses on held-out photos, per style."""
    net.eval()
    photos = torch.stack([to_tensor(centre_crop(read_image(f), crop)) for f in files])
    per_style = {}
    for s, name in enumerate(names):
        sums = {"content": 0.0, "style": 0.0}
        dev = device_of(net)
        for i in range(0, len(photos), batch):
            x = photos[i:i + batch].to(dev)
            idx = torch.full((len(x),), s, device=dev)
            with autocast(dev, amp):
                y = net(x, one_hot(idx, len(names)))
                raw = loss.unweighted(y.float(), x, idx)
            for k in sums:
                sums[k] += float(raw[k].float().sum())
        c, st = sums["content"] / len(photos), sums["style"] / len(photos)
        per_style[name] = {"content": c, "style": st,
                           "content_weighted": c * loss.content_weight,
                           "style_weighted": st * loss.style_weight}
    mean = {k: float(np.mean([v[k] for v in per_style.values()]))
            for k in ("content", "style", "content_weighted", "style_weighted")}
    return {"photos": len(files), "crop": crop, "per_style": per_style, "mean": mean}


def save_atomic(obj: object, path: Path) -> None:
    tmp = path.with_suffix(path.suffix + ".tmp")
    torch.save(obj, tmp)
    tmp.replace(path)


# ---------------------------------------------------------------------------------- training

def warm_start(net: StyleNet, cfg: StyleFitConfig) -> None:
    """Start from an exported model's weights, so CPU-hours spent on it are not thrown away.

    The model must have this run's architecture and its styles in the same order (a style row
    of the conditional norms belongs to one painting); anything else is refused before training.
    """
    from emostyle.model_files import load_card
    from emostyle.training.style_weights import net_from_onnx

    card = load_card(cfg.init)
    theirs = [s["name"] for s in card.get("styles", [])]
    ours = [n for n, _ in cfg.styles]
    if theirs != ours:
        raise EmostyleError(f"{cfg.init}: its styles {theirs} are not this run's {ours} "
                            "(same names, same order)")
    source = net_from_onnx(cfg.init)
    if source.cfg.to_dict() != net.cfg.to_dict():
        raise EmostyleError(f"{cfg.init}: its network {source.cfg.to_dict()} is not this "
                            f"run's {net.cfg.to_dict()}")
    net.load_state_dict(source.state_dict())


def train_styles(cfg: StyleFitConfig, out: str | Path, resume: bool = False) -> dict:
    """Train one multi-style network in ``out``; returns the held-out metrics.

    With ``resume`` the run continues from ``out/last.pt`` with the saved config (a finished run
    just re-reports its metrics).
    """
    out = Path(out)
    state = None
    if resume:
        if not (out / "last.pt").is_file():
            raise EmostyleError(f"{out}: nothing to resume (no last.pt)")
        state = torch.load(out / "last.pt", map_location="cpu", weights_only=False)
        cfg = StyleFitConfig.from_dict(state["config"])
    elif (out / "last.pt").is_file():
        raise EmostyleError(f"{out}: holds a run already; pass --resume to continue it or "
                            "choose another --out")
    out.mkdir(parents=True, exist_ok=True)
    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    keep_freed_memory()
    random.seed(cfg.seed)
    np.random.seed(cfg.seed)
    torch.manual_seed(cfg.seed)
    names = [n for n, _ in cfg.styles]

    files = content_files(cfg.content_dir)
    if state is not None and (out / "holdout.txt").is_file():
        held_names = set((out / "holdout.txt").read_text().split("\n"))
        held = [f for f in files if f.name in held_names]
        train_files = [f for f in files if f.name not in held_names]
    else:
        train_files, held = split_holdout(files, cfg.holdout, cfg.seed) if cfg.holdout else (
            files, [])
        (out / "holdout.txt").write_text("\n".join(f.name for f in held) + "\n")
    if cfg.max_content:
        train_files = train_files[:cfg.max_content]
    if len(train_files) < 1:
        raise DatasetError(f"{cfg.content_dir}: no training photos left")

    device = pick_device(cfg.device)
    net = StyleNet(cfg.net_config()).to(device, memory_format=torch.channels_last)
    loss_fn = build_loss(cfg).to(device, memory_format=torch.channels_last)
    opt = torch.optim.Adam(net.parameters(), lr=cfg.lr)
    rng = random.Random(cfg.seed)
    history: list[dict] = []
    start, train_seconds = 0, 0.0
    if state is not None:
        net.load_state_dict(state["model"])
        opt.load_state_dict(state["optimizer"])  # moves its state to the parameters' device
        start, train_seconds = state["iteration"], state["train_seconds"]
        history = state["history"]
        rng.setstate(state["py_rng"])
        torch.set_rng_state(state["torch_rng"])
    elif cfg.init:
        warm_start(net, cfg)
    (out / "config.json").write_text(json.dumps(asdict(cfg), indent=2) + "\n")
    sampler = ContentSampler(train_files, cfg.crop, rng)
    sample_src = held[:3] if held else train_files[:3]
    sample_photos = torch.stack([to_tensor(centre_crop(read_image(f), cfg.crop))
                                 for f in sample_src])
    vgg_scale = check_preprocessing(loss_fn.vgg, sample_photos.to(device))
    (out / "samples").mkdir(exist_ok=True)

    def checkpoint(iteration: int, done: bool = False) -> None:
        save_atomic({"model": net.state_dict(), "optimizer": opt.state_dict(),
                     "config": asdict(cfg), "net_config": cfg.net_config().to_dict(),
                     "iteration": iteration, "train_seconds": train_seconds,
                     "history": history, "py_rng": rng.getstate(),
                     "torch_rng": torch.get_rng_state(), "done": done}, out / "last.pt")
        (out / "history.json").write_text(json.dumps(history, indent=1) + "\n")

    budget = cfg.minutes * 60
    reporter = Reporter(cfg.iterations, start, "training")
    it = start
    t_run = time.time()
    last_ckpt = time.time()
    run_sums = {"total": 0.0, "content": 0.0, "style": 0.0, "tv": 0.0}
    run_n, run_t = 0, time.time()
    try:
        while it < cfg.iterations:
            spent = train_seconds + time.time() - t_run
            if budget and spent >= budget:
                reporter.line(f"time budget of {cfg.minutes:g} min reached at iteration {it}")
                break
            frac = max(it / cfg.iterations, spent / budget if budget else 0.0)
            for g in opt.param_groups:
                g["lr"] = lr_at(frac, cfg.lr)
            net.train()
            x = sampler.batch(cfg.batch_size).to(device, memory_format=torch.channels_last)
            styles = ((torch.arange(cfg.batch_size) + it * cfg.batch_size) % len(names)).to(device)
            with autocast(device, cfg.amp):
                y = net(x, one_hot(styles, len(names)))
                parts = loss_fn(y, x, styles)
            total = parts["total"]
            if not torch.isfinite(total):
                raise EmostyleError(f"loss became {float(total)} at iteration {it}; "
                                    "lower --lr or the loss weights")
            opt.zero_grad(set_to_none=True)
            total.backward()
            opt.step()
            it += 1
            for k in run_sums:
                run_sums[k] += float(parts[k].detach())
            run_n += 1
            reporter.step(f"it {it} loss {run_sums['total'] / run_n:.4g}")
            if it % cfg.log_every == 0 or it == cfg.iterations:
                now = time.time()
                rec = {"iteration": it, **{k: v / run_n for k, v in run_sums.items()},
                       "lr": opt.param_groups[0]["lr"],
                       "img_per_s": run_n * cfg.batch_size / max(1e-9, now - run_t),
                       "seconds": train_seconds + now - t_run}
                history.append(rec)
                reporter.line(f"it {it:6d}  loss {rec['total']:.4g} (content {rec['content']:.4g}"
                              f", style {rec['style']:.4g}, tv {rec['tv']:.3g})  "
                              f"lr {rec['lr']:.2g}  {rec['img_per_s']:.2f} img/s")
                run_sums = dict.fromkeys(run_sums, 0.0)
                run_n, run_t = 0, now
            if cfg.sample_every and it % cfg.sample_every == 0:
                write_image(sample_grid(net, sample_photos, cfg.amp),
                            out / "samples" / f"it{it:06d}.jpg")
            if time.time() - last_ckpt > cfg.checkpoint_minutes * 60:
                train_seconds += time.time() - t_run
                t_run = time.time()
                checkpoint(it)
                last_ckpt = time.time()
    finally:
        reporter.close()
        train_seconds += time.time() - t_run
        t_run = time.time()
        checkpoint(it)
    write_image(sample_grid(net, sample_photos, cfg.amp), out / "samples" / "final.jpg")
    metrics = {"iterations": it, "train_seconds": round(train_seconds, 1),
               "precision": precision_name(device, cfg.amp),
               "images_seen": it * cfg.batch_size, "loss_weights": cfg.weights(),
               "content_photos": len(train_files), "unreadable_photos": sampler.bad,
               "vgg_activation_scale": vgg_scale}
    if held:
        metrics["holdout"] = evaluate(net, loss_fn, held, cfg.crop, cfg.amp, names)
    (out / "metrics.json").write_text(json.dumps(metrics, indent=2) + "\n")
    checkpoint(it, done=True)
    return metrics


def train_single_styles(cfg: StyleFitConfig, out: str | Path, resume: bool = False) -> dict:
    """The seed's recipe: one network per style, each in ``out/<name>/`` (same settings)."""
    out = Path(out)
    top = out / "config.json"
    if resume:
        if not top.is_file():
            raise EmostyleError(f"{out}: nothing to resume (no config.json)")
        cfg = StyleFitConfig.from_dict(json.loads(top.read_text()))
    else:
        out.mkdir(parents=True, exist_ok=True)
        top.write_text(json.dumps({**asdict(cfg), "single": True}, indent=2) + "\n")
    results = {}
    for name, painting in cfg.styles:
        sub = StyleFitConfig.from_dict({**asdict(cfg), "styles": [[name, painting]]})
        run = out / name
        if resume and (run / "last.pt").is_file():
            results[name] = train_styles(sub, run, resume=True)
        else:
            results[name] = train_styles(sub, run)
    (out / "metrics.json").write_text(json.dumps({"single": True, "runs": results}, indent=2)
                                      + "\n")
    return results


def run_line(name: str, metrics: dict) -> str:
    """One line on a finished run: iterations, minutes and the held-out losses."""
    hold = metrics.get("holdout", {}).get("mean")
    line = f"{name}: {metrics['iterations']} iterations in {metrics['train_seconds'] / 60:.1f} min"
    if hold:
        line += (f"; held-out content loss {hold['content_weighted']:.4g}, style loss "
                 f"{hold['style_weighted']:.4g} (weighted, mean over styles)")
    return line


def load_style_run(run_dir: str | Path) -> tuple[StyleNet, StyleFitConfig, dict]:
    """The trained network (eval, float32), its config and metrics.json (empty if unfinished)."""
    run_dir = Path(run_dir)
    ckpt = run_dir / "last.pt"
    if not ckpt.is_file():
        raise EmostyleError(f"{run_dir}: no last.pt (is this a train-style run directory?)")
    state = torch.load(ckpt, map_location="cpu", weights_only=False)
    cfg = StyleFitConfig.from_dict(state["config"])
    net = StyleNet(StyleNetConfig.from_dict(state["net_config"]))
    net.load_state_dict(state["model"])
    metrics_path = run_dir / "metrics.json"
    metrics = json.loads(metrics_path.read_text()) if metrics_path.is_file() else {}
    metrics.setdefault("iterations", state["iteration"])
    return net.eval().float().to(memory_format=torch.contiguous_format), cfg, metrics

"""The classifier training loop: class balancing, augmentation, warmup + cosine, early stopping
on PublicTest, resumable checkpoints, bf16 autocast + channels_last where the hardware has bf16
(2-2.5x faster there; see :mod:`emostyle.training.precision`).

A run directory holds ``config.json``, ``history.json``, ``last.pt`` (everything needed to resume)
and ``best.pt`` (the weights with the best PublicTest accuracy).
"""

from __future__ import annotations

import json
import math
import random
import sys
import time
from dataclasses import asdict
from pathlib import Path

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

from emostyle.errors import EmostyleError, InputError
from emostyle.memory import keep_freed_memory
from emostyle.training.architectures import create_model
from emostyle.training.augment import AugmentConfig, augment_batch
from emostyle.training.configs import TrainConfig
from emostyle.training.datasets import FaceSet, Splits, load_dataset
from emostyle.training.metrics import classification_metrics
from emostyle.training.precision import autocast, precision_name
from emostyle.training.progress import Reporter
from emostyle.training.warm_start import (
    CALIBRATION_FACES,
    check_init_source,
    init_source_kind,
    init_weights,
)

BALANCE_MODES = ("none", "weighted-loss", "weighted-sampler", "oversample", "undersample")


MIX_MODES = ("none", "mixup", "cutmix", "both")


def with_teacher(train_set: FaceSet, path: str | Path, weight: float) -> FaceSet:
    """Training faces whose targets blend the labels with a teacher's soft targets."""
    if not 0.0 < weight <= 1.0:
        raise EmostyleError(f"--teacher-weight must be in (0, 1], got {weight}")
    if not Path(path).is_file():
        raise EmostyleError(f"{path}: teacher targets file not found")
    soft = np.load(path).astype(np.float32)
    if soft.shape != train_set.targets.shape:
        raise EmostyleError(f"{path}: teacher targets are {soft.shape}, the Training split "
                            f"needs {train_set.targets.shape} (same data, same order)")
    if not np.allclose(soft.sum(1), 1.0, atol=1e-3):
        raise EmostyleError(f"{path}: teacher targets must be probabilities (rows sum to 1)")
    targets = (1 - weight) * train_set.targets + weight * soft
    return FaceSet(train_set.images, train_set.labels, targets.astype(np.float32))


def mix_batch(x: torch.Tensor, t: torch.Tensor, cfg: TrainConfig,
              gen: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """Mixup (blend two faces) or CutMix (paste a box of one into another) with targets
    mixed in the same proportion; applied to the whole batch with probability ``mix_prob``.

    Both teach the network that expressions come in degrees and in parts, which is what the
    FER+ votes say about FER2013 (a quarter of its faces get a split vote).
    """
    if float(torch.rand(1, generator=gen)) >= cfg.mix_prob or len(x) < 2:
        return x, t
    seed = int(torch.randint(2**31 - 1, (1,), generator=gen))  # resumable: all draws from gen
    lam = float(np.random.default_rng(seed).beta(cfg.mix_alpha, cfg.mix_alpha))
    perm = torch.randperm(len(x), generator=gen)
    mode = cfg.mix
    if mode == "both":
        mode = "mixup" if float(torch.rand(1, generator=gen)) < 0.5 else "cutmix"
    if mode == "mixup":
        return lam * x + (1 - lam) * x[perm], lam * t + (1 - lam) * t[perm]
    h, w = x.shape[2:]
    ch, cw = int(h * math.sqrt(1 - lam)), int(w * math.sqrt(1 - lam))
    cy, cx = int(torch.randint(h, (1,), generator=gen)), int(torch.randint(w, (1,), generator=gen))
    y0, y1 = max(0, cy - ch // 2), min(h, cy + ch // 2)
    x0, x1 = max(0, cx - cw // 2), min(w, cx + cw // 2)
    x = x.clone()
    x[:, :, y0:y1, x0:x1] = x[perm][:, :, y0:y1, x0:x1]
    kept = 1 - (y1 - y0) * (x1 - x0) / (h * w)
    return x, kept * t + (1 - kept) * t[perm]


def pick_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(name)


def class_weights(counts: np.ndarray) -> np.ndarray:
    """Inverse-frequency weights normalised to mean 1 (classes with no samples get 0)."""
    w = np.where(counts > 0, counts.sum() / np.maximum(counts, 1) / len(counts), 0.0)
    return (w / w[counts > 0].mean()).astype(np.float32)


def epoch_indices(train: FaceSet, balance: str, rng: np.random.Generator) -> np.ndarray:
    """The order of training samples for one epoch under a class-balancing strategy."""
    labels = train.labels
    n = len(labels)
    if balance in ("none", "weighted-loss"):
        return rng.permutation(n)
    counts = np.bincount(labels, minlength=7)
    by_class = [np.flatnonzero(labels == c) for c in range(7)]
    if balance == "weighted-sampler":
        p = class_weights(counts)[labels]
        return rng.choice(n, size=n, replace=True, p=p / p.sum())
    if balance == "oversample":
        top = counts.max()
        idx = [np.concatenate([ix, rng.choice(ix, top - len(ix), replace=True)])
               for ix in by_class if len(ix)]
        return rng.permutation(np.concatenate(idx))
    if balance == "undersample":
        low = counts[counts > 0].min()
        idx = [rng.choice(ix, low, replace=False) for ix in by_class if len(ix)]
        return rng.permutation(np.concatenate(idx))
    raise EmostyleError(f"--balance must be one of {', '.join(BALANCE_MODES)}, got {balance!r}")


def with_landmarks(splits: Splits, cfg: TrainConfig) -> Splits:
    """``splits`` with each face replaced by its landmark features when the run uses them.

    Feature rows are (N, 1404) float32, NaN where no mesh was found; labels stay as they are.
    The landmark file must come from the same dataset (same splits, same order).
    """
    if not cfg.landmarks:
        return splits
    from emostyle.training.landmarks import load_landmarks

    marks = load_landmarks(cfg.landmarks)
    sets = {}
    for name in ("train", "public", "private"):
        faces = splits.get(name)
        if name not in marks or len(marks[name]) != len(faces):
            have = len(marks[name]) if name in marks else 0
            raise EmostyleError(f"{cfg.landmarks}: {have} landmark rows for the {name} split, "
                                f"the data has {len(faces)}; extract them from {cfg.data}")
        sets[name] = FaceSet(marks[name].features(), faces.labels, faces.targets)
    return Splits(sets["train"], sets["public"], sets["private"])


def is_features(images: np.ndarray | torch.Tensor) -> bool:
    """True for (N, F) feature rows, False for (N, H, W) faces."""
    return images.ndim == 2


def to_input(images: np.ndarray | torch.Tensor, cfg: TrainConfig) -> torch.Tensor:
    """uint8 (B, H, W) -> float (B, C, S, S) in [0, 1], resized to the architecture's input;
    feature rows (B, F) pass through as float."""
    if is_features(images):
        return torch.as_tensor(images).float()
    x = torch.as_tensor(images).float().div_(255).unsqueeze(1)
    if x.shape[-1] != cfg.img_size or x.shape[-2] != cfg.img_size:
        x = F.interpolate(x, size=(cfg.img_size, cfg.img_size), mode="bilinear",
                          align_corners=False, antialias=True)
    if cfg.in_chans == 3:
        x = x.expand(-1, 3, -1, -1)
    return x


def normalise(x: torch.Tensor, cfg: TrainConfig) -> torch.Tensor:
    """Pixel normalisation; feature rows (landmark models standardise inside) are unchanged."""
    if x.ndim == 2:
        return x
    return (x - cfg.mean) / cfg.std


def to_device(x: torch.Tensor, device: torch.device) -> torch.Tensor:
    """To ``device``, channels-last for image batches (the fast layout for convolutions)."""
    x = x.to(device)
    return x if x.ndim != 4 else x.contiguous(memory_format=torch.channels_last)


def soft_cross_entropy(logits: torch.Tensor, targets: torch.Tensor,
                       weights: torch.Tensor | None, smoothing: float) -> torch.Tensor:
    if smoothing > 0:
        targets = targets * (1 - smoothing) + smoothing / targets.shape[1]
    loss = -(targets * F.log_softmax(logits.float(), 1)).sum(1)
    if weights is not None:
        w = (targets * weights).sum(1)
        return (loss * w).sum() / w.sum()
    return loss.mean()


@torch.no_grad()
def predict_logits(model: nn.Module, images: np.ndarray, cfg: TrainConfig, device: torch.device,
                   tta: bool = False, batch_size: int = 512) -> np.ndarray:
    """Logits for uint8 faces (N, H, W); with ``tta`` the mean of the image and its mirror."""
    model.eval()
    out = []
    for i in range(0, len(images), batch_size):
        x = to_device(normalise(to_input(images[i:i + batch_size], cfg), cfg), device)
        with autocast(device, cfg.amp):
            logits = model(x).float()
            if tta and x.ndim == 4:
                logits = (logits + model(x.flip(3)).float()) / 2
        out.append(logits.cpu())
    return torch.cat(out).numpy()


def lr_at(frac: float, warm_frac: float, cfg: TrainConfig) -> float:
    """Learning rate at ``frac`` (0..1) of the run: linear warmup, then the schedule."""
    if frac < warm_frac:
        return cfg.lr * max(frac / warm_frac, 1e-3)
    if cfg.scheduler == "constant":
        return cfg.lr
    progress = min(1.0, (frac - warm_frac) / max(1e-9, 1 - warm_frac))
    if cfg.scheduler == "step":
        return cfg.lr * (0.1 ** int(progress >= 0.5)) * (0.1 ** int(progress >= 0.75))
    if cfg.scheduler == "cosine":
        return cfg.lr * 0.5 * (1 + math.cos(math.pi * progress))
    raise EmostyleError(f"--scheduler must be cosine, step or constant, got {cfg.scheduler!r}")


def make_optimizer(model: nn.Module, cfg: TrainConfig) -> torch.optim.Optimizer:
    # No weight decay on norms and biases: decaying them only hurts.
    decay = [p for p in model.parameters() if p.ndim > 1]
    no_decay = [p for p in model.parameters() if p.ndim <= 1]
    groups = [{"params": decay, "weight_decay": cfg.weight_decay},
              {"params": no_decay, "weight_decay": 0.0}]
    if cfg.optimizer == "sgd":
        return torch.optim.SGD(groups, lr=cfg.lr, momentum=0.9, nesterov=True)
    if cfg.optimizer == "adamw":
        return torch.optim.AdamW(groups, lr=cfg.lr)
    raise EmostyleError(f"--optimizer must be sgd or adamw, got {cfg.optimizer!r}")


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def warm_start(model: nn.Module, cfg: TrainConfig, train_set: FaceSet) -> None:
    """Load ``cfg.init`` into ``model``, calibrating un-folded BatchNorms on training faces."""
    check_init_source(cfg.init, cfg.arch, cfg.mean, cfg.std)
    rows = np.random.default_rng(cfg.seed).permutation(len(train_set))[:CALIBRATION_FACES]
    calibration = normalise(to_input(train_set.images[np.sort(rows)], cfg), cfg)
    init_weights(model, cfg.init, calibration)


def train_run(cfg: TrainConfig, out: str | Path, resume: bool = False, command: str = ""
              ) -> dict:
    """:func:`train` on ``cfg``'s dataset, or on resume the run's own; returns the best record.

    ``command`` (the command line that started it) is kept in ``out/command.txt`` for the card.
    """
    out = Path(out)
    if not resume and any((out / f).is_file() for f in ("best.pt", "last.pt")):
        # before the dataset loads; a new run would replace the earlier one's weights
        raise InputError(f"{out}: holds a run already; pass --resume to continue it or "
                         "choose another --out")
    if cfg.init and not resume:  # before the dataset loads: a missing --init fails at once
        init_source_kind(cfg.init)  # (what it was trained for is checked by warm_start)
    if resume and (out / "config.json").is_file():
        saved = json.loads((out / "config.json").read_text())
        splits = load_dataset(saved["data"], saved["labels"])
    else:
        splits = load_dataset(cfg.data, cfg.labels)
    if not (resume and (out / "command.txt").is_file()):
        # Written before training, so a run stopped early (Ctrl-C, a killed job) still names
        # its command in the card it is exported with; a resumed run keeps the first one.
        out.mkdir(parents=True, exist_ok=True)
        (out / "command.txt").write_text(command + "\n")
    return train(cfg, splits, out, resume=resume)


def train(cfg: TrainConfig, splits: Splits, out: str | Path, resume: bool = False) -> dict:
    """Train ``cfg.arch`` on ``splits.train``, select on ``splits.public``; returns the best record.

    With ``resume`` the run continues from ``out/last.pt`` with the saved config.
    """
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    state = None
    if resume:
        if not (out / "last.pt").is_file():
            raise EmostyleError(f"{out}: nothing to resume (no last.pt)")
        state = torch.load(out / "last.pt", map_location="cpu", weights_only=False)
        cfg = TrainConfig.from_dict(state["config"])
    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    keep_freed_memory()
    if cfg.balance not in BALANCE_MODES:
        raise EmostyleError(f"--balance must be one of {', '.join(BALANCE_MODES)}, "
                            f"got {cfg.balance!r}")
    seed_everything(cfg.seed)
    device = pick_device(cfg.device)
    splits = with_landmarks(splits, cfg)
    train_set, public = splits.train, splits.public
    if cfg.teacher:
        train_set = with_teacher(train_set, cfg.teacher, cfg.teacher_weight)
    if cfg.mix not in MIX_MODES:
        raise EmostyleError(f"--mix must be one of {', '.join(MIX_MODES)}, got {cfg.mix!r}")
    if cfg.landmarks:  # faces without a mesh teach nothing; the model answers them its prior
        found = np.isfinite(train_set.images).all(1)
        train_set = train_set.subset(np.flatnonzero(found))
    if cfg.max_train:
        train_set = train_set.subset(np.random.default_rng(cfg.seed).permutation(
            len(train_set))[:cfg.max_train])
    if cfg.max_eval:
        public = public.subset(np.arange(min(cfg.max_eval, len(public))))

    model = create_model(cfg.arch, in_chans=cfg.in_chans, img_size=cfg.img_size,
                         **cfg.arch_kwargs)
    wants_features = getattr(model, "input_kind", "image") == "landmarks"
    if wants_features != bool(cfg.landmarks):
        raise EmostyleError(
            f"{cfg.arch} reads landmark features: give --landmarks FILE (made by 'python -m "
            "emostyle.training.landmarks DATA FILE')" if wants_features else
            f"--landmarks is for landmark architectures (landmark_mlp), not {cfg.arch}")
    if wants_features and state is None:
        model.fit_preprocessing(train_set.images, train_set.labels)
    if cfg.init and state is None:
        warm_start(model, cfg, train_set)
    model = model.to(device).to(memory_format=torch.channels_last)
    opt = make_optimizer(model, cfg)
    aug = AugmentConfig.preset(cfg.augment)
    weights = None
    if cfg.balance == "weighted-loss":
        weights = torch.tensor(class_weights(train_set.class_counts()), device=device)
    rng = np.random.default_rng(cfg.seed)
    gen = torch.Generator().manual_seed(cfg.seed)
    history: list[dict] = []
    best: dict = {"public_acc": -1.0}
    start_epoch = 0
    if state is not None:
        model.load_state_dict(state["model"])
        opt.load_state_dict(state["optimizer"])
        history, best, start_epoch = state["history"], state["best"], state["epoch"] + 1
        rng.bit_generator.state = state["np_rng"]
        gen.set_state(state["torch_rng"])
        if "torch_global_rng" in state:  # dropout draws from it: a resumed run then matches
            torch.set_rng_state(state["torch_global_rng"])
    (out / "config.json").write_text(json.dumps(asdict(cfg), indent=2))

    steps_per_epoch = math.ceil(len(epoch_indices(train_set, cfg.balance,
                                                  np.random.default_rng(0))) / cfg.batch_size)
    total = steps_per_epoch * cfg.epochs
    warm_frac = min(0.5, cfg.warmup_epochs / cfg.epochs)
    budget_s = cfg.time_budget_min * 60
    if budget_s:
        warm_frac = 0.05
    train_seconds = state.get("train_seconds", 0.0) if state is not None else 0.0
    if cfg.budget_clock not in ("wall", "cpu"):
        raise EmostyleError(f"budget clock must be wall or cpu, got {cfg.budget_clock!r}")
    clock = time.process_time if cfg.budget_clock == "cpu" else time.time
    out_of_time = False
    images = torch.from_numpy(train_set.images)
    targets = torch.from_numpy(train_set.targets)
    reporter = Reporter(total, start_epoch * steps_per_epoch, "training", stream=sys.stdout)
    reporter.line(f"{cfg.arch} on {device.type}, {precision_name(device, cfg.amp)}")
    try:
        for epoch in range(start_epoch, cfg.epochs):
            model.train()
            t0, c0, seen, loss_sum = time.time(), clock(), 0, 0.0
            order = epoch_indices(train_set, cfg.balance, rng)
            for b in range(0, len(order), cfg.batch_size):
                step = epoch * steps_per_epoch + b // cfg.batch_size
                frac = step / total
                if budget_s:
                    spent = train_seconds + clock() - c0
                    if spent >= budget_s:
                        out_of_time = True
                        break
                    frac = max(frac, spent / budget_s)
                for g in opt.param_groups:
                    g["lr"] = lr_at(frac, warm_frac, cfg)
                idx = torch.from_numpy(order[b:b + cfg.batch_size])
                x = to_input(images[idx], cfg)
                if not is_features(x):
                    x = augment_batch(x, aug, gen)
                t = targets[idx]
                if cfg.mix != "none" and not is_features(x):
                    x, t = mix_batch(x, t, cfg, gen)
                x = to_device(normalise(x, cfg), device)
                t = t.to(device)
                with autocast(device, cfg.amp):
                    logits = model(x)
                loss = soft_cross_entropy(logits, t, weights, cfg.label_smoothing)
                if not torch.isfinite(loss):
                    raise EmostyleError(f"loss became {loss.item()} at step {step}; lower --lr")
                opt.zero_grad(set_to_none=True)
                loss.backward()
                opt.step()
                seen += len(idx)
                loss_sum += loss.item() * len(idx)
                reporter.step(f"epoch {epoch + 1}/{cfg.epochs} loss {loss_sum / seen:.3f}")
            train_seconds += clock() - c0
            if seen == 0:
                break
            logits = predict_logits(model, public.images, cfg, device)
            m = classification_metrics(public.labels, logits.argmax(1))
            rec = {"epoch": epoch + 1, "train_loss": loss_sum / seen, "samples": seen,
                   "public_acc": m["accuracy"], "public_macro_f1": m["macro_f1"],
                   "lr": opt.param_groups[0]["lr"], "seconds": time.time() - t0,
                   "img_per_s": seen / (time.time() - t0)}
            history.append(rec)
            improved = rec["public_acc"] > best["public_acc"]
            if improved:
                best = dict(rec)
                torch.save({"model": model.state_dict(), "config": asdict(cfg), "best": best},
                           out / "best.pt")
            torch.save({"model": model.state_dict(), "optimizer": opt.state_dict(),
                        "config": asdict(cfg), "history": history, "best": best, "epoch": epoch,
                        "train_seconds": train_seconds,
                        "np_rng": rng.bit_generator.state, "torch_rng": gen.get_state(),
                        "torch_global_rng": torch.get_rng_state()},
                       out / "last.tmp")
            (out / "last.tmp").replace(out / "last.pt")
            (out / "history.json").write_text(json.dumps(history, indent=2))
            reporter.line(
                f"epoch {epoch + 1:3d}  loss {rec['train_loss']:.4f}  public acc "
                f"{rec['public_acc']:.4f}  f1 {rec['public_macro_f1']:.4f}  "
                f"{rec['img_per_s']:.0f} img/s{'  *' if improved else ''}")
            if out_of_time:
                reporter.line(f"time budget of {cfg.time_budget_min:g} min used up")
                break
            if cfg.patience and epoch + 1 - best["epoch"] >= cfg.patience:
                reporter.line(f"early stop: no PublicTest gain for {cfg.patience} epochs")
                break
    finally:
        reporter.close()
    return best

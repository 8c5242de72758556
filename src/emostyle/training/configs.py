"""What defines a training run: one dataclass per kind of run, each field's default and help
written once, here, without torch.

A field made with :func:`option` is also an option of its command: ``emostyle train``,
``train-style`` and ``add-style`` build their options from these fields
(:func:`emostyle.cli_common.config_options`), so ``--help`` needs no torch and the CLI repeats
no default. The run modules re-export their config (``emostyle.training.fit.TrainConfig`` ...).
"""

from __future__ import annotations

from dataclasses import MISSING, asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

# What the workbench commands read and evaluate unless told (--data, evaluate --split).
DEFAULT_DATA = Path("fer2013.npz")
DEFAULT_SPLIT = "private"

# The options every kind of run shares: one help text each.
AMP_HELP = ("bf16 autocast where the hardware has bf16 (CUDA, AVX512-BF16/AMX CPUs: 2-2.5x "
            "faster); float32 elsewhere.")
DEVICE_HELP = "auto | cpu | cuda"
THREADS_HELP = "Torch CPU threads (0: default). Use 1 when other jobs share the CPU."


def option(default: Any = MISSING, help: str = "", *, factory: Any = MISSING,  # noqa: A002
           **cli: Any) -> Any:
    """A dataclass field that is also a command-line option with this ``help`` ("": none).

    ``cli`` tells how the option differs from the field: ``flag`` (its name when not the
    field's: ``--batch``), ``path`` (a file name, "" for none: the option is a path, unset by
    default), ``option_default`` (its default when not the field's), ``nested`` (a dict field
    holding that dataclass's options). The metadata is HfArgumentParser's ``{"help": ...}``.
    """
    return field(default=default, default_factory=factory, metadata={"help": help, **cli})


@dataclass
class TrainConfig:
    """Everything that defines a run; saved as ``config.json`` so a run can be redone."""

    arch: str = option("vgg_small", "Architecture name (see `emostyle train --list`).")
    data: str = ""
    labels: str = option("fer2013", "fer2013 | ferplus-majority | ferplus-soft")
    balance: str = option(
        "none", "none | weighted-loss | weighted-sampler | oversample | undersample")
    epochs: int = option(60)
    batch_size: int = option(128)
    lr: float = option(0.05)
    optimizer: str = option("sgd", "sgd | adamw")
    scheduler: str = option("cosine", "cosine | step | constant")
    weight_decay: float = option(5e-4)
    warmup_epochs: float = option(2.0)
    label_smoothing: float = option(0.0)
    augment: str = option("strong",
                          "none | light | strong | real (strong + downscale, blur, gamma)")
    patience: int = option(
        0, "Early stop after this many epochs without PublicTest gain (0: never).")
    seed: int = option(0)
    img_size: int = option(48, "Network input side in pixels.")
    in_chans: int = option(1, "1 (gray) or 3 (gray repeated).")
    arch_kwargs: dict = field(default_factory=dict)
    max_train: int = option(0, "Train on this many images only (0: all).")  # smoke tests
    max_eval: int = 0
    # The learning-rate schedule then runs on elapsed time, so every architecture gets a
    # complete schedule within one budget.
    time_budget_min: float = option(
        0.0, "Minutes of training (0: no limit); the schedule then runs on elapsed time.",
        flag="--time-budget")
    # cpu: all threads of this process, which gives every run the same compute whatever else
    # the machine is doing - fair for comparisons.
    budget_clock: str = option(
        "wall", "wall (elapsed time) or cpu (CPU time of this process: equal compute per run).")
    device: str = option("auto", DEVICE_HELP)
    amp: bool = option(True, AMP_HELP)
    threads: int = option(0, THREADS_HELP)
    # For feature-input architectures: the model then reads landmark features, not pixels.
    landmarks: str = option(
        "", "Landmark features of --data for landmark_mlp (made by 'python -m "
            "emostyle.training.landmarks DATA FILE').", path=True)
    # Distillation: a .npy of soft targets (N_train, 7) for the Training rows, in order; the
    # training target becomes (1 - teacher_weight) * label + teacher_weight * teacher.
    teacher: str = option(
        "", "Soft targets of the Training rows (.npy) to distil from (made by 'emostyle "
            "ensemble targets').", path=True)
    # 0 without a teacher; the option's 0.7 is the share when one is given.
    teacher_weight: float = option(
        0.0, "Share of the teacher in the target (the rest: the label).", option_default=0.7)
    # Applied to a batch with probability mix_prob ("both": one of the two per batch); mixing
    # weights from Beta(mix_alpha, mix_alpha).
    mix: str = option(
        "none", "Batch mixing: none | mixup | cutmix | both (half the batches are mixed).")
    mix_alpha: float = 1.0
    mix_prob: float = 0.5
    # Normalisation applied after scaling pixels to [0, 1]; recorded in the model card.
    mean: float = 0.5077
    std: float = 0.2550
    # Warm start (emostyle.training.warm_start).
    init: str = option(
        "", "Start from these weights of the same --arch: a run directory, a .pt, or an "
            "exported .onnx with its card (BatchNorm restored); the learning-rate schedule "
            "starts afresh.", path=True)

    @classmethod
    def from_dict(cls, d: dict) -> TrainConfig:
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in d.items() if k in known})


@dataclass(frozen=True)
class StyleNetConfig:
    """Shape of a style network; saved in checkpoints and in the ONNX card."""

    num_styles: int
    width: int = option(16, "Channels of the first layer.")  # the bottleneck has 4x as many
    blocks: int = option(3, "Residual blocks.")  # at 1/4 resolution
    separable: bool = option(  # depthwise 3x3 + pointwise 1x1
        True, "Depthwise-separable convolutions in the residual blocks.")
    in_kernel: int = option(9, "Kernel of the first convolution.")  # Johnson uses 9
    # Johnson uses 9; 3 output channels make a 9x9 slow.
    out_kernel: int = option(3, "Kernel of the last convolution.")

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> StyleNetConfig:
        return cls(**{k: d[k] for k in cls.__dataclass_fields__ if k in d})


def default_shape() -> dict:
    """A style network's shape with every default (``StyleFitConfig.net``; no style count)."""
    return {f.name: f.default for f in fields(StyleNetConfig) if f.name != "num_styles"}


@dataclass
class StyleFitConfig:
    """Everything that defines a style-training run; saved as ``config.json``."""

    styles: list[list[str]] = field(default_factory=list)  # [[name, painting path], ...]
    content_dir: str = ""
    vgg: str = ""
    vgg_kind: str = "caffe"
    crop: int = option(256, "Training crop side in pixels.")
    batch_size: int = option(4, "Photos per step.", flag="--batch")
    iterations: int = option(4000)
    minutes: float = option(  # wall-clock budget
        0.0, "Stop after this many minutes of training (0: no limit); the learning-rate decay "
             "follows whichever of --iterations and --minutes ends first.")
    lr: float = option(1e-3)
    # None: the VGG kind's default (vgg_loss.DEFAULT_WEIGHTS)
    content_weight: float | None = option(
        None, "Default depends on --vgg-kind (caffe 1, torchvision 1e5).")
    style_weight: float | None = option(
        None, "Default depends on --vgg-kind (caffe 10, torchvision 1e10).")
    tv_weight: float | None = option(None, "Total variation (default 0).")
    style_size: int = option(
        512, "Long side (px) of the paintings when their Gram matrices are taken.")
    holdout: int = option(
        100, "Content photos kept out of training; losses on them go to metrics.json.")
    max_content: int = option(0, "Train on this many photos only (0: all).")  # smoke tests
    net: dict = option(factory=default_shape, nested=StyleNetConfig)
    seed: int = option(0)
    device: str = option("auto", DEVICE_HELP)  # auto = cuda when available
    amp: bool = option(True, AMP_HELP)
    threads: int = option(0, THREADS_HELP)
    log_every: int = option(20)
    sample_every: int = option(
        250, "Write sample pictures every N iterations (0: only at the end).")
    checkpoint_minutes: float = 5.0
    init: str = ""  # exported style model (.onnx) whose weights start the run; "" = random

    @classmethod
    def from_dict(cls, d: dict) -> StyleFitConfig:
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in d.items() if k in known})

    def weights(self) -> dict[str, float]:
        """Loss weights with the VGG kind's defaults filled in."""
        from emostyle.training.vgg_loss import DEFAULT_WEIGHTS  # torch: when a run needs it

        base = DEFAULT_WEIGHTS[self.vgg_kind]
        return {"content": base["content"] if self.content_weight is None
                else self.content_weight,
                "style": base["style"] if self.style_weight is None else self.style_weight,
                "tv": base["tv"] if self.tv_weight is None else self.tv_weight}

    def net_config(self) -> StyleNetConfig:
        return StyleNetConfig(num_styles=len(self.styles), **self.net)


@dataclass(frozen=True)
class AddStyleConfig:
    """One added style: what to learn from, for how long, and how it is measured."""

    painting: str
    name: str
    content_dir: str
    vgg: str
    emotion: str | None = option(None, "Paint this emotion in the new style (in the new model).")
    # The export and evaluation come on top.
    minutes: float = option(10.0, "CPU minutes of training.")
    iterations: int = 100_000
    crop: int | None = None  # None: the source model's training crop
    batch_size: int = 4
    lr: float = 5e-3
    style_weight: float | None = None  # None: the source model's
    style_size: int | None = None
    holdout: int | None = None  # None: the source run's held-out count (same seed: same photos)
    eval_photos: int = 24  # of the held-out photos, how many are measured (all styles)
    seed: int = 0
    threads: int = option(0, THREADS_HELP)
    amp: bool = True

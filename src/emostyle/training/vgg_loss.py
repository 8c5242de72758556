"""The VGG16 perceptual loss: content at relu2_2, style Gram matrices at four layers, TV.

Two sets of ImageNet VGG16 weights are in circulation and they want different inputs:

* ``caffe`` - the original Caffe/Keras weights (Simonyan & Zisserman; the file
  ``vgg16_imagenet_caffe_features_fp16.pth``): **BGR, 0-255, minus the mean pixel
  [103.939, 116.779, 123.68]**, no division by a std.
* ``torchvision`` - ``torchvision.models.vgg16`` weights: **RGB, 0-1, minus
  [0.485, 0.456, 0.406], divided by [0.229, 0.224, 0.225]**.

Feeding one kind the other's input gives features ~50x too small (or too large) and channel-swapped:
training still runs and the style network comes out silently bad. So the kind is always explicit,
travels with the loss network, and :func:`preprocessing_check` can tell on a few photos whether the
preprocessing matches the weights (see its docstring for how).

Images enter :class:`VGGFeatures` as **RGB float 0..255**, the style network's output scale; each
kind applies its own preprocessing inside.
"""

from __future__ import annotations

from pathlib import Path
from typing import NamedTuple

import torch
import torch.nn as nn

from emostyle.errors import EmostyleError

KINDS = ("caffe", "torchvision")
CAFFE_MEAN_BGR = (103.939, 116.779, 123.68)
TORCHVISION_MEAN = (0.485, 0.456, 0.406)
TORCHVISION_STD = (0.229, 0.224, 0.225)

# vgg16().features[:23]: (out_channels or "M" for max-pool); index i of the Sequential matches
# torchvision's key names features.<i>.weight so either state dict loads as is.
_CFG = (64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512)
LAYER_INDEX = {"relu1_2": 3, "relu2_2": 8, "relu3_3": 15, "relu4_3": 22}

# Default loss weights per kind. torchvision's are pytorch/examples' fast_neural_style values. The
# Caffe network sees a ~40x larger input, so its features are ~40x larger (ReLU convolutions are
# nearly scale-equivariant): content MSE grows ~40^2 and Gram MSE ~40^4 (measured 1.8e3 and
# 2.7e6 on content photos), so the same balance would be content 1, style ~80. On CPU budgets of
# an hour that balance never lets the content come through (6-minute calibration runs with style
# 80, 20 and 5: held-out weighted style/content 18, 5.5 and 1.0; docs/styles.md), so the Caffe
# default is style 10. TV is off by default.
DEFAULT_WEIGHTS = {
    "caffe": {"content": 1.0, "style": 10.0, "tv": 0.0},
    "torchvision": {"content": 1e5, "style": 1e10, "tv": 0.0},
}


class Features(NamedTuple):
    relu1_2: torch.Tensor
    relu2_2: torch.Tensor
    relu3_3: torch.Tensor
    relu4_3: torch.Tensor


class VGGFeatures(nn.Module):
    """Frozen VGG16 up to relu4_3; ``forward(rgb_0_255)`` -> :class:`Features`."""

    def __init__(self, state_dict: dict[str, torch.Tensor], kind: str) -> None:
        super().__init__()
        if kind not in KINDS:
            raise EmostyleError(f"VGG kind must be one of {', '.join(KINDS)}, got {kind!r}")
        self.kind = kind
        layers: list[nn.Module] = []
        cin = 3
        for v in _CFG:
            if v == "M":
                layers.append(nn.MaxPool2d(2, 2))
            else:
                layers += [nn.Conv2d(cin, v, 3, padding=1), nn.ReLU(inplace=True)]
                cin = v
        self.features = nn.Sequential(*layers)
        wanted = {k: v for k, v in state_dict.items() if k.startswith("features.")
                  and int(k.split(".")[1]) < len(layers)}
        missing = set(self.state_dict()) - set(wanted)
        if missing:
            raise EmostyleError(f"VGG16 state dict lacks {', '.join(sorted(missing)[:3])}...: "
                                "expected torchvision key names (features.0.weight, ...)")
        self.load_state_dict({k: v.float() for k, v in wanted.items()})
        self.requires_grad_(False)
        self.eval()
        if kind == "caffe":
            self.register_buffer("mean", torch.tensor(CAFFE_MEAN_BGR).view(1, 3, 1, 1))
            self.register_buffer("std", torch.ones(1, 3, 1, 1))
        else:
            self.register_buffer("mean", torch.tensor(TORCHVISION_MEAN).view(1, 3, 1, 1) * 255)
            self.register_buffer("std", torch.tensor(TORCHVISION_STD).view(1, 3, 1, 1) * 255)

    def train(self, mode: bool = True) -> VGGFeatures:  # always frozen, always eval
        return super().train(False)

    def preprocess(self, rgb: torch.Tensor) -> torch.Tensor:
        """RGB 0..255 -> the input this kind of weights was trained on."""
        x = rgb.flip(1) if self.kind == "caffe" else rgb
        return (x - self.mean) / self.std

    def forward(self, rgb: torch.Tensor) -> Features:
        x = self.preprocess(rgb)
        out = []
        stops = sorted(LAYER_INDEX.values())
        for i, layer in enumerate(self.features):
            x = layer(x)
            if i in stops:
                out.append(x)
                if i == stops[-1]:
                    break
        return Features(*out)

    def relu2_2(self, rgb: torch.Tensor) -> torch.Tensor:
        """Only the content layer: a third of the cost of the full forward."""
        return self.features[:LAYER_INDEX["relu2_2"] + 1](self.preprocess(rgb))


def guess_kind(state_dict: dict[str, torch.Tensor], path: str | Path = "") -> str | None:
    """Which preprocessing a VGG16 state dict probably wants, from how it was saved.

    torchvision's published file (``vgg16-397923af.pth``) holds the classifier too
    (``classifier.*`` keys, float32); this project's Caffe conversion
    (``vgg16_imagenet_caffe_features_fp16.pth``) holds only the convolutions, in float16. A file
    name saying "caffe" counts too. Anything else: None, and the caller must be told.
    """
    name = Path(path).name.lower()
    if "caffe" in name:
        return "caffe"
    if any(k.startswith("classifier.") for k in state_dict) or "397923af" in name:
        return "torchvision"
    first = state_dict.get("features.0.weight")
    if first is not None and first.dtype == torch.float16:
        return "caffe"
    return None


def load_vgg(path: str | Path, kind: str | None = None) -> VGGFeatures:
    """VGG16 features from a state-dict file.

    ``kind`` None means "guess from the file, or refuse"; a given kind that contradicts what the
    file looks like is refused too - that mix-up trains a silently bad network.
    """
    path = Path(path)
    if not path.is_file():
        raise EmostyleError(
            f"{path}: VGG16 weights not found. Pass --vgg with the Caffe VGG16 conv weights "
            "(vgg16_imagenet_caffe_features_fp16.pth, --vgg-kind caffe) or torchvision's "
            "vgg16-397923af.pth (--vgg-kind torchvision)")
    sd = torch.load(path, map_location="cpu", weights_only=True)
    if isinstance(sd, dict) and "state_dict" in sd:
        sd = sd["state_dict"]
    guess = guess_kind(sd, path)
    if kind is None:
        if guess is None:
            raise EmostyleError(f"{path}: cannot tell whether these VGG16 weights are Caffe's "
                                "(BGR 0-255) or torchvision's (RGB mean/std); pass --vgg-kind")
        kind = guess
    elif guess is not None and guess != kind:
        raise EmostyleError(f"{path}: these look like {guess} VGG16 weights but --vgg-kind "
                            f"{kind} was given; the wrong preprocessing trains a bad network")
    return VGGFeatures(sd, kind)


def gram(x: torch.Tensor) -> torch.Tensor:
    """(N, C, H, W) -> (N, C, C) Gram matrices normalised by C*H*W (computed in float32)."""
    n, c, h, w = x.shape
    f = x.float().reshape(n, c, h * w)
    return f @ f.transpose(1, 2) / (c * h * w)


class PerceptualLoss(nn.Module):
    """Johnson et al.'s loss with per-sample style targets (for a multi-style batch).

    ``style_grams[s]`` holds style ``s``'s Gram matrices at the four layers; ``forward`` gets the
    style index of every sample, so one batch can mix styles.
    """

    def __init__(self, vgg: VGGFeatures, style_images: list[torch.Tensor],
                 content_weight: float, style_weight: float, tv_weight: float = 0.0) -> None:
        super().__init__()
        self.vgg = vgg
        self.content_weight = content_weight
        self.style_weight = style_weight
        self.tv_weight = tv_weight
        with torch.no_grad():
            per_style = [[gram(f)[0] for f in vgg(img[None])] for img in style_images]
        for layer in range(4):
            self.register_buffer(f"gram{layer}",
                                 torch.stack([grams[layer] for grams in per_style]))

    def style_targets(self, layer: int, styles: torch.Tensor) -> torch.Tensor:
        return getattr(self, f"gram{layer}")[styles]

    def unweighted(self, output: torch.Tensor, content: torch.Tensor, styles: torch.Tensor
                   ) -> dict[str, torch.Tensor]:
        """Per-sample (N,) content, style and TV losses before weighting.

        ``output`` and ``content`` are RGB 0..255 (N, 3, H, W); ``styles`` (N,) style indices.
        """
        f_out = self.vgg(output)
        with torch.no_grad():
            f_content = self.vgg.relu2_2(content)
        content_loss = (f_out.relu2_2.float() - f_content.float()).pow(2).mean(dim=(1, 2, 3))
        style_loss = sum((gram(f) - self.style_targets(i, styles)).pow(2).mean(dim=(1, 2))
                         for i, f in enumerate(f_out))
        out = output.float()
        tv = ((out[:, :, 1:, :] - out[:, :, :-1, :]).abs().mean(dim=(1, 2, 3))
              + (out[:, :, :, 1:] - out[:, :, :, :-1]).abs().mean(dim=(1, 2, 3)))
        return {"content": content_loss, "style": style_loss, "tv": tv}

    def forward(self, output: torch.Tensor, content: torch.Tensor, styles: torch.Tensor
                ) -> dict[str, torch.Tensor]:
        """Weighted batch-mean losses: ``content``, ``style``, ``tv`` and their ``total``."""
        raw = self.unweighted(output, content, styles)
        parts = {"content": self.content_weight * raw["content"].mean(),
                 "style": self.style_weight * raw["style"].mean(),
                 "tv": self.tv_weight * raw["tv"].mean()}
        parts["total"] = parts["content"] + parts["style"] + parts["tv"]
        return parts


# Mean relu1_2 activation of the Caffe weights on natural photos with their own preprocessing is
# ~120 (measured on content photos); with torchvision's preprocessing it is ~3.5 (the input is
# ~40x too small). The threshold sits between, a factor ~6 from each.
CAFFE_MIN_RELU1_2 = 20.0


@torch.no_grad()
def activation_scale(vgg: VGGFeatures, photos: torch.Tensor) -> dict[str, float]:
    """Mean activation of each loss layer on ``photos`` (N, 3, H, W) RGB 0..255."""
    feats = vgg(photos)
    return {name: float(f.float().mean()) for name, f in zip(Features._fields, feats, strict=True)}


def check_preprocessing(vgg: VGGFeatures, photos: torch.Tensor) -> dict[str, float]:
    """Refuse Caffe weights that respond to photos like weights fed the wrong input.

    VGG16's convolutions and ReLUs are (up to small biases) scale-equivariant, so scale-free
    checks - how similar a photo is to a shifted copy of itself, fractions of active units -
    come out almost the same for right and wrong preprocessing (tests/test_style_vgg.py
    measures this). What the wrong preprocessing does change is the scale of every feature, by
    ~40x, which moves the balance of Gram (scale^4) against content (scale^2) losses by ~40^2
    and trains a network that barely stylises. So the check is on scale: Caffe weights must give
    relu1_2 activations of Caffe size on real photos. (Channel order, BGR vs RGB, cannot be
    seen without the classifier head; :meth:`VGGFeatures.preprocess` is tested directly.)
    """
    scale = activation_scale(vgg, photos)
    if vgg.kind == "caffe" and scale["relu1_2"] < CAFFE_MIN_RELU1_2:
        raise EmostyleError(
            f"VGG16 relu1_2 responds to photos with mean {scale['relu1_2']:.2f}, expected > "
            f"{CAFFE_MIN_RELU1_2:g} for Caffe weights with BGR 0-255 input: are these "
            "torchvision weights? pass --vgg-kind torchvision")
    return scale

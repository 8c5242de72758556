"""torchvision VGG16 adapted to 48 px faces, optionally started from Caffe ImageNet weights.

At 48 px VGG16's five max-pools would leave a 1x1 map, so the last pool is dropped (the conv5
map is 3x3) and the 25k-wide fully connected classifier is replaced by global average pooling +
dropout + linear. By default the convs have batch norm (``vgg16_bn``), which trains from
scratch; the seed's adapted VGG16 reached 54.3%.

``pretrained_path`` loads the 13 conv layers from a state dict with torchvision's
``features.N`` key names - here the Caffe VGG16 ImageNet weights in
``../shared/models/vgg16_imagenet_caffe_features_fp16.pth`` (see DATA.md). Those weights are for
the plain VGG16, so a pretrained model is built without batch norm; fine-tune it with a lower
learning rate than from scratch (e.g. SGD 0.01 or AdamW 1e-4).

The Caffe weights expect BGR pixels in 0-255 minus the mean [103.939, 116.779, 123.68], while
the training loop feeds ``(x / 255 - input_mean) / input_std`` (``TrainConfig.mean``/``std``):
fed as-is, conv1 would see inputs about 65x too small and off-centre. Since the input is
affine in what Caffe expects, the first conv absorbs the difference: its weights are scaled by
``255 * input_std`` and its bias takes the mean shift, so the pretrained features see the
scale they were trained on (exactly, except at the one-pixel zero-padded border). For gray
input (``in_chans=1``) the face is the same in B, G and R, so conv1's weights are summed over
the three colour channels; for ``in_chans=3`` they are flipped to RGB order. Pass the same
``input_mean``/``input_std`` as the training config.
"""

from __future__ import annotations

from pathlib import Path

import torch
import torch.nn as nn
from torchvision.models.vgg import cfgs, make_layers

from emostyle.errors import EmostyleError, ModelNotFoundError
from emostyle.training.architectures.registry import register

CAFFE_MEAN_BGR = (103.939, 116.779, 123.68)


class VGG16(nn.Module):
    """VGG16 convs (13 layers, last pool removed) + GAP + dropout + linear."""

    def __init__(self, num_classes: int = 7, in_chans: int = 1, img_size: int = 48,
                 batch_norm: bool = True, dropout: float = 0.5,
                 pretrained_path: str | Path | None = None, input_mean: float = 0.5077,
                 input_std: float = 0.2550):
        super().__init__()
        del img_size  # fully convolutional: any side >= 16 works
        if pretrained_path is not None:
            batch_norm = False  # the only weights we have are for the plain VGG16
        # torchvision's own VGG16 layer list ("D"), without building its 120 M-parameter
        # classifier only to throw it away.
        layers = list(make_layers(cfgs["D"], batch_norm=batch_norm).children())
        layers = layers[:-1]  # drop the fifth max-pool
        if in_chans != 3:
            layers[0] = nn.Conv2d(in_chans, 64, 3, padding=1)
        # Keep torchvision's indices, so ``features.N`` keys match its state dicts.
        self.features = nn.Sequential(*layers)
        for m in self.features.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
                nn.init.zeros_(m.bias)
        self.num_features = 512
        self.dropout = nn.Dropout(dropout)
        self.fc = nn.Linear(512, num_classes)
        self.pretrained = pretrained_path is not None
        if pretrained_path is not None:
            load_caffe_features(self.features, pretrained_path, in_chans, input_mean, input_std)

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        return self.features(x)

    def forward_head(self, feats: torch.Tensor) -> torch.Tensor:
        return self.fc(self.dropout(feats.mean((2, 3))))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.forward_head(self.forward_features(x))


def load_caffe_features(features: nn.Sequential, path: str | Path, in_chans: int,
                        input_mean: float, input_std: float) -> None:
    """Load Caffe VGG16 conv weights into plain-VGG16 ``features``, folding input scaling."""
    path = Path(path)
    if not path.is_file():
        raise ModelNotFoundError(f"{path}: VGG16 weights not found (see DATA.md for the file)")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # torch raises many types for a file that is not a state dict
        raise EmostyleError(f"{path}: not a torch state dict ({exc})") from exc
    state = {k.removeprefix("features."): v.float() for k, v in state.items()}
    if in_chans not in (1, 3):
        raise EmostyleError(f"pretrained VGG16 needs in_chans 1 or 3, got {in_chans}")
    w0, b0 = state.get("0.weight"), state.get("0.bias")
    if w0 is None or b0 is None or w0.shape != (64, 3, 3, 3):
        raise EmostyleError(f"{path}: no VGG16 first conv ('features.0.weight' of 64x3x3x3)")
    # Caffe input, channel c: 255 * (std * z + mean) - caffe_mean[c], with z our normalised
    # input; so conv1(caffe input) = conv1'(z) with the weights and bias below.
    shift = 255 * input_mean - torch.tensor(CAFFE_MEAN_BGR)
    state["0.bias"] = b0 + (w0.sum((2, 3)) * shift).sum(1)
    w0 = w0 * (255 * input_std)
    state["0.weight"] = w0.sum(1, keepdim=True) if in_chans == 1 else w0.flip(1)
    missing, unexpected = features.load_state_dict(state, strict=False)
    if missing or unexpected:
        raise EmostyleError(f"{path}: does not match plain VGG16 features (missing "
                            f"{missing[:3]}, unexpected {unexpected[:3]})")


@register("vgg16")
def vgg16(**kw: object) -> nn.Module:
    """VGG16-BN, last pool dropped, GAP head (about 14.7 M parameters); see module docs."""
    return VGG16(**kw)

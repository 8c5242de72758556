"""Plain VGG-style nets (stacked 3x3 conv + BN + ReLU, max-pool between stages).

This is the family behind the best published single FER2013 model (Khaireddin & Chen 2021,
73.28%) and it is what runs fastest per unit of accuracy on a CPU: plain 3x3 convolutions are
what oneDNN and ONNX Runtime optimise best. The head is global average pooling + linear, so the
last feature map gives class activation maps for free.
"""

from __future__ import annotations

import torch
import torch.nn as nn

from emostyle.training.architectures.registry import register


def conv_bn_relu(cin: int, cout: int) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(cin, cout, 3, padding=1, bias=False), nn.BatchNorm2d(cout),
                         nn.ReLU(inplace=True))


class VGGStyleNet(nn.Module):
    """Four stages of ``depth`` convs at widths w, 2w, 4w, 8w, then GAP + dropout + linear."""

    def __init__(self, num_classes: int = 7, in_chans: int = 1, img_size: int = 48,
                 width: int = 32, depths: tuple[int, ...] = (2, 2, 2, 2), dropout: float = 0.3):
        super().__init__()
        layers: list[nn.Module] = []
        cin = in_chans
        for stage, depth in enumerate(depths):
            cout = width * 2**stage
            for _ in range(depth):
                layers.append(conv_bn_relu(cin, cout))
                cin = cout
            layers.append(nn.MaxPool2d(2))
        self.features = nn.Sequential(*layers)
        self.num_features = cin
        self.dropout = nn.Dropout(dropout)
        self.fc = nn.Linear(cin, num_classes)
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        return self.features(x)

    def forward_head(self, feats: torch.Tensor) -> torch.Tensor:
        return self.fc(self.dropout(feats.mean((2, 3))))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.forward_head(self.forward_features(x))


@register("vgg_small")
def vgg_small(**kw: object) -> nn.Module:
    """Width 32, 2-2-2-2: the CPU-trainable default (about 1.2 M parameters)."""
    kw.setdefault("width", 32)
    return VGGStyleNet(depths=(2, 2, 2, 2), **kw)


@register("vgg_medium")
def vgg_medium(**kw: object) -> nn.Module:
    """Width 64, 2-2-2-2: Khaireddin & Chen's layout with a GAP head (about 4.7 M parameters)."""
    kw.setdefault("width", 64)
    return VGGStyleNet(depths=(2, 2, 2, 2), **kw)

"""The seed's 21-layer CNN: 18 conv layers with batch norm and dropout, then 3 fully connected.

The seed trained it on ExpW (77.5% there; ExpW's faces are larger and its labels cleaner than
FER2013's, so that figure does not carry over). Layout: four VGG-like stages of 4, 4, 5 and 5
3x3 convs at widths w, 2w, 4w, 8w (w = 64 by default), 2x2 max-pooling and spatial dropout
between stages; global average pooling, then FC-BN-ReLU-dropout twice and the output FC. The
last stage is not pooled, so the map Grad-CAM sees is 6x6 at 48 px.
"""

from __future__ import annotations

import torch
import torch.nn as nn

from emostyle.training.architectures.registry import register
from emostyle.training.architectures.vgg_style import conv_bn_relu


def fc_bn_relu(cin: int, cout: int, dropout: float) -> nn.Sequential:
    return nn.Sequential(nn.Linear(cin, cout, bias=False), nn.BatchNorm1d(cout),
                         nn.ReLU(inplace=True), nn.Dropout(dropout))


class DeepCNN(nn.Module):
    """18 conv + 3 FC layers, batch norm throughout, dropout between stages and in the head."""

    def __init__(self, num_classes: int = 7, in_chans: int = 1, img_size: int = 48,
                 width: int = 64, depths: tuple[int, ...] = (4, 4, 5, 5),
                 fc_widths: tuple[int, ...] = (512, 256), conv_dropout: float = 0.1,
                 dropout: float = 0.5):
        super().__init__()
        if img_size < 2 ** (len(depths) - 1):
            raise ValueError(f"img_size {img_size} is too small for {len(depths)} stages")
        layers: list[nn.Module] = []
        cin = in_chans
        for i, depth in enumerate(depths):
            cout = width * 2**i
            if i:
                layers += [nn.MaxPool2d(2), nn.Dropout2d(conv_dropout)]
            for _ in range(depth):
                layers.append(conv_bn_relu(cin, cout))
                cin = cout
        self.features = nn.Sequential(*layers)
        self.num_features = cin
        head: list[nn.Module] = []
        for cout in fc_widths:
            head.append(fc_bn_relu(cin, cout, dropout))
            cin = cout
        head.append(nn.Linear(cin, num_classes))
        self.head = nn.Sequential(*head)
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        return self.features(x)

    def forward_head(self, feats: torch.Tensor) -> torch.Tensor:
        return self.head(feats.mean((2, 3)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.forward_head(self.forward_features(x))


@register("deep_cnn")
def deep_cnn(**kw: object) -> nn.Module:
    """18 conv (widths 64-512) + 3 FC layers (about 14 M parameters at width 64)."""
    return DeepCNN(**kw)

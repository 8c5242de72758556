"""The seed's baseline: three conv-BN-ReLU-pool blocks (32, 64, 128) and a small MLP head.

It is the floor every other architecture must beat (the seed reported 52.0% on FER2013
validation). The head flattens the last map, as the seed's did, so the classifier sees where a
feature fired, not only whether; the map is still exposed for Grad-CAM.
"""

from __future__ import annotations

import torch
import torch.nn as nn

from emostyle.training.architectures.registry import register


class BaselineCNN(nn.Module):
    """Conv blocks at ``widths`` (each conv 3x3 + BN + ReLU + 2x2 max-pool), flatten, MLP."""

    def __init__(self, num_classes: int = 7, in_chans: int = 1, img_size: int = 48,
                 widths: tuple[int, ...] = (32, 64, 128), hidden: int = 256,
                 dropout: float = 0.5):
        super().__init__()
        layers: list[nn.Module] = []
        cin = in_chans
        for cout in widths:
            layers += [nn.Conv2d(cin, cout, 3, padding=1, bias=False), nn.BatchNorm2d(cout),
                       nn.ReLU(inplace=True), nn.MaxPool2d(2)]
            cin = cout
        self.features = nn.Sequential(*layers)
        side = img_size // 2 ** len(widths)
        if side < 1:
            raise ValueError(f"img_size {img_size} is too small for {len(widths)} pooling blocks")
        self.num_features = cin
        self.head = nn.Sequential(
            nn.Flatten(), nn.Linear(cin * side * side, hidden), nn.ReLU(inplace=True),
            nn.Dropout(dropout), nn.Linear(hidden, num_classes))
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        return self.features(x)

    def forward_head(self, feats: torch.Tensor) -> torch.Tensor:
        return self.head(feats)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.forward_head(self.forward_features(x))


@register("baseline_cnn")
def baseline_cnn(**kw: object) -> nn.Module:
    """The seed's 3-block CNN (about 1.3 M parameters at 48 px, most of them in the MLP)."""
    return BaselineCNN(**kw)

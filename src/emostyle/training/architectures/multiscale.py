"""Multi-scale CNN: the face seen at half, full and double resolution by three branches.

The seed fed 24, 48 and 96 px copies of the face to separate CNNs and fused them (50.3%). Here
the resizing happens inside the model, so it takes the same 48 px input as every other
architecture and exports to ONNX as one graph. Each branch pools down to the same grid (a
1/8 of the input side: 6x6 at 48 px), so the three maps are concatenated on channels and mixed
by a 1x1 conv; that fused map is what Grad-CAM sees.
"""

from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F

from emostyle.training.architectures.registry import register
from emostyle.training.architectures.vgg_style import conv_bn_relu


def branch(in_chans: int, widths: tuple[int, ...]) -> nn.Sequential:
    """Stages of two 3x3 convs, each stage followed by 2x2 max-pooling."""
    layers: list[nn.Module] = []
    cin = in_chans
    for cout in widths:
        layers += [conv_bn_relu(cin, cout), conv_bn_relu(cout, cout), nn.MaxPool2d(2)]
        cin = cout
    return nn.Sequential(*layers)


def resize(x: torch.Tensor, size: int) -> torch.Tensor:
    """``x`` at ``size`` x ``size``: exact halving by 2x2 averaging (no aliasing), else bilinear."""
    h, w = x.shape[-2:]
    if h == size and w == size:
        return x
    if h == 2 * size and w == 2 * size:
        return F.avg_pool2d(x, 2)
    return F.interpolate(x, size=(size, size), mode="bilinear", align_corners=False)


class MultiScaleCNN(nn.Module):
    """Branches at ``scales`` x the input side, fused by concat + 1x1 conv, then GAP + linear.

    A branch at scale s has 3 + log2(s) pooling stages, so all three end on the same grid.
    The double-resolution branch starts narrow (16 channels) because it is the expensive one.
    """

    def __init__(self, num_classes: int = 7, in_chans: int = 1, img_size: int = 48,
                 width: int = 32, fused: int = 256, dropout: float = 0.3):
        super().__init__()
        if img_size < 16:
            raise ValueError(f"img_size {img_size} is too small for the half-resolution branch")
        w = width
        self.scales = (0.5, 1.0, 2.0)
        self.sizes = tuple(max(1, round(img_size * s)) for s in self.scales)
        self.branches = nn.ModuleList([
            branch(in_chans, (2 * w, 4 * w)),  # 24 px -> 6
            branch(in_chans, (w, 2 * w, 4 * w)),  # 48 px -> 6
            branch(in_chans, (w // 2, w, 2 * w, 4 * w)),  # 96 px -> 6
        ])
        self.fuse = nn.Sequential(nn.Conv2d(3 * 4 * w, fused, 1, bias=False),
                                  nn.BatchNorm2d(fused), nn.ReLU(inplace=True))
        self.num_features = fused
        self.dropout = nn.Dropout(dropout)
        self.fc = nn.Linear(fused, num_classes)
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        maps = []
        for size, net in zip(self.sizes, self.branches, strict=True):
            maps.append(net(resize(x, size)))
        grid = maps[1].shape[-2:]
        # Rounding can leave a branch one cell off for sides that are not multiples of 8.
        maps = [m if m.shape[-2:] == grid else F.adaptive_avg_pool2d(m, grid) for m in maps]
        return self.fuse(torch.cat(maps, 1))

    def forward_head(self, feats: torch.Tensor) -> torch.Tensor:
        return self.fc(self.dropout(feats.mean((2, 3))))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.forward_head(self.forward_features(x))


@register("multiscale")
def multiscale(**kw: object) -> nn.Module:
    """Three branches at 24/48/96 px (for a 48 px input), widths up to 128 (about 0.94 M)."""
    return MultiScaleCNN(**kw)

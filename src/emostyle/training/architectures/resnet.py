"""torchvision ResNet-18/34/50 adapted to 48 px faces (random init; no download).

torchvision's ImageNet stem (7x7 stride-2 conv + max-pool) shrinks a 48 px face to 12x12 before
the first residual block and to 2x2 at the end. As in the CIFAR ResNets, the stem here is one
3x3 stride-1 conv without max-pool, so the four stages run at 48, 24, 12 and 6 px and the last
map Grad-CAM sees is 6x6. The seed's ResNets reached 51.2 / 51.9 / 67.1%.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn as nn
from torchvision.models import resnet18 as tv_resnet18
from torchvision.models import resnet34 as tv_resnet34
from torchvision.models import resnet50 as tv_resnet50

from emostyle.training.architectures.registry import register


class SmallInputResNet(nn.Module):
    """A torchvision ResNet with a 3x3 stride-1 stem, no max-pool, GAP + dropout + linear head."""

    def __init__(self, builder: Callable[..., nn.Module], num_classes: int = 7, in_chans: int = 1,
                 img_size: int = 48, dropout: float = 0.0, zero_init_residual: bool = True):
        super().__init__()
        del img_size  # fully convolutional: any side >= 8 works
        # Zero-initialising the last BN of each block makes every block start as the identity,
        # which trains deep ResNets from scratch more stably (Goyal et al. 2017).
        net = builder(weights=None, num_classes=num_classes, zero_init_residual=zero_init_residual)
        net.conv1 = nn.Conv2d(in_chans, 64, 3, stride=1, padding=1, bias=False)
        nn.init.kaiming_normal_(net.conv1.weight, mode="fan_out", nonlinearity="relu")
        self.stem = nn.Sequential(net.conv1, net.bn1, net.relu)
        self.layers = nn.Sequential(net.layer1, net.layer2, net.layer3, net.layer4)
        self.num_features = net.fc.in_features
        self.dropout = nn.Dropout(dropout)
        self.fc = net.fc

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        return self.layers(self.stem(x))

    def forward_head(self, feats: torch.Tensor) -> torch.Tensor:
        return self.fc(self.dropout(feats.mean((2, 3))))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.forward_head(self.forward_features(x))


@register("resnet18")
def resnet18(**kw: object) -> nn.Module:
    """ResNet-18 with a small-input stem (about 11.2 M parameters)."""
    return SmallInputResNet(tv_resnet18, **kw)


@register("resnet34")
def resnet34(**kw: object) -> nn.Module:
    """ResNet-34 with a small-input stem (about 21.3 M parameters)."""
    return SmallInputResNet(tv_resnet34, **kw)


@register("resnet50")
def resnet50(**kw: object) -> nn.Module:
    """ResNet-50 with a small-input stem (about 23.5 M parameters)."""
    return SmallInputResNet(tv_resnet50, **kw)

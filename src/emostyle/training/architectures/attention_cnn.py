"""A VGG-style CNN with CBAM attention (Woo et al. 2018) after every stage.

CBAM re-weights channels ("what") from average- and max-pooled descriptors through a shared MLP,
then positions ("where") from a 7x7 conv over the channel-wise mean and max. On faces the spatial
gate learns to favour eyes, brows and mouth; the seed's version of this idea was its best
from-scratch CNN (62.6%).
"""

from __future__ import annotations

import torch
import torch.nn as nn

from emostyle.training.architectures.registry import register
from emostyle.training.architectures.vgg_style import conv_bn_relu


class ChannelAttention(nn.Module):
    """Sigmoid gate per channel from a shared MLP over global average- and max-pooling."""

    def __init__(self, channels: int, reduction: int = 16):
        super().__init__()
        hidden = max(channels // reduction, 8)
        self.mlp = nn.Sequential(nn.Conv2d(channels, hidden, 1), nn.ReLU(inplace=True),
                                 nn.Conv2d(hidden, channels, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        avg = self.mlp(x.mean((2, 3), keepdim=True))
        mx = self.mlp(x.amax((2, 3), keepdim=True))
        return x * torch.sigmoid(avg + mx)


class SpatialAttention(nn.Module):
    """Sigmoid gate per position from a conv over the channel-wise mean and max."""

    def __init__(self, kernel_size: int = 7):
        super().__init__()
        self.conv = nn.Conv2d(2, 1, kernel_size, padding=kernel_size // 2, bias=False)
        self.bn = nn.BatchNorm2d(1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        desc = torch.cat([x.mean(1, keepdim=True), x.amax(1, keepdim=True)], 1)
        return x * torch.sigmoid(self.bn(self.conv(desc)))


class CBAM(nn.Sequential):
    """Channel attention followed by spatial attention, as in the paper."""

    def __init__(self, channels: int, reduction: int = 16, kernel_size: int = 7):
        super().__init__(ChannelAttention(channels, reduction), SpatialAttention(kernel_size))


class AttentionCNN(nn.Module):
    """Stages of ``depth`` 3x3 convs at widths w, 2w, 4w, 8w, each followed by CBAM.

    Stages are separated by 2x2 max-pooling; the last stage is not pooled, so at 48 px the map
    Grad-CAM sees is 6x6. Head: global average pooling + dropout + linear.
    """

    def __init__(self, num_classes: int = 7, in_chans: int = 1, img_size: int = 48,
                 width: int = 32, depths: tuple[int, ...] = (2, 2, 2, 2), reduction: int = 16,
                 dropout: float = 0.3):
        super().__init__()
        if img_size < 2 ** (len(depths) - 1):
            raise ValueError(f"img_size {img_size} is too small for {len(depths)} stages")
        stages: list[nn.Module] = []
        cin = in_chans
        for i, depth in enumerate(depths):
            cout = width * 2**i
            layers: list[nn.Module] = [nn.MaxPool2d(2)] if i else []
            for _ in range(depth):
                layers.append(conv_bn_relu(cin, cout))
                cin = cout
            layers.append(CBAM(cout, reduction))
            stages.append(nn.Sequential(*layers))
        self.features = nn.Sequential(*stages)
        self.num_features = cin
        self.dropout = nn.Dropout(dropout)
        self.fc = nn.Linear(cin, num_classes)
        for m in self.modules():
            if isinstance(m, nn.Conv2d) and m.kernel_size == (3, 3):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        return self.features(x)

    def forward_head(self, feats: torch.Tensor) -> torch.Tensor:
        return self.fc(self.dropout(feats.mean((2, 3))))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.forward_head(self.forward_features(x))


@register("attention_cnn")
def attention_cnn(**kw: object) -> nn.Module:
    """Width 32, 2-2-2-2 convs with CBAM after each stage (about 1.2 M parameters)."""
    return AttentionCNN(**kw)

"""Region specialists: eye, mouth and full-face expert CNNs with per-sample attention fusion.

Expressions are carried by a few regions - brows and eyes for anger, fear and surprise, the
mouth for happiness and disgust. The seed trained one expert per region and let a gate decide,
for each face, how much to trust each expert (53.2%). The regions are fixed boxes on the
aligned 48x48 face (FER2013 faces are roughly centred and upright):

- eyes: the band of rows 12%-55% of the height, full width (brows included);
- mouth: rows 60%-100%, columns 15%-85% (the lower third plus a margin for an open mouth).

Crops are taken and resized inside the model (to half height x full width of the input), so it
takes the same input as every other architecture and exports as one ONNX graph.

``forward_features`` returns the three experts' last maps stacked on channels - full face
``[:C]``, eyes ``[C:2C]``, mouth ``[2C:]`` - on the full-face grid (region maps are
nearest-upsampled, which keeps each expert's spatial mean when the sides divide evenly). A
Grad-CAM on the eye or mouth channels is in that crop's coordinates; :attr:`regions` gives the
boxes to map it back. ``forward_head`` pools each expert, computes the softmax weights of the
three experts from their pooled features, and classifies the weighted sum;
:meth:`expert_weights` returns those weights for inspection.
"""

from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F

from emostyle.training.architectures.registry import register
from emostyle.training.architectures.vgg_style import conv_bn_relu

# (top, bottom, left, right) as fractions of the face side.
EYES = (0.12, 0.55, 0.0, 1.0)
MOUTH = (0.60, 1.0, 0.15, 0.85)
EXPERTS = ("face", "eyes", "mouth")


def expert_cnn(in_chans: int, widths: tuple[int, ...]) -> nn.Sequential:
    """Stages of two 3x3 convs; 2x2 max-pooling between stages (none after the last)."""
    layers: list[nn.Module] = []
    cin = in_chans
    for i, cout in enumerate(widths):
        if i:
            layers.append(nn.MaxPool2d(2))
        layers += [conv_bn_relu(cin, cout), conv_bn_relu(cout, cout)]
        cin = cout
    return nn.Sequential(*layers)


def crop(x: torch.Tensor, box: tuple[float, float, float, float], size: tuple[int, int]
         ) -> torch.Tensor:
    """Cut ``box`` (fractions of the side) out of ``x`` and resize it to ``size`` (h, w)."""
    h, w = x.shape[-2:]
    # int(v + 0.5), not round(): under ONNX tracing the sides are tensors, which int() takes.
    top, bottom = int(box[0] * h + 0.5), int(box[1] * h + 0.5)
    left, right = int(box[2] * w + 0.5), int(box[3] * w + 0.5)
    region = x[..., top:bottom, left:right]
    if region.shape[-2:] == size:
        return region
    return F.interpolate(region, size=size, mode="bilinear", align_corners=False)


class RegionSpecialists(nn.Module):
    """Three expert CNNs (face at full size, eyes and mouth crops) + softmax-gated fusion."""

    def __init__(self, num_classes: int = 7, in_chans: int = 1, img_size: int = 48,
                 widths: tuple[int, ...] = (32, 64, 128, 128), gate_hidden: int = 64,
                 dropout: float = 0.3,
                 eyes: tuple[float, float, float, float] = EYES,
                 mouth: tuple[float, float, float, float] = MOUTH):
        super().__init__()
        if img_size < 2 ** len(widths):
            raise ValueError(f"img_size {img_size} is too small for {len(widths)} stages")
        self.regions = {"eyes": tuple(eyes), "mouth": tuple(mouth)}
        self.crop_size = (img_size // 2, img_size)
        self.experts = nn.ModuleDict({name: expert_cnn(in_chans, widths) for name in EXPERTS})
        c = widths[-1]
        self.expert_dim = c
        self.num_features = 3 * c
        self.gate = nn.Sequential(nn.Linear(3 * c, gate_hidden), nn.ReLU(inplace=True),
                                  nn.Linear(gate_hidden, 3))
        self.dropout = nn.Dropout(dropout)
        self.fc = nn.Linear(c, num_classes)
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
        # Start from equal trust in the three experts.
        nn.init.zeros_(self.gate[-1].weight)
        nn.init.zeros_(self.gate[-1].bias)

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        face = self.experts["face"](x)
        grid = face.shape[-2:]
        maps = [face]
        for name in ("eyes", "mouth"):
            m = self.experts[name](crop(x, self.regions[name], self.crop_size))
            maps.append(F.interpolate(m, size=grid, mode="nearest"))
        return torch.cat(maps, 1)

    def _pooled(self, feats: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Per-expert pooled features (N, 3, C) and their softmax weights (N, 3)."""
        pooled = feats.mean((2, 3))
        weights = torch.softmax(self.gate(pooled), 1)
        return pooled.unflatten(1, (3, self.expert_dim)), weights

    def expert_weights(self, x: torch.Tensor) -> torch.Tensor:
        """How much each expert (face, eyes, mouth) counts for each face, (N, 3), rows sum to 1."""
        return self._pooled(self.forward_features(x))[1]

    def forward_head(self, feats: torch.Tensor) -> torch.Tensor:
        pooled, weights = self._pooled(feats)
        fused = (pooled * weights.unsqueeze(2)).sum(1)
        return self.fc(self.dropout(fused))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.forward_head(self.forward_features(x))


@register("specialists")
def specialists(**kw: object) -> nn.Module:
    """Face, eyes and mouth experts (widths 32-128) with a softmax gate (about 1.8 M)."""
    return RegionSpecialists(**kw)

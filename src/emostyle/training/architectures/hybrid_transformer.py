"""Hybrid CNN + Transformer: a conv stem makes a 6x6 token grid, a small encoder mixes it.

Convolutions are good at local texture (wrinkles, teeth, brow shape) and cheap at high
resolution; self-attention relates distant parts (eyes and mouth together make a smile
genuine). The seed combined them this way (55.7%). The stem downsamples 8x (48 -> 6), the
encoder is pre-norm with a learned position embedding, and the head mean-pools the tokens, so
``forward_features`` returns the encoded token grid as a (N, C, 6, 6) map for Grad-CAM.
"""

from __future__ import annotations

import torch
import torch.nn as nn

from emostyle.training.architectures.registry import register
from emostyle.training.architectures.vgg_style import conv_bn_relu
from emostyle.training.architectures.vit_tiny import Block, init_transformer, tokens_to_map


class HybridTransformer(nn.Module):
    """Conv stem (stages at ``stem_widths``, 2x2 pooling after each) + Transformer encoder.

    ``len(stem_widths)`` sets the token grid: 3 stages give 6x6 tokens at 48 px, 2 give 12x12.
    """

    def __init__(self, num_classes: int = 7, in_chans: int = 1, img_size: int = 48,
                 stem_widths: tuple[int, ...] = (32, 64, 128), embed_dim: int = 192,
                 depth: int = 4, heads: int = 4, mlp_ratio: float = 2.0, drop: float = 0.1,
                 drop_path: float = 0.1, head_drop: float = 0.2):
        super().__init__()
        layers: list[nn.Module] = []
        cin = in_chans
        for cout in stem_widths:
            layers += [conv_bn_relu(cin, cout), conv_bn_relu(cout, cout), nn.MaxPool2d(2)]
            cin = cout
        self.stem = nn.Sequential(*layers)
        self.grid = img_size // 2 ** len(stem_widths)
        if self.grid < 1:
            raise ValueError(f"img_size {img_size} is too small for {len(stem_widths)} stages")
        self.proj = nn.Conv2d(cin, embed_dim, 1)  # CNN channels -> token width
        self.pos_embed = nn.Parameter(torch.zeros(1, self.grid**2, embed_dim))
        rates = torch.linspace(0, drop_path, depth).tolist()
        self.blocks = nn.Sequential(*[Block(embed_dim, heads, mlp_ratio, drop, 0.0, r)
                                      for r in rates])
        self.norm = nn.LayerNorm(embed_dim)
        self.num_features = embed_dim
        self.head_drop = nn.Dropout(head_drop)
        self.fc = nn.Linear(embed_dim, num_classes)
        init_transformer(self)
        nn.init.trunc_normal_(self.pos_embed, std=0.02)
        for m in self.stem.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")

    def forward_tokens(self, x: torch.Tensor) -> torch.Tensor:
        """Normalised tokens after the encoder, (N, grid*grid, embed_dim)."""
        x = self.proj(self.stem(x)).flatten(2).transpose(1, 2)
        return self.norm(self.blocks(x + self.pos_embed))

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        """The encoded tokens as a (N, embed_dim, grid, grid) map."""
        return tokens_to_map(self.forward_tokens(x), self.grid, self.grid)

    def forward_head(self, feats: torch.Tensor) -> torch.Tensor:
        return self.fc(self.head_drop(feats.mean((2, 3))))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.forward_head(self.forward_features(x))


@register("hybrid_transformer")
def hybrid_transformer(**kw: object) -> nn.Module:
    """Conv stem to 6x6 tokens + 4 pre-norm blocks of width 192 (about 1.5 M parameters)."""
    return HybridTransformer(**kw)

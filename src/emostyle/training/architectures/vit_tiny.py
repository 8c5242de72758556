"""ViT-Tiny (Dosovitskiy et al. 2021; DeiT-Ti sizes: embed 192, depth 12, 3 heads) in plain torch.

The seed fine-tuned timm's ImageNet-pretrained ``vit_tiny_patch16_224`` (69.9%), upsampling
faces to 224 px. Those weights cannot be downloaded here, so this model trains from scratch on
48 px faces with 4 px patches (a 12x12 token grid - the same 144-ish tokens a 224 px image gives
with 16 px patches at a fraction of the cost). From scratch on 28k faces a ViT needs strong
augmentation, label smoothing, stochastic depth and a long schedule; expect it below the CNNs.

Instead of a class token the head mean-pools the patch tokens (as timm's ``global_pool="avg"``),
which trains better from scratch and lets ``forward_features`` return the token grid as a
(N, C, h, w) map, so Grad-CAM works here exactly as on the CNNs. :class:`Block` is shared with
``hybrid_transformer``.
"""

from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F

from emostyle.training.architectures.registry import register


class Attention(nn.Module):
    """Multi-head self-attention through ``F.scaled_dot_product_attention`` (fused kernels)."""

    def __init__(self, dim: int, heads: int, attn_drop: float = 0.0, proj_drop: float = 0.0):
        super().__init__()
        if dim % heads:
            raise ValueError(f"embed dim {dim} is not divisible by {heads} heads")
        self.heads = heads
        self.qkv = nn.Linear(dim, 3 * dim)
        self.proj = nn.Linear(dim, dim)
        self.attn_drop = attn_drop
        self.proj_drop = nn.Dropout(proj_drop)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, n, c = x.shape
        q, k, v = self.qkv(x).reshape(b, n, 3, self.heads, c // self.heads).permute(2, 0, 3, 1, 4)
        x = F.scaled_dot_product_attention(q, k, v,
                                           dropout_p=self.attn_drop if self.training else 0.0)
        return self.proj_drop(self.proj(x.transpose(1, 2).reshape(b, n, c)))


class DropPath(nn.Module):
    """Stochastic depth: drop a residual branch for a whole sample with probability ``p``."""

    def __init__(self, p: float = 0.0):
        super().__init__()
        self.p = p

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.training or self.p == 0.0:
            return x
        keep = torch.rand(x.shape[0], *([1] * (x.ndim - 1)), device=x.device) >= self.p
        return x * keep.to(x.dtype) / (1 - self.p)


class Block(nn.Module):
    """Pre-norm Transformer encoder block: x + attn(LN(x)), then x + MLP(LN(x))."""

    def __init__(self, dim: int, heads: int, mlp_ratio: float = 4.0, drop: float = 0.0,
                 attn_drop: float = 0.0, drop_path: float = 0.0):
        super().__init__()
        hidden = int(dim * mlp_ratio)
        self.norm1 = nn.LayerNorm(dim)
        self.attn = Attention(dim, heads, attn_drop, drop)
        self.norm2 = nn.LayerNorm(dim)
        self.mlp = nn.Sequential(nn.Linear(dim, hidden), nn.GELU(), nn.Dropout(drop),
                                 nn.Linear(hidden, dim), nn.Dropout(drop))
        self.drop_path = DropPath(drop_path)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.drop_path(self.attn(self.norm1(x)))
        return x + self.drop_path(self.mlp(self.norm2(x)))


def init_transformer(module: nn.Module) -> None:
    """ViT initialisation: truncated-normal(0.02) linears, zero biases, unit LayerNorms."""
    for m in module.modules():
        if isinstance(m, nn.Linear):
            nn.init.trunc_normal_(m.weight, std=0.02)
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, nn.LayerNorm):
            nn.init.ones_(m.weight)
            nn.init.zeros_(m.bias)


def tokens_to_map(tokens: torch.Tensor, h: int, w: int) -> torch.Tensor:
    """(N, h*w, C) tokens -> (N, C, h, w) map."""
    return tokens.transpose(1, 2).reshape(tokens.shape[0], tokens.shape[2], h, w)


class VisionTransformer(nn.Module):
    """Patch embedding + learned position embedding + pre-norm encoder + mean-pool head."""

    def __init__(self, num_classes: int = 7, in_chans: int = 1, img_size: int = 48,
                 patch_size: int = 4, embed_dim: int = 192, depth: int = 12, heads: int = 3,
                 mlp_ratio: float = 4.0, drop: float = 0.0, drop_path: float = 0.1,
                 head_drop: float = 0.0):
        super().__init__()
        if img_size % patch_size:
            raise ValueError(f"img_size {img_size} is not a multiple of patch_size {patch_size}")
        self.grid = img_size // patch_size
        self.patch_embed = nn.Conv2d(in_chans, embed_dim, patch_size, stride=patch_size)
        self.pos_embed = nn.Parameter(torch.zeros(1, self.grid**2, embed_dim))
        self.pos_drop = nn.Dropout(drop)
        rates = torch.linspace(0, drop_path, depth).tolist()  # deeper blocks dropped more
        self.blocks = nn.Sequential(*[Block(embed_dim, heads, mlp_ratio, drop, 0.0, r)
                                      for r in rates])
        self.norm = nn.LayerNorm(embed_dim)
        self.num_features = embed_dim
        self.head_drop = nn.Dropout(head_drop)
        self.fc = nn.Linear(embed_dim, num_classes)
        init_transformer(self)
        nn.init.trunc_normal_(self.pos_embed, std=0.02)
        # A patch embedding is a linear layer over the flattened patch; init it like one.
        w = self.patch_embed.weight
        nn.init.xavier_uniform_(w.view(w.shape[0], -1))
        nn.init.zeros_(self.patch_embed.bias)

    def forward_tokens(self, x: torch.Tensor) -> torch.Tensor:
        """Normalised patch tokens after the encoder, (N, grid*grid, embed_dim)."""
        x = self.patch_embed(x).flatten(2).transpose(1, 2)
        x = self.pos_drop(x + self.pos_embed)
        return self.norm(self.blocks(x))

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        """The patch tokens as a (N, embed_dim, grid, grid) map (12x12 at 48 px, patch 4)."""
        return tokens_to_map(self.forward_tokens(x), self.grid, self.grid)

    def forward_head(self, feats: torch.Tensor) -> torch.Tensor:
        return self.fc(self.head_drop(feats.mean((2, 3))))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.forward_head(self.forward_features(x))


@register("vit_tiny")
def vit_tiny(**kw: object) -> nn.Module:
    """ViT-Tiny, patch 4 at 48 px, trained from scratch (about 5.4 M parameters)."""
    return VisionTransformer(**kw)

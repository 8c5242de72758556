"""Explanations in the workbench: Grad-CAM for convolutional models, attention rollout for
transformers.

Grad-CAM (Selvaraju et al. 2017) weights the last feature map by the spatially averaged gradient
of the class score; every registered image architecture exposes that map through
``forward_features``. Attention rollout (Abnar & Zuidema 2020) multiplies the head-averaged
attention matrices of all blocks (plus the identity for the residual path) and reads how much
each patch token feeds the mean-pooled output; it is used for ``vit_tiny`` and
``hybrid_transformer``, whose attention, not convolution, decides where the model looks.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

ROLLOUT_ARCHS = ("vit_tiny", "hybrid_transformer")


def _normalise(maps: torch.Tensor) -> np.ndarray:
    maps = maps.clamp(min=0)
    top = maps.flatten(1).max(1).values.clamp(min=1e-12)
    return (maps / top[:, None, None]).detach().float().cpu().numpy()


def grad_cam(model: nn.Module, x: torch.Tensor, target: torch.Tensor | None = None
             ) -> tuple[np.ndarray, np.ndarray]:
    """(maps (N, h, w) in [0, 1], logits) for ``target`` classes (default: the predictions)."""
    model.eval()
    with torch.enable_grad():
        feats = model.forward_features(x)
        feats.retain_grad()
        logits = model.forward_head(feats)
        if target is None:
            target = logits.argmax(1)
        score = logits.gather(1, target[:, None]).sum()
        model.zero_grad(set_to_none=True)
        score.backward()
        weights = feats.grad.mean((2, 3), keepdim=True)
        cam = (weights * feats).sum(1)
    return _normalise(cam), logits.detach().cpu().numpy()


def attention_rollout(model: nn.Module, x: torch.Tensor) -> tuple[np.ndarray, np.ndarray]:
    """(maps (N, h, w) in [0, 1], logits) from the attention of every Transformer block."""
    from emostyle.training.architectures.vit_tiny import Attention

    attentions: list[torch.Tensor] = []

    def hook(module: Attention, inputs: tuple[torch.Tensor], _out: torch.Tensor) -> None:
        (t,) = inputs
        b, n, c = t.shape
        q, k, _ = module.qkv(t).reshape(b, n, 3, module.heads, c // module.heads
                                        ).permute(2, 0, 3, 1, 4)
        att = (q @ k.transpose(-2, -1)) * (c // module.heads) ** -0.5
        attentions.append(att.softmax(-1).mean(1))  # average the heads

    handles = [m.register_forward_hook(hook) for m in model.modules() if isinstance(m, Attention)]
    try:
        model.eval()
        with torch.no_grad():
            feats = model.forward_features(x)
            logits = model.forward_head(feats)
    finally:
        for h in handles:
            h.remove()
    if not attentions:
        raise ValueError("model has no attention blocks to roll out")
    n = attentions[0].shape[-1]
    eye = torch.eye(n, device=x.device)
    rollout = eye.expand_as(attentions[0])
    for att in attentions:
        a = 0.5 * att + 0.5 * eye
        rollout = (a / a.sum(-1, keepdim=True)) @ rollout
    h, w = feats.shape[-2:]
    tokens = rollout.mean(1)  # the head mean-pools tokens: average over query rows
    if tokens.shape[-1] != h * w:  # a class token at position 0
        tokens = tokens[:, -h * w:]
    return _normalise(tokens.reshape(-1, h, w)), logits.cpu().numpy()


def explain_batch(model: nn.Module, arch: str, x: torch.Tensor, size: int
                  ) -> tuple[np.ndarray, np.ndarray]:
    """Maps upsampled to ``size`` x ``size`` and logits, with the method that suits ``arch``."""
    maps, logits = (attention_rollout(model, x) if arch in ROLLOUT_ARCHS
                    else grad_cam(model, x))
    up = F.interpolate(torch.from_numpy(maps)[:, None], size=(size, size), mode="bilinear",
                       align_corners=False)[:, 0].numpy()
    return up, logits

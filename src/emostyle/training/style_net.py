"""The style network: Johnson et al.'s residual transformer with conditional instance norm.

Johnson, Alahi & Fei-Fei (2016) with the usual fixes - reflection padding, and nearest-neighbour
upsampling followed by a convolution instead of transposed convolutions (no checkerboard
artefacts). Every instance norm is *conditional* (Dumoulin, Shlens & Kudlur 2017): the network holds
one row of scale (gamma) and shift (beta) parameters per style, and the forward pass takes a
style-weight vector per picture, so ``weights @ gamma`` and ``weights @ beta`` blend any mix of
styles in a single pass. A one-hot vector is exactly one trained style.

Pixels in and out are **RGB, float, 0..255** (the same scale as the uint8 pictures the stylizer
reads and writes); the output passes through ``255 * sigmoid`` so it is always a valid colour.

The width, the number of residual blocks and depthwise-separable residual convolutions are
parameters because the full-size network (width 32, 5 blocks: ~40 GMACs at 512x512) is several
times too slow for interactive use on a laptop CPU; docs/styles.md has the measurements.

Instance-norm statistics can be *given* instead of computed (:meth:`StyleNet.forward_with_stats`).
The stylizer uses this to cut a big photo into tiles that are all normalised with the statistics
of the whole picture, so tiles do not come out in different tones. It is exported as a second,
"tiling" ONNX graph; the ordinary graph keeps the framework's fused instance norm.
"""

from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F

from emostyle.training.configs import StyleNetConfig

EPS = 1e-5


class ConvLayer(nn.Module):
    """Reflection-padded convolution (optionally depthwise-separable), stride 1 or 2."""

    def __init__(self, cin: int, cout: int, kernel: int, stride: int = 1,
                 separable: bool = False) -> None:
        super().__init__()
        self.pad = kernel // 2
        if separable:
            self.conv = nn.Sequential(
                nn.Conv2d(cin, cin, kernel, stride, groups=cin, bias=False),
                nn.Conv2d(cin, cout, 1))
        else:
            self.conv = nn.Conv2d(cin, cout, kernel, stride)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.pad:
            x = F.pad(x, (self.pad,) * 4, mode="reflect")
        return self.conv(x)


def f32(x: torch.Tensor) -> torch.Tensor:
    """float32 without a copy (and without a Cast node in the exported graph) when it is one."""
    return x if x.dtype == torch.float32 else x.float()


def as_dtype(x: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
    return x if x.dtype == dtype else x.to(dtype)


class CondInstanceNorm(nn.Module):
    """Instance norm whose affine parameters are a slice of the network's per-style tables.

    The layer owns no parameters: :class:`StyleNet` blends the tables once for all layers
    (:class:`StyleParams`) and each layer takes its slice.
    """

    def __init__(self, channels: int, offset: int) -> None:
        super().__init__()
        self.channels = channels
        self.offset = offset

    def forward(self, x: torch.Tensor, params: StyleParams, ctx: NormContext) -> torch.Tensor:
        sl = slice(self.offset, self.offset + self.channels)
        if params.map is None:
            if not ctx.track:
                # The ordinary path: the framework's instance norm (one fused kernel in ONNX
                # Runtime, ~25% less memory than the explicit statistics below), in float32,
                # with each picture's blended scale and shift as the norm's own affine
                # parameters: the pictures of a batch become the channels of one picture,
                # so the exported graph has no separate Mul and Add over every activation.
                n, ch, h, w = x.shape
                # (the blended tables are bf16 under autocast; the kernel wants one dtype)
                y = F.instance_norm(f32(x).reshape(1, n * ch, h, w),
                                    weight=f32(params.gamma[:, sl]).reshape(-1),
                                    bias=f32(params.beta[:, sl]).reshape(-1), eps=EPS)
                return as_dtype(y.reshape(n, ch, h, w), x.dtype)
            mean, var = self._stats(x, sl, ctx)
            scale = params.gamma[:, sl] * torch.rsqrt(var.clamp_min(0.0) + EPS)
            shift = params.beta[:, sl] - mean * scale
            return as_dtype(f32(x) * scale[:, :, None, None] + shift[:, :, None, None], x.dtype)
        # Spatially varying styles: the statistics stay those of the whole picture (so the
        # tiling scheme is unchanged); only the affine part differs from pixel to pixel.
        gamma, beta = params.at(sl, x)
        if not ctx.track:
            y = F.instance_norm(f32(x), eps=EPS)
        else:
            mean, var = self._stats(x, sl, ctx)
            y = (f32(x) - mean[:, :, None, None]) * torch.rsqrt(var.clamp_min(0.0) + EPS
                                                              )[:, :, None, None]
        return as_dtype(y * gamma + beta, x.dtype)

    @staticmethod
    def _stats(x: torch.Tensor, sl: slice, ctx: NormContext
               ) -> tuple[torch.Tensor, torch.Tensor]:
        xf = f32(x)
        mean = xf.mean(dim=(2, 3))
        # E[x^2] - E[x]^2: two reductions, no centred copy; float32 keeps it accurate here.
        var = (xf * xf).mean(dim=(2, 3)) - mean * mean
        ctx.own_mean.append(mean)
        ctx.own_var.append(var)
        if ctx.given_mean is not None:
            mean = mean + ctx.mix * (ctx.given_mean[:, sl] - mean)
            var = var + ctx.mix * (ctx.given_var[:, sl] - var)
        return mean, var


class StyleParams:
    """The per-style tables blended by the style weights, for every norm layer.

    ``weights`` (N, S): one blend per picture, computed once (``weights @ gamma``).
    ``weights`` (N, S, h, w): a style-weight *map* (each pixel its own blend; any resolution,
    resized to each layer's): per-face painting in one pass. A constant map gives exactly
    the blend of its value.
    """

    def __init__(self, weights: torch.Tensor, gamma: torch.Tensor, beta: torch.Tensor) -> None:
        weights = f32(weights)
        self.tables = (gamma, beta)
        if weights.ndim == 2:
            self.map = None
            self.gamma, self.beta = weights @ gamma, weights @ beta
        elif weights.ndim == 4:
            self.map = weights
            self._resized: dict[tuple[int, int], torch.Tensor] = {}
        else:
            raise ValueError(f"style weights must be (N, S) or (N, S, h, w), got "
                             f"{tuple(weights.shape)}")

    def at(self, sl: slice, like: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(N, C, h, w) scale and shift maps for the channels ``sl`` at ``like``'s size."""
        size = (int(like.shape[-2]), int(like.shape[-1]))
        if size not in self._resized:  # layers of one stage share the resized map
            self._resized[size] = F.interpolate(self.map, size=like.shape[-2:],
                                                mode="bilinear", align_corners=False)
        m = self._resized[size]
        gamma, beta = self.tables
        return (F.conv2d(m, gamma[:, sl].t()[:, :, None, None]),
                F.conv2d(m, beta[:, sl].t()[:, :, None, None]))


class NormContext:
    """Per-forward scratch space: the statistics each norm layer measured or was given."""

    def __init__(self, stats: torch.Tensor | None, mix: torch.Tensor | None,
                 total: int, track: bool = True) -> None:
        self.track = track
        self.own_mean: list[torch.Tensor] = []
        self.own_var: list[torch.Tensor] = []
        if stats is None:
            self.given_mean = self.given_var = None
            self.mix = None
        else:
            self.given_mean, self.given_var = stats[:, :total], stats[:, total:]
            self.mix = mix.reshape(-1, 1) if mix is not None else torch.ones(1, 1)

    def packed(self) -> torch.Tensor:
        """(N, 2 * total_channels): every layer's means, then every layer's variances."""
        if not self.own_mean:
            return torch.zeros(0)
        return torch.cat(self.own_mean + self.own_var, dim=1)


class ResidualBlock(nn.Module):
    def __init__(self, channels: int, offset: int, separable: bool) -> None:
        super().__init__()
        self.conv1 = ConvLayer(channels, channels, 3, separable=separable)
        self.norm1 = CondInstanceNorm(channels, offset)
        self.conv2 = ConvLayer(channels, channels, 3, separable=separable)
        self.norm2 = CondInstanceNorm(channels, offset + channels)

    def forward(self, x, params, ctx):  # noqa: ANN001, ANN201
        y = F.relu(self.norm1(self.conv1(x), params, ctx))
        return x + self.norm2(self.conv2(y), params, ctx)


class StyleNet(nn.Module):
    """Image (N, 3, H, W) RGB 0..255 + style weights (N, S) -> stylised image, same size.

    Any H and W work (odd sizes included): upsampling goes back to the exact size of the
    matching encoder stage.
    """

    def __init__(self, cfg: StyleNetConfig) -> None:
        super().__init__()
        self.cfg = cfg
        w = cfg.width
        offset = 0

        def norm(c: int) -> CondInstanceNorm:
            nonlocal offset
            layer = CondInstanceNorm(c, offset)
            offset += c
            return layer

        self.conv1, self.norm1 = ConvLayer(3, w, cfg.in_kernel), norm(w)
        self.down1, self.norm2 = ConvLayer(w, 2 * w, 3, stride=2), norm(2 * w)
        self.down2, self.norm3 = ConvLayer(2 * w, 4 * w, 3, stride=2), norm(4 * w)
        self.res = nn.ModuleList()
        for _ in range(cfg.blocks):
            self.res.append(ResidualBlock(4 * w, offset, cfg.separable))
            offset += 8 * w
        self.up1, self.norm4 = ConvLayer(4 * w, 2 * w, 3), norm(2 * w)
        self.up2, self.norm5 = ConvLayer(2 * w, w, 3), norm(w)
        self.out = ConvLayer(w, 3, cfg.out_kernel)
        self.norm_channels = offset
        self.gamma = nn.Parameter(torch.ones(cfg.num_styles, offset))
        self.beta = nn.Parameter(torch.zeros(cfg.num_styles, offset))

    def forward(self, image: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
        """Stylise ``image`` (N, 3, H, W; RGB 0..255) with style ``weights`` (N, S), or a
        style-weight map (N, S, h, w) that gives every region its own blend."""
        return self._run(image, weights, NormContext(None, None, self.norm_channels,
                                                     track=False))

    def forward_with_stats(self, image: torch.Tensor, weights: torch.Tensor,
                           stats: torch.Tensor | None = None, mix: torch.Tensor | None = None
                           ) -> tuple[torch.Tensor, torch.Tensor]:
        """The stylised image and the instance-norm statistics it measured (N, 2*C).

        With ``stats`` (a packed tensor as returned here) and ``mix`` (N,) or scalar, each norm
        layer uses ``own + mix * (given - own)``: mix 0 is the ordinary forward, mix 1 uses the
        given statistics (tiles normalised like the whole picture).
        """
        ctx = NormContext(stats, mix, self.norm_channels)
        return self._run(image, weights, ctx), ctx.packed()

    def _run(self, image: torch.Tensor, weights: torch.Tensor, ctx: NormContext
             ) -> torch.Tensor:
        p = StyleParams(weights, self.gamma, self.beta)
        x = image / 127.5 - 1.0
        x = F.relu(self.norm1(self.conv1(x), p, ctx))
        skip1 = x
        x = F.relu(self.norm2(self.down1(x), p, ctx))
        skip2 = x
        x = F.relu(self.norm3(self.down2(x), p, ctx))
        for block in self.res:
            x = block(x, p, ctx)
        x = F.interpolate(x, size=skip2.shape[-2:], mode="nearest")
        x = F.relu(self.norm4(self.up1(x), p, ctx))
        x = F.interpolate(x, size=skip1.shape[-2:], mode="nearest")
        x = F.relu(self.norm5(self.up2(x), p, ctx))
        x = self.out(x)
        return 255.0 * torch.sigmoid(f32(x))


def count_macs(cfg: StyleNetConfig, height: int, width: int) -> int:
    """Multiply-accumulates of the convolutions for one picture (norms and activations aside)."""
    w, ki, ko = cfg.width, cfg.in_kernel, cfg.out_kernel
    h2, w2 = -(-height // 2), -(-width // 2)
    h4, w4 = -(-h2 // 2), -(-w2 // 2)
    full, half, quarter = height * width, h2 * w2, h4 * w4
    c = 4 * w
    res_conv = (9 * c + c * c) if cfg.separable else 9 * c * c
    return (ki * ki * 3 * w * full + 9 * w * 2 * w * half + 9 * 2 * w * 4 * w * quarter
            + 2 * cfg.blocks * res_conv * quarter
            + 9 * 4 * w * 2 * w * half + 9 * 2 * w * w * full + ko * ko * w * 3 * full)


def receptive_radius(cfg: StyleNetConfig) -> int:
    """How far (in input pixels) an output pixel can see: tiles need at least this overlap."""
    r = cfg.in_kernel // 2  # first conv at full resolution
    r += 1 + 2  # the two stride-2 convs (at 1/1 and 1/2 resolution)
    r += cfg.blocks * 2 * 4  # two 3x3 convs per block at 1/4 resolution
    r += 2 + 1  # decoder convs at 1/2 and 1/1
    r += cfg.out_kernel // 2
    return r + 3  # nearest upsampling can shift a pixel's footprint by up to 3 px


def one_hot(index: int, num_styles: int, batch: int = 1) -> torch.Tensor:
    w = torch.zeros(batch, num_styles)
    w[:, index] = 1.0
    return w

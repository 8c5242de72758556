"""Start a classifier run from trained weights (``emostyle train --init``).

One CPU session trains a vgg_small for about 28 epochs: a model that needs more is trained over
several sessions, each a warm restart of the learning-rate schedule from the last one's weights.
The weights come from a run directory or ``.pt`` checkpoint when that is still on the machine,
or from an exported ONNX model (the bundled ``default``, an ensemble member), which is committed
and so survives a new machine.

An exported graph has each BatchNorm folded into the convolution before it (weight scaled,
bias added). :func:`unfold_batchnorm` restores a trainable BatchNorm without changing what the
network computes: it measures each convolution's output on real training faces and sets the
BatchNorm's statistics and affine parameters so that it passes ``conv(x) + folded_bias``
through unchanged - exactly in eval mode, and for the calibration batch in train mode too.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import onnx
import torch
import torch.nn as nn
from onnx import numpy_helper

from emostyle.errors import EmostyleError

CALIBRATION_FACES = 512


def init_source_kind(source: str | Path) -> str:
    """``"checkpoint"`` (run directory or .pt) or ``"onnx"``; a clear error for anything else."""
    path = Path(source)
    if path.is_dir():
        if not (path / "best.pt").is_file():
            raise EmostyleError(f"--init {path}: no best.pt (is this a run directory?)")
        return "checkpoint"
    if not path.is_file():
        raise EmostyleError(f"--init {path}: no such file or run directory")
    if path.suffix == ".pt":
        return "checkpoint"
    if path.suffix == ".onnx":
        return "onnx"
    raise EmostyleError(f"--init {path}: give a run directory, a .pt checkpoint or an .onnx model")


def check_init_source(source: str | Path, arch: str, mean: float, std: float) -> None:
    """Fail before training starts when ``source`` was trained for another network or input.

    Widths and layer shapes are checked when the weights are loaded; this catches what shapes
    cannot (another architecture with the same layers, another normalisation).
    """
    path = Path(source)
    if init_source_kind(path) == "checkpoint":
        ckpt = torch.load(path / "best.pt" if path.is_dir() else path, map_location="cpu",
                          weights_only=False)
        saved = ckpt.get("config", {})
        theirs = (saved.get("arch"), saved.get("mean"), saved.get("std"))
    else:
        card_path = path.with_suffix(".json")
        if not card_path.is_file():
            raise EmostyleError(f"--init {path}: its card {card_path.name} is missing (it says "
                                "which network and input the weights are for)")
        card = json.loads(card_path.read_text())
        theirs = (card.get("architecture"), card["input"]["mean"][0], card["input"]["std"][0])
    if theirs[0] != arch:
        raise EmostyleError(f"--init {path}: trained as {theirs[0]}, not {arch}; give the "
                            "same --arch")
    if theirs[1] is not None and (abs(theirs[1] - mean) > 1e-4 or abs(theirs[2] - std) > 1e-4):
        raise EmostyleError(f"--init {path}: trained with input mean/std {theirs[1]}/{theirs[2]},"
                            f" this run uses {mean}/{std}")


def load_checkpoint_weights(model: nn.Module, source: str | Path) -> None:
    """Copy a run's ``best.pt`` (or the given ``.pt``) into ``model`` (same architecture)."""
    path = Path(source)
    ckpt = torch.load(path / "best.pt" if path.is_dir() else path, map_location="cpu",
                      weights_only=False)
    try:
        model.load_state_dict(ckpt["model"])
    except RuntimeError as exc:
        raise EmostyleError(f"--init {path}: weights do not fit this network "
                            f"({str(exc).splitlines()[1].strip()})") from None


def onnx_layer_weights(path: str | Path) -> list[tuple[str, np.ndarray, np.ndarray | None]]:
    """``(op, weight, bias)`` of every Conv and Gemm node, in graph order, as float32.

    fp16 models store weights as float16 initialisers behind a Cast node; int8 models
    (``export --int8``, int8 members) as integers behind a DequantizeLinear node, read back as
    the values it computes, ``(q - zero_point) * scale`` per output channel. All are read.
    """
    graph = onnx.load(str(path)).graph
    tensors = {t.name: numpy_helper.to_array(t).astype(np.float32) for t in graph.initializer}
    casts = {n.output[0]: n.input[0] for n in graph.node if n.op_type == "Cast"}
    dequantized = {n.output[0]: n for n in graph.node if n.op_type == "DequantizeLinear"}

    def stored(name: str) -> np.ndarray:
        if name not in tensors:
            raise EmostyleError(f"--init {path}: a layer's weights are computed, not stored; "
                                "this graph cannot be read back")
        return tensors[name]

    def value(name: str) -> np.ndarray:
        name = casts.get(name, name)
        if name not in dequantized:
            return stored(name)
        node = dequantized[name]
        q, scale = stored(node.input[0]), stored(node.input[1])
        zero = stored(node.input[2]) if len(node.input) > 2 and node.input[2] else 0.0
        axis = next((onnx.helper.get_attribute_value(a) for a in node.attribute
                     if a.name == "axis"), 1)
        if np.ndim(scale) == 1 and q.ndim > 1:  # per channel: along ``axis``
            shape = [1] * q.ndim
            shape[axis] = -1
            scale = scale.reshape(shape)
            zero = np.reshape(zero, shape) if np.ndim(zero) == 1 else zero
        return ((q - zero) * scale).astype(np.float32)

    layers = []
    for node in graph.node:
        if node.op_type not in ("Conv", "Gemm"):
            continue
        if node.op_type == "Gemm":
            attrs = {a.name: onnx.helper.get_attribute_value(a) for a in node.attribute}
            if attrs.get("transB", 0) != 1 or attrs.get("transA", 0) != 0:
                raise EmostyleError(f"--init {path}: an unexpected Gemm layout")
        bias = value(node.input[2]) if len(node.input) > 2 and node.input[2] else None
        layers.append((node.op_type, value(node.input[1]), bias))
    return layers


def layers_in_call_order(model: nn.Module, example: torch.Tensor) -> list[nn.Module]:
    """Conv2d, BatchNorm2d and Linear modules in the order the forward pass calls them."""
    order: list[nn.Module] = []
    hooks = [m.register_forward_pre_hook(lambda mod, _args: order.append(mod))
             for m in model.modules() if isinstance(m, (nn.Conv2d, nn.BatchNorm2d, nn.Linear))]
    try:
        with torch.no_grad():
            model.eval()(example)
    finally:
        for h in hooks:
            h.remove()
    return order


@torch.no_grad()
def unfold_batchnorm(model: nn.Module, calibration: torch.Tensor,
                     folded_bias: dict[nn.BatchNorm2d, torch.Tensor]) -> None:
    """Set each BatchNorm so that ``bn(conv(x)) == conv(x) + folded_bias`` (see the module doc).

    With ``mean, var`` of the BN's input over ``calibration``: running stats ``mean, var``,
    ``gamma = sqrt(var + eps)`` and ``beta = mean + folded_bias``. Layers are set in call order
    inside one forward pass, so each one is measured on its already restored predecessors.
    """

    def set_stats(bn: nn.BatchNorm2d, args: tuple[torch.Tensor, ...]) -> None:
        y = args[0].float()
        mean = y.mean((0, 2, 3))
        var = y.var((0, 2, 3), unbiased=False)
        bn.running_mean.copy_(mean)
        bn.running_var.copy_(var)
        bn.weight.copy_(torch.sqrt(var + bn.eps))
        bn.bias.copy_(mean + folded_bias[bn])

    hooks = [bn.register_forward_pre_hook(set_stats) for bn in folded_bias]
    try:
        model.eval()(calibration)
    finally:
        for h in hooks:
            h.remove()


@torch.no_grad()
def load_onnx_weights(model: nn.Module, source: str | Path, calibration: torch.Tensor) -> None:
    """Copy an exported model's Conv/Gemm weights into ``model``, un-folding its BatchNorms.

    ``calibration`` is a batch of normalised training faces (N, C, H, W).
    """
    layers = onnx_layer_weights(source)
    order = layers_in_call_order(model, calibration[:2])
    params = [m for m in order if not isinstance(m, nn.BatchNorm2d)]
    if len(params) != len(layers):
        raise EmostyleError(f"--init {source}: {len(layers)} layers in the graph, "
                            f"{len(params)} in this network; give the same --arch and --width")
    folded_bias: dict[nn.BatchNorm2d, torch.Tensor] = {}
    for i, (module, (op, weight, bias)) in enumerate(zip(params, layers, strict=True)):
        expected = nn.Conv2d if op == "Conv" else nn.Linear
        if not isinstance(module, expected) or tuple(module.weight.shape) != weight.shape:
            raise EmostyleError(f"--init {source}: layer {i + 1} is {weight.shape} in the graph, "
                                f"{tuple(module.weight.shape)} here; give the same --arch and "
                                "--width")
        module.weight.copy_(torch.from_numpy(weight))
        at = order.index(module)
        follower = order[at + 1] if at + 1 < len(order) else None
        if isinstance(follower, nn.BatchNorm2d):
            folded_bias[follower] = torch.from_numpy(bias if bias is not None else
                                                     np.zeros(weight.shape[0], np.float32))
            if module.bias is not None:
                module.bias.zero_()
        elif module.bias is not None:
            module.bias.copy_(torch.from_numpy(bias if bias is not None else
                                               np.zeros(weight.shape[0], np.float32)))
        elif bias is not None and np.abs(bias).max() > 0:
            raise EmostyleError(f"--init {source}: layer {i + 1} has a bias this network lacks")
    unfold_batchnorm(model, calibration, folded_bias)


def init_weights(model: nn.Module, source: str | Path, calibration: torch.Tensor) -> None:
    """Load ``source``'s weights into ``model`` (a checkpoint as is; ONNX with BN restored)."""
    if init_source_kind(source) == "checkpoint":
        load_checkpoint_weights(model, source)
    else:
        load_onnx_weights(model, source, calibration)

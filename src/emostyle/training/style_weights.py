"""A style network rebuilt from an exported model's ONNX weights.

Its own module (below both the exporter and the training loop) because training warm-starts
from an exported model and the exporter adds graphs to one whose checkpoint is gone.
"""

from __future__ import annotations

from pathlib import Path

import torch

from emostyle.model_files import load_card, style_graph_path
from emostyle.training.style_net import StyleNet, StyleNetConfig


def net_from_onnx(onnx_path: str | Path) -> StyleNet:
    """Rebuild the PyTorch network of an exported style model from its ONNX weights.

    The exporter keeps parameter names, so the tiling graph's initialisers are the state dict
    (prefixed ``net.``); the card gives the shape. Used to add graphs to a model whose
    training checkpoint is gone, with a parity check against the graph it came from.
    """
    import onnx
    from onnx import numpy_helper

    onnx_path = Path(onnx_path)
    card = load_card(onnx_path)
    net = StyleNet(StyleNetConfig.from_dict(card["architecture_kwargs"]))
    graph = onnx.load(str(style_graph_path(onnx_path, "tiling"))).graph
    state = {i.name.removeprefix("net."): torch.from_numpy(numpy_helper.to_array(i).copy())
             for i in graph.initializer if i.name.startswith("net.")}
    net.load_state_dict(state)
    return net.eval()

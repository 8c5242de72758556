"""Registry of classifier architectures: ``create_model(name, ...)`` builds any of them.

Each family lives in its own module and registers its names with :func:`register`; importing this
package imports every family so the registry is complete.
"""

from __future__ import annotations

from collections.abc import Callable

import torch.nn as nn

from emostyle.errors import EmostyleError

_REGISTRY: dict[str, Callable[..., nn.Module]] = {}


def register(name: str) -> Callable[[Callable[..., nn.Module]], Callable[..., nn.Module]]:
    """Decorator: make a model constructor reachable as ``create_model(name)``."""

    def wrap(fn: Callable[..., nn.Module]) -> Callable[..., nn.Module]:
        if name in _REGISTRY:
            raise ValueError(f"architecture {name!r} registered twice")
        _REGISTRY[name] = fn
        return fn

    return wrap


def available() -> list[str]:
    """Names accepted by :func:`create_model`, sorted."""
    return sorted(_REGISTRY)


def create_model(name: str, num_classes: int = 7, in_chans: int = 1, img_size: int = 48,
                 **kwargs: object) -> nn.Module:
    """Build architecture ``name`` for ``in_chans`` x ``img_size`` x ``img_size`` inputs."""
    if name not in _REGISTRY:
        raise EmostyleError(f"unknown architecture {name!r}; available: {', '.join(available())}")
    return _REGISTRY[name](num_classes=num_classes, in_chans=in_chans, img_size=img_size, **kwargs)


# Each family module registers its models on import.
from emostyle.training.architectures import (  # noqa: E402,F401
    attention_cnn,
    baseline_cnn,
    deep_cnn,
    hybrid_transformer,
    landmark_mlp,
    multiscale,
    resnet,
    specialists,
    vgg16,
    vgg_style,
    vit_tiny,
)

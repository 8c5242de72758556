"""The architecture registry: family modules register constructors, ``create_model`` builds them.

Kept apart from the package ``__init__`` (which imports every family) so a family module imports
this and not its own package: no import circle.
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

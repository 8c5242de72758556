"""Registry of classifier architectures: ``create_model(name, ...)`` builds any of them.

Each family lives in its own module and registers its names with :func:`register` (from
:mod:`.registry`); importing this package imports every family so the registry is complete.
"""

from __future__ import annotations

from emostyle.training.architectures.registry import available, create_model, register

__all__ = ["available", "create_model", "register"]

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

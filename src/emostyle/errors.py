"""One exception base class so callers (and the CLI) can tell our errors from bugs."""

from __future__ import annotations


class EmostyleError(Exception):
    """Base of every error emostyle raises on purpose; the CLI prints it as one line."""

    exit_code = 1


class InputError(EmostyleError):
    """A file or argument the user gave cannot be used (missing, unreadable, wrong kind)."""

    exit_code = 2


class ImageReadError(InputError):
    """An image file exists but cannot be decoded into pixels."""


class ModelNotFoundError(EmostyleError):
    """A model file (face detector, classifier, stylizer) could not be located."""

    exit_code = 3


class StylesUnavailable(ModelNotFoundError):
    """Style transfer cannot run here (its module or model file is missing); says which."""


class DatasetError(EmostyleError):
    """Training or evaluation data is missing or malformed; the message names the row or file."""

    exit_code = 2

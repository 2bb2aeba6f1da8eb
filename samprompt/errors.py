"""Exceptions raised by samprompt. Every message names what was wrong and where."""
from __future__ import annotations


class SamPromptError(Exception):
    """Base class of all samprompt errors."""


class UnknownNameError(SamPromptError, KeyError):
    """A name that no registry knows: a SAM variant, a method, a dataset, a preset."""

    def __str__(self) -> str:  # KeyError quotes its message; keep it readable.
        return str(self.args[0]) if self.args else ""


class UnknownVariantError(UnknownNameError):
    """A SAM variant name that is not registered."""


class CheckpointError(SamPromptError):
    """A checkpoint file that is missing, unreadable or does not match the model."""


class CheckpointNotFoundError(CheckpointError, FileNotFoundError):
    """A checkpoint path that does not exist."""


class ImageFormatError(SamPromptError, ValueError):
    """An image of the wrong shape, dtype or mode."""


class PromptError(SamPromptError, ValueError):
    """Prompt inputs that are malformed (shapes, labels, coordinates out of range)."""


class ConfigError(SamPromptError, ValueError):
    """A configuration value that is invalid."""


class DatasetError(SamPromptError, ValueError):
    """Dataset files that are malformed or do not pair up (missing folders raise FileNotFoundError)."""


class DataFileNotFoundError(DatasetError, FileNotFoundError):
    """A dataset or input file or folder that does not exist."""


class UsageError(SamPromptError, RuntimeError):
    """A call made in the wrong order, e.g. predicting before an image is set (a RuntimeError, as
    segment-anything raises there)."""


class EmptyHistoryError(UsageError, IndexError):
    """Undo with nothing to undo (an IndexError, as popping an empty list)."""


class ExportError(SamPromptError, ValueError):
    """A model or part that cannot be exported (to ONNX), with what can be instead."""

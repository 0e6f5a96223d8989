"""Typed errors a user can cause.

Every error here carries a message that names the offending path / key and
what was expected. The CLI prints ``error: <message>`` on one line and exits
non-zero; ``--debug`` shows the traceback.
"""

from __future__ import annotations


class VidstructError(Exception):
    """Base class of every error a user can cause (bad file, config, name...)."""

    exit_code: int = 2


class ConfigError(VidstructError):
    """A config file or override is malformed, has an unknown key or a wrong type."""


class RegistryError(VidstructError, KeyError):
    """An unknown name was asked of a registry (model, dataset, head, sampler...)."""

    def __str__(self) -> str:  # KeyError would repr() the message
        return str(self.args[0]) if self.args else ""


class AnnotationError(VidstructError):
    """An annotation / ground-truth / submission file is malformed."""


class CheckpointError(VidstructError):
    """A checkpoint is missing, corrupt, or belongs to another model."""


class InputError(VidstructError):
    """A tensor or argument given to a public function has the wrong form."""

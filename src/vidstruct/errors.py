"""Typed errors: those a user can cause, and the one for broken internal contracts.

Errors a user can cause (a bad file, argument, config, name, checkpoint) are
:class:`VidstructError` subclasses whose message names the offending path /
key and what was expected; the CLI prints ``error: <message>`` on one line and
exits 2.

A wrong tensor shape inside a model, a loss or a metric kernel is not one of
them: it means that code calling it is wrong (a bug), whatever the user did.
Such checks raise :class:`ShapeError` (a ``ValueError``, not a
``VidstructError``), which the CLI reports as an internal error (one line with
a ``--debug`` hint, exit 3; see :mod:`vidstruct.cli.exits`). ``--debug`` shows
the traceback of either.
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
    """An argument that comes from the user (a command-line option, a setting) is out of range or malformed."""


class ShapeError(ValueError):
    """A tensor (or array) with the wrong shape, rank or dtype reached code that documents another: a bug.

    Raised by the contract checks of models, losses and metric kernels. Not a
    :class:`VidstructError`: no file or argument of a user causes it, so the
    CLI reports it as an internal error.
    """

"""Backbones, heads, localization / detection models and checkpoint converters.

Importing this package registers every model in :data:`MODELS`.
"""

from __future__ import annotations

import importlib
import pkgutil

from vidstruct.registry import HEADS, MODELS


def _import_all() -> None:
    """Import every submodule so that its ``@MODELS.register`` decorators run."""
    for info in pkgutil.walk_packages(__path__, prefix=f"{__name__}."):
        importlib.import_module(info.name)


_import_all()

__all__ = ["HEADS", "MODELS"]

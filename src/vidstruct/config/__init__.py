"""Config composition (YAML + ``_base_`` + dotted overrides) and typed validation."""

from __future__ import annotations

from pathlib import Path
from typing import Any, TypeVar

import yaml
from pydantic import BaseModel

from vidstruct.config.loader import ComposedConfig, apply_overrides, compose, parse_override
from vidstruct.config.schema import ExperimentConfig
from vidstruct.config.validate import validate, validate_kwargs

M = TypeVar("M", bound=BaseModel)

__all__ = [
    "ComposedConfig",
    "ExperimentConfig",
    "apply_overrides",
    "compose",
    "load_config",
    "parse_override",
    "resolve_model_kwargs",
    "to_yaml",
    "validate",
    "validate_kwargs",
]


def load_config(
    path: str | Path,
    overrides: list[str] | None = None,
    schema: type[M] = ExperimentConfig,  # type: ignore[assignment]
) -> tuple[M, ComposedConfig]:
    """Compose ``path`` + ``overrides`` and validate it against ``schema``.

    Returns the typed config and the composed tree (for provenance in later
    errors, e.g. model builder arguments).
    """
    composed = compose(path, overrides)
    return validate(schema, composed), composed


def resolve_model_kwargs(cfg: ExperimentConfig, composed: ComposedConfig | None = None) -> dict[str, Any]:
    """Validate ``cfg.model``'s extra keys against the registered builder's signature."""
    from vidstruct.models import MODELS  # imported here: config sits above models only at the edge

    builder = MODELS.get(cfg.model.name)
    return validate_kwargs(builder, cfg.model.builder_kwargs(), "model", composed)


def to_yaml(model: BaseModel | dict[str, Any]) -> str:
    """The resolved config as YAML (what ``vidstruct config show`` prints)."""
    data = model.model_dump(mode="json") if isinstance(model, BaseModel) else model
    return yaml.safe_dump(data, sort_keys=False)

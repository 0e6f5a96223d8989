"""Config composition (YAML + ``_base_`` + dotted overrides), the experiment schemas and typed validation.

Only :mod:`vidstruct.recipes` and the CLI import this package (the layering test enforces it): below them
code takes explicit, typed arguments.

- :mod:`.loader`: composition and overrides; :mod:`.validate`: one-line errors;
- :mod:`.schema` (recognition), :mod:`.localization`, :mod:`.mosi`: the schemas;
- :mod:`.tasks`: the ``task`` → schema table (:func:`load_task_config`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, TypeVar

import yaml
from pydantic import BaseModel

from vidstruct.config.loader import ComposedConfig, apply_overrides, compose, parse_override
from vidstruct.config.localization import LocalizationExperimentConfig
from vidstruct.config.mosi import MoSIExperimentConfig
from vidstruct.config.schema import ExperimentConfig
from vidstruct.config.tasks import (
    TASKS,
    TaskConfig,
    check_model_kwargs,
    config_task,
    load_task_config,
    load_task_section,
)
from vidstruct.config.validate import validate, validate_kwargs

M = TypeVar("M", bound=BaseModel)

__all__ = [
    "TASKS",
    "ComposedConfig",
    "ExperimentConfig",
    "LocalizationExperimentConfig",
    "MoSIExperimentConfig",
    "TaskConfig",
    "apply_overrides",
    "check_model_kwargs",
    "compose",
    "config_task",
    "load_config",
    "load_task_config",
    "load_task_section",
    "parse_override",
    "to_yaml",
    "validate",
    "validate_kwargs",
]


def load_config(
    path: str | Path,
    overrides: list[str] | None = None,
    schema: type[M] = ExperimentConfig,  # type: ignore[assignment]
) -> tuple[M, ComposedConfig]:
    """Compose ``path`` + ``overrides`` and validate it against ``schema`` (see :func:`load_task_config` to
    pick the schema from the config's ``task``).

    Returns the typed config and the composed tree (for provenance in later
    errors, e.g. model builder arguments).
    """
    composed = compose(path, overrides)
    return validate(schema, composed), composed


def to_yaml(model: BaseModel | dict[str, Any]) -> str:
    """The resolved config as YAML (what ``vidstruct config show`` prints)."""
    data = model.model_dump(mode="json") if isinstance(model, BaseModel) else model
    return yaml.safe_dump(data, sort_keys=False)

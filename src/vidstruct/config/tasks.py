"""Which schema validates a config: the one task → schema table, used by every command that reads a config.

A config names its task with the top-level key ``task`` (default ``recognition``):

| ``task`` | schema | commands |
|---|---|---|
| ``recognition`` | :class:`~vidstruct.config.schema.ExperimentConfig` | train, test, check-data, config show |
| ``localization`` | :class:`~.localization.LocalizationExperimentConfig` | train, check-data, config show |
| ``detection`` | :class:`~vidstruct.config.detection.DetectionExperimentConfig` | train, config show |
| ``person-detection`` | :class:`~vidstruct.config.person_detection.PersonDetectionConfig` | train, config show |
| ``mosi`` | :class:`~vidstruct.config.mosi.MoSIExperimentConfig` | pretrain-mosi, check-data, config show |
| ``analyze`` | :class:`~vidstruct.config.analyze.AnalyzeProfile` (a profile) | analyze, config show |

:func:`load_task_config` composes a file, reads its task, checks that the calling command handles it and
validates it against the task's schema, all with one-line :class:`~vidstruct.errors.ConfigError` s.
:func:`check_model_kwargs` checks ``model``'s builder arguments against the registered builder's signature.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any, NamedTuple

from pydantic import BaseModel

from vidstruct.config.analyze import AnalyzeProfile
from vidstruct.config.detection import DetectionExperimentConfig
from vidstruct.config.loader import ComposedConfig, compose
from vidstruct.config.localization import LocalizationExperimentConfig
from vidstruct.config.mosi import MoSIExperimentConfig
from vidstruct.config.person_detection import PersonDetectionConfig
from vidstruct.config.schema import ExperimentConfig
from vidstruct.config.validate import validate, validate_kwargs, validate_section
from vidstruct.errors import ConfigError
from vidstruct.models import MODELS
from vidstruct.registry import did_you_mean

__all__ = [
    "DEFAULT_TASK",
    "TASKS",
    "TaskConfig",
    "check_model_kwargs",
    "config_task",
    "load_task_config",
    "load_task_section",
]

DEFAULT_TASK = "recognition"
TASKS: dict[str, type[BaseModel]] = {
    "recognition": ExperimentConfig,
    "localization": LocalizationExperimentConfig,
    "detection": DetectionExperimentConfig,
    "person-detection": PersonDetectionConfig,
    "mosi": MoSIExperimentConfig,
    "analyze": AnalyzeProfile,
}
"""``task`` → the schema that validates a config of that task."""

_SECTION_TASK = {"mosi": "mosi"}
"""A top-level section that only one task has (for the hint when ``task`` is missing)."""


class TaskConfig(NamedTuple):
    """A validated config: its ``task``, the typed ``cfg`` and the ``composed`` tree (provenance for errors)."""

    task: str
    cfg: Any
    composed: ComposedConfig


def config_task(composed: ComposedConfig, default: str = DEFAULT_TASK) -> str:
    """The ``task`` of a composed config (``default`` when it states none); unknown names are a ConfigError."""
    task = composed.data.get("task", default)
    if task not in TASKS:
        where = composed.source_of("task")
        raise ConfigError(
            f"{where}: task: unknown task {task!r}{did_you_mean(str(task), list(TASKS))} (expected one of "
            f"{', '.join(TASKS)})"
        )
    return str(task)


def _handled_task(
    path: str | Path, composed: ComposedConfig, tasks: Sequence[str] | None, command: str, default: str
) -> str:
    task = config_task(composed, default)
    if tasks is not None and task not in tasks:
        handled = {
            "recognition": "train / test", "localization": "train", "detection": "train / test",
            "mosi": "pretrain-mosi", "analyze": "analyze", "person-detection": "train",
        }[task]  # fmt: skip
        raise ConfigError(
            f"{path}: a task {task!r} config; {command or 'this command'} handles task "
            f"{' / '.join(tasks)} (use vidstruct {handled})"
        )
    return task


def load_task_config(
    path: str | Path,
    overrides: Sequence[str] | None = None,
    *,
    tasks: Sequence[str] | None = None,
    command: str = "",
    default: str = DEFAULT_TASK,
) -> TaskConfig:
    """Compose ``path`` + ``overrides``, dispatch on its ``task`` and validate it.

    ``tasks``: the tasks the calling ``command`` handles (default: all); a config of another task is a
    :class:`ConfigError` that says which command handles it. ``default``: the task of a config that states
    none (``pretrain-mosi`` passes ``mosi``).
    """
    composed = compose(path, list(overrides or []))
    task = _handled_task(path, composed, tasks, command, default)
    try:
        cfg = validate(TASKS[task], composed)
    except ConfigError as exc:
        hint = _missing_task_hint(composed) if "task" not in composed.data else ""
        raise ConfigError(f"{exc}{hint}") from None
    return TaskConfig(task, cfg, composed)


def load_task_section(
    path: str | Path,
    overrides: Sequence[str] | None,
    key: str,
    *,
    tasks: Sequence[str] | None = None,
    command: str = "",
    default: str = DEFAULT_TASK,
) -> tuple[str, Any]:
    """``(task, section)``: only the ``key`` section of a config, validated against the task's schema for it (for
    commands that need one section, e.g. ``check-data`` reads ``data``; the rest of the file is not checked)."""
    composed = compose(path, list(overrides or []))
    task = _handled_task(path, composed, tasks, command, default)
    field = TASKS[task].model_fields[key]
    value = composed.data.get(key)
    if value is None:
        value = field.get_default(call_default_factory=True)
    return task, validate_section(field.annotation, value, composed, key)


def _missing_task_hint(composed: ComposedConfig) -> str:
    for section, task in _SECTION_TASK.items():
        if section in composed.data:
            return f" (a {section!r} section: is this a 'task: {task}' config?)"
    return ""


def check_model_kwargs(cfg: Any, composed: ComposedConfig | None = None) -> dict[str, Any]:
    """``cfg.model``'s builder arguments checked against the registered ``model.name`` builder's signature
    (or against ``cfg.model.builder()`` when the section has one: person detectors come from their own registry).

    An unknown model name raises :class:`~vidstruct.errors.RegistryError` (with close matches), an unknown or
    mistyped argument :class:`ConfigError`. Returns the validated arguments.
    """
    builder = getattr(cfg.model, "builder", None)  # a section whose models come from another registry
    builder = builder() if builder is not None else MODELS.get(cfg.model.name)
    return validate_kwargs(builder, cfg.model.builder_kwargs(), "model", composed)

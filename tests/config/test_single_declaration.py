"""Every config field is declared once: ``optim`` / ``train`` of every task schema *are* the engine's settings
classes, and each constraint holds both through a YAML config and for code that builds the settings directly.

The constraint table below is written from what each setting means (a learning rate is positive, a smoothing is
below 1, counts of steps are positive...), not read from the code: a constraint lost or loosened, or a new
numeric field without a decision, fails here.
"""

from __future__ import annotations

import dataclasses
import inspect
from pathlib import Path
from typing import Any

import pydantic
import pytest

from vidstruct.config import TASKS, load_task_config
from vidstruct.config.mosi import MoSISection
from vidstruct.engine.settings import OptimSettings, TrainSettings
from vidstruct.errors import ConfigError
from vidstruct.models.localization.spec import PostprocessSettings
from vidstruct.ssl.mosi import ClipColorJitter, MoSIGenerator, MotionLabelSpace

SETTINGS = {"optim": OptimSettings, "train": TrainSettings}

# (section, key, a value that must be refused, a boundary value that must be accepted)
CONSTRAINTS: list[tuple[str, str, Any, Any]] = [
    ("optim", "name", "adam", "adamw"),
    ("optim", "lr", 0.0, 1e-6),
    ("optim", "momentum", -0.1, 0.0),
    ("optim", "weight_decay", -1e-4, 0.0),
    ("optim", "layer_decay", 0.0, 1.0),
    ("optim", "layer_decay", 1.5, None),
    ("optim", "schedule", "linear", "step"),
    ("optim", "warmup_steps", -1, 0),
    ("optim", "warmup_start_factor", 0.0, 1.0),
    ("optim", "warmup_start_factor", 1.5, 0.5),
    ("optim", "gamma", 0.0, 0.5),
    ("optim", "min_lr", -1e-3, 0.0),
    ("train", "max_steps", 0, 1),
    ("train", "batch_size", 0, 1),
    ("train", "grad_accum", 0, 1),
    ("train", "clip_grad", 0.0, None),
    ("train", "amp", "fp8", "bf16"),
    ("train", "label_smoothing", 1.0, 0.0),
    ("train", "label_smoothing", -0.1, 0.9),
    ("train", "mixup_alpha", -0.1, 0.0),
    ("train", "cutmix_alpha", -0.1, 0.0),
    ("train", "ema_decay", 1.0, None),
    ("train", "ema_decay", 0.0, 0.999),
    ("train", "precise_bn_batches", -1, 0),
    ("train", "ckpt_every", 0, 1),
    ("train", "eval_every", -1, 0),
    ("train", "log_every", 0, 1),
    ("train", "keep_checkpoints", 0, 1),
]
#: the tasks whose configs train a model; an analysis profile (``task: analyze``) trains nothing (no optim / train)
TRAINING_TASKS = sorted(set(TASKS) - {"analyze"})
#: fields deliberately without a range: any value is meaningful (or checked where it is used, e.g. the device)
UNCONSTRAINED = {
    "optim": {"nesterov", "betas", "no_decay_norm_bias", "milestones"},
    "train": {"device", "seed", "channels_last", "tensorboard"},
}


@pytest.mark.parametrize("task", TRAINING_TASKS)
@pytest.mark.parametrize("section", sorted(SETTINGS))
def test_every_task_schema_uses_the_engine_settings_class(task: str, section: str) -> None:
    assert TASKS[task].model_fields[section].annotation is SETTINGS[section]


def test_every_settings_field_has_a_constraint_decision() -> None:
    for section, cls in SETTINGS.items():
        covered = {key for s, key, _, _ in CONSTRAINTS if s == section} | UNCONSTRAINED[section]
        assert {f.name for f in dataclasses.fields(cls)} == covered, section


@pytest.mark.parametrize(
    ("section", "key", "bad", "good"), CONSTRAINTS, ids=[f"{s}.{k}={b}" for s, k, b, _ in CONSTRAINTS]
)
def test_constraint_holds_in_yaml_and_in_code(section: str, key: str, bad: Any, good: Any, tmp_path: Path) -> None:
    path = tmp_path / "exp.yaml"
    path.write_text("model: {name: r2plus1d_tiny}\n")
    with pytest.raises(ConfigError, match=rf"command line: {section}\.{key}: "):
        load_task_config(path, [f"{section}.{key}={_yaml(bad)}"])
    cfg = load_task_config(path, [f"{section}.{key}={_yaml(good)}"]).cfg
    assert getattr(getattr(cfg, section), key) == good
    with pytest.raises(pydantic.ValidationError):
        SETTINGS[section](**{key: bad})
    assert getattr(SETTINGS[section](**{key: good}), key) == good


def test_unknown_key_is_refused_in_yaml_and_in_code(tmp_path: Path) -> None:
    path = tmp_path / "exp.yaml"
    path.write_text("model: {name: r2plus1d_tiny}\ntrain: {num_workers: 2}\n")
    with pytest.raises(ConfigError, match=r"exp\.yaml: unknown key 'train\.num_workers'"):
        load_task_config(path)  # data loader processes are data.num_workers, not a train setting
    with pytest.raises(pydantic.ValidationError):
        TrainSettings(num_workers=2)  # type: ignore[call-arg]


def _yaml(value: Any) -> str:
    return "null" if value is None else str(value)


def test_localization_postprocess_section_is_the_chain_settings(tmp_path: Path) -> None:
    """The localization config's ``postprocess`` section *is* the chain's :class:`PostprocessSettings` (stored in
    localizer checkpoints); its ranges hold in YAML, unknown keys are refused, and an absent or null ``fusion``
    means "by model" (``cas`` for weak_cas, ``snippet`` for BMN)."""
    schema = TASKS["localization"]
    assert schema.model_fields["postprocess"].annotation is PostprocessSettings
    path = tmp_path / "loc.yaml"
    path.write_text(
        "task: localization\nmodel: {name: bmn}\n"
        "data: {format: activitynet, features: f, train: {annotations: a.json}}\n"
    )
    assert load_task_config(path).cfg.postprocess == PostprocessSettings(fusion="snippet")
    weak = load_task_config(path, ["model.name=weak_cas", "postprocess.fusion=null"]).cfg.postprocess
    assert weak.fusion == "cas"
    for key, bad in [("sigma", 0), ("cas_nms_iou", 1.5), ("max_segments", 0), ("fusion", "both")]:
        with pytest.raises(ConfigError, match=rf"command line: postprocess\.{key}: "):
            load_task_config(path, [f"postprocess.{key}={bad}"])
    with pytest.raises(ConfigError, match=r"unknown key 'postprocess\.sigmaa' \(did you mean 'sigma'"):
        load_task_config(path, ["postprocess.sigmaa=0.3"])


def test_mosi_section_defaults_are_the_generators() -> None:
    """The ``mosi`` section maps onto explicit arguments of :class:`MoSIGenerator`, :class:`MotionLabelSpace` and
    :class:`ClipColorJitter` (the recipe passes them by name); a default changed on one side only fails here."""
    section = MoSISection()
    targets = {
        MoSIGenerator: {"color_jitter", "label_space", "mean", "std", "train"},  # built by the recipe
        MotionLabelSpace: {"mode"},  # the section's label_mode
        ClipColorJitter: set(),
    }
    for cls, recipe_made in targets.items():
        for name, param in inspect.signature(cls).parameters.items():
            if name in recipe_made:
                continue
            owner = section.color_jitter if cls is ClipColorJitter else section
            assert getattr(owner, name) == param.default, f"{cls.__name__}.{name}"
    assert section.label_mode == inspect.signature(MotionLabelSpace).parameters["mode"].default

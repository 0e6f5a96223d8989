"""Config schema of a person-detector experiment (``task: person-detection``).

Trains a detector of one class, ``person``, on the keyframes of AVA-style CSVs (``vidstruct synth --task
detect`` writes ``train.csv`` / ``val.csv`` beside ``videos/``), through the training engine (checkpoints,
resume, EMA, AMP, DDP). :func:`vidstruct.recipes.person_detection.run_person_detection_training` turns this
config into explicit calls and writes ``RUN/person_detector.pt``, the file ``--detector`` takes.
Example (``configs/person_detection/synth_fcos_tiny.yaml``)::

    task: person-detection
    model:
      name: fcos_tiny              # or any torchvision detection model (fasterrcnn_mobilenet_v3_large_320_fpn...)
      image_size: 128              # any other builder kwarg of the model (num_classes is set: background + person)
    data:
      train: {annotations: data/synth_detect/train.csv}
      val: {annotations: data/synth_detect/val.csv}
      hflip: 0.5
    optim: {name: adamw, lr: 0.003, weight_decay: 0.0001, warmup_steps: 30}
    train: {max_steps: 300, batch_size: 8}
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from vidstruct.config.schema import Strict
from vidstruct.engine.settings import OptimSettings, TrainSettings

__all__ = ["PersonDetectionConfig", "PersonDataSection", "PersonEvalSection", "PersonModelSection", "PersonSplit"]


class PersonModelSection(BaseModel):
    """``name`` of a person detector (:data:`vidstruct.models.persons.PERSON_DETECTORS`) and its builder kwargs."""

    model_config = ConfigDict(extra="allow", protected_namespaces=())

    name: str = "fcos_tiny"

    def builder_kwargs(self) -> dict[str, Any]:
        return dict(self.model_extra or {})

    def builder(self) -> Callable[..., Any]:
        """The person detector's builder (what :func:`~vidstruct.config.tasks.check_model_kwargs` checks)."""
        from vidstruct.models.persons import PERSON_DETECTORS  # torchvision's detectors load only when asked

        return PERSON_DETECTORS.get(self.name)


class PersonSplit(Strict):
    """One split: an AVA-style CSV and the folder of its videos (default: ``videos/`` beside the CSV)."""

    annotations: str
    videos: str | None = Field(None, description="folder of VIDEO_ID<video_suffix> files (default: CSV dir/videos)")


class PersonDataSection(Strict):
    train: PersonSplit
    val: PersonSplit | None = None
    video_suffix: str = Field(".mp4", description="a video's file is <video_id><video_suffix>")
    hflip: float = Field(0.5, ge=0, le=1, description="chance that a training keyframe is mirrored left-right")
    num_workers: int = Field(0, ge=0)


class PersonEvalSection(Strict):
    """Validation: box AP at IoU 0.5 on ``data.val``'s keyframes (AVA frame-mAP with the one class ``person``)."""

    min_score: float = Field(0.0, ge=0, le=1, description="detections scored below are not evaluated")


class PersonDetectionConfig(Strict):
    """A person-detector experiment (``vidstruct train`` dispatches on ``task``)."""

    task: Literal["person-detection"] = "person-detection"
    model: PersonModelSection = Field(default_factory=PersonModelSection)
    data: PersonDataSection
    optim: OptimSettings = Field(
        default_factory=lambda: OptimSettings(name="adamw", lr=3e-3, weight_decay=1e-4, warmup_steps=30)
    )
    train: TrainSettings = Field(default_factory=lambda: TrainSettings(max_steps=300, batch_size=8))
    eval: PersonEvalSection = Field(default_factory=PersonEvalSection)

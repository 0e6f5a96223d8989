"""Config schema of a temporal action localization experiment (``task: localization``).

``optim`` and ``train`` mean what they mean for recognition (they are the engine's
:class:`~vidstruct.engine.settings.OptimSettings` / :class:`~vidstruct.engine.settings.TrainSettings`;
``train.batch_size`` counts videos or windows). :func:`vidstruct.recipes.localization.run_localization_training`
turns this config into explicit calls.
Example (``configs/localization/synth_bmn.yaml``)::

    task: localization
    model:
      name: bmn                     # or weak_cas (video-level labels only)
      hidden_dim_1d: 64             # any other builder kwarg of the model (feat_dim / temporal_scale /
      max_duration: 24              #   num_classes come from the features and data sections)
      relation: {enabled: true, stage: joint, top_k: 64, dim: 128, layers: 2, heads: 4}
    data:
      format: activitynet           # activitynet | hacs (rescaled) | thumos14 | epic (sliding windows)
      features: runs/synth_feats    # a vidstruct.features/1 directory (vidstruct extract-features)
      temporal_scale: 50            # T: positions per video (rescale) or snippets per window
      train: {annotations: data/synth_localize/annotations.json, subset: training}
      val: {annotations: data/synth_localize/annotations.json, subset: validation}
    postprocess: {fusion: snippet, fusion_top_k: 2}
    eval: {protocol: anet}

Relation encoding (BMN only): ``stage: joint`` trains BMN and the head
together (the head's loss is added with ``weight``); ``stage: second`` first
trains BMN alone for ``train.max_steps``, then freezes it and trains only the
head for ``relation.steps`` steps (learning rate ``relation.lr``, default
``optim.lr``).
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from vidstruct.config.schema import Strict
from vidstruct.engine.settings import OptimSettings, TrainSettings
from vidstruct.models.localization.spec import PostprocessSettings


class RelationSection(Strict):
    """Action-nomination relation encoding: a transformer over each video's top BMN proposals."""

    enabled: bool = False
    stage: Literal["joint", "second"] = "joint"
    top_k: int = Field(100, ge=1, description="proposals per video refined by the head")
    dim: int = Field(256, ge=8, description="transformer width")
    layers: int = Field(2, ge=1)
    heads: int = Field(4, ge=1)
    dropout: float = Field(0.1, ge=0, lt=1)
    weight: float = Field(1.0, gt=0, description="joint stage: weight of the relation loss")
    steps: int | None = Field(None, ge=1, description="second stage: optimizer steps (default train.max_steps)")
    lr: float | None = Field(None, gt=0, description="second stage: learning rate (default optim.lr)")

    def bmn_kwargs(self) -> dict[str, Any]:
        """The ``bmn`` builder's relation arguments."""
        return {
            "relation": True,
            "relation_top_k": self.top_k,
            "relation_dim": self.dim,
            "relation_layers": self.layers,
            "relation_heads": self.heads,
            "relation_dropout": self.dropout,
            "relation_weight": self.weight,
        }


class LocModelSection(BaseModel):
    """``name`` (``bmn`` | ``weak_cas``), ``relation`` and the builder's other keyword arguments."""

    model_config = ConfigDict(extra="allow", protected_namespaces=())

    name: Literal["bmn", "weak_cas"]
    relation: RelationSection = Field(default_factory=RelationSection)

    def builder_kwargs(self) -> dict[str, Any]:
        return dict(self.model_extra or {})


class LocSplitSection(Strict):
    """One split: an annotation file (THUMOS14: the annotation directory) and its subset."""

    annotations: str
    subset: str | None = Field(
        None, description="ActivityNet/HACS: training|validation; THUMOS14: val|test; EPIC: unused (one CSV per split)"
    )


class LocDataSection(Strict):
    format: Literal["activitynet", "hacs", "thumos14", "epic"]
    features: str = Field(description="feature directory written by vidstruct extract-features")
    train: LocSplitSection
    val: LocSplitSection | None = None
    classes: str | None = Field(None, description="class names file (EPIC: a *_classes.csv table or a list)")
    temporal_scale: int = Field(100, ge=4, description="T: rescaled positions per video, or snippets per window")
    window_stride: int | None = Field(None, ge=1, description="windowed formats: snippets between windows (T // 2)")
    min_segment_overlap: float = Field(0.0, ge=0, le=1, description="windows: keep a GT if this much of it is inside")
    epic_label: Literal["verb", "noun", "action"] = "verb"
    num_workers: int = Field(0, ge=0)


class LocEvalSection(Strict):
    protocol: Literal["anet", "thumos", "epic"] | None = Field(
        None, description="detection tIoU thresholds (default: anet for activitynet/hacs, thumos, epic)"
    )
    batch_size: int = Field(16, ge=1)


class LocalizationExperimentConfig(Strict):
    """A temporal action localization experiment (``vidstruct train`` dispatches on ``task``)."""

    task: Literal["localization"] = "localization"
    model: LocModelSection
    data: LocDataSection
    optim: OptimSettings = Field(default_factory=lambda: OptimSettings(name="adamw", lr=1e-3, weight_decay=1e-4))
    train: TrainSettings = Field(default_factory=TrainSettings)
    postprocess: PostprocessSettings = Field(default_factory=PostprocessSettings)
    eval: LocEvalSection = Field(default_factory=LocEvalSection)

    @model_validator(mode="before")
    @classmethod
    def _fusion_by_model(cls, data: Any) -> Any:
        """``postprocess.fusion`` absent or null: ``cas`` for weak_cas, ``snippet`` for BMN."""
        if not isinstance(data, dict) or not isinstance(data.get("model"), dict):
            return data
        post = data.get("postprocess")
        if post is None or (isinstance(post, dict) and post.get("fusion") is None):
            fusion = "cas" if data["model"].get("name") == "weak_cas" else "snippet"
            data = {**data, "postprocess": {**(post or {}), "fusion": fusion}}
        return data

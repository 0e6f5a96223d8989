"""Config schema of MoSI pretraining (``task: mosi``): a recognition experiment plus a ``mosi:`` section.

:class:`MoSIExperimentConfig` extends :class:`~vidstruct.config.schema.ExperimentConfig`, so
``model`` / ``optim`` / ``train`` mean what they mean for recognition (``train.batch_size``
counts *images* per process; with ``mosi.clips: all`` each image gives ``L`` clips, so a step
sees ``batch_size × L`` clips). ``data.transform.mean`` / ``std`` normalize the MoSI clips (the
fine-tuning config should use the same), and ``data.<split>`` (a
:class:`~vidstruct.config.schema.DatasetSection`) is read when a source takes frames of videos.

:func:`vidstruct.recipes.mosi.run_pretraining` turns this config into explicit calls.

Example (``configs/mosi/r2plus1d_tiny_procedural.yaml``)::

    task: mosi
    model: {name: r2plus1d_tiny}
    mosi:
      num_frames: 8
      crop_size: 32
      short_side: [40, 48]
      label_mode: joint          # or separate: two heads move_x / move_y
      static_mask: true
      mask_ratio: [0.3, 0.5]
      source: {kind: procedural, count: 2000, size: 64, seed: 0}
      val_source: {kind: procedural, count: 32, size: 64, seed: 1}

Source kinds: ``procedural`` (``count`` textured images of ``size`` px from ``seed``),
``folder`` (every image under ``path``), ``list`` (a file of image paths, one per line,
relative to ``root`` or the list's folder), ``videos`` (one frame per video of
``data.<split>``; ``short_side`` resizes at decode time).
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from vidstruct.config.schema import ExperimentConfig, Strict


class ColorJitterSection(Strict):
    """Per-clip colour jitter strengths (torchvision semantics) and grayscale probability."""

    brightness: float = Field(0.5, ge=0)
    contrast: float = Field(0.5, ge=0)
    saturation: float = Field(0.5, ge=0)
    hue: float = Field(0.25, ge=0, le=0.5)
    grayscale: float = Field(0.3, ge=0, le=1)


class MoSISourceSection(Strict):
    """Where the still images come from (see the module doc)."""

    kind: Literal["procedural", "folder", "list", "videos"] = "procedural"
    path: str | None = Field(None, description="image folder (folder) or list file (list)")
    root: str | None = Field(None, description="list: base folder of relative paths (default: the list's folder)")
    recursive: bool = Field(True, description="folder: also take images in sub-folders")
    split: Literal["train", "val", "test"] = Field("train", description="videos: read data.<split>")
    short_side: int | None = Field(None, ge=8, description="videos: decode-time resize of the short side")
    count: int = Field(1000, ge=1, description="procedural: number of images")
    size: int = Field(160, ge=8, description="procedural: image side, pixels")
    seed: int = Field(0, description="procedural: image family")

    @model_validator(mode="after")
    def _path_given(self) -> MoSISourceSection:
        if self.kind in ("folder", "list") and not self.path:
            raise ValueError(f"source kind {self.kind!r} needs 'path' (the image {self.kind})")
        return self


class MoSISection(Strict):
    """The MoSI generator, label space, pretext head and image sources."""

    num_frames: int = Field(16, ge=2, description="frames per clip")
    crop_size: int = Field(112, ge=8, description="side of the moving window = clip frame size, pixels")
    short_side: int | tuple[int, int] | None = Field(
        320, description="resize of the image's short side (a [low, high] range is sampled per clip); null: none"
    )
    square_size: int | None = Field(None, description="side of the square the window moves in (default: short side)")
    num_speeds: int = Field(5, ge=3, description="odd number of speeds per axis (5: -2..2)")
    decouple: bool = Field(True, description="one moving axis per clip (9 labels) instead of every pair (25)")
    include_static: bool = True
    label_mode: Literal["joint", "separate"] = "joint"
    static_mask: bool = True
    mask_ratio: tuple[float, float] = (0.3, 0.5)
    color_jitter: ColorJitterSection | None = Field(default_factory=ColorJitterSection)
    flip_p: float = Field(0.5, ge=0, le=1)
    distance_jitter: tuple[float, float] = (1.0, 1.0)
    interpolation: Literal["nearest", "bilinear"] = "nearest"
    clips: Literal["all", "sample"] = Field("all", description="all: every label of an image per item (the paper)")
    head_dropout: float = Field(0.5, ge=0, lt=1, description="dropout before the pretext head")
    source: MoSISourceSection = Field(default_factory=MoSISourceSection)
    val_source: MoSISourceSection | None = Field(
        None, description="images for the pretext accuracy (every label of every image, deterministic clips)"
    )


class MoSIExperimentConfig(ExperimentConfig):
    """MoSI self-supervised pretraining of ``model`` (``vidstruct pretrain-mosi``)."""

    task: Literal["mosi"] = "mosi"  # type: ignore[assignment]
    mosi: MoSISection = Field(default_factory=MoSISection)

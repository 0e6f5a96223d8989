"""The explicit, picklable settings of an analysis (what :mod:`vidstruct.recipes.analyze` makes of a profile).

Plain frozen dataclasses: they travel to worker processes and Ray tasks, and :class:`AnalyzeSettings`
names everything :class:`~vidstruct.pipeline.analyze.models.AnalyzeModels` loads. Times in seconds.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from vidstruct.pipeline.analyze.segments import MergeSettings

__all__ = [
    "STAGES",
    "ActorSettings",
    "AnalyzeSettings",
    "LocalizationSettings",
    "RecognitionSettings",
    "ShotSettings",
    "ThumbnailSettings",
]


#: the stages that run models, in document order: ``shots`` (the shot detector), ``recognition`` (the windows: the
#: recognizer, or the localizer's backbone when there is no recognizer), ``localization`` (the localizer; it needs
#: ``recognition``), ``actors`` (the person-box source and the action detector)
STAGES = ("shots", "recognition", "localization", "actors")


@dataclass(frozen=True)
class ShotSettings:
    """``detector``: a name of :data:`vidstruct.pipeline.shots.SHOT_DETECTORS` (``transnetv2``, ``content``) or
    ``none`` (no shot detection: the document has no shots); ``options``: the detector's keyword arguments."""

    detector: str = "transnetv2"
    options: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class RecognitionSettings:
    """The recognizer: ``checkpoint`` (a ``vidstruct.model/1`` file or a run directory holding ``model.pt``;
    None: no recognizer), windows of ``window_s`` seconds every ``stride_s`` seconds (None: the span of one
    training clip, and half of it), ``top_k`` classes kept per window (0: all), ``batch_size`` clips per
    forward pass."""

    checkpoint: str | None = None
    window_s: float | None = None
    stride_s: float | None = None
    top_k: int = 5
    batch_size: int = 8


@dataclass(frozen=True)
class LocalizationSettings:
    """The localizer: ``checkpoint`` (a ``vidstruct.localizer/1`` file or its run directory; None: segments come
    from the windows), its ``backbone`` (None: the one recorded in the localizer; its SHA-256 must match unless
    ``force``), segments scoring below ``min_score`` dropped, the best ``top_k`` kept (0: all)."""

    checkpoint: str | None = None
    backbone: str | None = None
    force: bool = False
    min_score: float = 0.0
    top_k: int = 0


@dataclass(frozen=True)
class ThumbnailSettings:
    """JPEG thumbnails ``width`` pixels wide (aspect kept, never enlarged) at ``quality``; candidates every
    ``1 / fps`` seconds (:mod:`vidstruct.pipeline.analyze.thumbnails`)."""

    width: int = 160
    quality: int = 85
    fps: float = 2.0


@dataclass(frozen=True)
class ActorSettings:
    """Actors: the action ``detector`` (a ``vidstruct.detector/1`` file or its run directory holding
    ``detector.pt``; None: no actors) and exactly one person-box source: a ``proposals`` file (AVA-style CSV
    or pickle, rows matched to a video by its file stem), a ``person_detector`` (a person-detector checkpoint or
    its run directory, or a torchvision detection model name when ``person_weights``, its local weights file, is
    given). Keyframes every ``every_s`` seconds from 0; person boxes kept from ``min_person_score`` on; actions
    kept per actor from sigmoid probability ``min_prob`` on. ``batch_size``: keyframe clips (and person-detector
    frames) per forward pass, as ``detect-actions`` batches them (:mod:`vidstruct.pipeline.analyze.actor_tap`).
    ``objects``: object boxes per keyframe for the relation head's object tokens (the file format of training's
    ``data.objects``; None: none)."""

    detector: str | None = None
    proposals: str | None = None
    person_detector: str | None = None
    person_weights: str | None = None
    every_s: float = 1.0
    min_prob: float = 0.3
    min_person_score: float = 0.5
    batch_size: int = 8
    objects: str | None = None


@dataclass(frozen=True)
class AnalyzeSettings:
    """Everything one analysis needs. ``profile_name`` / ``profile_sha256``: the profile recorded in each
    document (and used to tell whether a video is already done); ``device``: ``auto``, ``cpu``, ``cuda``...;
    ``report``: also write ``report.html``; ``exports``: formats of :data:`vidstruct.structure.exports.FORMATS` also
    written into ``OUT/VIDEO_ID/`` (:data:`vidstruct.pipeline.analyze.video.EXPORT_FILES`); ``threads``: decoder
    threads (0: FFmpeg's choice); ``engine``: how the backbones run, ``torch`` or ``onnxruntime``
    (:mod:`vidstruct.pipeline.analyze.runners`). ``stages``: the :data:`STAGES` wanted (None: all); a stage of the
    profile not wanted loads and runs no model and the document says it was skipped (:meth:`profile_stages`,
    :meth:`run_stages`); thumbnails always run."""

    shots: ShotSettings = field(default_factory=ShotSettings)
    recognition: RecognitionSettings = field(default_factory=RecognitionSettings)
    localization: LocalizationSettings = field(default_factory=LocalizationSettings)
    segments: MergeSettings = field(default_factory=MergeSettings)
    thumbnails: ThumbnailSettings = field(default_factory=ThumbnailSettings)
    actors: ActorSettings = field(default_factory=ActorSettings)
    report: bool = True
    exports: tuple[str, ...] = ()
    engine: str = "torch"
    device: str = "auto"
    threads: int = 0
    profile_name: str | None = None
    profile_sha256: str | None = None
    stages: frozenset[str] | None = None

    def __post_init__(self) -> None:
        if self.stages is not None:
            unknown = sorted(set(self.stages) - set(STAGES))
            if unknown:
                raise ValueError(f"unknown analysis stages {unknown}: expected some of {', '.join(STAGES)}")
            object.__setattr__(self, "stages", frozenset(self.stages))

    def profile_stages(self) -> tuple[str, ...]:
        """The stages the profile names models for, in :data:`STAGES` order."""
        has = {
            "shots": self.shots.detector != "none",
            "recognition": self.recognition.checkpoint is not None or self.localization.checkpoint is not None,
            "localization": self.localization.checkpoint is not None,
            "actors": self.actors.detector is not None,
        }
        return tuple(s for s in STAGES if has[s])

    def run_stages(self) -> tuple[str, ...]:
        """The profile's stages that run: those of ``stages`` (all when None); ``localization`` only with
        ``recognition`` (the localizer reads the windows' backbone features)."""
        wanted = set(STAGES if self.stages is None else self.stages)
        if "recognition" not in wanted:
            wanted.discard("localization")
        return tuple(s for s in self.profile_stages() if s in wanted)

    def skipped_stages(self) -> tuple[str, ...]:
        """The profile's stages that do not run (see :meth:`run_stages`)."""
        ran = self.run_stages()
        return tuple(s for s in self.profile_stages() if s not in ran)

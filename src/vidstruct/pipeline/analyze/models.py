"""The models of an analysis, loaded once (per process) and checked: shot detector, recognizer, localizer, actors.

:func:`load_models` turns :class:`~vidstruct.pipeline.analyze.settings.AnalyzeSettings` into
:class:`AnalyzeModels`. A checkpoint of the wrong kind is a one-line
:class:`~vidstruct.errors.CheckpointError` that says what it is and where it belongs (a localizer given as
the recognizer, a recognition model given as the localizer), as is a missing file.

Which backbone feeds what:

- the recognizer gives the windows (top-k probabilities and embeddings);
- a localizer runs on snippet features of its backbone (recorded in the localizer, SHA-256 checked). When
  that backbone *is* the recognizer (same SHA-256) and the snippets are the windows (same ``window_s`` /
  ``stride_s``), the windows' features are reused: the backbone runs once;
- with a localizer and no recognizer, the localizer's backbone is the recognizer, on the localizer's
  snippets (unless window settings are given).

Actors: the action detector (:func:`vidstruct.models.detection.load_detector`) and its person-box source
(:func:`vidstruct.pipeline.persons.person_box_source`: a proposals file or a person detector), loaded once. A
recognition or localizer checkpoint given as the action detector, or a missing one, is a one-line
:class:`CheckpointError`.

Only the models of the stages that run are loaded (``settings.stages``: :meth:`AnalyzeSettings.run_stages`);
:meth:`AnalyzeModels.restricted` gives loaded models for fewer stages without loading anything (a service worker
keeps one set of models and runs each job's stages).

Every model gets an entry of the document's ``models`` (:meth:`AnalyzeModels.records`): ``shots``,
``recognizer``, ``localizer``, ``localizer_backbone`` (only when it is not the recognizer), ``actors`` (the action
detector, task ``action-detection``: its classes, sigmoid scores, keyframe step) and ``persons`` (the person
boxes, task ``person-detection``: the proposals file or the person detector, with the file's SHA-256). Object
boxes (``actors.objects``, a file of training's ``data.objects`` format) are recorded in the ``actors`` entry's
settings (``objects``: the file and its SHA-256).
"""

from __future__ import annotations

import functools
from collections.abc import Iterable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import torch

from vidstruct.device import resolve_device
from vidstruct.errors import CheckpointError, ConfigError
from vidstruct.models.checkpoint import FORMAT as MODEL_FORMAT
from vidstruct.models.checkpoint import load_model_checkpoint, sha256_file
from vidstruct.models.detection import DetectorBundle, load_detector
from vidstruct.models.detection.checkpoint import FORMAT as DETECTOR_FORMAT
from vidstruct.models.localization.checkpoint import FORMAT as LOCALIZER_FORMAT
from vidstruct.models.localization.checkpoint import LocalizerBundle, load_localizer
from vidstruct.models.persons.builders import TORCHVISION_DETECTORS
from vidstruct.models.shots.transnetv2 import transnetv2_weights_path
from vidstruct.pipeline.analyze.runners import Runner, onnx_runner
from vidstruct.pipeline.analyze.settings import ActorSettings, AnalyzeSettings
from vidstruct.pipeline.detection.objects import ObjectBoxSource, ObjectsFile
from vidstruct.pipeline.features import default_window_s
from vidstruct.pipeline.localizer import Localizer, resolve_backbone
from vidstruct.pipeline.persons import PersonBoxSource, person_box_source
from vidstruct.pipeline.recognizer import Recognizer, resolve_model_checkpoint
from vidstruct.pipeline.shots import ShotDetector, build_shot_detector
from vidstruct.structure import ModelRecord, model_record

__all__ = ["ActorModels", "AnalyzeModels", "Backbone", "load_actor_models", "load_models", "load_recognizer"]

NO_SHOTS = "none"
ENGINES = ("torch", "onnxruntime")


@dataclass
class Backbone:
    """A recognition model used on windows of ``window_s`` seconds every ``stride_s`` seconds."""

    recognizer: Recognizer
    name: str  #: registered model name
    checkpoint: Path
    sha256: str
    window_s: float
    stride_s: float
    runner: Runner | None = None  #: how it runs on a batch of clips (None: eager PyTorch)
    engine: str = "torch"

    def record(self, *, top_k: int | None = None) -> ModelRecord:
        spec = self.recognizer.spec
        settings: dict[str, Any] = {
            "window_s": self.window_s,
            "stride_s": self.stride_s,
            "num_frames": spec.num_frames,
            "short_side": spec.short_side,
            "crop_size": spec.crop_size,
            "scores": "softmax",
            "engine": self.engine,
        }
        if top_k is not None:
            settings["top_k"] = top_k
        return model_record(
            self.name,
            "recognition",
            checkpoint=self.checkpoint,
            checkpoint_sha256=self.sha256,
            classes=self.recognizer.classes,
            settings=settings,
        )


@dataclass
class ActorModels:
    """The action ``detector`` and the ``persons`` box source of the actors stage, with their records."""

    detector: DetectorBundle
    detector_sha256: str
    persons: PersonBoxSource
    persons_record: ModelRecord
    settings: ActorSettings
    device: str
    objects: ObjectBoxSource | None = None  #: object boxes for the relation head's object tokens (None: none)

    def record(self) -> ModelRecord:
        """The action detector's entry of ``models`` (key ``actors``)."""
        det, prep = self.detector, self.detector.preprocessing
        return model_record(
            det.name,
            "action-detection",
            checkpoint=det.path,
            checkpoint_sha256=self.detector_sha256,
            classes=det.classes,
            settings={
                "head": det.builder.get("head"),
                "backbone": det.builder.get("backbone"),
                "class_ids": list(det.class_ids),
                "every_s": self.settings.every_s,
                "min_prob": self.settings.min_prob,
                "num_frames": int(prep["num_frames"]),
                "frame_interval": int(prep["frame_interval"]),
                "size": prep["size"],
                "scores": "sigmoid",
                "persons": "persons",
                "tracker": "greedy IoU (vidstruct.pipeline.detection.IouTracker)",
                **({"objects": self._objects_record()} if self.objects is not None else {}),
            },
        )

    def _objects_record(self) -> dict[str, str]:
        name = self.objects.name if self.objects is not None else ""
        return {"source": "objects file", "file": name, "sha256": sha256_file(Path(name))}


@dataclass
class AnalyzeModels:
    """What :func:`load_models` loaded: ``shot_detector`` (None: no shot detection), ``recognizer`` (None: no
    windows), ``localizer`` (None: segments from windows) and its ``localizer_backbone`` (None when it is
    the recognizer's backbone)."""

    settings: AnalyzeSettings
    shot_detector: ShotDetector | None
    shot_record: ModelRecord | None
    recognizer: Backbone | None
    localizer: LocalizerBundle | None
    localizer_sha256: str | None
    localizer_backbone: Backbone | None
    actors: ActorModels | None = None  #: None: no actors stage

    def covers(self, stages: Iterable[str] | None) -> bool:
        """These models run every stage ``stages`` (None: all) asks of their profile."""
        wanted = replace(self.settings, stages=None if stages is None else frozenset(stages)).run_stages()
        return set(wanted) <= set(self.settings.run_stages())

    def restricted(self, stages: Iterable[str] | None) -> AnalyzeModels:
        """The same loaded models for ``stages`` only (a subset of what these cover: :meth:`covers`)."""
        if not self.covers(stages):
            raise ValueError(f"models loaded for {self.settings.run_stages()} cannot run {sorted(stages or ())}")
        settings = replace(self.settings, stages=None if stages is None else frozenset(stages))
        run = set(settings.run_stages())
        loc = "localization" in run
        return AnalyzeModels(
            settings,
            self.shot_detector if "shots" in run else None,
            self.shot_record if "shots" in run else None,
            self.recognizer if "recognition" in run else None,
            self.localizer if loc else None,
            self.localizer_sha256 if loc else None,
            self.localizer_backbone if loc else None,
            self.actors if "actors" in run else None,
        )

    @property
    def snippets_are_windows(self) -> bool:
        """The localizer's snippet features are the recognizer's windows (one backbone run serves both)."""
        return self.localizer is not None and self.localizer_backbone is None

    def records(self) -> dict[str, ModelRecord]:
        """The document's ``models``."""
        out: dict[str, ModelRecord] = {}
        if self.shot_record is not None:
            out["shots"] = self.shot_record
        if self.recognizer is not None:
            out["recognizer"] = self.recognizer.record(top_k=self.settings.recognition.top_k)
        if self.localizer is not None:
            loc = self.localizer
            fused = loc.postprocess.fusion != "none"
            backbone = self.localizer_backbone or self.recognizer
            assert backbone is not None
            out["localizer"] = model_record(
                loc.kind,
                "localization",
                checkpoint=loc.path,
                checkpoint_sha256=self.localizer_sha256,
                classes=loc.classes if fused else ["action"],
                settings={
                    "window_s": float(loc.features["window_s"]),
                    "stride_s": float(loc.features["stride_s"]),
                    "temporal_scale": int(loc.features["temporal_scale"]),
                    "backbone": "localizer_backbone" if self.localizer_backbone is not None else "recognizer",
                    "postprocess": loc.postprocess.to_dict(),
                    "min_score": self.settings.localization.min_score,
                    "top_k": self.settings.localization.top_k,
                },
            )
            if self.localizer_backbone is not None:
                out["localizer_backbone"] = self.localizer_backbone.record()
        if self.actors is not None:
            out["actors"] = self.actors.record()
            out["persons"] = self.actors.persons_record
        return out


def _checkpoint_format(path: Path) -> str | None:
    """The ``format`` field of a torch checkpoint file (memory-mapped: the weights are not read), or None."""
    try:
        obj = torch.load(path, map_location="cpu", weights_only=True, mmap=True)
    except Exception:  # unreadable here: the real loader reports it properly
        return None
    return str(obj.get("format")) if isinstance(obj, dict) and obj.get("format") is not None else None


def load_recognizer(path: str | Path, device: str) -> tuple[Recognizer, Path, str, str]:
    """``(recognizer, checkpoint file, model name, sha256)`` of a recognition checkpoint or run directory.

    A localizer checkpoint (or run) given here is a :class:`CheckpointError` saying so.
    """
    given = Path(path)
    if not given.exists():
        raise CheckpointError(f"{given}: recognizer checkpoint not found (expected a model.pt or its run directory)")
    if given.is_dir() and not (given / "model.pt").is_file() and (given / "localizer.pt").is_file():
        raise CheckpointError(
            f"{given}: a localizer run (localizer.pt) given as the recognizer; pass it as the localizer (--localizer)"
        )
    file = resolve_model_checkpoint(given)
    fmt = _checkpoint_format(file)
    if fmt == LOCALIZER_FORMAT:
        raise CheckpointError(
            f"{file}: a localizer checkpoint ({LOCALIZER_FORMAT}) given as the recognizer; "
            "pass it as the localizer (--localizer)"
        )
    if fmt is not None and fmt != MODEL_FORMAT:
        raise CheckpointError(f"{file}: not a recognition model checkpoint (format {fmt!r}, expected {MODEL_FORMAT!r})")
    model, meta = load_model_checkpoint(file)
    if not hasattr(model, "forward_features"):
        raise CheckpointError(f"{file}: model {meta['model']!r} has no pooled features (forward_features)")
    classes = list(meta.get("classes") or [str(i) for i in range(model.num_classes)])
    recognizer = Recognizer(model, classes, model.input_spec, device)
    return recognizer, file.resolve(), str(meta["model"]), sha256_file(file)


def _load_localizer(path: str | Path, device: torch.device) -> tuple[LocalizerBundle, str]:
    given = Path(path)
    if not given.exists():
        raise CheckpointError(f"{given}: localizer checkpoint not found (expected a localizer.pt or its run directory)")
    if given.is_dir() and not (given / "localizer.pt").is_file() and (given / "model.pt").is_file():
        raise CheckpointError(
            f"{given}: a recognition run (model.pt) given as the localizer; pass it as the recognizer (--recognizer)"
        )
    file = given / "localizer.pt" if given.is_dir() else given
    if file.is_file() and _checkpoint_format(file) == MODEL_FORMAT:
        raise CheckpointError(
            f"{file}: a recognition model checkpoint ({MODEL_FORMAT}) given as the localizer; "
            "pass it as the recognizer (--recognizer)"
        )
    bundle = load_localizer(file, device=device)
    return bundle, sha256_file(file)


def _load_action_detector(path: str | Path, device: str) -> tuple[DetectorBundle, str]:
    """The action detector at ``path`` (``detector.pt`` or its run directory) and its file's SHA-256."""
    given = Path(path)
    if not given.exists():
        raise CheckpointError(
            f"{given}: action detector checkpoint not found (expected a detector.pt or its run directory)"
        )
    if given.is_dir() and not (given / "detector.pt").is_file():
        for run_file, kind, option in (
            ("model.pt", "recognition", "--recognizer"),
            ("localizer.pt", "localizer", "--localizer"),
        ):
            if (given / run_file).is_file():
                raise CheckpointError(
                    f"{given}: a {kind} run ({run_file}) given as the action detector; pass it as {option}"
                )
    file = given / "detector.pt" if given.is_dir() else given
    fmt = _checkpoint_format(file) if file.is_file() else None
    for other, kind, option in (
        (MODEL_FORMAT, "recognition model", "--recognizer"),
        (LOCALIZER_FORMAT, "localizer", "--localizer"),
    ):
        if fmt == other:
            raise CheckpointError(
                f"{file}: a {kind} checkpoint ({other}) given as the action detector (expected {DETECTOR_FORMAT}); "
                f"pass it as {option}"
            )
    bundle = load_detector(file, device=device)
    return bundle, sha256_file(file)


def _persons(settings: ActorSettings, device: str) -> tuple[PersonBoxSource, ModelRecord]:
    """The person-box source ``settings`` names and its entry of ``models`` (key ``persons``)."""
    common = {"min_score": settings.min_person_score}
    if settings.proposals is not None:
        file = Path(settings.proposals)
        if not file.is_file():
            raise CheckpointError(f"{file}: person proposals file not found (actors.persons.proposals)")
        source = person_box_source(proposals=file, min_score=settings.min_person_score)
        record = model_record(
            "proposals", "person-detection", checkpoint=str(file), checkpoint_sha256=sha256_file(file),
            classes=["person"], settings={**common, "source": "proposals file", "scores": "the file's score column"},
        )  # fmt: skip
        return source, record
    assert settings.person_detector is not None
    if settings.person_weights is None and settings.person_detector in TORCHVISION_DETECTORS:
        if not Path(settings.person_detector).exists():
            raise ConfigError(
                f"actors.persons.detector: {settings.person_detector!r} is a torchvision detector; set "
                "actors.persons.detector_weights to its local weights file (nothing is downloaded)"
            )
    source = person_box_source(
        detector=settings.person_detector, detector_weights=settings.person_weights,
        min_score=settings.min_person_score, device=device, batch_size=settings.batch_size,
    )  # fmt: skip
    if settings.person_weights is not None:  # a torchvision model by name, COCO weights from a local file
        name, weights = settings.person_detector, Path(settings.person_weights)
        record = model_record(
            name, "person-detection", checkpoint=str(weights), checkpoint_sha256=sha256_file(weights),
            classes=["person"], settings={**common, "source": "torchvision detector (COCO person class)"},
        )  # fmt: skip
        return source, record
    file = Path(source.name)
    record = model_record(
        file.parent.name if file.name == "person_detector.pt" else file.stem, "person-detection",
        checkpoint=str(file), checkpoint_sha256=sha256_file(file), classes=["person"],
        settings={**common, "source": "person detector checkpoint"},
    )  # fmt: skip
    return source, record


def load_actor_models(settings: ActorSettings, device: str) -> ActorModels | None:
    """The actors stage's models (None when ``settings.detector`` is None)."""
    if settings.detector is None:
        return None
    if (settings.proposals is None) == (settings.person_detector is None):
        raise ConfigError("actors: an action detector needs exactly one person-box source (proposals or detector)")
    bundle, sha = _load_action_detector(settings.detector, device)
    persons, record = _persons(settings, device)
    objects = None
    if settings.objects is not None:
        if not Path(settings.objects).is_file():
            raise CheckpointError(f"{settings.objects}: object boxes file not found (actors.objects)")
        objects = ObjectsFile(settings.objects)
    return ActorModels(bundle, sha, persons, record, settings, device, objects)


@functools.lru_cache(maxsize=1)
def _transnetv2_weights() -> tuple[str, str]:
    path = transnetv2_weights_path()
    return str(path), sha256_file(path)


def _shot_detector(name: str, options: dict[str, Any], device: str) -> tuple[ShotDetector, ModelRecord]:
    kwargs = dict(options)
    if name == "transnetv2":
        kwargs.setdefault("device", device)
    try:
        detector = build_shot_detector(name, **kwargs)
    except (TypeError, ValueError) as exc:  # a setting out of the detector's range
        raise ConfigError(f"shots.options: {name} shot detector: {exc}") from None
    checkpoint = sha = None
    if name == "transnetv2":
        checkpoint, sha = _transnetv2_weights()
    record = model_record(
        name, "shots", checkpoint=checkpoint, checkpoint_sha256=sha, settings={**detector.settings(), "detector": name}
    )
    return detector, record


def load_models(settings: AnalyzeSettings) -> AnalyzeModels:
    """Load and check every model ``settings`` names for the stages that run (see the module doc)."""
    device = str(resolve_device(settings.device))
    run = set(settings.run_stages())
    detector = record = None
    if settings.shots.detector != NO_SHOTS and "shots" in run:
        detector, record = _shot_detector(settings.shots.detector, settings.shots.options, device)
    rec = settings.recognition
    recognizer: Backbone | None = None
    if rec.checkpoint is not None and "recognition" in run:
        model, file, name, sha = load_recognizer(rec.checkpoint, device)
        window_s = float(rec.window_s or default_window_s(model.spec))
        recognizer = Backbone(model, name, file, sha, window_s, float(rec.stride_s or window_s / 2))
    loc = settings.localization
    bundle = loc_sha = None
    loc_backbone: Backbone | None = None
    # without the localization stage, a localizer still names the windows' backbone when there is no recognizer
    if loc.checkpoint is not None and "recognition" in run and ("localization" in run or recognizer is None):
        bundle, loc_sha = _load_localizer(loc.checkpoint, torch.device(device))
        backbone_file = resolve_backbone(bundle.features, loc.backbone, force=loc.force).resolve()
        backbone_sha = sha256_file(backbone_file)
        snip_window, snip_stride = float(bundle.features["window_s"]), float(bundle.features["stride_s"])
        if recognizer is None:
            model, file, name, sha = load_recognizer(backbone_file, device)
            window_s = float(rec.window_s or snip_window)
            recognizer = Backbone(model, name, file, sha, window_s, float(rec.stride_s or snip_stride))
        same_model = recognizer.sha256 == backbone_sha
        if same_model and (recognizer.window_s, recognizer.stride_s) == (snip_window, snip_stride):
            Localizer(bundle, recognizer.recognizer)  # checks feature size and fused classes
        else:
            if same_model:
                model, file, name, sha = recognizer.recognizer, recognizer.checkpoint, recognizer.name, backbone_sha
            else:
                model, file, name, sha = load_recognizer(backbone_file, device)
            Localizer(bundle, model)
            loc_backbone = Backbone(model, name, file, sha, snip_window, snip_stride)
        if "localization" not in run:  # it only named the recognizer
            bundle = loc_sha = loc_backbone = None
    if settings.engine not in ENGINES:
        raise ConfigError(f"runtime engine: expected one of {', '.join(ENGINES)}, got {settings.engine!r}")
    if settings.engine == "onnxruntime":
        for backbone in (recognizer, loc_backbone):
            if backbone is not None:
                backbone.runner, backbone.engine = onnx_runner(backbone.recognizer), "onnxruntime"
    actors = load_actor_models(settings.actors, device) if "actors" in run else None
    return AnalyzeModels(settings, detector, record, recognizer, bundle, loc_sha, loc_backbone, actors)

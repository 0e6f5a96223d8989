"""Analysis recipe: a profile (``task: analyze``) plus command-line options → explicit analysis settings.

:func:`load_profile` composes and validates a profile (or starts from the defaults when there is none) and
applies options given on the command line, each remembered as set by that option (so that an error names
it). :func:`analyze_settings` turns the validated profile into
:class:`~vidstruct.pipeline.analyze.settings.AnalyzeSettings`:

- relative checkpoint paths are resolved against the folder of the profile file that set them (the current
  folder for command-line options);
- ``actors``: an action detector needs exactly one person-box source (``actors.persons.proposals`` or
  ``actors.persons.detector``), and ``detector_weights`` only goes with a torchvision detector named in
  ``actors.persons.detector`` (one-line ConfigError naming the keys and who set them); a person detector given by
  name is not a path and stays as written;
- the shot detector's ``options`` are checked against the detector's signature (one-line ConfigError);
- the **profile hash** (``profile.sha256`` of every document, what a rerun compares to skip done videos) is the
  SHA-256 of the profile's canonical JSON without ``name``, ``report``, ``exports``, ``runtime`` and ``resources``
  (they do not change what is found), with each checkpoint path (and the proposals file) replaced by the SHA-256
  of the file (and TransNetV2's weights file when it detects the shots): retraining a model in place changes the
  hash, moving it does not.

:func:`feature_stages` turns the results asked for (a service job's or ``analyze --features``' features) into the
stage set of :attr:`AnalyzeSettings.stages`, so that only the models those results need are loaded and run.
"""

from __future__ import annotations

import copy
import hashlib
import json
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from vidstruct.config import ComposedConfig, apply_overrides, load_task_config, validate, validate_kwargs
from vidstruct.config.analyze import AnalyzeProfile
from vidstruct.errors import ConfigError
from vidstruct.models.checkpoint import sha256_file
from vidstruct.models.shots.transnetv2 import transnetv2_weights_path
from vidstruct.pipeline.analyze import (
    AnalyzeSettings,
    LocalizationSettings,
    MergeSettings,
    RecognitionSettings,
    ShotSettings,
    ThumbnailSettings,
)
from vidstruct.pipeline.analyze.settings import ActorSettings
from vidstruct.pipeline.shots import SHOT_DETECTORS
from vidstruct.structure import FORMAT

__all__ = ["CHECKPOINT_KEYS", "FEATURE_STAGES", "analyze_settings", "feature_stages", "load_profile", "profile_sha256"]

#: the stages (:data:`vidstruct.pipeline.analyze.settings.STAGES`) each result needs: ``labels`` (the windows'
#: probabilities) and ``segments`` need the recognizer and the localizer, and the shots too, since segments are cut
#: at shot boundaries and name their shot as in a full analysis; ``actors`` the person boxes and action detector
FEATURE_STAGES: dict[str, tuple[str, ...]] = {
    "shots": ("shots",),
    "labels": ("shots", "recognition", "localization"),
    "segments": ("shots", "recognition", "localization"),
    "actors": ("actors",),
}

#: profile keys holding checkpoint paths, and the file a run directory stands for
CHECKPOINT_KEYS = {
    "recognizer.checkpoint": "model.pt",
    "localizer.checkpoint": "localizer.pt",
    "localizer.backbone": "model.pt",
    "actors.detector": "detector.pt",
    "actors.persons.proposals": "",
    "actors.persons.detector": "person_detector.pt",
    "actors.persons.detector_weights": "",
    "actors.objects": "",
}
_UNHASHED = {"name", "report", "runtime", "exports", "resources"}


def load_profile(
    path: str | Path | None, options: Mapping[str, tuple[str, Any]] | None = None, overrides: Sequence[str] = ()
) -> tuple[AnalyzeProfile, ComposedConfig]:
    """The validated profile at ``path`` (None: the defaults) with ``overrides`` (``key=value``) and
    ``options`` (``{dotted key: (option name, value)}``, values None left out) applied, and its composed tree."""
    if path is not None:
        composed = load_task_config(
            path, list(overrides), tasks=["analyze"], command="analyze", default="analyze"
        ).composed
    else:
        composed = apply_overrides(ComposedConfig({"task": "analyze"}, {"task": "defaults"}), list(overrides))
    for dotted, (option, value) in (options or {}).items():
        if value is None:
            continue
        node = composed.data
        *parents, leaf = dotted.split(".")
        for part in parents:
            child = node.get(part)
            node = node.setdefault(part, {}) if not isinstance(child, dict) else child
        node[leaf] = copy.deepcopy(value)
        composed.sources[dotted] = f"command line ({option})"
    return validate(AnalyzeProfile, composed), composed


def _resolved(composed: ComposedConfig, dotted: str, value: str | None) -> str | None:
    """``value`` (a path) relative to the folder of the profile file that set ``dotted``, if a file set it."""
    if value is None or Path(value).expanduser().is_absolute():
        return None if value is None else str(Path(value).expanduser())
    source = Path(composed.source_of(dotted))
    if source.suffix.lower() in (".yaml", ".yml") and source.is_file():
        return str(source.parent / value)
    return value


def _checkpoint_hash(path: str | None, run_file: str) -> str | None:
    if path is None:
        return None
    file = Path(path) / run_file if run_file and Path(path).is_dir() else Path(path)
    return sha256_file(file) if file.is_file() else f"missing:{path}"


def _get(obj: Any, dotted: str) -> Any:
    """The value at ``dotted`` (``a.b.c``) of a profile (attributes) or of its JSON dump (keys)."""
    for part in dotted.split("."):
        obj = obj[part] if isinstance(obj, dict) else getattr(obj, part)
    return obj


def _person_detector_is_name(profile: AnalyzeProfile) -> bool:
    """``actors.persons.detector`` names a torchvision model (its weights file given), not a path."""
    return profile.actors.persons.detector_weights is not None


def profile_sha256(profile: AnalyzeProfile, checkpoints: Mapping[str, str | None]) -> str:
    """The profile hash (see the module doc); ``checkpoints``: ``{dotted key: resolved path}``."""
    content = profile.model_dump(mode="json", exclude=_UNHASHED)
    for dotted, path in checkpoints.items():
        if dotted == "actors.persons.detector" and _person_detector_is_name(profile):
            continue  # a torchvision model name: its weights file is hashed instead
        if dotted == "actors.objects" and path is None:
            content["actors"].pop("objects", None)  # unset: a profile hashes as before the key existed
            continue
        *parents, key = dotted.split(".")
        _get(content, ".".join(parents))[key] = _checkpoint_hash(path, CHECKPOINT_KEYS[dotted])
    if profile.shots.detector == "transnetv2":  # its weights come with the installed package
        content["shots"]["weights"] = sha256_file(transnetv2_weights_path())
    text = json.dumps({"format": FORMAT, "profile": content}, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def feature_stages(features: Iterable[str]) -> frozenset[str]:
    """The stages the results ``features`` (keys of :data:`FEATURE_STAGES`) need; ConfigError for another name."""
    stages: set[str] = set()
    for feature in features:
        if feature not in FEATURE_STAGES:
            raise ConfigError(f"unknown feature {feature!r}: expected some of {', '.join(FEATURE_STAGES)}")
        stages.update(FEATURE_STAGES[feature])
    return frozenset(stages)


def analyze_settings(
    profile: AnalyzeProfile,
    composed: ComposedConfig,
    *,
    name: str | None = None,
    report: bool | None = None,
    exports: Sequence[str] = (),
) -> AnalyzeSettings:
    """Explicit settings of ``profile`` (see the module doc); ``name``: the profile's name when it states none
    (e.g. the file stem); ``report``: overrides ``profile.report``; ``exports``: formats added to the profile's."""
    paths = {dotted: _resolved(composed, dotted, _get(profile, dotted)) for dotted in CHECKPOINT_KEYS}
    if _person_detector_is_name(profile):
        paths["actors.persons.detector"] = profile.actors.persons.detector
    if profile.localizer.backbone is not None and profile.localizer.checkpoint is None:
        where = composed.source_of("localizer.backbone")
        raise ConfigError(f"{where}: localizer.backbone is set but localizer.checkpoint is not (a backbone of what?)")
    actors = _actor_settings(profile, composed, paths)
    if "ava" in [*profile.exports, *exports] and actors.detector is None:
        where = "command line (--export ava)" if "ava" in exports else composed.source_of("exports")
        raise ConfigError(f"{where}: the ava export writes actors, but actors.detector (an action detector) is not set")
    shots = profile.shots
    options = dict(shots.options)
    if shots.detector != "none" and options:
        options = validate_kwargs(SHOT_DETECTORS.get(shots.detector), options, "shots.options", composed)
    rec, loc, seg, thumb = profile.recognizer, profile.localizer, profile.segments, profile.thumbnails
    return AnalyzeSettings(
        shots=ShotSettings(shots.detector, options),
        recognition=RecognitionSettings(
            paths["recognizer.checkpoint"], rec.window_s, rec.stride_s, rec.top_k, rec.batch_size
        ),
        localization=LocalizationSettings(
            paths["localizer.checkpoint"], paths["localizer.backbone"], loc.force, loc.min_score, loc.top_k
        ),
        segments=MergeSettings(seg.gap_tolerance_s, seg.min_prob, seg.cross_shots, seg.aggregate, seg.min_duration_s),
        thumbnails=ThumbnailSettings(thumb.width, thumb.quality, thumb.fps),
        actors=actors,
        report=profile.report if report is None else report,
        exports=tuple(dict.fromkeys([*profile.exports, *exports])),
        engine=profile.runtime.engine,
        device=profile.runtime.device,
        threads=profile.runtime.threads,
        profile_name=profile.name or name or "default",
        profile_sha256=profile_sha256(profile, paths),
    )


def _actor_settings(
    profile: AnalyzeProfile, composed: ComposedConfig, paths: Mapping[str, str | None]
) -> ActorSettings:
    """The ``actors`` section as settings, its person-box source checked (see the module doc)."""
    act, persons = profile.actors, profile.actors.persons
    if persons.proposals is not None and persons.detector is not None:
        raise ConfigError(
            f"actors.persons: give one person-box source, not both: proposals "
            f"({composed.source_of('actors.persons.proposals')}) and detector "
            f"({composed.source_of('actors.persons.detector')})"
        )
    if persons.detector_weights is not None and persons.detector is None:
        where = composed.source_of("actors.persons.detector_weights")
        raise ConfigError(
            f"{where}: actors.persons.detector_weights is set but actors.persons.detector (the torchvision model "
            "name it belongs to) is not"
        )
    if act.detector is not None and persons.proposals is None and persons.detector is None:
        where = composed.source_of("actors.detector")
        raise ConfigError(
            f"{where}: actors.detector is set but no person boxes: set actors.persons.proposals (a proposals file) "
            "or actors.persons.detector (a person detector)"
        )
    return ActorSettings(
        detector=paths["actors.detector"],
        proposals=paths["actors.persons.proposals"],
        person_detector=paths["actors.persons.detector"],
        person_weights=paths["actors.persons.detector_weights"],
        every_s=act.every_s,
        min_prob=act.min_prob,
        min_person_score=act.min_person_score,
        batch_size=act.batch_size,
        objects=paths["actors.objects"],
    )

"""Running one job's analysis: the profile the job names, through :mod:`vidstruct.recipes.analyze` and the
analysis pipeline, into a folder under the data folder; the ``vidstruct.structure/1`` document it wrote.

A job's features choose the stages that run (:func:`job_features`, then
:func:`vidstruct.recipes.analyze.feature_stages`): ``shots`` alone runs no recognizer, localizer or actors. With a
moderation policy, every job also analyses and stores what the policy's rules read (``segments`` and / or ``actors``,
their ``sources``), whether it names ``moderation`` or not: every finished job is checked against the policy, and a
check on an analysis without those rows would close the video's open flags as superseded (a shots-only job would
unblock a blocked video). The document of a job that skipped some of its profile's stages lists only the models that
ran and says which stages it skipped (``stages``).

Models are loaded once per profile (name and hash) and kept for the worker's next jobs: the stages a job needs, and
again with the union of both when a later job needs more (then kept), so a worker alternating features loads its
profile's models at most twice.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Collection
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from vidstruct.pipeline.analyze import AnalyzeModels, analyze_video, load_models
from vidstruct.recipes.analyze import analyze_settings, feature_stages, load_profile
from vidstruct.service.errors import UnprocessableError
from vidstruct.service.moderation.policy import Policy
from vidstruct.service.settings import ServiceSettings
from vidstruct.structure import read_structure

#: progress(stage, done_s, total_s), as the pipeline reports it
ProgressFn = Callable[[str, float, float], None]


@dataclass
class AnalysisOutput:
    document: dict[str, Any]
    folder: str  # relative to the data folder


def job_features(features: Collection[str], policy: Policy | None) -> tuple[str, ...]:
    """The results a job with ``features`` needs, analysed and stored: its own (``moderation`` aside) and, with a
    ``policy``, the sources its rules read (the check reads the stored rows; see the module doc)."""
    needed = [f for f in features if f != "moderation"]
    if policy is not None:
        needed += [source for rule in policy.rules for source in rule.sources]
    return tuple(dict.fromkeys(needed))


class ModelCache:
    """Loaded models per profile (key: the profile file and its hash), shared by a worker's jobs."""

    def __init__(self) -> None:
        self._models: dict[tuple[str, str], AnalyzeModels] = {}
        self._lock = threading.Lock()

    def models_for(
        self, settings: ServiceSettings, profile_name: str, stages: frozenset[str] | None = None
    ) -> AnalyzeModels:
        """The models of profile ``profile_name`` for ``stages`` (None: all; see the module doc)."""
        path = settings.profile_path(profile_name)
        if path is None:
            raise UnprocessableError(f"no analysis profile named {profile_name!r}")
        profile, composed = load_profile(path)
        analyze = analyze_settings(profile, composed, name=profile_name, report=False)
        key = (str(path.resolve()), analyze.profile_sha256 or "")
        with self._lock:
            cached = self._models.get(key)
            if cached is None or not cached.covers(stages):
                load = stages  # None: all; with models cached (for other stages), the union: both kinds of job served
                if cached is not None and stages is not None:
                    load = stages | (cached.settings.stages or frozenset())
                cached = load_models(replace(analyze, stages=load))
                self._models = {key: cached}  # keep one profile's models: memory stays bounded
            return cached.restricted(stages)


def run_analysis(
    settings: ServiceSettings,
    cache: ModelCache,
    profile_name: str,
    video_path: Path,
    video_id: str,
    out_name: str,
    progress: ProgressFn | None = None,
    features: Collection[str] | None = None,
) -> AnalysisOutput:
    """Analyze ``video_path`` with profile ``profile_name`` into ``analyses/<out_name>/<video_id>/``, running the
    stages ``features`` (:func:`job_features`' results; None: every stage) need."""
    stages = None if features is None else feature_stages(features)
    models = cache.models_for(settings, profile_name, stages)
    out = settings.analyses_dir / out_name
    result = analyze_video(models, video_path, out, video_id=video_id, progress=progress)
    structure = read_structure(result.structure)
    return AnalysisOutput(dict(structure.document), str(result.folder.relative_to(settings.data_dir)))

"""Running one job's analysis: the profile the job names, through :mod:`vidstruct.recipes.analyze` and the
analysis pipeline, into a folder under the data folder; the ``vidstruct.structure/1`` document it wrote.

Models are loaded once per profile (name and hash) and kept for the worker's next jobs.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from vidstruct.pipeline.analyze import AnalyzeModels, analyze_video, load_models
from vidstruct.recipes.analyze import analyze_settings, load_profile
from vidstruct.service.errors import UnprocessableError
from vidstruct.service.settings import ServiceSettings
from vidstruct.structure import read_structure

#: progress(stage, done_s, total_s), as the pipeline reports it
ProgressFn = Callable[[str, float, float], None]


@dataclass
class AnalysisOutput:
    document: dict[str, Any]
    folder: str  # relative to the data folder


class ModelCache:
    """Loaded models per profile (key: the profile file and its hash), shared by a worker's jobs."""

    def __init__(self) -> None:
        self._models: dict[tuple[str, str], AnalyzeModels] = {}
        self._lock = threading.Lock()

    def models_for(self, settings: ServiceSettings, profile_name: str) -> AnalyzeModels:
        path = settings.profile_path(profile_name)
        if path is None:
            raise UnprocessableError(f"no analysis profile named {profile_name!r}")
        profile, composed = load_profile(path)
        analyze = analyze_settings(profile, composed, name=profile_name, report=False)
        key = (str(path.resolve()), analyze.profile_sha256 or "")
        with self._lock:
            if key not in self._models:
                self._models = {key: load_models(analyze)}  # keep one profile's models: memory stays bounded
            return self._models[key]


def run_analysis(
    settings: ServiceSettings,
    cache: ModelCache,
    profile_name: str,
    video_path: Path,
    video_id: str,
    out_name: str,
    progress: ProgressFn | None = None,
) -> AnalysisOutput:
    """Analyze ``video_path`` with profile ``profile_name`` into ``analyses/<out_name>/<video_id>/``."""
    models = cache.models_for(settings, profile_name)
    out = settings.analyses_dir / out_name
    result = analyze_video(models, video_path, out, video_id=video_id, progress=progress)
    structure = read_structure(result.structure)
    return AnalysisOutput(dict(structure.document), str(result.folder.relative_to(settings.data_dir)))

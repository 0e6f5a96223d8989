"""``vidstruct analyze``: one video (or a collection) in, one validated ``vidstruct.structure/1`` document out.

Each video is decoded once (:mod:`.taps`) and the frames go to every stage at its own rate and size: shot
detection (:mod:`.shot_tap`), recognition windows with their embeddings and the localizer's snippets
(:mod:`.windows`), thumbnail candidates (:mod:`.thumbnails`), the actors' keyframe clips (:mod:`.actor_tap`).
Then segments (:mod:`.segments`: the localizer's, or the windows merged per label) and the files (:mod:`.video`).
:mod:`.models` loads and checks the models once per process; :mod:`.collection` runs many videos (resumable,
process pool or Ray); :mod:`.settings` holds the explicit settings :mod:`vidstruct.recipes.analyze` makes of a
profile.
"""

from vidstruct.pipeline.analyze.collection import RUN_FILE, CollectionReport, analyze_videos, collect_videos, is_done
from vidstruct.pipeline.analyze.models import AnalyzeModels, load_models, load_recognizer
from vidstruct.pipeline.analyze.segments import MergeSettings, Span, merge_windows, split_at_shots
from vidstruct.pipeline.analyze.settings import (
    AnalyzeSettings,
    LocalizationSettings,
    RecognitionSettings,
    ShotSettings,
    ThumbnailSettings,
)
from vidstruct.pipeline.analyze.video import VideoResult, analyze_video

__all__ = [
    "RUN_FILE",
    "AnalyzeModels",
    "AnalyzeSettings",
    "CollectionReport",
    "LocalizationSettings",
    "MergeSettings",
    "RecognitionSettings",
    "ShotSettings",
    "Span",
    "ThumbnailSettings",
    "VideoResult",
    "analyze_video",
    "analyze_videos",
    "collect_videos",
    "is_done",
    "load_models",
    "load_recognizer",
    "merge_windows",
    "split_at_shots",
]

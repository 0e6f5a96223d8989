"""Analyze one video: probe, one decode pass feeding every stage, then segments, thumbnails and the files.

:func:`analyze_video` writes ``OUT/VIDEO_ID/``:

- ``thumbs/shot-NNNN.jpg`` and ``thumbs/segment-NNNN.jpg`` (one per shot and per segment);
- ``embeddings.npy``: float32 ``[windows, dim]``, the recognizer's pooled feature of each window (row ``j`` is
  window ``j``), when there is a recognizer;
- ``structure.json`` (``vidstruct.structure/1``, validated before it is written:
  :func:`vidstruct.structure.write_structure`), written after everything it names;
- ``report.html`` (:func:`vidstruct.structure.report.write_report`) and the exports asked for
  (:data:`EXPORT_FILES`, :func:`vidstruct.structure.exports.export_structure`), last; a video without actors gets
  an ``ava.csv`` without rows (and its label map) and a warning.

A folder holding an older ``structure.json`` (and ``report.html``) loses them first, so a run stopped half-way
never leaves a document next to files of another analysis; a folder is complete when its ``structure.json``
exists (and its ``report.html`` when reports are on).

Stages and their order: :func:`vidstruct.io.probe` reads the header and the first frame (metadata, and a
clear error for a file that is not a readable video); the SHA-256 of the file's bytes identifies the video;
then one :class:`~vidstruct.io.VideoReader` decodes the frames every stage needs in a single pass
(:mod:`.taps`): shot detection, recognition windows, the localizer's snippets when they are not the
windows, thumbnail candidates, and the actors' keyframe clips (and keyframes, for a person detector) when the
profile names an action detector. After the pass: localization (or the windows merged into segments),
thumbnails. ``timings`` holds the seconds of each (``decode`` is decoding and conversion alone; ``actors`` the
actors stage's own work in the pass: the person detector and the action detector).

Actors (:mod:`.actor_tap`) come from the same single pass: keyframe clips are scored as soon as they are decoded,
in ``detect-actions``' batches and by its per-keyframe code, so the result is what
:func:`vidstruct.pipeline.detection.detect_actions` gives for the video. Keyframes are ``0, every_s, 2 *
every_s...`` seconds; proposals files match a video by its file stem. Each actor becomes one entry of
``actors`` (box normalized ``[x1, y1, x2, y2]``, ``score`` the person probability, the actions from
``min_prob`` on, ``model: actors``).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from vidstruct.atomic import write_bytes_atomic
from vidstruct.data.features import VideoFeatures, snippet_centers_s
from vidstruct.errors import CheckpointError
from vidstruct.io import VideoInfo, VideoReader, probe
from vidstruct.models.checkpoint import sha256_file
from vidstruct.pipeline.analyze.actor_tap import ActorTap
from vidstruct.pipeline.analyze.models import ActorModels, AnalyzeModels
from vidstruct.pipeline.analyze.segments import MIN_SPAN_S, Span, merge_windows, split_at_shots
from vidstruct.pipeline.analyze.shot_tap import ShotTap
from vidstruct.pipeline.analyze.taps import FrameTap, decode_once, decode_short_side, short_side_for
from vidstruct.pipeline.analyze.thumbnails import Thumbnail, ThumbnailTap
from vidstruct.pipeline.analyze.windows import WindowOutputs, WindowTap, plan_windows
from vidstruct.pipeline.detection import DetectionResult
from vidstruct.pipeline.localization_chain import localize_features
from vidstruct.structure import (
    STRUCTURE_FILE,
    Structure,
    actor_record,
    embeddings_record,
    profile_record,
    segment_record,
    shot_record,
    structure_document,
    thumbnail_record,
    video_record,
    window_record,
    write_structure,
)
from vidstruct.structure.exports import export_structure
from vidstruct.structure.report import REPORT_FILE, write_report

__all__ = ["EXPORT_FILES", "ProgressFn", "VideoResult", "analyze_video"]

#: ``progress(stage, done_s, total_s)``: the stage running and the seconds of video it has done
ProgressFn = Callable[[str, float, float], None]

THUMBS = "thumbs"
EMBEDDINGS = "embeddings.npy"
#: export format → its main file in ``OUT/VIDEO_ID/`` (companions beside it: :mod:`vidstruct.structure.exports`)
EXPORT_FILES = {
    "webvtt": "chapters.vtt",
    "csv": "structure.csv",
    "activitynet": "activitynet.json",
    "ava": "ava.csv",
    "otio": "timeline.otio",
    "labelstudio": "labelstudio.json",
}


@dataclass
class VideoResult:
    """What :func:`analyze_video` wrote: the folder, the document's path and a summary of its content."""

    video_id: str
    folder: Path
    structure: Path
    report: Path | None
    duration_s: float
    shots: int
    windows: int
    segments: int
    timings: dict[str, float] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)
    actors: int = 0  #: actor boxes (one per person per keyframe)

    def to_dict(self) -> dict[str, Any]:
        return {
            "video_id": self.video_id,
            "folder": str(self.folder),
            "structure": str(self.structure),
            "report": None if self.report is None else str(self.report),
            "duration_s": round(self.duration_s, 3),
            "shots": self.shots,
            "windows": self.windows,
            "segments": self.segments,
            "actors": self.actors,
            "timings": {k: round(v, 3) for k, v in self.timings.items()},
            "warnings": list(self.warnings),
        }


def _decode_needs(models: AnalyzeModels, info: VideoInfo) -> list[int]:
    """The short side (pixels) each stage needs of the displayed ``info.width × info.height`` frames."""
    w, h = info.width, info.height
    needs = []
    if models.shot_detector is not None:
        needs.append(short_side_for(w, h, models.shot_detector.frame_size))
    thumb_w = min(models.settings.thumbnails.width, w)
    needs.append(short_side_for(w, h, (thumb_w, max(1, round(h * thumb_w / w)))))
    for backbone in (models.recognizer, models.localizer_backbone):
        if backbone is not None:
            needs.append(int(backbone.recognizer.spec.short_side))
    return needs


def _window_records(outputs: WindowOutputs, classes: list[str], top_k: int, duration_s: float) -> list[Any]:
    if outputs.probs is None:
        raise CheckpointError("the recognizer has no single classifier: windows need class probabilities")
    k = len(classes) if top_k <= 0 else min(top_k, len(classes))
    out = []
    for j, start in enumerate(outputs.plan.starts_s.tolist()):
        probs = outputs.probs[j]
        order = np.argsort(-probs, kind="stable")[:k]
        end = min(start + outputs.plan.window_s, duration_s)
        top = [(classes[c], float(probs[c])) for c in order]
        out.append(window_record(start, end, top, model="recognizer", embedding_row=j))
    return out


def _localize(models: AnalyzeModels, outputs: WindowOutputs, duration_s: float) -> list[Span]:
    """Localizer segments from snippet features (``outputs``: the snippets' features and probabilities)."""
    bundle, settings = models.localizer, models.settings.localization
    assert bundle is not None
    plan = outputs.plan
    feats = VideoFeatures(
        features=outputs.features,
        probs=outputs.probs,
        centers_s=np.asarray(
            snippet_centers_s(np.arange(plan.num_windows), plan.window_s, plan.stride_s, duration_s), np.float64
        ),
        duration_s=duration_s,
        stride_s=plan.stride_s,
        window_s=plan.window_s,
    )
    rows = localize_features(bundle, feats)
    spans = []
    for r in rows:
        start, end = max(0.0, float(r.start_s)), min(duration_s, float(r.end_s))
        score = min(1.0, max(0.0, float(r.score)))  # as Localizer.localize: scores are probabilities
        if end - start >= MIN_SPAN_S and score >= settings.min_score:
            spans.append(Span(r.label, start, end, score))
    spans.sort(key=lambda s: -s.score)
    if settings.top_k:
        spans = spans[: settings.top_k]
    return spans


def _coord(v: float) -> float:
    """A normalized coordinate or probability: clamped to [0, 1] (float32 rounding), 6 decimals (float32 noise off)."""
    return round(min(1.0, max(0.0, float(v))), 6)


def _actors(actors: ActorModels, result: DetectionResult, duration_s: float) -> list[Any]:
    """The ``actors`` records of the actors tap's ``result`` (see the module doc)."""
    out = []
    for kf in result.keyframes:
        if kf.time_s > duration_s:
            continue
        for a in kf.actors:
            acts = [(x["label"], x["prob"]) for x in result.actions(a, actors.settings.min_prob)]
            box = [_coord(v) for v in a.box]
            out.append(actor_record(a.track_id, kf.time_s, box, _coord(a.score), acts, model="actors"))
    return out


def analyze_video(
    models: AnalyzeModels,
    path: str | Path,
    out_dir: str | Path,
    *,
    video_id: str | None = None,
    progress: ProgressFn | None = None,
) -> VideoResult:
    """Analyze the video at ``path`` into ``out_dir/video_id/`` (``video_id``: the file stem by default).

    Raises :class:`~vidstruct.io.VideoDecodeError` subclasses for a file that is not a readable video (missing,
    empty, corrupt, no video stream, no frame) before anything is written, and :class:`OSError` for files it
    cannot read or write.
    """
    t_start = time.perf_counter()
    video_id = video_id or Path(path).stem
    settings = models.settings
    timings: dict[str, float] = {}
    warnings: list[str] = []

    def report(stage: str, done_s: float, total_s: float) -> None:
        if progress is not None:
            progress(stage, done_s, total_s)

    t0 = time.perf_counter()
    info = probe(path)
    sha = sha256_file(path)
    timings["probe"] = time.perf_counter() - t0
    folder = Path(out_dir) / video_id
    (folder / STRUCTURE_FILE).unlink(missing_ok=True)  # the folder holds no finished analysis until the end
    (folder / REPORT_FILE).unlink(missing_ok=True)

    short_side = decode_short_side(info.width, info.height, _decode_needs(models, info))
    reader = VideoReader(path, short_side=short_side, threads=settings.threads)
    try:
        index = reader.index
        duration = index.duration_s
        taps: list[FrameTap] = []
        shot_tap = window_tap = snippet_tap = None
        if models.shot_detector is not None:
            shot_tap = ShotTap(models.shot_detector, index)
            taps.append(shot_tap)
        if models.recognizer is not None:
            rec = models.recognizer
            frames = rec.recognizer.spec.num_frames
            plan = plan_windows(index, rec.window_s, rec.stride_s, frames, min_span_s=MIN_SPAN_S)
            window_tap = WindowTap(
                "recognition", rec.recognizer, plan, batch_size=settings.recognition.batch_size, runner=rec.runner
            )
            taps.append(window_tap)
            if rec.window_s > duration:
                warnings.append(
                    f"the video ({duration:.3f} s) is shorter than one recognition window ({rec.window_s:g} s): its "
                    "window repeats the last frame"
                )
        if models.localizer_backbone is not None:
            bb = models.localizer_backbone
            frames = bb.recognizer.spec.num_frames
            plan = plan_windows(index, bb.window_s, bb.stride_s, frames, min_span_s=MIN_SPAN_S)
            snippet_tap = WindowTap(
                "snippets", bb.recognizer, plan, batch_size=settings.recognition.batch_size, runner=bb.runner
            )
            taps.append(snippet_tap)
        thumb = settings.thumbnails
        thumb_tap = ThumbnailTap(index, width=thumb.width, quality=thumb.quality, fps=thumb.fps)
        taps.append(thumb_tap)
        actor_tap = None
        if models.actors is not None:
            act = models.actors
            actor_tap = ActorTap(
                str(path), index, (info.width, info.height), act.detector, act.persons, every_s=act.settings.every_s,
                device=act.device, objects=act.objects, batch_size=act.settings.batch_size,
            )  # fmt: skip
            taps.extend(actor_tap.taps)
        stage = " + ".join(tap.name for tap in taps)
        try:
            timings.update(decode_once(reader, taps, progress=lambda done: report(stage, done, duration)))
        except BaseException:
            if shot_tap is not None:  # the detector serves the next video: forget this one
                shot_tap.detector.reset()
            raise
        for tap in taps:
            timings[tap.name] = tap.seconds
        if actor_tap is not None and actor_tap.person_tap is not None:  # the actors stage: both detectors
            timings["actors"] += timings.pop(actor_tap.person_tap.name)
        if reader.stats.fallbacks:
            warnings.append(
                f"{reader.stats.fallbacks} frames could not be decoded and were replaced by the frame before them"
            )
    finally:
        reader.close()

    # ------------------------------------------------------------------ shots
    shots = shot_tap.result.shots if shot_tap is not None and shot_tap.result is not None else []
    shot_spans = [(s.start_s, s.end_s) for s in shots]

    # ------------------------------------------------------------------ windows and segments
    t0 = time.perf_counter()
    windows: list[Any] = []
    embeddings = None
    spans: list[Span] = []
    if window_tap is not None:
        assert models.recognizer is not None
        outputs = window_tap.outputs()
        classes = models.recognizer.recognizer.classes
        windows = _window_records(outputs, classes, settings.recognition.top_k, duration)
        embeddings = outputs.features
        if models.localizer is None:
            assert outputs.probs is not None
            ends = np.minimum(outputs.plan.starts_s + outputs.plan.window_s, duration)
            spans = merge_windows(
                outputs.plan.starts_s, ends, outputs.probs, classes, settings.segments, shots=shot_spans,
                duration_s=duration,
            )  # fmt: skip
    if models.localizer is not None:
        report("localization", duration, duration)
        snippets = snippet_tap.outputs() if snippet_tap is not None else window_tap.outputs()  # type: ignore[union-attr]
        found = _localize(models, snippets, duration)
        cut = settings.segments
        spans = split_at_shots(found, shot_spans, cross_shots=cut.cross_shots, min_duration_s=cut.min_duration_s)
        spans.sort(key=lambda s: (s.start_s, s.label))
        timings["localization"] = time.perf_counter() - t0
    else:
        timings["segments"] = time.perf_counter() - t0

    # ------------------------------------------------------------------ actors (scored in the pass)
    actors: list[Any] = []
    if actor_tap is not None:
        assert models.actors is not None and actor_tap.result is not None
        actors = _actors(models.actors, actor_tap.result, duration)
    exports = list(settings.exports)
    if "ava" in exports and not actors:
        warnings.append(f"no actors found: the AVA export ({EXPORT_FILES['ava']}) has no rows")

    # ------------------------------------------------------------------ thumbnails
    report("thumbnails", duration, duration)
    t0 = time.perf_counter()
    thumb_records = []
    shot_thumbs: list[str | None] = []
    for k, shot in enumerate(shots):
        name, picked = _write_thumb(folder, f"shot-{k:04d}.jpg", thumb_tap, shot.start_s, shot.end_s)
        shot_thumbs.append(name)
        if name is not None and picked is not None:
            thumb_records.append(thumbnail_record(name, picked.time_s, "shot", k))
    segment_thumbs: list[str | None] = []
    for k, span in enumerate(spans):
        name, picked = _write_thumb(folder, f"segment-{k:04d}.jpg", thumb_tap, span.start_s, span.end_s)
        segment_thumbs.append(name)
        if name is not None and picked is not None:
            thumb_records.append(thumbnail_record(name, picked.time_s, "segment", k))
    _remove_stale_thumbs(folder, {name for name in shot_thumbs + segment_thumbs if name})
    timings["thumbnails"] = timings.get("thumbnails", 0.0) + time.perf_counter() - t0

    # ------------------------------------------------------------------ document
    report("writing", duration, duration)
    t0 = time.perf_counter()
    source = "localizer" if models.localizer is not None else "windows"
    seg_model = "localizer" if models.localizer is not None else "recognizer"
    document = structure_document(
        video=video_record(
            id=video_id,
            path=str(path),
            sha256=sha,
            width=info.width,
            height=info.height,
            codec=info.codec,
            rotation=info.rotation,
            duration_s=duration,
            fps=index.average_fps or None,
            num_frames=index.num_frames,
        ),
        models=models.records(),
        shots=[
            shot_record(k, s.start_s, s.end_s, s.confidence, model="shots", thumbnail=shot_thumbs[k])
            for k, s in enumerate(shots)
        ],
        segments=[
            segment_record(
                s.label,
                s.start_s,
                s.end_s,
                s.score,
                source=source,
                model=seg_model,
                shot=s.shot,
                thumbnail=segment_thumbs[k],
            )
            for k, s in enumerate(spans)
        ],  # fmt: skip
        windows=windows,
        actors=actors,
        thumbnails=thumb_records,
        embeddings=None if embeddings is None else embeddings_record(*embeddings.shape, model="recognizer"),
        profile=None
        if settings.profile_sha256 is None
        else profile_record(settings.profile_name or "default", settings.profile_sha256),
        timings={**timings, "total": time.perf_counter() - t_start},
        warnings=warnings,
        skipped_stages=settings.skipped_stages(),
        ran_stages=settings.run_stages(),
    )
    structure = write_structure(folder, document, embeddings)
    if embeddings is None:
        (folder / EMBEDDINGS).unlink(missing_ok=True)
    timings["write"] = time.perf_counter() - t0
    written = Structure(structure, document)  # validated by write_structure: the report and exports use it as is
    report_path = None
    if settings.report:
        report_path = write_report(written, folder / REPORT_FILE)
    for fmt in exports:
        export_structure(written, fmt, folder / EXPORT_FILES[fmt])
    timings["total"] = time.perf_counter() - t_start
    return VideoResult(
        video_id=video_id,
        folder=folder,
        structure=structure,
        report=report_path,
        duration_s=duration,
        shots=len(shots),
        windows=len(windows),
        segments=len(spans),
        timings=timings,
        warnings=warnings,
        actors=len(actors),
    )


def _write_thumb(
    folder: Path, name: str, tap: ThumbnailTap, start_s: float, end_s: float
) -> tuple[str | None, Thumbnail | None]:
    """Write the thumbnail of ``[start_s, end_s)`` as ``thumbs/name``: its path relative to ``folder`` and the
    candidate written (``(None, None)`` when there is none)."""
    picked = tap.pick(start_s, end_s)
    if picked is None:
        return None, None
    write_bytes_atomic(folder / THUMBS / name, picked.jpeg)
    return f"{THUMBS}/{name}", picked


def _remove_stale_thumbs(folder: Path, keep: set[str]) -> None:
    """Delete thumbnails of an earlier analysis of this folder that this one does not name."""
    thumbs = folder / THUMBS
    if not thumbs.is_dir():
        return
    for path in thumbs.glob("*.jpg"):
        if f"{THUMBS}/{path.name}" not in keep and path.name.startswith(("shot-", "segment-")):
            path.unlink(missing_ok=True)

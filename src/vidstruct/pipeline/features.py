"""Snippet features of untrimmed videos from any recognition backbone (``vidstruct extract-features``).

A snippet is a window of ``window_s`` seconds every ``stride_s`` seconds (snippet ``i`` covers
``[i * stride_s, i * stride_s + window_s]``, clipped to the video; see :mod:`vidstruct.data.features`).
From each window, the backbone's input clip is sampled like :meth:`Recognizer.predict_windows` does:
``num_frames`` frames evenly spaced by presentation time (``num_frames / window_s`` fps), resized and
centre-cropped per the model's :class:`~vidstruct.models.spec.InputSpec`; a window running past the end
repeats the last frame. Each clip gives:

- ``features``: ``model.forward_features(clip)`` — float32 ``[feature_dim]``;
- ``probs``: softmax of the model's classifier on those features — float32 ``[num_classes]``.

Decoding streams through :func:`vidstruct.io.iter_windows`, so memory is bounded by the windows overlapping
one instant plus one batch of clips, whatever the video length.

:func:`extract_features` runs that over a list of videos into a feature directory (format
``vidstruct.features/1``): resumable (videos already done under the same config hash are skipped),
one bad video is recorded in the manifest's ``failed`` and the others go on; in parallel over videos with
worker processes (``workers > 1``) or Ray (``ray=True``). A worker process that dies (a decoder crash, the
out-of-memory killer) fails only the video it was working on (:mod:`vidstruct.data.procpool`). The main
process owns every file write: a video's feature files (atomically), then its record in the manifest's
journal (one fsynced line; :class:`~vidstruct.data.features.ManifestJournal`), so that a run killed at any
point keeps every video recorded so far and the next run skips exactly those.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import multiprocessing as mp
import os
import tempfile
import weakref
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from multiprocessing.context import BaseContext
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from vidstruct.atomic import write_bytes_atomic
from vidstruct.data.features import (
    MANIFEST_NAME,
    FeatureStoreError,
    ManifestJournal,
    VideoFeatures,
    compact_manifest,
    compute_config_hash,
    new_manifest,
    save_array_atomic,
    snippet_centers_s,
)
from vidstruct.data.procpool import WorkerDied, map_surviving
from vidstruct.data.transforms import build_eval_transform
from vidstruct.errors import InputError, VidstructError
from vidstruct.io import NoFramesError, iter_windows
from vidstruct.models.checkpoint import load_model_checkpoint, sha256_file
from vidstruct.models.spec import InputSpec
from vidstruct.pipeline.ray_session import ray_session
from vidstruct.pipeline.recognizer import Recognizer, resolve_model_checkpoint

log = logging.getLogger(__name__)

#: frame rate assumed for the default window of a model whose input spec has no ``target_fps``
FALLBACK_FPS = 30.0

ProgressFn = Callable[[Iterable[Any], int], Iterable[Any]]


@dataclass(frozen=True)
class ExtractedVideo(VideoFeatures):
    """:class:`VideoFeatures` of one video plus its average frame rate (frames per second)."""

    video_fps: float | None = None


@dataclass
class ExtractionReport:
    """What :func:`extract_features` did: video IDs done now, skipped (already done), failed (with messages)."""

    out_dir: Path
    config_hash: str
    done: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    failed: dict[str, str] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return not self.failed

    def to_dict(self) -> dict[str, Any]:
        return {
            "out_dir": str(self.out_dir),
            "config_hash": self.config_hash,
            "done": list(self.done),
            "skipped": list(self.skipped),
            "failed": dict(self.failed),
        }


# ----------------------------------------------------------------------------------------------- one video


def default_window_s(spec: InputSpec) -> float:
    """The time one training clip spans: ``num_frames × frame_interval / target_fps`` seconds
    (``target_fps`` falls back to :data:`FALLBACK_FPS` when the spec has none)."""
    return spec.num_frames * spec.frame_interval / (spec.target_fps or FALLBACK_FPS)


def _model_spec_device(backbone: Any) -> tuple[nn.Module, InputSpec, torch.device]:
    if isinstance(backbone, Recognizer):
        return backbone.model, backbone.spec, backbone.device
    if isinstance(backbone, nn.Module) and hasattr(backbone, "forward_features"):
        spec = getattr(backbone, "input_spec", None)
        if not isinstance(spec, InputSpec):
            raise TypeError(f"{type(backbone).__name__}: model has no input_spec (InputSpec)")
        param = next(backbone.parameters(), None)
        return backbone.eval(), spec, param.device if param is not None else torch.device("cpu")
    raise TypeError(f"expected a Recognizer or a VideoModel with forward_features, got {type(backbone).__name__}")


# per model: the classifier applied on pooled features (verified once against model(clip)), "forward" when
# the probabilities need the full forward pass, None when the model has no single-tensor classifier
_HEAD_CACHE: weakref.WeakKeyDictionary[nn.Module, Any] = weakref.WeakKeyDictionary()


def _feature_classifier(model: nn.Module) -> nn.Module | None:
    """The linear classifier that maps ``forward_features`` output to logits, when the model has one.

    Heads are ``[dropout →] linear`` in eval mode (``VideoTransformer.head``, ``LinearHead.fc``,
    ``TransformerHead.fc``); the guess is verified against ``model(clip)`` on the first batch.
    """
    head = getattr(model, "head", None)
    if isinstance(head, nn.Linear):
        return head
    fc = getattr(head, "fc", None)
    return fc if isinstance(fc, nn.Linear) else None


@torch.no_grad()
def _features_and_probs(model: nn.Module, clips: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
    """``(features [B, D], softmax probabilities [B, K] or None)`` of normalized clips ``[B, C, T, H, W]``."""
    feats = model.forward_features(clips)
    mode = _HEAD_CACHE.get(model, "unknown")
    if mode == "unknown":
        logits = model(clips)
        if not (isinstance(logits, torch.Tensor) and logits.ndim == 2 and logits.shape[0] == clips.shape[0]):
            _HEAD_CACHE[model] = None
            return feats, None
        head = _feature_classifier(model)
        ok = False
        if head is not None and head.in_features == feats.shape[1]:
            ok = torch.allclose(head(feats), logits, rtol=1e-4, atol=1e-4)
        _HEAD_CACHE[model] = head if ok else "forward"
        return feats, torch.softmax(logits.float(), dim=-1)
    if mode is None:
        return feats, None
    logits = model(clips) if mode == "forward" else mode(feats)
    return feats, torch.softmax(logits.float(), dim=-1)


def snippet_features(
    backbone: Any,
    video_path: str | os.PathLike,
    *,
    window_s: float,
    stride_s: float,
    batch_size: int = 8,
    threads: int = 0,
) -> ExtractedVideo:
    """Features and class probabilities of every snippet of one video, streamed.

    Args:
        backbone: a :class:`~vidstruct.pipeline.recognizer.Recognizer` or a
            :class:`~vidstruct.models.base.VideoModel` (used on the device its parameters are on).
        video_path: the video file.
        window_s / stride_s: snippet length and step, seconds.
        batch_size: clips per forward pass.
        threads: decoder threads (0 = FFmpeg's choice).

    Returns:
        :class:`ExtractedVideo`: ``features`` float32 ``[N, feature_dim]``, ``probs`` float32 ``[N, K]``
        (softmax) or None, ``centers_s`` ``[N]``, ``duration_s``, ``video_fps``.

    Raises:
        :class:`~vidstruct.io.errors.VideoDecodeError` (a subclass) for a missing / unreadable / corrupt video.
    """
    if not (window_s > 0 and stride_s > 0):
        raise InputError(f"window_s and stride_s must be > 0, got {window_s} and {stride_s}")
    model, spec, device = _model_spec_device(backbone)
    transform = build_eval_transform(
        short_side=spec.short_side, crop_size=spec.crop_size, mean=spec.mean, std=spec.std, num_crops=1
    )
    stream = iter_windows(video_path, window_s, stride_s, spec.num_frames / window_s, spec.short_side, threads=threads)
    duration_s = float(stream.reader.duration_s)
    video_fps = float(stream.reader.fps)
    feats: list[np.ndarray] = []
    probs: list[np.ndarray] = []
    has_probs = True
    pending: list[torch.Tensor] = []

    def flush() -> None:
        nonlocal has_probs
        f, p = _features_and_probs(model, torch.stack(pending).to(device))
        feats.append(f.float().cpu().numpy())
        if p is None:
            has_probs = False
        else:
            probs.append(p.cpu().numpy())
        pending.clear()

    try:
        for window in stream:
            frames = window.frames[: spec.num_frames]
            if frames.shape[0] < spec.num_frames:  # pad by repeating the last frame
                pad = frames[-1:].expand(spec.num_frames - frames.shape[0], *frames.shape[1:])
                frames = torch.cat([frames, pad])
            pending.append(transform(frames))
            if len(pending) == batch_size:
                flush()
        if pending:
            flush()
    finally:
        stream.reader.close()
    if not feats:
        raise NoFramesError(video_path, "no snippet could be sampled (empty video stream)")
    features = np.concatenate(feats).astype(np.float32, copy=False)
    n = features.shape[0]
    return ExtractedVideo(
        features=features,
        probs=np.concatenate(probs).astype(np.float32, copy=False) if has_probs else None,
        centers_s=np.asarray(snippet_centers_s(np.arange(n), window_s, stride_s, duration_s), dtype=np.float64),
        duration_s=duration_s,
        stride_s=float(stride_s),
        window_s=float(window_s),
        video_fps=video_fps,
    )


# ----------------------------------------------------------------------------------------------- workers
#
# A task is ``(video_id, path)``; its result a plain dict (picklable, no torch tensors):
# ``{"video_id", "ok": True, "features", "probs", "duration_s", "video_fps"}`` or ``{"video_id", "ok": False,
# "error"}``. Workers never write files: the main process does (atomic npy writes, then the journal record).

_WORKER: dict[str, Any] = {}
_PRELOAD = ["torch", "vidstruct.models", "vidstruct.data.transforms", "vidstruct.io", "vidstruct.pipeline.recognizer"]


def _init_worker(checkpoint: str, device: str, threads: int) -> None:
    """Process-pool initializer: torch threads, then the recognizer loaded once per worker."""
    torch.set_num_threads(max(1, threads))
    _WORKER["recognizer"] = Recognizer.from_checkpoint(checkpoint, device=device)


def _run_task(
    recognizer: Any, video_id: str, path: str, window_s: float, stride_s: float, batch_size: int
) -> dict[str, Any]:
    try:
        out = snippet_features(recognizer, path, window_s=window_s, stride_s=stride_s, batch_size=batch_size)
    except VidstructError as exc:
        return {"video_id": video_id, "ok": False, "error": str(exc)}
    except Exception as exc:  # one bad video must not stop the others; the message says what happened
        log.debug("%s: unexpected error", path, exc_info=True)
        return {"video_id": video_id, "ok": False, "error": f"{path}: {type(exc).__name__}: {exc}"}
    return {
        "video_id": video_id,
        "ok": True,
        "features": out.features,
        "probs": out.probs,
        "duration_s": out.duration_s,
        "video_fps": out.video_fps,
    }


def _died(video_id: str, path: str, death: WorkerDied) -> dict[str, Any]:
    """The failed result of a video whose worker process died on it: ``"<path>: worker process died (...)"``."""
    return {"video_id": video_id, "ok": False, "error": f"{path}: {death}"}


def _pool_task(task: tuple[str, str], window_s: float, stride_s: float, batch_size: int) -> dict[str, Any]:
    video_id, path = task
    return _run_task(_WORKER["recognizer"], video_id, path, window_s, stride_s, batch_size)


def _ray_task(
    ckpt_bytes: bytes, sha256: str, device: str, threads: int, video_id: str, path: str, **kwargs: Any
) -> dict[str, Any]:
    """Ray task: the checkpoint comes through the object store (nodes need not see the driver's files),
    the recognizer is cached per worker process by checkpoint SHA-256."""
    key = f"ray:{sha256}:{device}"
    if key not in _WORKER:
        torch.set_num_threads(max(1, threads))
        with tempfile.TemporaryDirectory(prefix="vidstruct-ckpt-") as tmp:
            ckpt = write_bytes_atomic(Path(tmp) / "model.pt", ckpt_bytes)
            _WORKER[key] = Recognizer.from_checkpoint(ckpt, device=device)
    return _run_task(_WORKER[key], video_id, path, **kwargs)


def _run_serial(
    recognizer: Any, tasks: Sequence[tuple[str, str]], window_s: float, stride_s: float, batch_size: int
) -> Iterator[dict[str, Any]]:
    for video_id, path in tasks:
        yield _run_task(recognizer, video_id, path, window_s, stride_s, batch_size)


def _pool_context() -> BaseContext:
    """``forkserver`` where the platform has it: the fork server imports torch and the models once, and each
    worker is forked from it (a fresh process that never ran torch ops, so forking is safe) instead of paying
    the imports again; ``spawn`` elsewhere."""
    if "forkserver" in mp.get_all_start_methods():
        ctx = mp.get_context("forkserver")
        ctx.set_forkserver_preload(_PRELOAD)
        return ctx
    return mp.get_context("spawn")  # pragma: no cover - Windows


def _run_pool(
    checkpoint: Path,
    tasks: Sequence[tuple[str, str]],
    *,
    workers: int,
    device: str,
    window_s: float,
    stride_s: float,
    batch_size: int,
) -> Iterator[dict[str, Any]]:
    """Results of ``tasks`` from ``workers`` processes; a video whose worker dies is a failed result."""
    threads = max(1, (os.cpu_count() or 1) // workers)
    fn = functools.partial(_pool_task, window_s=window_s, stride_s=stride_s, batch_size=batch_size)
    outcomes = map_surviving(
        fn,
        tasks,
        workers=workers,
        mp_context=_pool_context(),
        initializer=_init_worker,
        initargs=(str(checkpoint), device, threads),
    )
    for (video_id, path), outcome in outcomes:
        yield _died(video_id, path, outcome) if isinstance(outcome, WorkerDied) else outcome


def _run_ray(
    ray: Any,
    checkpoint: Path,
    sha256: str,
    tasks: Sequence[tuple[str, str]],
    *,
    workers: int,
    on_cluster: bool,
    device: str,
    window_s: float,
    stride_s: float,
    batch_size: int,
) -> Iterator[dict[str, Any]]:
    """Results of ``tasks`` run as Ray tasks (``ray``: the module, connected); a task whose worker dies (or
    whose node goes away) is a failed result."""
    cpus = int(ray.cluster_resources().get("CPU", workers)) if on_cluster else workers
    threads = max(1, (os.cpu_count() or 1) // max(1, min(workers, cpus)))
    remote = ray.remote(num_cpus=1, max_retries=0)(_ray_task)
    ckpt_ref = ray.put(checkpoint.read_bytes())
    kwargs = {"window_s": window_s, "stride_s": stride_s, "batch_size": batch_size}
    task_of = {
        remote.remote(ckpt_ref, sha256, device, threads, vid, path, **kwargs): (vid, path) for vid, path in tasks
    }
    pending = list(task_of)
    while pending:
        ready, pending = ray.wait(pending, num_returns=1)
        for ref in ready:
            video_id, path = task_of.pop(ref)
            try:
                result = ray.get(ref)
            except ray.exceptions.RayTaskError as exc:  # _ray_task raised outside _run_task (loading the model)
                cause = getattr(exc, "cause", None) or exc
                result = {"video_id": video_id, "ok": False, "error": f"{path}: {type(cause).__name__}: {cause}"}
            except ray.exceptions.RayError as exc:  # the worker process died (crash, OOM kill) or its node left
                result = _died(video_id, path, WorkerDied(f"Ray: {type(exc).__name__}"))
            yield result


# ----------------------------------------------------------------------------------------------- collection


def video_ids_for(videos: Sequence[str | os.PathLike] | Mapping[str, str | os.PathLike]) -> dict[str, str]:
    """``{video_id: path}``: a mapping is taken as is; a list is keyed by file stem (duplicates are an error)."""
    out: dict[str, str] = {}
    items = videos.items() if isinstance(videos, Mapping) else ((Path(p).stem, p) for p in videos)
    for vid, path in items:
        vid = str(vid)
        if not vid or vid.startswith(".") or "/" in vid or "\\" in vid:
            raise InputError(f"{path}: video id {vid!r} cannot name a feature file (empty, '/' or leading '.')")
        if vid in out and out[vid] != str(path):
            raise InputError(f"two videos have the same video id {vid!r} (file stem): {out[vid]} and {path}")
        out[vid] = str(path)
    return out


def _check_config(out_dir: Path, manifest: dict[str, Any], fresh: dict[str, Any]) -> None:
    """Raise :class:`FeatureStoreError` when the store ``manifest`` was made with another config than ``fresh``."""
    if manifest["config_hash"] != fresh["config_hash"]:
        old = manifest["backbone"]
        raise FeatureStoreError(
            f"{out_dir / MANIFEST_NAME}: holds features of another configuration (config_hash "
            f"{manifest['config_hash']}: checkpoint {old['checkpoint']}, window_s {manifest['window_s']}, "
            f"stride_s {manifest['stride_s']}); this run has config_hash {fresh['config_hash']} "
            f"(checkpoint {fresh['backbone']['checkpoint']}, window_s {fresh['window_s']}, stride_s "
            f"{fresh['stride_s']}); use another --out directory"
        )


def _is_done(out_dir: Path, manifest: dict[str, Any], video_id: str) -> bool:
    entry = manifest["videos"].get(video_id)
    if entry is None:
        return False
    files = [entry["features"]] + ([entry["probs"]] if entry.get("probs") else [])
    return all((out_dir / f).is_file() for f in files)


def extract_features(
    checkpoint: str | os.PathLike,
    videos: Sequence[str | os.PathLike] | Mapping[str, str | os.PathLike],
    out_dir: str | os.PathLike,
    *,
    window_s: float | None = None,
    stride_s: float | None = None,
    workers: int = 1,
    ray: bool = False,
    ray_address: str | None = None,
    device: str = "auto",
    batch_size: int = 8,
    progress: ProgressFn | None = None,
) -> ExtractionReport:
    """Extract snippet features of ``videos`` into the feature directory ``out_dir``.

    Args:
        checkpoint: a recognition model checkpoint (or a run directory holding ``model.pt``).
        videos: video paths (video_id = file stem) or ``{video_id: path}``.
        out_dir: feature directory (created; an existing one is resumed when its config hash matches, and is
            a :class:`~vidstruct.data.features.FeatureStoreError` otherwise).
        window_s: snippet length, seconds (default: the span of one training clip, :func:`default_window_s`).
        stride_s: snippet step, seconds (default ``window_s / 2``).
        workers: parallel worker processes (or Ray CPUs for a local Ray); each uses ``cores // workers``
            torch threads.
        ray / ray_address: run the videos as Ray tasks, on a local Ray started here (and shut down after) or
            on the cluster at ``ray_address``. Video paths must be readable on the Ray nodes.
        device: ``auto`` (CUDA when available), ``cpu``, ``cuda``...
        batch_size: clips per forward pass.
        progress: ``progress(iterable, total)`` wrapper for a progress bar (e.g. the CLI's).

    Returns:
        :class:`ExtractionReport`. Videos that fail (missing, corrupt, no video stream, a worker process that
        dies on them) are listed there and in the manifest's ``failed`` with their error message; the others
        are done regardless.

    Raises:
        FeatureStoreError: ``out_dir`` is a file, or holds features of another configuration.
        RayUnavailableError: ``ray`` without Ray installed, or no Ray cluster answers at ``ray_address``.
    """
    if workers < 1:
        raise InputError(f"workers must be >= 1, got {workers}")
    if window_s is not None and not window_s > 0:
        raise InputError(f"window_s must be > 0, got {window_s}")
    if stride_s is not None and not stride_s > 0:
        raise InputError(f"stride_s must be > 0, got {stride_s}")
    wanted = video_ids_for(videos)
    ckpt = resolve_model_checkpoint(checkpoint).resolve()
    model, meta = load_model_checkpoint(ckpt)
    spec = model.input_spec
    classes = list(meta.get("classes") or [str(i) for i in range(model.num_classes)])
    # the main process only needs the model itself when it extracts (workers load their own)
    recognizer = Recognizer(model, classes, spec, device if workers == 1 and not ray else "cpu")
    window_s = float(window_s or default_window_s(spec))
    stride_s = float(stride_s or window_s / 2)
    sha = sha256_file(ckpt)
    config_hash = compute_config_hash(sha, window_s, stride_s, spec.to_dict())

    out = Path(out_dir)
    if out.exists() and not out.is_dir():
        raise FeatureStoreError(f"{out}: exists and is not a directory")
    fresh = new_manifest(
        checkpoint=ckpt,
        sha256=sha,
        model=str(meta["model"]),
        config_hash=config_hash,
        window_s=window_s,
        stride_s=stride_s,
        feature_dim=int(model.feature_dim),
        classes=classes,
    )
    report = ExtractionReport(out_dir=out, config_hash=config_hash)
    tasks: list[tuple[str, str]] = []

    def start(manifest: dict[str, Any]) -> dict[str, Any]:
        """Check the store's config; keep the videos done, drop the entries whose files are gone."""
        _check_config(out, manifest, fresh)
        for video_id, path in wanted.items():
            if _is_done(out, manifest, video_id):
                report.skipped.append(video_id)
            else:
                manifest["videos"].pop(video_id, None)
                tasks.append((video_id, path))
        return manifest

    with contextlib.ExitStack() as stack:
        # join Ray before writing anything: an address where no cluster answers leaves no directory behind
        ray_mod = stack.enter_context(ray_session(ray_address, num_cpus=workers)) if ray else None
        # the run starts from a compacted manifest (what an interrupted run left in the journal included)
        compact_manifest(out, start, initial=fresh)
        if not tasks:
            return report
        if ray_mod is not None:
            results: Iterable[dict[str, Any]] = _run_ray(
                ray_mod,
                ckpt,
                sha,
                tasks,
                workers=workers,
                on_cluster=bool(ray_address),
                device=device,
                window_s=window_s,
                stride_s=stride_s,
                batch_size=batch_size,
            )
        elif workers > 1:  # worker processes even for one video: a crash in one fails that video, not the run
            del recognizer, model  # the workers load their own
            results = _run_pool(
                ckpt,
                tasks,
                workers=min(workers, len(tasks)),
                device=device,
                window_s=window_s,
                stride_s=stride_s,
                batch_size=batch_size,
            )
        else:
            results = _run_serial(recognizer, tasks, window_s, stride_s, batch_size)
        journal = stack.enter_context(ManifestJournal(out))  # compacted on leaving the block, however it ends
        # leaving the block stops the workers first (an ExitStack unwinds last-in first-out)
        stack.callback(getattr(results, "close", lambda: None))
        if progress is not None:
            results = progress(results, len(tasks))
            stack.callback(getattr(results, "close", lambda: None))
        for result in results:
            _record(out, journal, int(fresh["feature_dim"]), result, report)
    return report


def _record(
    out: Path, journal: ManifestJournal, feature_dim: int, result: dict[str, Any], report: ExtractionReport
) -> None:
    """Write one worker result: npy files first (atomically), then its journal record, then the report."""
    video_id = result["video_id"]
    if not result["ok"]:
        journal.failed(video_id, result["error"])
        report.failed[video_id] = result["error"]
        log.debug("failed: %s", result["error"])
        return
    feats = result["features"]
    if feats.shape[1] != feature_dim:  # pragma: no cover - a model bug, not a user error
        raise FeatureStoreError(f"{video_id}: features have dim {feats.shape[1]}, manifest says {feature_dim}")
    save_array_atomic(out / f"{video_id}.npy", feats)
    probs_name = None
    if result["probs"] is not None:
        probs_name = f"{video_id}.probs.npy"
        save_array_atomic(out / probs_name, result["probs"])
    entry = {
        "features": f"{video_id}.npy",
        "probs": probs_name,
        "num_snippets": int(feats.shape[0]),
        "duration_s": float(result["duration_s"]),
        "video_fps": float(result["video_fps"]) if result["video_fps"] else None,
    }
    journal.done(video_id, entry)
    report.done.append(video_id)

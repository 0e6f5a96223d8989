"""The last step of ``vidstruct demo``: an analysis profile for the models it trained, and ``analyze`` with it.

:func:`write_demo_profile` writes ``out/profile.yaml`` (``task: analyze``): recognition windows of the demo's
``model.ckpt`` every :data:`STRIDE_S` seconds, segments from its ``localizer.pt`` (the best
:data:`LOCALIZER_TOP_K`, when the localization step ran; otherwise windows merged per label), TransNetV2
shots, thumbnails and ``report.html``. Its checkpoint paths are **relative to the profile file**
(``model.ckpt``, ``localizer.pt``): the analyze recipe resolves a relative path against the folder of the
file that sets it, so ``vidstruct analyze VIDEO --profile demo_out/profile.yaml`` works from any current
folder, and the profile keeps working when ``demo_out/`` is moved with its models. The localizer's backbone
is named too (``model.ckpt``), for the same reason (the localizer records the absolute path it was trained
with; its SHA-256 is still checked).

:func:`run_analyze_demo` runs that profile on one video into ``out/analysis/`` (a demo folder, marked:
:func:`vidstruct.recipes.demo_folder.demo_subdir`), exactly as the command does
(:func:`vidstruct.recipes.analyze.load_profile` → :func:`~vidstruct.recipes.analyze.analyze_settings` →
:func:`vidstruct.pipeline.analyze.analyze_videos`): ``analysis/VIDEO_ID/structure.json``, ``embeddings.npy``,
``thumbs/`` and ``report.html``.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from vidstruct.atomic import write_text_atomic
from vidstruct.pipeline.analyze import analyze_videos
from vidstruct.recipes.analyze import analyze_settings, load_profile
from vidstruct.recipes.demo_folder import demo_subdir

__all__ = ["ANALYSIS_SUBDIR", "PROFILE_FILE", "STRIDE_S", "run_analyze_demo", "write_demo_profile"]

PROFILE_FILE = "profile.yaml"
#: the sub-folder of ``out`` the analysis goes into
ANALYSIS_SUBDIR = "analysis"
#: recognition window step, seconds (the window is one training clip's span, 1.28 s for the demo model)
STRIDE_S = 0.5
#: segments the localizer keeps (as ``vidstruct localize --top-k`` in the localization step)
LOCALIZER_TOP_K = 10


def write_demo_profile(
    out: Path,
    *,
    checkpoint: str = "model.ckpt",
    localizer: str | None = "localizer.pt",
    actors: tuple[str, str] | None = None,
) -> Path:
    """Write ``out/profile.yaml`` naming ``checkpoint`` and ``localizer`` (paths relative to ``out``; None: no
    localizer) and, with ``actors`` = ``(action detector, person detector)`` (relative paths too), the actors
    stage (keyframes every second); returns its path."""
    lines = [
        "# Written by 'vidstruct demo': an analysis profile for the models it trained.",
        "# Checkpoint paths are relative to this file, so it works from any folder:",
        f"#   vidstruct analyze VIDEO --profile {out / PROFILE_FILE} --out analysis/",
        "task: analyze",
        "name: demo",
        "shots:",
        "  detector: transnetv2        # transnetv2 | content | none",
        "recognizer:",
        f"  checkpoint: {checkpoint}",
        "  window_s: null              # one training clip's span",
        f"  stride_s: {STRIDE_S}",
        "  top_k: 5",
    ]
    if localizer is not None:
        lines += [
            "localizer:",
            f"  checkpoint: {localizer}",
            f"  backbone: {checkpoint}     # its recognition backbone (SHA-256 checked)",
            f"  top_k: {LOCALIZER_TOP_K}               # the best segments kept",
        ]
    if actors is not None:
        lines += [
            "actors:",
            f"  detector: {actors[0]}      # the action detector (relation head)",
            "  persons:",
            f"    detector: {actors[1]}   # person boxes from the person detector",
            "  every_s: 1.0",
            "  min_prob: 0.3",
        ]
    lines += [
        "segments:",
        "  cross_shots: false",
        "thumbnails:",
        "  width: 160",
        "report: true",
        "runtime:",
        "  device: cpu",
    ]
    return write_text_atomic(out / PROFILE_FILE, "\n".join(lines) + "\n")


def run_analyze_demo(out: Path, profile: Path, video: Path, *, quiet: bool = False) -> dict[str, Any]:
    """``vidstruct analyze VIDEO --profile PROFILE --out out/analysis``; returns a JSON-ready summary (the
    document's and the report's paths, counts of shots / windows / segments, seconds)."""
    started = time.perf_counter()
    analysis = demo_subdir(out, ANALYSIS_SUBDIR)
    prof, composed = load_profile(profile)
    settings = analyze_settings(prof, composed, name=profile.stem)
    report = analyze_videos(settings, {video.stem: str(video)}, analysis)
    if report.failed:  # the demo's own video and models: a failure here is a bug, not a user error
        raise RuntimeError(f"analyze failed: {report.failed}")
    result = report.done[video.stem]
    if not quiet:
        print(
            f"      {result['shots']} shots, {result['windows']} windows, {result['segments']} segments "
            f"({result['duration_s']:.1f} s of video analysed in {time.perf_counter() - started:.1f} s)",
            flush=True,
        )
    return {
        "video": str(video),
        "profile": str(profile),
        "shots": result["shots"],
        "windows": result["windows"],
        "segments": result["segments"],
        "actors": result.get("actors", 0),
        "seconds": round(time.perf_counter() - started, 1),
        "files": {"profile": str(profile), "structure": result["structure"], "report": result["report"]},
    }

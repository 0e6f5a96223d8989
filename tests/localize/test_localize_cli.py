"""``vidstruct localize`` end to end: well-formed segments, parity with the library chain, JSON, PNG, bad input."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from localizekit import CLASSES, STRIDE_S, WINDOW_S, Kit, save_bmn, save_weak
from PIL import Image

from mediakit import write_audio_only
from vidstruct.cli.main import main


def _localize_json(capsys: pytest.CaptureFixture[str], *args: str) -> dict:
    assert main(["localize", *args, "--json", "--device", "cpu", "--quiet"]) == 0
    return json.loads(capsys.readouterr().out)


def _error(capsys: pytest.CaptureFixture[str], *args: str) -> str:
    assert main(["localize", *args, "--device", "cpu", "--quiet"]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ")
    return lines[0]


def test_segments_are_well_formed(kit: Kit, capsys: pytest.CaptureFixture[str]) -> None:
    out = _localize_json(capsys, str(kit.video), "--checkpoint", str(kit.localizer), "--top-k", "0")
    assert out["video"] == str(kit.video)
    assert out["duration_s"] == pytest.approx(5.0, abs=0.11)
    segs = out["segments"]
    assert segs, "a random BMN still proposes segments (start/end peaks always exist)"
    for s in segs:
        assert set(s) == {"label", "start_s", "end_s", "score"}
        assert s["label"] in CLASSES
        assert 0.0 <= s["start_s"] < s["end_s"] <= out["duration_s"] + 1e-9
        assert 0.0 <= s["score"] <= 1.0
    scores = [s["score"] for s in segs]
    assert scores == sorted(scores, reverse=True)
    assert len(segs) <= 30  # the checkpoint's postprocess.max_segments


def test_equals_snippet_features_then_localize_features(kit: Kit, capsys: pytest.CaptureFixture[str]) -> None:
    """The command runs exactly the library chain: snippet_features → localize_features."""
    from vidstruct.models.localization.checkpoint import load_localizer
    from vidstruct.pipeline.features import snippet_features
    from vidstruct.pipeline.localization_chain import localize_features
    from vidstruct.pipeline.recognizer import Recognizer

    feats = snippet_features(
        Recognizer.from_checkpoint(kit.backbone, device="cpu"), kit.video, window_s=WINDOW_S, stride_s=STRIDE_S
    )
    assert feats.features.shape == (10, 8)  # ceil(5 s / 0.5 s) snippets of the 8-dim backbone
    expected = localize_features(load_localizer(kit.localizer), feats)
    got = _localize_json(capsys, str(kit.video), "--checkpoint", str(kit.localizer), "--top-k", "0")["segments"]
    assert [s["label"] for s in got] == [e.label for e in expected]
    assert np.allclose(
        [[s["start_s"], s["end_s"], s["score"]] for s in got],
        [[e.start_s, e.end_s, e.score] for e in expected],
        atol=1e-9,
    )


def test_top_k_and_min_score_filter(kit: Kit, capsys: pytest.CaptureFixture[str]) -> None:
    args = [str(kit.video), "--checkpoint", str(kit.localizer)]
    full = _localize_json(capsys, *args, "--top-k", "0")["segments"]
    assert _localize_json(capsys, *args, "--top-k", "3")["segments"] == full[:3]
    cut = full[len(full) // 2]["score"]
    kept = _localize_json(capsys, *args, "--top-k", "0", "--min-score", str(cut))["segments"]
    assert kept == [s for s in full if s["score"] >= cut] and 0 < len(kept) <= len(full)


def test_table_output(kit: Kit, capsys: pytest.CaptureFixture[str]) -> None:
    args = [str(kit.short_video), "--checkpoint", str(kit.localizer), "--device", "cpu", "--quiet"]
    assert main(["localize", *args, "--top-k", "4"]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert lines[0] == f"{kit.short_video}: 4.00 s, 4 segments"
    assert lines[1].split() == ["label", "start_s", "end_s", "score"]
    rows = [line.split() for line in lines[2:]]
    assert len(rows) == 4 and all(r[0] in CLASSES and 0 <= float(r[1]) < float(r[2]) <= 4.0 for r in rows)
    assert [float(r[3]) for r in rows] == sorted((float(r[3]) for r in rows), reverse=True)


def test_timeline_png(kit: Kit, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    png = tmp_path / "sub" / "timeline.png"
    out = _localize_json(capsys, str(kit.video), "--checkpoint", str(kit.localizer), "--timeline", str(png))
    assert out["timeline"] == str(png)
    with Image.open(png) as img:
        assert img.format == "PNG" and img.size[0] >= 500 and img.size[1] >= 100
        pixels = np.asarray(img.convert("RGB"))
    assert pixels.std() > 10  # not a blank image


def test_run_directory_as_checkpoint_and_explicit_backbone(
    kit: Kit, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    run = tmp_path / "run"
    run.mkdir()
    (run / "localizer.pt").write_bytes(kit.localizer.read_bytes())
    a = _localize_json(capsys, str(kit.short_video), "--checkpoint", str(run))
    b = _localize_json(
        capsys, str(kit.short_video), "--checkpoint", str(kit.localizer), "--backbone", str(kit.backbone)
    )
    assert a == b and a["segments"]


@pytest.mark.parametrize("variant", ["weak_cas", "window_bmn"])
def test_other_localizers_give_well_formed_segments(
    variant: str, kit: Kit, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A weakly supervised CAS localizer (scores clipped to [0, 1]) and a window-mode BMN (THUMOS style: windows
    of T snippets merged over the video) go through the same command."""
    if variant == "weak_cas":
        ckpt = save_weak(tmp_path / "weak.pt", kit.backbone)
    else:  # 6-snippet windows every 3 snippets over a 10-snippet video
        ckpt = save_bmn(tmp_path / "win.pt", kit.backbone, temporal_scale=6, mode="window", window_stride=3)
    out = _localize_json(capsys, str(kit.video), "--checkpoint", str(ckpt), "--top-k", "0")
    assert out["segments"]
    for s in out["segments"]:
        assert s["label"] in CLASSES and 0.0 <= s["start_s"] < s["end_s"] <= out["duration_s"] + 1e-9
        assert 0.0 <= s["score"] <= 1.0
    scores = [s["score"] for s in out["segments"]]
    assert scores == sorted(scores, reverse=True)


# ----------------------------------------------------------------------------------------------- bad input


def test_corrupt_video(kit: Kit, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "corrupt.mp4"
    bad.write_bytes(np.random.default_rng(0).integers(0, 256, 20000, dtype=np.uint8).tobytes())
    assert str(bad) in _error(capsys, str(bad), "--checkpoint", str(kit.localizer))
    truncated = tmp_path / "truncated.mp4"
    truncated.write_bytes(kit.video.read_bytes()[:600])
    assert str(truncated) in _error(capsys, str(truncated), "--checkpoint", str(kit.localizer))


def test_missing_video(kit: Kit, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    missing = tmp_path / "nope.mp4"
    assert str(missing) in _error(capsys, str(missing), "--checkpoint", str(kit.localizer))


def test_file_without_video_stream(kit: Kit, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    audio = write_audio_only(tmp_path / "audio.m4a")
    line = _error(capsys, str(audio), "--checkpoint", str(kit.localizer))
    assert str(audio) in line and "video stream" in line


def test_foreign_and_corrupt_checkpoint(kit: Kit, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    line = _error(capsys, str(kit.video), "--checkpoint", str(kit.backbone))  # a recognition model
    assert str(kit.backbone) in line and "not a localizer checkpoint" in line
    junk = tmp_path / "junk.pt"
    junk.write_bytes(b"\x00garbage" * 100)
    line = _error(capsys, str(kit.video), "--checkpoint", str(junk))
    assert str(junk) in line and "not a readable checkpoint" in line
    missing = tmp_path / "missing.pt"
    assert "not found" in _error(capsys, str(kit.video), "--checkpoint", str(missing))


def test_missing_backbone_names_the_flag(
    kit: Kit, moved_backbone_localizer: tuple[Path, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    localizer, moved = moved_backbone_localizer
    line = _error(capsys, str(kit.short_video), "--checkpoint", str(localizer))
    assert "--backbone" in line and "gone" in line
    # the same bytes elsewhere: same sha256, accepted
    ok = _localize_json(capsys, str(kit.short_video), "--checkpoint", str(localizer), "--backbone", str(moved))
    assert ok["segments"]


def test_backbone_sha_mismatch(kit: Kit, capsys: pytest.CaptureFixture[str]) -> None:
    args = [str(kit.short_video), "--checkpoint", str(kit.localizer), "--backbone", str(kit.other_backbone)]
    line = _error(capsys, *args)
    assert "sha256" in line and str(kit.other_backbone) in line and "--force" in line
    forced = _localize_json(capsys, *args, "--force")  # same architecture and classes: runs, other features
    default = _localize_json(capsys, str(kit.short_video), "--checkpoint", str(kit.localizer))
    assert forced["segments"] and forced["segments"] != default["segments"]


def test_bad_options(kit: Kit, capsys: pytest.CaptureFixture[str]) -> None:
    args = [str(kit.video), "--checkpoint", str(kit.localizer)]
    assert "--top-k" in _error(capsys, *args, "--top-k", "-1")
    assert "--min-score" in _error(capsys, *args, "--min-score", "1.5")


def test_no_traceback_in_a_subprocess(kit: Kit, tmp_path: Path) -> None:
    bad = tmp_path / "corrupt.mp4"
    bad.write_bytes(b"not a video at all" * 100)
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    proc = subprocess.run(
        [sys.executable, "-m", "vidstruct", "localize", str(bad), "--checkpoint", str(kit.localizer)],
        capture_output=True, text=True, env=env, timeout=300,
    )  # fmt: skip
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and str(bad) in lines[0]

"""Task ``localize``: ActivityNet-style JSON, segment validity, motion inside segments only."""

from __future__ import annotations

import json

import numpy as np
import pytest

from vidstruct.data.synth import LOCALIZE_ACTIONS, generate, localize_scene, track_boxes, video_rng
from vidstruct.errors import InputError

pytestmark = pytest.mark.xdist_group(name="synth_localize")
FPS = 25


def _database(summary) -> dict:
    doc = json.loads(summary.annotation_files["annotations"].read_text())
    assert doc["version"] == "VERSION 1.3"
    leaves = [node["nodeName"] for node in doc["taxonomy"] if node["parentId"] is not None]
    assert leaves == list(LOCALIZE_ACTIONS)
    return doc["database"]


def test_json_matches_files(localize_set) -> None:
    database = _database(localize_set)
    assert localize_set.annotation_files["classes"].read_text().splitlines() == list(LOCALIZE_ACTIONS)
    assert sorted(database) == sorted(v.stem for v in localize_set.videos)
    for index, (video_id, entry) in enumerate(sorted(database.items())):
        assert (localize_set.out_dir / "videos" / f"{video_id}.mp4").is_file()
        assert entry["duration"] == 4.0 and entry["resolution"] == "96x96" and entry["url"] == ""
        assert entry["subset"] == ("validation" if index == 4 else "training")
        assert entry["annotations"], video_id


def test_segments_are_valid_and_separated(localize_set) -> None:
    counts = []
    for entry in _database(localize_set).values():
        segments = [a["segment"] for a in entry["annotations"]]
        assert all(a["label"] in LOCALIZE_ACTIONS for a in entry["annotations"])
        for start, end in segments:
            assert 0 <= start < end <= entry["duration"]
        for (_, end), (start, _) in zip(segments, segments[1:]):
            assert start - end >= 2 / FPS - 1e-9  # in time order, background in between
        counts.append(len(segments))
    assert max(counts) >= 2  # several segments per untrimmed video


def test_frames_move_inside_segments_only(localize_set, decode) -> None:
    lag, threshold = 5, 40
    for video in localize_set.videos:
        entry = _database(localize_set)[video.stem]
        spans = [(round(s * FPS), round(e * FPS)) for s, e in (a["segment"] for a in entry["annotations"])]
        frames = decode(video).astype(np.int16)
        assert len(frames) == 100
        energy = (np.abs(frames[lag:] - frames[:-lag]).max(axis=-1) > threshold).sum(axis=(1, 2))
        for a, b in spans:  # pairs (i, i + lag) inside the segment
            assert energy[a : b - lag + 1].max() >= 10, (video.stem, a, b)
        background = [i for i in range(len(energy)) if all(i + lag < a or i > b for a, b in spans)]
        assert background and energy[background].max() <= 5, video.stem  # codec flicker at most


def test_scene_pose_is_constant_outside_segments(localize_set) -> None:
    database = _database(localize_set)
    for index, video in enumerate(localize_set.videos):
        scene, segments = localize_scene(video_rng(0, "localize", index), 96, FPS, 100)
        assert [[s.start_s, s.end_s] for s in segments] == [a["segment"] for a in database[video.stem]["annotations"]]
        track = scene.tracks[0]
        boxes = track_boxes(scene.actors[0], track, 96, 96)[track.visible]
        assert boxes.min() >= 0 and boxes.max() <= 1  # inside the frame whenever visible
        pose = np.stack([track.cx, track.cy, track.scale, track.angle], axis=1)
        moving = np.zeros(99, dtype=bool)  # frame pair (i, i + 1) is inside a segment
        for s in segments:
            moving[round(s.start_s * FPS) : round(s.end_s * FPS)] = True
        both_visible = track.visible[1:] & track.visible[:-1]
        steps = np.abs(np.diff(pose, axis=0)).max(axis=1)
        assert np.all(steps[~moving & both_visible] == 0)
        assert np.all(track.visible[:-1][moving] & track.visible[1:][moving])  # the actor is there to act
        for s in segments:  # and does move
            a, b = round(s.start_s * FPS), round(s.end_s * FPS)
            assert np.count_nonzero(steps[a:b]) >= (b - a) - 1, s


def test_too_short_duration_is_an_input_error(tmp_path) -> None:
    with pytest.raises(InputError, match="duration"):
        generate("localize", tmp_path, 1, seed=0, size=64, duration=1.0)

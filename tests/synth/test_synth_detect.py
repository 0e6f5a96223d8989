"""Task ``detect``: AVA-style CSV and label maps, boxes covering the actors, interactions."""

from __future__ import annotations

import csv
import re
from collections import defaultdict

import numpy as np
import pytest

from vidstruct.data.synth import DETECT_ACTIONS, actor_mask, detect_scene, keyframe_seconds, track_boxes, video_rng

pytestmark = pytest.mark.xdist_group(name="synth_detect")
SIZE, FPS, FRAMES = 64, 25, 75


def _rows(summary) -> dict[str, list[list[str]]]:
    rows = {}
    for split in ("train", "val"):
        with open(summary.annotation_files[split], newline="") as f:
            rows[split] = list(csv.reader(f))
    return rows


def test_csv_format_and_splits(detect_set) -> None:
    rows = _rows(detect_set)
    videos = {v.stem for v in detect_set.videos}
    persons = defaultdict(set)
    split_of = {}
    for split, lines in rows.items():
        for line in lines:
            assert len(line) == 8
            video_id, second, *box, action_id, person_id = line
            assert video_id in videos and split_of.setdefault(video_id, split) == split
            assert re.fullmatch(r"\d{4}", second) and int(second) in (1, 2)  # 1 Hz keyframes, integer seconds
            x1, y1, x2, y2 = map(float, box)
            assert 0 <= x1 < x2 <= 1 and 0 <= y1 < y2 <= 1
            assert 1 <= int(action_id) <= len(DETECT_ACTIONS)
            persons[(video_id, int(second))].add(int(person_id))
    assert set(split_of) == videos and split_of["synth_00004"] == "val" and len(rows["val"]) > 0
    assert len(persons) == 2 * len(videos)
    for ids in persons.values():
        assert len(ids) >= 2 and ids == set(range(len(ids)))
    assert keyframe_seconds(FRAMES, FPS) == [1, 2]


def test_label_maps(detect_set) -> None:
    text = detect_set.annotation_files["label_map"].read_text()
    items = re.findall(r'item\s*{\s*name:\s*"([^"]+)"\s*id:\s*(\d+)\s*}', text)
    assert [(name, int(i)) for name, i in items] == [(n, i + 1) for i, n in enumerate(DETECT_ACTIONS)]
    text = detect_set.annotation_files["action_list"].read_text()
    labels = re.findall(r'label\s*{\s*name:\s*"([^"]+)"\s*label_id:\s*(\d+)\s*label_type:\s*(\w+)\s*}', text)
    assert [(n, int(i)) for n, i, _ in labels] == [(n, i + 1) for i, n in enumerate(DETECT_ACTIONS)]
    kinds = {n: k for n, _, k in labels}
    assert kinds["approach"] == "PERSON_INTERACTION" and kinds["move_left"] == "PERSON_MOVEMENT"


def test_boxes_cover_actor_masks(detect_set) -> None:
    lines = [line for split in _rows(detect_set).values() for line in split]
    for index, video in enumerate(detect_set.videos):
        scene, labels = detect_scene(video_rng(0, "detect", index), SIZE, FPS, FRAMES)
        mine = [line for line in lines if line[0] == video.stem]
        assert len(mine) == 2 * len(scene.actors)
        for _, second, *box, action_id, person in mine:
            person = int(person)
            assert DETECT_ACTIONS[int(action_id) - 1] == labels[person]
            mask = actor_mask(scene.actors[person], scene.tracks[person], int(second) * FPS, SIZE, SIZE)
            x1, y1, x2, y2 = (float(v) * SIZE for v in box)
            ys, xs = np.nonzero(mask)
            centres_x, centres_y = xs + 0.5, ys + 0.5
            inside = (centres_x >= x1) & (centres_x <= x2) & (centres_y >= y1) & (centres_y <= y2)
            assert inside.mean() >= 0.9
            # not much larger: each side within 2.5 px of the mask's own box (a sharp vertex can reach ~2 px
            # past the last pixel centre it covers)
            mask_box = np.array([xs.min(), ys.min(), xs.max() + 1, ys.max() + 1])
            np.testing.assert_allclose([x1, y1, x2, y2], mask_box, atol=2.5)


def test_boxes_contain_what_the_video_shows(detect_set, decode) -> None:
    lines = [line for split in _rows(detect_set).values() for line in split]
    for index, video in enumerate(detect_set.videos):
        scene, _ = detect_scene(video_rng(0, "detect", index), SIZE, FPS, FRAMES)
        frames = decode(video).astype(float)
        for second in (1, 2):
            foreground = np.abs(frames[second * FPS] - scene.background).max(axis=-1) > 60
            covered = np.zeros_like(foreground)
            for line in lines:
                if line[0] == video.stem and int(line[1]) == second:
                    x1, y1, x2, y2 = (float(v) * SIZE for v in line[2:6])
                    box = np.zeros_like(foreground)
                    box[max(int(y1) - 1, 0) : int(np.ceil(y2)) + 1, max(int(x1) - 1, 0) : int(np.ceil(x2)) + 1] = True
                    assert (foreground & box).sum() >= 4  # the actor is there
                    covered |= box
            for prop, track in zip(scene.props, scene.prop_tracks):  # the handed object is not a person
                px1, py1, px2, py2 = track_boxes(prop, track, SIZE, SIZE)[second * FPS] * SIZE
                covered[int(py1) - 1 : int(np.ceil(py2)) + 1, int(px1) - 1 : int(np.ceil(px2)) + 1] = True
            assert (foreground & ~covered).sum() <= 3  # nothing else stands out from the background


def test_scenes_have_consistent_interactions() -> None:
    seen = set()
    for seed in range(60):
        scene, labels = detect_scene(np.random.default_rng(seed), SIZE, FPS, FRAMES)
        assert len(scene.actors) >= 2 and len(labels) == len(scene.actors)
        for actor, track in zip(scene.actors, scene.tracks):
            boxes = track_boxes(actor, track, SIZE, SIZE)
            assert boxes.min() >= 0 and boxes.max() <= 1
        centres = [np.stack([tr.cx, tr.cy], axis=1) for tr in scene.tracks]
        radii = [a.radius * tr.scale for a, tr in zip(scene.actors, scene.tracks)]
        for i in range(len(centres)):  # actors never overlap
            for j in range(i + 1, len(centres)):
                assert np.all(np.linalg.norm(centres[i] - centres[j], axis=1) > radii[i] + radii[j])
        pair = [i for i, label in enumerate(labels) if label in ("approach", "pass_by")]
        if pair:
            assert len(pair) == 2 and labels[pair[0]] == labels[pair[1]]
            rel = centres[pair[1]] - centres[pair[0]]
            if labels[pair[0]] == "approach":
                assert np.all(np.diff(np.linalg.norm(rel, axis=1)) < 0)  # closer and closer
            else:  # pass_by: the relative position along the motion direction changes sign
                velocity = centres[pair[0]][-1] - centres[pair[0]][0]
                along = rel @ velocity
                assert along[0] > 0 > along[-1]
        if "give_object" in labels:
            giver, receiver = labels.index("give_object"), labels.index("receive_object")
            assert len(scene.props) == 1 and labels.count("give_object") == 1
            obj = np.stack([scene.prop_tracks[0].cx, scene.prop_tracks[0].cy], axis=1)
            assert np.linalg.norm(obj[0] - centres[giver][0]) < radii[giver][0]
            assert np.linalg.norm(obj[-1] - centres[receiver][-1]) < radii[receiver][-1]
            assert np.ptp(centres[giver], axis=0).max() == 0 and np.ptp(centres[receiver], axis=0).max() == 0
        else:
            assert "receive_object" not in labels and not scene.props
        seen.update(labels)
    assert {"approach", "pass_by", "give_object", "receive_object"} <= seen
    assert len(seen) == len(DETECT_ACTIONS)

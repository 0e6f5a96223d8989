"""``synth --task epic``: the EPIC-100 files, splits and participants, segments read at the video's fps, nouns
visible in one frame, motion only inside segments, determinism."""

from __future__ import annotations

import csv
import json
import subprocess
import sys

import av
import numpy as np
import pytest

from vidstruct.data.dataset import segment_frames
from vidstruct.data.formats.epic_kitchens import read_epic_classes, read_epic_kitchens
from vidstruct.data.synth import generate
from vidstruct.data.synth.epic import NOUNS, VERBS, VIDEO_TEMPLATE, format_timestamp
from vidstruct.errors import InputError
from vidstruct.io.reader import VideoReader

pytestmark = pytest.mark.xdist_group(name="epic_train")
FPS = 15
REAL_HEADER = (
    "narration_id,participant_id,video_id,narration_timestamp,start_timestamp,stop_timestamp,start_frame,"
    "stop_frame,narration,verb,verb_class,noun,noun_class,all_nouns,all_noun_classes"
)  # the header of EPIC_100_train.csv in epic-kitchens/epic-kitchens-100-annotations


def _rows(path) -> list[dict[str, str]]:
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def _decode(path) -> np.ndarray:
    with av.open(str(path)) as container:
        return np.stack([frame.to_ndarray(format="rgb24") for frame in container.decode(video=0)]).astype(np.int16)


def test_files_have_the_real_layouts(epic_set) -> None:
    files = epic_set.annotation_files
    for split in ("train", "val"):
        assert files[split].read_text().splitlines()[0] == REAL_HEADER
    assert [c.key for c in read_epic_classes(str(files["verb_classes"]))] == [v.key for v in VERBS]
    nouns = read_epic_classes(str(files["noun_classes"]))
    assert [c.key for c in nouns] == [n.key for n in NOUNS] and nouns[0].instances == ["plate", "dish"]
    assert files["tail_verbs"].read_text().splitlines() == ["verb", "4", "5"]
    assert files["tail_nouns"].read_text().splitlines() == ["noun", "3", "4"]
    assert files["unseen_participants"].read_text().splitlines() == ["participant_id", "P05", "P10"]


def test_splits_and_participants(epic_set) -> None:
    train = _rows(epic_set.annotation_files["train"])
    val = _rows(epic_set.annotation_files["val"])
    # 4 videos per participant: P01_01..P01_04, ... P10_04; P05 and P10 are unseen, the 4th video of the others
    # is a validation video
    seen, unseen = [1, 2, 3, 4, 6, 7, 8, 9], [5, 10]
    assert {r["video_id"] for r in train} == {f"P{p:02d}_0{v}" for p in seen for v in range(1, 4)}
    assert {r["video_id"] for r in val} == {f"P{p:02d}_04" for p in seen} | {
        f"P{p:02d}_0{v}" for p in unseen for v in range(1, 5)
    }
    assert epic_set.splits == {"train": len(train), "validation": len(val)}
    for row in train + val:
        assert row["participant_id"] == row["video_id"][:3]
        assert row["narration"] == f"{row['verb']} {row['noun']}"
        assert VERBS[int(row["verb_class"])].key == row["verb"] and NOUNS[int(row["noun_class"])].key == row["noun"]
        assert row["all_nouns"] == f"['{row['noun']}']" and row["all_noun_classes"] == f"[{row['noun_class']}]"
    for path in epic_set.videos:
        assert path.suffix == ".MP4" and path.parent.name == "videos"
    # each verb and noun occurs in the training split
    assert {int(r["verb_class"]) for r in train} == set(range(len(VERBS)))
    assert {int(r["noun_class"]) for r in train} == set(range(len(NOUNS)))


def test_reader_reads_segments_at_the_video_fps(epic_set) -> None:
    rows = {r["narration_id"]: r for r in _rows(epic_set.annotation_files["train"])}
    records = read_epic_kitchens(
        annotations=str(epic_set.annotation_files["train"]), video_template=VIDEO_TEMPLATE, num_verbs=6, num_nouns=5
    )
    assert len(records) == len(rows)
    for record in records[:12]:
        row = rows[record.meta["narration_id"]]
        assert record.labels == {
            "verb": int(row["verb_class"]),
            "noun": int(row["noun_class"]),
            "action": int(row["verb_class"]) * 5 + int(row["noun_class"]),
        }
        first, last = int(row["start_frame"]), int(row["stop_frame"])
        with VideoReader(record.path) as reader:
            assert reader.fps == pytest.approx(FPS)
            # the frames whose times lie in [start, stop) are exactly the segment's frames
            assert segment_frames(reader, record.start_s, record.end_s) == (first, last - first + 1)


def test_noun_visible_and_motion_only_inside_segments(epic_set) -> None:
    rows = _rows(epic_set.annotation_files["train"]) + _rows(epic_set.annotation_files["val"])
    for path in epic_set.videos[:3]:
        frames = _decode(path)
        spans = [
            (int(r["start_frame"]), int(r["stop_frame"]), int(r["noun_class"]))
            for r in rows
            if r["video_id"] == path.stem
        ]
        assert len(frames) == 150 and len(spans) >= 3
        still = np.median(frames, axis=0)  # the empty worktop: no object is on screen most of the time
        differs = (np.abs(frames - still).max(axis=-1) > 60).sum(axis=(1, 2))  # pixels far from the worktop
        inside = np.zeros(len(frames), dtype=bool)
        for a, b, noun in spans:
            inside[a : b + 1] = True
            mid = frames[(a + b) // 2].reshape(-1, 3)
            colours = np.asarray([n.color for n in NOUNS], dtype=np.float64)
            obj = mid[np.abs(mid - still.reshape(-1, 3)).max(axis=-1) > 60]
            assert len(obj) >= 20, (path.stem, a, b)
            # the object's median colour is nearest to its noun's colour: the noun shows in one frame
            nearest = np.argmin(np.linalg.norm(colours - np.median(obj, axis=0), axis=1))
            assert nearest == noun, (path.stem, a, b)
            move = np.abs(frames[b] - frames[a]).max(axis=-1) > 60  # the verb is motion: the frames differ
            assert move.sum() >= 10
        assert differs[inside].min() >= 20  # an object on screen in every segment frame
        assert differs[~inside].max() <= 3  # none in the gaps (codec noise at most)


def test_deterministic_per_seed(tmp_path) -> None:
    a = generate("epic", tmp_path / "a", 2, seed=5, size=32, fps=10, duration=5.0)
    b = generate("epic", tmp_path / "b", 2, seed=5, size=32, fps=10, duration=5.0)
    c = generate("epic", tmp_path / "c", 2, seed=6, size=32, fps=10, duration=5.0)
    assert a.annotation_files["train"].read_text() == b.annotation_files["train"].read_text()
    assert a.annotation_files["train"].read_text() != c.annotation_files["train"].read_text()
    fa, fb = _decode(a.videos[0]), _decode(b.videos[0])
    assert np.abs(fa - fb).mean() < 4  # x264 bytes may vary (README); the decoded frames agree


def test_timestamps_and_errors(tmp_path) -> None:
    assert format_timestamp(3723.456) == "01:02:03.45" and format_timestamp(0.2, 3) == "00:00:00.200"
    with pytest.raises(InputError, match="duration"):
        generate("epic", tmp_path, 1, size=32, fps=10, duration=2.5)
    with pytest.raises(InputError, match="size"):
        generate("epic", tmp_path, 1, size=33, fps=10, duration=5.0)


def test_cli_writes_the_dataset(tmp_path) -> None:
    out = tmp_path / "cli"
    cmd = [sys.executable, "-m", "vidstruct", "synth", "--task", "epic", "--out", str(out), "--num-videos", "1"]
    proc = subprocess.run(cmd + ["--size", "32", "--fps", "10", "--duration", "5", "--json"], capture_output=True)
    assert proc.returncode == 0, proc.stderr.decode()
    summary = json.loads(proc.stdout)
    assert summary["task"] == "epic" and summary["videos"] == [str(out / "P01" / "videos" / "P01_01.MP4")]
    assert (out / "EPIC_100_validation.csv").read_text().splitlines() == [REAL_HEADER]  # P01_01: training

"""Person boxes from a proposals file: lookup by video id (file stem) and time, filtering, one-line errors."""

from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np
import pytest
import torch

from vidstruct.errors import AnnotationError, InputError
from vidstruct.pipeline.persons import KeyframeBoxes, PersonBoxSource, person_box_source
from vidstruct.pipeline.persons.proposals import ProposalsSource

# video_id, timestamp, x1, y1, x2, y2, action_id (empty: class-agnostic), score
PROPOSALS = """clipA,0902,0.10,0.20,0.30,0.60,,0.40
clipA,0902,0.50,0.10,0.90,0.95,,0.95
clipA,0903,0.00,0.00,1.00,1.00,,0.10
clipB,0001,0.25,0.25,0.75,0.75,,0.80
"""


def _write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def _check_valid(kf: KeyframeBoxes) -> None:
    assert kf.boxes.dtype == torch.float32 and kf.scores.dtype == torch.float32
    assert kf.boxes.shape == (len(kf), 4) and kf.scores.shape == (len(kf),)
    if len(kf):
        assert float(kf.boxes.min()) >= 0.0 and float(kf.boxes.max()) <= 1.0
        assert bool((kf.boxes[:, 0] < kf.boxes[:, 2]).all()) and bool((kf.boxes[:, 1] < kf.boxes[:, 3]).all())
        assert float(kf.scores.min()) >= 0.0 and float(kf.scores.max()) <= 1.0
        assert bool((kf.scores[:-1] >= kf.scores[1:]).all())  # highest score first


def test_lookup_by_stem_and_time(tmp_path: Path) -> None:
    path = _write(tmp_path / "props.csv", PROPOSALS)
    source = person_box_source(proposals=path, min_score=0.0)
    assert isinstance(source, PersonBoxSource) and source.name == str(path)
    # 902.0004 s is within the 1 ms tolerance of keyframe 0902; 904 s has no row; 902.5 s neither
    found = source.boxes_at(Path("/any/dir/clipA.mp4"), [902.0004, 904.0, 902.5, 903.0])
    assert [kf.time_s for kf in found] == [902.0004, 904.0, 902.5, 903.0]
    for kf in found:
        _check_valid(kf)
        assert kf.source == str(path)
    # keyframe 0902: its two boxes sorted by score: 0.95, 0.40
    assert torch.equal(found[0].boxes, torch.tensor([[0.50, 0.10, 0.90, 0.95], [0.10, 0.20, 0.30, 0.60]]))
    assert torch.equal(found[0].scores, torch.tensor([0.95, 0.40]))
    assert len(found[1]) == 0 and len(found[2]) == 0
    assert torch.equal(found[3].scores, torch.tensor([0.10]))
    # another video's boxes are not mixed in; a video absent from the file gives empty keyframes, not an error
    assert torch.equal(source.boxes_at("clipB.mkv", [1.0])[0].boxes, torch.tensor([[0.25, 0.25, 0.75, 0.75]]))
    assert [len(kf) for kf in source.boxes_at("clipC.mp4", [1.0, 2.0])] == [0, 0]


def test_min_score_filters(tmp_path: Path) -> None:
    source = person_box_source(proposals=_write(tmp_path / "p.csv", PROPOSALS), min_score=0.5)
    at_902, at_903 = source.boxes_at("clipA.mp4", [902.0, 903.0])
    assert torch.equal(at_902.scores, torch.tensor([0.95])) and len(at_903) == 0


@pytest.mark.parametrize(
    ("row", "expected"),
    [
        ("clipA,0902,0.5,0.1,0.4,0.9,,0.9", r"bad\.csv, line 2, field 'x2': expected x1 < x2, got x1 0\.5 >= x2 0\.4"),
        ("clipA,0902,0.1,0.1,0.4,1.2,,0.9", r"bad\.csv, line 2, field 'y2': box coordinate 1\.2 outside \[0, 1\]"),
        ("clipA,0902,0.1,0.1,0.4,0.9,,1.7", r"bad\.csv, line 2, field 'score': expected a probability"),
        ("clipA,09x2,0.1,0.1,0.4,0.9,,0.5", r"bad\.csv, line 2, field 'timestamp': expected a number"),
        ("clipA,0902,0.1,0.1,0.4", r"bad\.csv, line 2: expected 8 columns"),
    ],
)
def test_malformed_file_is_one_line_error(tmp_path: Path, row: str, expected: str) -> None:
    path = _write(tmp_path / "bad.csv", "clipA,0902,0.1,0.1,0.4,0.9,,0.9\n" + row + "\n")
    with pytest.raises(AnnotationError, match=expected) as info:
        ProposalsSource(path)
    assert "\n" not in str(info.value)


def test_bad_requests(tmp_path: Path) -> None:
    path = _write(tmp_path / "p.csv", PROPOSALS)
    with pytest.raises(InputError, match="exactly one of"):
        person_box_source()
    with pytest.raises(InputError, match="exactly one of"):
        person_box_source(proposals=path, detector="fcos_tiny")
    with pytest.raises(InputError, match="min_score"):
        person_box_source(proposals=path, min_score=1.5)
    with pytest.raises(InputError, match="unknown proposals format '.txt'"):
        person_box_source(proposals=_write(tmp_path / "p.txt", PROPOSALS))
    with pytest.raises(AnnotationError, match="not found"):
        person_box_source(proposals=tmp_path / "missing.csv")


def test_pickle_proposals(tmp_path: Path) -> None:
    path = tmp_path / "props.pkl"
    table = {
        # rows x1, y1, x2, y2, score; the first overshoots [0, 1] by 0.005 (an unclipped detector): clipped
        "clipA,0902": np.array([[-0.005, 0.1, 0.5, 1.004, 0.3], [0.6, 0.2, 0.9, 0.8, 0.7]], dtype=np.float32),
        "clipA,0903": np.zeros((0, 5), dtype=np.float32),  # a keyframe without proposals
    }
    with path.open("wb") as fh:
        pickle.dump(table, fh)
    source = person_box_source(proposals=path, min_score=0.0)
    at_902, at_903 = source.boxes_at("clipA.mp4", [902.0, 903.0])
    _check_valid(at_902)
    assert torch.allclose(at_902.boxes, torch.tensor([[0.6, 0.2, 0.9, 0.8], [0.0, 0.1, 0.5, 1.0]]))
    assert torch.allclose(at_902.scores, torch.tensor([0.7, 0.3]))
    assert len(at_903) == 0
    with path.open("wb") as fh:
        pickle.dump([1, 2], fh)
    with pytest.raises(AnnotationError, match=r"props\.pkl: expected a dict"):
        person_box_source(proposals=path)

"""Detector sources: person filtering and normalization, torchvision detectors from local state dicts, errors."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from torch import nn

from vidstruct.data.synth import SynthSummary
from vidstruct.errors import CheckpointError, InputError, ShapeError
from vidstruct.io import VideoReader
from vidstruct.models.persons import build_person_detector, person_detections
from vidstruct.pipeline.persons import person_box_source
from vidstruct.pipeline.persons.detector import DetectorSource

TV_NAME = "fasterrcnn_mobilenet_v3_large_320_fpn"  # the smallest two-stage torchvision detector


def test_person_detections_by_hand() -> None:
    # an image 100 px high, 200 px wide; labels 1 = person, 3 = car (COCO)
    output = {
        "boxes": torch.tensor(
            [
                [20.0, 10.0, 120.0, 90.0],  # person 0.6 -> [0.1, 0.1, 0.6, 0.9]
                [0.0, 0.0, 50.0, 50.0],  # car 0.99: not a person
                [150.0, -5.0, 230.0, 50.0],  # person 0.9, out of the image -> clipped [0.75, 0, 1, 0.5]
                [40.0, 40.0, 60.0, 60.0],  # person 0.2 < min_score 0.3
                [210.0, 20.0, 240.0, 40.0],  # person 0.8 entirely right of the image: no area once clipped
            ]
        ),
        "labels": torch.tensor([1, 3, 1, 1, 1]),
        "scores": torch.tensor([0.6, 0.99, 0.9, 0.2, 0.8]),
    }
    boxes, scores = person_detections(output, (100, 200), min_score=0.3)
    assert torch.allclose(boxes, torch.tensor([[0.75, 0.0, 1.0, 0.5], [0.1, 0.1, 0.6, 0.9]]))
    assert torch.allclose(scores, torch.tensor([0.9, 0.6]))
    assert boxes.dtype == torch.float32 and scores.dtype == torch.float32
    other, _ = person_detections(output, (100, 200), person_label=3)
    assert torch.allclose(other, torch.tensor([[0.0, 0.0, 0.25, 0.5]]))
    with pytest.raises(ShapeError):
        person_detections({**output, "labels": torch.tensor([1, 3])}, (100, 200))


@pytest.fixture(scope="module")
def tv_weights(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A randomly initialized torchvision detector's state dict, saved as torchvision's .pth files are.

    Its box classifier favours COCO label 1 (person), so that persons appear among the random boxes (with 91
    near-uniform class scores, the 100 kept detections may hold no person at all).
    """
    torch.manual_seed(0)
    path = tmp_path_factory.mktemp("tv") / "random_frcnn.pth"
    state = build_person_detector(TV_NAME).state_dict()
    state["roi_heads.box_predictor.cls_score.bias"][1] += 4.0
    torch.save(state, path)
    return path


def test_torchvision_detector_from_local_weights(person_set: SynthSummary, tv_weights: Path) -> None:
    video = person_set.videos[0]
    times = [1.0, 2.0, 3.0]
    source = person_box_source(detector=TV_NAME, detector_weights=tv_weights, min_score=0.0, batch_size=2)
    assert isinstance(source, DetectorSource) and source.name == TV_NAME
    found = source.boxes_at(video, times)
    assert [kf.time_s for kf in found] == times and all(kf.source == TV_NAME for kf in found)
    # the reference: the same weights run directly on the decoded frames, persons (COCO label 1) kept by hand
    model = build_person_detector(TV_NAME)
    model.load_state_dict(torch.load(tv_weights, weights_only=True))
    model.eval().roi_heads.score_thresh = 0.0
    with VideoReader(video) as reader:
        frames = reader.get_frames_at(times)
    with torch.no_grad():
        outputs = model([f.permute(2, 0, 1).float() / 255 for f in frames])
    for kf, out in zip(found, outputs):
        assert kf.boxes.dtype == torch.float32 and kf.scores.dtype == torch.float32
        is_person = out["labels"] == 1
        ref = out["boxes"][is_person] / 128.0
        ref_scores = out["scores"][is_person]
        ref = ref[torch.argsort(ref_scores, descending=True, stable=True)]
        area = (ref[:, 2] > ref[:, 0]) & (ref[:, 3] > ref[:, 1])
        assert len(kf) == int(area.sum()) and len(kf) > 0
        assert torch.allclose(kf.boxes, ref[area].clamp(0, 1), atol=1e-6)
        assert torch.allclose(kf.scores, ref_scores.sort(descending=True).values[area], atol=1e-6)
        assert float(kf.boxes.min()) >= 0 and float(kf.boxes.max()) <= 1
        assert bool((kf.boxes[:, 0] < kf.boxes[:, 2]).all()) and bool((kf.boxes[:, 1] < kf.boxes[:, 3]).all())
        assert float(kf.scores.min()) >= 0 and float(kf.scores.max()) <= 1
    # a second load of the same file gives the same boxes
    again = person_box_source(detector=TV_NAME, detector_weights=tv_weights, min_score=0.0).boxes_at(video, times)
    for a, b in zip(found, again):
        assert torch.equal(a.boxes, b.boxes) and torch.equal(a.scores, b.scores)


class FixedDetector(nn.Module):
    """A detector whose every image gets the same three boxes (pixels of a 128 x 128 frame): two persons, a car."""

    def forward(self, images: list[torch.Tensor]) -> list[dict[str, torch.Tensor]]:
        assert all(im.shape == (3, 128, 128) and float(im.max()) <= 1.0 for im in images)
        boxes = torch.tensor([[0.0, 0.0, 64.0, 32.0], [32.0, 32.0, 96.0, 128.0], [16.0, 16.0, 48.0, 48.0]])
        out = {"boxes": boxes, "labels": torch.tensor([3, 1, 1]), "scores": torch.tensor([0.9, 0.7, 0.4])}
        return [dict(out) for _ in images]


def test_detector_source_keeps_persons_per_keyframe(person_set: SynthSummary) -> None:
    source = DetectorSource(FixedDetector(), "fixed", min_score=0.5, batch_size=2)
    found = source.boxes_at(person_set.videos[1], [3.0, 1.0, 2.0])  # 2 batches (2 + 1 frames), any order
    assert [kf.time_s for kf in found] == [3.0, 1.0, 2.0]
    for kf in found:  # the car (label 3) and the person scored 0.4 < 0.5 are left out; 128 px -> / 128
        assert torch.equal(kf.boxes, torch.tensor([[0.25, 0.25, 0.75, 1.0]]))
        assert torch.equal(kf.scores, torch.tensor([0.7])) and kf.source == "fixed"


def test_mismatched_weights_are_one_line_errors(tmp_path: Path, tv_weights: Path) -> None:
    torch.manual_seed(0)
    two_class = tmp_path / "two_class.pth"  # the same detector with 2 classes: the box predictor's shapes differ
    torch.save(build_person_detector(TV_NAME, num_classes=2).state_dict(), two_class)
    with pytest.raises(CheckpointError, match=r"two_class\.pth.*shape mismatches.*roi_heads\.box_predictor") as info:
        person_box_source(detector=TV_NAME, detector_weights=two_class)
    assert "\n" not in str(info.value)
    other = r"random_frcnn\.pth: checkpoint holds another model, which does not fit 'ssdlite320_mobilenet_v3_large'"
    with pytest.raises(CheckpointError, match=other + ".*missing keys.*unexpected keys"):
        person_box_source(detector="ssdlite320_mobilenet_v3_large", detector_weights=tv_weights)
    not_weights = tmp_path / "list.pth"
    torch.save([1, 2, 3], not_weights)
    with pytest.raises(CheckpointError, match=r"list\.pth: expected a state dict"):
        person_box_source(detector=TV_NAME, detector_weights=not_weights)
    text = tmp_path / "notes.pth"
    text.write_text("not a tensor file")
    with pytest.raises(CheckpointError, match=r"notes\.pth: not a readable PyTorch weights file"):
        person_box_source(detector=TV_NAME, detector_weights=text)
    with pytest.raises(CheckpointError, match="not found"):
        person_box_source(detector=TV_NAME, detector_weights=tmp_path / "absent.pth")
    with pytest.raises(InputError, match=r"'fasterrcnn_resnet50' is not a torchvision detection model.*did you mean"):
        person_box_source(detector="fasterrcnn_resnet50", detector_weights=tv_weights)
    with pytest.raises(InputError, match="needs its weights file"):
        person_box_source(detector=TV_NAME)

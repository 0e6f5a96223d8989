"""``vidstruct train`` with a ``task: person-detection`` config: the run, its checkpoint, the keyframe dataset."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
import yaml

from vidstruct.cli.main import main
from vidstruct.data.formats.ava import read_ava
from vidstruct.data.persons import PersonKeyframes, collate_keyframes
from vidstruct.data.synth import SynthSummary
from vidstruct.errors import AnnotationError
from vidstruct.models.persons import load_person_detector
from vidstruct.pipeline.persons import person_box_source


def _config(tmp_path: Path, data: SynthSummary, **train: object) -> Path:
    cfg = {
        "task": "person-detection",
        "model": {"name": "fcos_tiny", "image_size": 128},
        "data": {
            "train": {"annotations": str(data.annotation_files["train"])},
            "val": {"annotations": str(data.annotation_files["val"])},
        },
        "train": {"batch_size": 4, "device": "cpu", "tensorboard": False, **train},
    }
    path = tmp_path / "persons.yaml"
    path.write_text(yaml.safe_dump(cfg), encoding="utf-8")
    return path


def test_keyframe_dataset(person_set: SynthSummary) -> None:
    csv = person_set.annotation_files["train"]
    data = PersonKeyframes(csv)
    rows = read_ava(str(csv))
    assert len(data) == len({(r.video_id, r.timestamp_s) for r in rows}) == 24 * 3  # 24 videos x keyframes 1, 2, 3
    sample = data[0]
    video_id, time_s = data.keyframes[0]
    assert (sample["video_id"], sample["time_s"]) == (video_id, time_s)
    assert sample["image"].shape == (3, 128, 128) and sample["image"].dtype == torch.float32
    assert 0.0 <= float(sample["image"].min()) and float(sample["image"].max()) <= 1.0
    # one pixel box per person of the keyframe: the CSV's normalized box x 128 (actions ignored)
    persons = {r.person_id: r.box for r in rows if (r.video_id, r.timestamp_s) == (video_id, time_s)}
    expected = torch.tensor([persons[p] for p in sorted(persons)], dtype=torch.float32) * 128
    got = sample["target"]["boxes"]
    assert torch.allclose(got[torch.argsort(got[:, 0])], expected[torch.argsort(expected[:, 0])])
    assert sample["target"]["labels"].tolist() == [1] * len(persons)
    # a mirrored sample: the image flipped left-right, x1' = W - x2, x2' = W - x1
    flipped = PersonKeyframes(csv, hflip=1.0)[0]
    assert torch.equal(flipped["image"], sample["image"].flip(-1))
    mirror = torch.stack([128 - got[:, 2], got[:, 1], 128 - got[:, 0], got[:, 3]], dim=1)
    assert torch.allclose(flipped["target"]["boxes"], mirror)
    batch = collate_keyframes([data[0], data[1]])
    assert len(batch["images"]) == len(batch["targets"]) == 2 and batch["keys"][0] == (video_id, time_s)


def test_keyframe_dataset_errors(tmp_path: Path, person_set: SynthSummary) -> None:
    csv = tmp_path / "gt.csv"
    csv.write_text("ghost_video,0001,0.1,0.1,0.5,0.5,1,0\n", encoding="utf-8")
    with pytest.raises(AnnotationError, match=r"gt\.csv: video 'ghost_video' not found"):
        PersonKeyframes(csv, person_set.out_dir / "videos")
    past_end = tmp_path / "late.csv"
    video_id = person_set.videos[0].stem
    past_end.write_text(f"{video_id},0009,0.1,0.1,0.5,0.5,1,0\n", encoding="utf-8")  # the videos last 4 s
    with pytest.raises(AnnotationError, match=rf"late\.csv: video '{video_id}': a keyframe is past its end"):
        PersonKeyframes(past_end, person_set.out_dir / "videos")[0]


def test_train_two_steps_then_detect(tmp_path: Path, person_set: SynthSummary, capsys: pytest.CaptureFixture) -> None:
    run = tmp_path / "run"
    config = _config(tmp_path, person_set, max_steps=2, log_every=1)
    assert main(["train", str(config), "--out", str(run), "--json", "--quiet"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["step"] == 2 and summary["model"] == str(run / "person_detector.pt")
    assert 0.0 <= summary["metrics"]["person_ap50"] <= 1.0
    bundle = load_person_detector(run)  # the run directory or the file
    assert bundle.name == "fcos_tiny" and bundle.classes == ["__background__", "person"] and bundle.person_label == 1
    assert bundle.preprocessing["min_size"] == [128] and bundle.model_kwargs["num_classes"] == 2
    assert not bundle.model.training
    # source (c): the checkpoint alone runs inference; boxes normalized, probabilities
    source = person_box_source(detector=run / "person_detector.pt", min_score=0.0)
    found = source.boxes_at(person_set.videos[4], [1.0, 2.0])
    assert [kf.source for kf in found] == [str(run / "person_detector.pt")] * 2
    for kf in found:
        assert len(kf) > 0  # min_score 0: the untrained detector's boxes are kept (FCOS keeps 50 per image)
        assert float(kf.boxes.min()) >= 0 and float(kf.boxes.max()) <= 1
        assert bool((kf.boxes[:, 0] < kf.boxes[:, 2]).all()) and bool((kf.boxes[:, 1] < kf.boxes[:, 3]).all())
        assert 0 <= float(kf.scores.min()) and float(kf.scores.max()) <= 1
    # the weights in the file are those of the run's final checkpoint
    final = torch.load(run / "final.pt", weights_only=True)["model"]
    for key, value in bundle.model.state_dict().items():
        assert torch.equal(value, final[key])


def test_train_config_errors(tmp_path: Path, person_set: SynthSummary, capsys: pytest.CaptureFixture) -> None:
    config = _config(tmp_path, person_set, max_steps=1)
    assert main(["train", str(config), "model.num_classes=5", "--out", str(tmp_path / "a"), "--quiet"]) == 2
    assert "model.num_classes: set by the recipe" in capsys.readouterr().err
    assert main(["train", str(config), "model.name=fcos_tiniest", "--out", str(tmp_path / "b"), "--quiet"]) == 2
    err = capsys.readouterr().err
    assert "unknown person detector 'fcos_tiniest'" in err and "fcos_tiny" in err
    assert main(["train", str(config), "model.depth=3", "--out", str(tmp_path / "c"), "--quiet"]) == 2
    assert "has no argument 'depth'" in capsys.readouterr().err

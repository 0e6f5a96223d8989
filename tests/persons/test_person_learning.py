"""The person detector learns: box AP@0.5 on held-out synthetic keyframes, trained vs untrained."""

from __future__ import annotations

from pathlib import Path

import torch

from vidstruct.config.person_detection import PersonDataSection, PersonDetectionConfig, PersonSplit
from vidstruct.data.synth import SynthSummary
from vidstruct.engine.settings import OptimSettings, TrainSettings
from vidstruct.pipeline.persons import person_box_source
from vidstruct.pipeline.persons.detector import DetectorSource
from vidstruct.pipeline.persons.evaluate import evaluate_person_boxes
from vidstruct.recipes.person_detection import build_detector, run_person_detection_training

STEPS = 80


def test_trained_detector_beats_untrained(tmp_path: Path, person_set: SynthSummary) -> None:
    train_csv, val_csv = person_set.annotation_files["train"], person_set.annotation_files["val"]
    cfg = PersonDetectionConfig(
        data=PersonDataSection(train=PersonSplit(annotations=str(train_csv)), val=None, hflip=0.5),
        optim=OptimSettings(name="adamw", lr=4e-3, weight_decay=1e-4, warmup_steps=10),
        train=TrainSettings(max_steps=STEPS, batch_size=8, device="cpu", tensorboard=False, ckpt_every=STEPS),
    )
    # the untrained detector (the recipe's initial weights): its boxes are not persons
    torch.manual_seed(cfg.train.seed)
    untrained, _ = build_detector(cfg)
    untrained_ap = evaluate_person_boxes(DetectorSource(untrained, "untrained", min_score=0.0), val_csv).mAP
    run_person_detection_training(cfg, tmp_path / "run", quiet=True)
    source = person_box_source(detector=tmp_path / "run", min_score=0.0)
    result = evaluate_person_boxes(source, val_csv)
    assert result.num_keyframes == 6 * 3 and result.num_ground_truth >= 2 * 18  # 6 held-out videos, 2-3 persons each
    print(f"person box AP@0.5 on held-out keyframes: untrained {untrained_ap:.3f}, {STEPS} steps {result.mAP:.3f}")
    assert untrained_ap < 0.05
    assert result.mAP >= 0.6

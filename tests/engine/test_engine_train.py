"""The training loop in one process on CPU: learning, accumulation, clipping, EMA, precise BN, AMP, resume."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest
import torch
from enginekit import DIRECTIONS, MovingSquares, TinyVideoNet, TwoHeadNet
from torch import nn

from vidstruct.engine import EvalSettings, OptimSettings, TrainSettings, evaluate, train
from vidstruct.engine.checkpoint import checkpoint_path, list_checkpoints, load_checkpoint
from vidstruct.engine.ema import build_ema, update_ema
from vidstruct.engine.precise_bn import recompute_bn_stats
from vidstruct.errors import CheckpointError, ConfigError

CLASSES = list(DIRECTIONS)


def settings(**kw) -> TrainSettings:
    base = {"device": "cpu", "batch_size": 8, "ckpt_every": 1000, "log_every": 1, "tensorboard": False}
    return TrainSettings(**{**base, **kw})


def read_log(run_dir: Path) -> list[dict[str, float]]:
    with open(run_dir / "log.csv") as f:
        return [{k: float(v) for k, v in row.items()} for row in csv.DictReader(f)]


def seeded_model(**kw) -> TinyVideoNet:
    torch.manual_seed(0)
    return TinyVideoNet(**kw)


def test_learns_motion_direction(tmp_path):
    """Chance is 25 %: the class is only visible across frames (direction of a moving square)."""
    val = MovingSquares(128, seed=2)
    untrained, _ = evaluate(seeded_model(), val, settings=EvalSettings(device="cpu", batch_size=32))
    result = train(
        seeded_model(),
        MovingSquares(256, seed=1),
        settings=settings(max_steps=100, batch_size=16, ckpt_every=50, tensorboard=True),
        optim=OptimSettings(name="adamw", lr=0.03, weight_decay=0.01, warmup_steps=5),
        run_dir=tmp_path,
        val_data=val,
        classes=CLASSES,
        input_spec={"num_frames": 4},
        config={"model": {"name": "tiny"}},
    )
    assert untrained["top1"] < 0.5
    assert result.metrics["top1"] >= 0.9
    rows = read_log(tmp_path)
    assert [r["step"] for r in rows] == list(range(1, 101))
    first, last = sum(r["loss"] for r in rows[:10]) / 10, sum(r["loss"] for r in rows[-10:]) / 10
    assert first > 1.2 and last < 0.5 * first
    assert rows[0]["lr"] == pytest.approx(0.03 * 0.01)  # warmup starts at lr * warmup_start_factor
    assert all(r["clips_per_s"] > 0 for r in rows)
    # final weights + metadata, loadable with weights_only=True
    final = torch.load(result.final, weights_only=True)
    assert final["classes"] == CLASSES and final["input_spec"] == {"num_frames": 4} and final["step"] == 100
    assert final["metrics"]["top1"] == result.metrics["top1"]
    assert [s for s, _ in list_checkpoints(tmp_path)] == [50, 100]
    # TensorBoard holds the same losses as the CSV
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    events = EventAccumulator(str(tmp_path / "tb"))
    events.Reload()
    tb_loss = [e.value for e in events.Scalars("train/loss")]
    assert tb_loss == pytest.approx([r["loss"] for r in rows], rel=1e-6)
    assert events.Scalars("val/top1")[-1].value == pytest.approx(result.metrics["top1"])


def test_training_checkpoint_contents(tmp_path):
    train(
        seeded_model(batchnorm=True),
        MovingSquares(24),
        settings=settings(max_steps=2, ckpt_every=2, ema_decay=0.9, mixup_alpha=0.2),
        optim=OptimSettings(),
        run_dir=tmp_path,
        classes=CLASSES,
        input_spec={"crop_size": 16},
        config={"train": {"max_steps": 2}},
    )
    ckpt = torch.load(checkpoint_path(tmp_path, 2), weights_only=True)
    assert ckpt["step"] == 2 and ckpt["classes"] == CLASSES and ckpt["config"] == {"train": {"max_steps": 2}}
    assert ckpt["input_spec"] == {"crop_size": 16}
    assert ckpt["optimizer"]["state"] and ckpt["scheduler"]["last_epoch"] == 2
    assert "module.head.weight" in ckpt["ema"] and ckpt["scaler"] is not None
    rng = ckpt["rng"][0]
    assert set(rng) == {"python", "numpy", "torch", "cuda", "generators"} and "mix" in rng["generators"]
    # 24 samples / batch 8 = 3 batches per epoch; 2 consumed
    assert ckpt["data"] == {"micro_batches": 2, "per_step": 8, "seed": 0, "world_size": 1, "epoch": 0,
                            "batch_in_epoch": 2}  # fmt: skip
    assert set(ckpt["versions"]) == {"vidstruct", "torch", "python"}


def _final_weights(run_dir: Path) -> dict[str, torch.Tensor]:
    return torch.load(run_dir / "final.pt", weights_only=True)["model"]


def test_gradient_accumulation_matches_larger_batch(tmp_path):
    optim = OptimSettings(name="sgd", lr=0.5, momentum=0.0, weight_decay=0.0, schedule="constant")
    data = MovingSquares(48)
    train(seeded_model(), data, settings=settings(max_steps=3, batch_size=16), optim=optim, run_dir=tmp_path / "a")
    train(
        seeded_model(), data, settings=settings(max_steps=3, batch_size=8, grad_accum=2), optim=optim,
        run_dir=tmp_path / "b",
    )  # fmt: skip
    a, b = _final_weights(tmp_path / "a"), _final_weights(tmp_path / "b")
    for k in a:
        torch.testing.assert_close(a[k], b[k], rtol=1e-5, atol=1e-6)
    # the same 16 clips per step: same mean loss
    for ra, rb in zip(read_log(tmp_path / "a"), read_log(tmp_path / "b")):
        assert ra["loss"] == pytest.approx(rb["loss"], rel=1e-5)
    # the match is not trivial: training moved the weights away from the shared initialization, and half the
    # batch without accumulation (8 clips per step instead of 16) ends elsewhere
    start = seeded_model().state_dict()
    assert any(not torch.allclose(start[k].float(), a[k].float(), atol=1e-4) for k in a)
    train(seeded_model(), data, settings=settings(max_steps=3, batch_size=8), optim=optim, run_dir=tmp_path / "c")
    c = _final_weights(tmp_path / "c")
    assert any(not torch.allclose(c[k].float(), a[k].float(), rtol=1e-5, atol=1e-6) for k in a)


def test_gradient_clipping_bounds_the_update(tmp_path):
    optim = OptimSettings(name="sgd", lr=1.0, momentum=0.0, weight_decay=0.0, schedule="constant")
    start = {k: v.clone() for k, v in seeded_model().state_dict().items()}

    def update_norm(run: str, clip: float | None) -> float:
        train(seeded_model(), MovingSquares(8), settings=settings(max_steps=1, clip_grad=clip), optim=optim,
              run_dir=tmp_path / run)  # fmt: skip
        end = _final_weights(tmp_path / run)
        return torch.sqrt(sum(((end[k] - start[k]) ** 2).sum() for k in start)).item()

    free = update_norm("free", None)
    assert free > 0.01  # the unclipped step is large ...
    assert update_norm("clipped", 0.01) == pytest.approx(0.01, rel=1e-3)  # ... clipping scales it to the max norm


def test_ema_update_formula():
    model = nn.Linear(2, 1, bias=False)
    ema = build_ema(model, 0.9)
    with torch.no_grad():
        model.weight.fill_(1.0)
        update_ema(ema, model)  # first update copies the weights
        model.weight.fill_(3.0)
        update_ema(ema, model)  # 0.9 * 1 + 0.1 * 3 = 1.2
    assert torch.allclose(ema.module.weight, torch.full((1, 2), 1.2))
    assert build_ema(model, None) is None


def test_trainer_keeps_ema_of_step_weights(tmp_path):
    train(
        seeded_model(), MovingSquares(32), settings=settings(max_steps=3, ckpt_every=1, keep_checkpoints=5,
        ema_decay=0.5), optim=OptimSettings(lr=0.5), run_dir=tmp_path,
    )  # fmt: skip
    w = [load_checkpoint(checkpoint_path(tmp_path, s))["model"]["head.weight"] for s in (1, 2, 3)]
    ema = torch.load(tmp_path / "final.pt", weights_only=True)["ema"]["module.head.weight"]
    # step 1 copies w1; step 2: .5 w1 + .5 w2; step 3: .25 w1 + .25 w2 + .5 w3
    torch.testing.assert_close(ema, 0.25 * w[0] + 0.25 * w[1] + 0.5 * w[2])


def test_recompute_bn_stats_by_hand():
    bn = nn.BatchNorm3d(2, momentum=0.1)
    model = nn.Sequential(bn)
    g = torch.Generator().manual_seed(0)
    batches = [torch.randn(4, 2, 2, 3, 3, generator=g) * (i + 1) + i for i in range(3)]
    used = recompute_bn_stats(model.eval(), iter(batches), 2, lambda m, b: m(b))
    assert used == 2
    # cumulative average over the 2 batches of each batch's per-channel mean / unbiased variance
    means = [b.transpose(0, 1).flatten(1).mean(1) for b in batches[:2]]
    variances = [b.transpose(0, 1).flatten(1).var(1, unbiased=True) for b in batches[:2]]
    torch.testing.assert_close(bn.running_mean, (means[0] + means[1]) / 2)
    torch.testing.assert_close(bn.running_var, (variances[0] + variances[1]) / 2)
    assert bn.momentum == 0.1 and not model.training  # restored


def test_precise_bn_changes_final_bn_stats_only(tmp_path):
    train(seeded_model(batchnorm=True), MovingSquares(32), settings=settings(max_steps=2, ckpt_every=2,
          precise_bn_batches=3), optim=OptimSettings(), run_dir=tmp_path)  # fmt: skip
    last = load_checkpoint(checkpoint_path(tmp_path, 2))["model"]
    final = _final_weights(tmp_path)
    assert torch.equal(last["features.0.weight"], final["features.0.weight"])
    assert not torch.allclose(last["features.1.running_mean"], final["features.1.running_mean"])


def test_bf16_on_cpu_and_fp16_needs_cuda(tmp_path):
    train(seeded_model(), MovingSquares(16), settings=settings(max_steps=2, amp="bf16"), optim=OptimSettings(),
          run_dir=tmp_path / "bf16")  # fmt: skip
    losses = [r["loss"] for r in read_log(tmp_path / "bf16")]
    assert len(losses) == 2 and all(0 < v < 10 for v in losses)
    with pytest.raises(ConfigError, match="fp16 needs a CUDA device"):
        train(seeded_model(), MovingSquares(16), settings=settings(max_steps=1, amp="fp16"), optim=OptimSettings(),
              run_dir=tmp_path / "fp16")  # fmt: skip


def test_mixup_cutmix_and_label_smoothing_change_the_loss(tmp_path):
    def first_loss(run: str, **kw) -> float:
        train(seeded_model(), MovingSquares(16), settings=settings(max_steps=1, **kw), optim=OptimSettings(),
              run_dir=tmp_path / run)  # fmt: skip
        return read_log(tmp_path / run)[0]["loss"]

    plain = first_loss("plain")
    assert first_loss("smooth", label_smoothing=0.3) != pytest.approx(plain, rel=1e-4)
    assert first_loss("mixup", mixup_alpha=0.8) != pytest.approx(plain, rel=1e-4)
    assert first_loss("cutmix", cutmix_alpha=1.0) != pytest.approx(plain, rel=1e-4)


class EpicSquares(MovingSquares):
    """Direction as the verb, and a noun that is 0 for horizontal and 1 for vertical motion."""

    def __getitem__(self, index: int) -> dict:
        sample = super().__getitem__(index)
        sample["labels"] = {"verb": sample["label"], "noun": sample["label"] // 2}
        return sample


def test_multi_head_training_and_epic_metrics(tmp_path):
    torch.manual_seed(0)
    result = train(
        TwoHeadNet(num_verbs=4, num_nouns=2), EpicSquares(32), settings=settings(max_steps=3, mixup_alpha=0.2),
        optim=OptimSettings(), run_dir=tmp_path, val_data=EpicSquares(16, seed=5),
    )  # fmt: skip
    assert set(result.metrics) == {"verb_top1", "verb_top5", "noun_top1", "noun_top5", "action_top1", "action_top5"}
    assert result.metrics["noun_top5"] == 1.0  # 2 nouns


def test_resume_in_process_continues_the_same_run(tmp_path):
    kw = {"ckpt_every": 3, "mixup_alpha": 0.4}
    optim = OptimSettings(schedule="constant", lr=0.05)
    data = MovingSquares(40, augment_noise=0.2)  # 5 batches per epoch: the run crosses an epoch boundary
    model_kw = {"dropout": 0.3}
    train(seeded_model(**model_kw), data, settings=settings(max_steps=8, **kw), optim=optim, run_dir=tmp_path / "full")
    train(seeded_model(**model_kw), data, settings=settings(max_steps=6, **kw), optim=optim, run_dir=tmp_path / "cut")
    # a fresh model with other weights: everything must come from the checkpoint at step 6
    torch.manual_seed(123)
    result = train(TinyVideoNet(**model_kw), data, settings=settings(max_steps=8, **kw), optim=optim,
                   run_dir=tmp_path / "cut", resume=True)  # fmt: skip
    assert result.resumed_from == checkpoint_path(tmp_path / "cut", 6)
    full, cut = read_log(tmp_path / "full"), read_log(tmp_path / "cut")
    assert [r["step"] for r in cut] == list(range(1, 9))
    for a, b in zip(full, cut):
        assert a["loss"] == pytest.approx(b["loss"], abs=1e-6)


def test_resume_errors(tmp_path):
    with pytest.raises(CheckpointError, match="no checkpoint to resume from"):
        train(seeded_model(), MovingSquares(16), settings=settings(max_steps=2), optim=OptimSettings(),
              run_dir=tmp_path / "empty", resume=True)  # fmt: skip
    train(seeded_model(), MovingSquares(16), settings=settings(max_steps=1, ckpt_every=1), optim=OptimSettings(),
          run_dir=tmp_path / "run", classes=CLASSES)  # fmt: skip
    with pytest.raises(CheckpointError, match=r"already holds checkpoints \(newest: step 1\); resume it"):
        train(seeded_model(), MovingSquares(16), settings=settings(max_steps=2), optim=OptimSettings(),
              run_dir=tmp_path / "run", classes=CLASSES)  # fmt: skip
    with pytest.raises(CheckpointError, match=r"checkpoint has 4 classes but the dataset has 5"):
        train(seeded_model(), MovingSquares(16), settings=settings(max_steps=2), optim=OptimSettings(),
              run_dir=tmp_path / "run", classes=[*CLASSES, "still"], resume=True)  # fmt: skip


def test_progress_bar_on_stderr(tmp_path, capsys):
    train(seeded_model(), MovingSquares(16), settings=settings(max_steps=2), optim=OptimSettings(),
          run_dir=tmp_path, quiet=False)  # fmt: skip
    err = capsys.readouterr().err
    assert "loss" in err and "clips/s" in err


def test_channels_last_only_touches_5d_weights():
    from vidstruct.engine.trainer import _channels_last_3d

    model = nn.Sequential(nn.Conv3d(3, 4, 3), nn.Conv2d(4, 4, 3), nn.BatchNorm3d(4))
    _channels_last_3d(model)
    assert model[0].weight.is_contiguous(memory_format=torch.channels_last_3d)
    assert not model[0].weight.is_contiguous()
    assert model[1].weight.is_contiguous()  # 4-D kernels keep their layout (channels_last_3d needs rank 5)

"""DDP training of the action detector: ``vidstruct train`` on a ``task: detection`` config, 2 CPU processes (gloo)
launched by ``torch.distributed.run``, against a single-process computation of the same global batches.

What DDP must guarantee, checked here:

- both ranks end with identical parameters (BatchNorm running statistics stay per rank, as DDP keeps them: it
  broadcasts rank 0's at each forward, and rank 0's are the ones saved);
- each step's gradient (as the optimizer sees it, after DDP's all-reduce) and logged loss equal those of one
  process over the global batch (both ranks' keyframes): the mean binary cross-entropy over every real actor's
  classes, though the ranks hold different numbers of actors. The reference forwards each rank's half in train
  mode (BatchNorm statistics per half, as DDP without SyncBatchNorm computes them) and sums the halves' BCE over
  the global count; it uses the engine's optimizer and schedule between steps, its own plain loop otherwise;
- each rank read its own shard (``DistributedSampler``'s: permutation of ``seed + epoch``, rank r takes every
  second position);
- checkpoints, ``final.pt`` and ``detector.pt`` are written once, by rank 0.
"""

from __future__ import annotations

import csv
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from detkit import detection_overrides

from vidstruct.config import load_task_config
from vidstruct.data.detection import collate_keyframes
from vidstruct.engine.optim import build_optimizer, build_scheduler
from vidstruct.recipes.detection import build_detector, detection_data

CONFIG = Path(__file__).resolve().parents[2] / "configs" / "detection" / "synth_relation_tiny.yaml"
SCRIPT = Path(__file__).with_name("det_ddp_train.py")
STEPS, PER_RANK = 3, 2
# deterministic samples and no dropout, so the two computations see the same numbers
EXTRA = (
    "data.val=null", f"train.batch_size={PER_RANK}", f"train.max_steps={STEPS}", "train.log_every=1",
    "train.ckpt_every=2", "data.transform.hflip=false", "data.transform.flip_pairs=[]",
    "data.transform.box_jitter=0", "model.dropout=0", "model.relation.dropout=0",
)  # fmt: skip


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _shards(n: int, seed: int, epoch: int, world: int) -> list[list[int]]:
    """DistributedSampler's shards (shuffle, drop_last), written out: ``randperm`` seeded ``seed + epoch``."""
    g = torch.Generator()
    g.manual_seed(seed + epoch)
    perm = torch.randperm(n, generator=g).tolist()[: n // world * world]
    return [perm[r::world] for r in range(world)]


@pytest.mark.slow
@pytest.mark.xdist_group("engine_subprocess")
def test_two_process_ddp_equals_one_process_over_the_global_batch(detect_data: Path, tmp_path: Path) -> None:
    overrides = detection_overrides(detect_data, *EXTRA)
    run_dir, out = tmp_path / "run", tmp_path / "ranks"
    cmd = [
        sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2", "--master_port", str(_free_port()),
        str(SCRIPT), str(out), str(CONFIG), str(run_dir), *overrides,
    ]  # fmt: skip
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONUNBUFFERED": "1"}
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-3000:]
    ranks = [torch.load(out / f"rank{r}.pt", weights_only=True) for r in (0, 1)]
    assert [r["world_size"] for r in ranks] == [2, 2]

    # written once, by rank 0
    assert ranks[0]["saves"] == ["step_00000002.pt", "step_00000003.pt", "final.pt", "detector.pt"]
    assert ranks[1]["saves"] == []
    assert sorted(p.name for p in (run_dir / "checkpoints").iterdir()) == ["step_00000002.pt", "step_00000003.pt"]

    # identical parameters on both ranks
    task = load_task_config(CONFIG, overrides)
    cfg = task.cfg
    data = detection_data(cfg)
    torch.manual_seed(cfg.train.seed)  # the recipe's initial weights
    model, _ = build_detector(cfg, len(data.classes), task.composed)
    names = [n for n, _ in model.named_parameters()]
    for n in names:
        assert torch.equal(ranks[0]["weights"][n], ranks[1]["weights"][n]), n

    # each rank read its shard, in the sampler's order
    shards = _shards(len(data.train), cfg.train.seed, 0, 2)
    for r in (0, 1):
        assert ranks[r]["indices"][: STEPS * PER_RANK] == shards[r][: STEPS * PER_RANK]

    # one process over the same global batches
    torch.set_num_threads(1)
    optimizer = build_optimizer(model, cfg.optim)
    scheduler = build_scheduler(optimizer, cfg.optim, cfg.train.max_steps)
    with open(run_dir / "log.csv") as f:
        logged = {int(row["step"]): float(row["loss"]) for row in csv.DictReader(f)}
    counts = []
    for step in range(STEPS):
        model.train()
        window = slice(step * PER_RANK, (step + 1) * PER_RANK)
        halves = [collate_keyframes([data.train[i] for i in shard[window]]) for shard in shards]
        counts.append([int(h["mask"].sum()) for h in halves])
        total = 0.0
        for h in halves:
            logits = model(h["clip"], h["boxes"], h["mask"], objects=h["objects"], object_mask=h["object_mask"])
            bce = torch.nn.functional.binary_cross_entropy_with_logits(
                logits[h["mask"]], h["targets"][h["mask"]], reduction="sum"
            )
            total = total + bce
        loss = total / (sum(counts[-1]) * len(data.classes))
        optimizer.zero_grad()
        loss.backward()
        assert logged[step + 1] == pytest.approx(float(loss.detach()), rel=1e-5, abs=1e-6)
        for r in (0, 1):
            for n, p in model.named_parameters():
                got = ranks[r]["grads"][step][n]
                torch.testing.assert_close(got, p.grad, rtol=1e-3, atol=1e-6, msg=f"step {step + 1} rank {r} {n}")
        optimizer.step()
        scheduler.step()
    # the ranks held different numbers of actors in some step: a per-rank mean would have weighted them wrongly
    assert any(a != b for a, b in counts), counts
    for n, p in model.named_parameters():
        torch.testing.assert_close(ranks[0]["weights"][n], p.detach(), rtol=1e-3, atol=1e-5, msg=n)

"""Exact resume after SIGKILL, and DDP with 2 CPU processes (gloo) launched by torch.distributed.run."""

from __future__ import annotations

import csv
import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from vidstruct.engine.checkpoint import checkpoint_path

SCRIPT = Path(__file__).with_name("train_script.py")
ENV = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONUNBUFFERED": "1"}
SAFETY_LIMIT_S = 300  # only to fail instead of hanging forever if the run never reaches its checkpoint


def losses(run_dir: Path) -> dict[int, float]:
    with open(run_dir / "log.csv") as f:
        return {int(r["step"]): float(r["loss"]) for r in csv.DictReader(f)}


def run_script(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(SCRIPT), *args], env=ENV, capture_output=True, text=True, timeout=600)


@pytest.mark.slow
@pytest.mark.xdist_group("engine_subprocess")
def test_sigkill_then_resume_reproduces_uninterrupted_losses(tmp_path):
    killed_dir, reference_dir = tmp_path / "killed", tmp_path / "reference"
    # the killed run blocks when it reads sample 97, i.e. after 12 steps of 8 clips (checkpoints at 5 and 10)
    victim = subprocess.Popen(
        [sys.executable, str(SCRIPT), str(killed_dir), "--hang-after-samples", str(12 * 8)],
        env=ENV, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
    )  # fmt: skip
    reference = subprocess.Popen([sys.executable, str(SCRIPT), str(reference_dir)], env=ENV,
                                 stdout=subprocess.PIPE, stderr=subprocess.STDOUT)  # fmt: skip
    try:
        deadline = time.monotonic() + SAFETY_LIMIT_S
        while not (checkpoint_path(killed_dir, 10).is_file() and len(_rows(killed_dir)) >= 12):
            assert victim.poll() is None, victim.communicate()[0].decode()[-3000:]
            assert time.monotonic() < deadline, "the run never reached step 12"
            time.sleep(0.05)
        os.kill(victim.pid, signal.SIGKILL)
        victim.wait()
    finally:
        if victim.poll() is None:
            victim.kill()
    assert victim.returncode == -signal.SIGKILL
    assert max(losses(killed_dir)) == 12  # steps 11-12 were logged after the last checkpoint

    resumed = run_script(str(killed_dir), "--resume")
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert reference.wait(timeout=600) == 0, reference.communicate()[0].decode()[-3000:]

    got, expected = losses(killed_dir), losses(reference_dir)
    assert sorted(got) == sorted(expected) == list(range(1, 31))  # rows 11-12 of the killed run were replaced
    for step in expected:
        assert got[step] == pytest.approx(expected[step], abs=1e-6), f"step {step}"
    final_a = torch.load(killed_dir / "final.pt", weights_only=True)
    final_b = torch.load(reference_dir / "final.pt", weights_only=True)
    for key in final_b["model"]:
        torch.testing.assert_close(final_a["model"][key], final_b["model"][key], rtol=0, atol=1e-6)


def _rows(run_dir: Path) -> list[str]:
    path = run_dir / "log.csv"
    return path.read_text().splitlines()[1:] if path.is_file() else []


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.slow
@pytest.mark.xdist_group("engine_subprocess")
def test_ddp_two_cpu_processes(tmp_path):
    out = tmp_path / "out"
    cmd = [
        sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2", "--master_port", str(_free_port()),
        str(SCRIPT), str(tmp_path / "ddp"), "--steps", "6", "--batch-size", "4", "--samples", "32",
        "--ddp-compatible", "--val-samples", "11", "--out", str(out),
    ]  # fmt: skip
    proc = subprocess.run(cmd, env=ENV, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    env = [json.loads((out / f"env_rank{r}.json").read_text()) for r in (0, 1)]
    assert env[1]["world_size"] == 2
    # validation is sharded (6 + 5 clips) and gathered: every rank sees all 11 clips once, and the same metrics
    assert env[0]["val_indices"] == env[1]["val_indices"] == list(range(11))
    assert env[0]["metrics"] == env[1]["metrics"] and set(env[0]["metrics"]) == {"top1", "top5", "mean_class_accuracy"}

    # each rank read its own half of the data: 32 samples -> 16 per rank -> 4 batches of 4 per epoch
    seen = [json.loads((out / f"indices_rank{r}.json").read_text()) for r in (0, 1)]
    assert len(seen[0]) == len(seen[1]) == 6 * 4
    first_epoch = [set(s[:16]) for s in seen]
    assert not first_epoch[0] & first_epoch[1] and len(first_epoch[0] | first_epoch[1]) == 32

    # both ranks end with identical weights
    w0, w1 = (torch.load(out / f"weights_rank{r}.pt", weights_only=True) for r in (0, 1))
    for key in w0:
        assert torch.equal(w0[key], w1[key]), key

    # and they equal one process training on the union batch (8 clips = both ranks' 4)
    single = run_script(str(tmp_path / "single"), "--steps", "6", "--batch-size", "8", "--samples", "32",
                        "--ddp-compatible", "--out", str(tmp_path / "single_out"))  # fmt: skip
    assert single.returncode == 0, single.stderr[-3000:]
    ws = torch.load(tmp_path / "single_out" / "weights_rank0.pt", weights_only=True)
    for key in w0:
        torch.testing.assert_close(w0[key], ws[key], rtol=1e-4, atol=1e-5)
    # the logged loss is the mean over ranks = the single-process loss of the union batch
    ddp_loss, single_loss = losses(tmp_path / "ddp"), losses(tmp_path / "single")
    assert ddp_loss == pytest.approx(single_loss, rel=1e-5)

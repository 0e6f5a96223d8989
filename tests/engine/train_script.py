"""A tiny training run for the subprocess tests (SIGKILL + resume, DDP via torch.distributed.run).

Usage: python train_script.py RUN_DIR [--steps N] [--resume] [--hang-after-samples K] [--out DIR] [--ddp-compatible]

``--hang-after-samples K`` blocks forever when the K+1-th sample is read, so
a test can kill the process at a known point without timing assumptions.
``--out DIR`` writes this rank's final weights and the sample indices it read.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))

from enginekit import DIRECTIONS, MovingSquares, TinyVideoNet

from vidstruct.engine import EvalSettings, OptimSettings, TrainSettings, evaluate, train
from vidstruct.engine.distributed import cleanup, current


class HangingSquares(MovingSquares):
    def __init__(self, *args, hang_after: int | None = None, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.hang_after = hang_after

    def __getitem__(self, index: int) -> dict:
        if self.hang_after is not None and len(self.accessed) >= self.hang_after:
            time.sleep(3600)
        return super().__getitem__(index)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("run_dir")
    parser.add_argument("--steps", type=int, default=30)
    parser.add_argument("--ckpt-every", type=int, default=5)
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--samples", type=int, default=40)
    parser.add_argument("--resume", action="store_true")
    parser.add_argument("--hang-after-samples", type=int, default=None)
    parser.add_argument("--out", default=None)
    parser.add_argument("--ddp-compatible", action="store_true", help="no dropout / BN / mixup / EMA")
    parser.add_argument("--val-samples", type=int, default=0, help="validate on this many clips at the end")
    args = parser.parse_args()
    torch.set_num_threads(1)

    simple = args.ddp_compatible
    torch.manual_seed(0)
    model = TinyVideoNet(dropout=0.0 if simple else 0.2, batchnorm=not simple)
    data = HangingSquares(args.samples, augment_noise=0.1, hang_after=args.hang_after_samples)
    settings = TrainSettings(
        max_steps=args.steps,
        batch_size=args.batch_size,
        device="cpu",
        ckpt_every=args.ckpt_every,
        log_every=1,
        mixup_alpha=0.0 if simple else 0.2,
        label_smoothing=0.1,
        ema_decay=None if simple else 0.9,
        tensorboard=False,
    )
    optim = OptimSettings(name="adamw", lr=0.01, weight_decay=0.05, warmup_steps=3, schedule="cosine")
    val = MovingSquares(args.val_samples, seed=7) if args.val_samples else None
    result = train(model, data, settings=settings, optim=optim, run_dir=args.run_dir, classes=list(DIRECTIONS),
                   resume=args.resume, val_data=val, quiet=True)  # fmt: skip
    if args.out:
        rank = current().rank
        out = Path(args.out)
        out.mkdir(parents=True, exist_ok=True)
        torch.save(model.state_dict(), out / f"weights_rank{rank}.pt")
        (out / f"indices_rank{rank}.json").write_text(json.dumps(data.accessed))
        info = {"world_size": int(os.environ.get("WORLD_SIZE", 1)), "metrics": result.metrics}
        if val is not None:
            _, preds = evaluate(model, val, settings=EvalSettings(device="cpu"))
            info["val_indices"] = preds.indices.tolist()
        (out / f"env_rank{rank}.json").write_text(json.dumps(info))
    cleanup()


if __name__ == "__main__":
    main()

"""``vidstruct pretrain-mosi CONFIG [key=value ...] --out RUN_DIR [--max-steps N] [--resume]``.

MoSI self-supervised pretraining (pseudo-motion clips from still images) of any registered
backbone through the recognition engine. Fine-tune the result with a recognition config and
``model.init_from=RUN_DIR/model.pt``. Several GPUs: ``torchrun --nproc_per_node N -m vidstruct
pretrain-mosi ...``.
"""

from __future__ import annotations

import argparse
from pathlib import Path

NAME = "pretrain-mosi"
HELP = "MoSI self-supervised pretraining of a video backbone on still images (resumable; DDP under torchrun)"
DESCRIPTION = (
    "Train the config's model to classify the pseudo-motion of clips generated from still images (MoSI, "
    "Huang et al. CVPR 2021): procedural textures, an image folder or list, or frames of a video dataset "
    "(see the 'mosi:' section). The run directory is a recognition run directory (checkpoints/, log.csv, "
    "metrics.csv, tb/, final.pt) whose model.pt initializes fine-tuning: vidstruct train FT.yaml "
    "model.init_from=RUN_DIR/model.pt."
)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("config", help="YAML config with a 'mosi:' section (e.g. configs/mosi/*.yaml)")
    parser.add_argument("overrides", nargs="*", help="dotted overrides, e.g. mosi.crop_size=64 optim.lr=0.05")
    parser.add_argument("--out", "--run-dir", dest="run_dir", help="run directory (default: runs/<config name>)")
    parser.add_argument("--max-steps", type=int, help="optimizer steps (same as train.max_steps=N)")
    parser.add_argument("--resume", action="store_true", help="continue from the newest checkpoint in --out")
    parser.add_argument(
        "--device", help="auto, cpu, cuda, cuda:N, gpu (= cuda), mps (shorthand for the override train.device=...)"
    )
    parser.add_argument("--json", action="store_true", help="print a JSON summary (step, metrics, files)")


def run(args: argparse.Namespace) -> int:
    # imported here, not at module top: `vidstruct --help` imports every command module (see train.py)
    from vidstruct.cli.commands.train import train_overrides
    from vidstruct.cli.output import print_json
    from vidstruct.config import load_task_config
    from vidstruct.recipes.mosi import run_pretraining
    from vidstruct.ssl.mosi.errors import MoSIError

    task = load_task_config(
        args.config, train_overrides(args), tasks=("mosi",), command="pretrain-mosi", default="mosi"
    )
    run_dir = Path(args.run_dir or Path("runs") / Path(args.config).stem)
    try:
        result = run_pretraining(
            task.cfg, run_dir, composed=task.composed, resume=args.resume, quiet=args.quiet or args.json
        )
    except MoSIError as exc:  # raised in a DataLoader worker: keep the original one-line message
        raise MoSIError(_original_message(str(exc))) from None
    if result.rank != 0:
        return 0
    summary = {
        "run_dir": str(run_dir),
        "step": result.step,
        "metrics": result.metrics,
        "model": str(run_dir / "model.pt"),
        "resumed_from": str(result.resumed_from) if result.resumed_from else None,
    }
    if args.json:
        print_json(summary)
    else:
        metrics = "  ".join(f"{k} {v:.4f}" for k, v in result.metrics.items())
        print(
            f"MoSI-pretrained {result.step} steps into {run_dir}; model: {summary['model']}"
            + (f"; pretext {metrics}" if metrics else "")
            + f"\nfine-tune: vidstruct train CONFIG model.init_from={summary['model']}"
        )
    return 0


def _original_message(message: str) -> str:
    """The error's own message: a worker's re-raised error carries the whole traceback, ending with
    ``module.MoSIError: <message>``."""
    lines = [ln.strip() for ln in message.strip().splitlines() if ln.strip()]
    if len(lines) <= 1:
        return message
    last = lines[-1]
    head, sep, rest = last.partition("MoSIError: ")
    return rest if sep else last

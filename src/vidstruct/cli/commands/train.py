"""``vidstruct train CONFIG [key=value ...] --out DIR [--max-steps N] [--resume]``: train a recognition model.

Single process (CPU or one GPU)::

    vidstruct train configs/....yaml --out runs/exp1

Several GPUs / machines: launch the same command with ``torchrun`` (see
:mod:`vidstruct.engine.distributed`)::

    torchrun --nproc_per_node 4 -m vidstruct train configs/....yaml --out runs/exp1
"""

from __future__ import annotations

import argparse
from pathlib import Path

NAME = "train"
HELP = "train a recognition model (or a localizer: task: localization) from a YAML config (resumable; DDP)"
DESCRIPTION = (
    "Train the config's model on data.train (validating on data.val). The run directory receives step "
    "checkpoints (checkpoints/step_*.pt), log.csv, metrics.csv, TensorBoard events (tb/), final.pt and model.pt "
    "(the weights for predict / test / export). --resume continues the newest checkpoint exactly. "
    "A config with 'task: localization' trains a temporal action localizer on snippet features instead and "
    "writes RUN/localizer.pt (see configs/localization/). "
    "A config with 'task: detection' trains a spatio-temporal action detector on AVA-style keyframes and writes "
    "RUN/detector.pt (see configs/detection/). "
    "A config with 'task: person-detection' trains a person detector on keyframes and writes "
    "RUN/person_detector.pt (for --detector; see configs/person_detection/). "
    "Multi-GPU / multi-node: torchrun --nproc_per_node N -m vidstruct train ..."
)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("config", help="YAML experiment config")
    parser.add_argument("overrides", nargs="*", help="dotted overrides, e.g. optim.lr=0.01 train.max_steps=500")
    parser.add_argument("--out", "--run-dir", dest="run_dir", help="run directory (default: runs/<config name>)")
    parser.add_argument("--resume", action="store_true", help="continue from the newest checkpoint in --run-dir")
    parser.add_argument(
        "--max-steps",
        type=int,
        help="optimizer steps to train for (shorthand for the override train.max_steps=N)",
    )
    parser.add_argument(
        "--device", help="auto, cpu, cuda, cuda:N, gpu (= cuda), mps (shorthand for the override train.device=...)"
    )
    parser.add_argument("--json", action="store_true", help="print a JSON summary (step, metrics, files)")


def train_overrides(args: argparse.Namespace) -> list[str]:
    """``args.overrides`` plus the shorthands ``--max-steps`` and ``--device`` (checked here, before any work)."""
    from vidstruct.device import resolve_device
    from vidstruct.errors import ConfigError

    overrides = list(args.overrides)
    if args.max_steps is not None:
        if args.max_steps < 1:
            raise ConfigError(f"--max-steps: expected a positive number of steps, got {args.max_steps}")
        overrides.append(f"train.max_steps={args.max_steps}")
    if args.device is not None:
        resolve_device(args.device, where="--device")
        overrides.append(f"train.device={args.device}")
    return overrides


def run(args: argparse.Namespace) -> int:
    # imported here, not at module top: `vidstruct --help` imports every command module, and these pull in torch,
    # the models and the recipes (measured on 2 cores at load 9: --help 0.31 s lazy vs 10.5-19.5 s with the
    # recipes imported up front; 0.05 s lazy on an idle machine)
    from vidstruct.cli.output import print_json
    from vidstruct.config import load_task_config

    run_dir = Path(args.run_dir or Path("runs") / Path(args.config).stem)
    quiet = args.quiet or args.json
    tasks = ("recognition", "localization", "detection", "person-detection")
    task = load_task_config(args.config, train_overrides(args), tasks=tasks, command="train")
    if task.task == "detection":  # spatio-temporal action detection on AVA-style keyframes
        from vidstruct.recipes.detection import run_detection_training

        result = run_detection_training(task.cfg, run_dir, composed=task.composed, resume=args.resume, quiet=quiet)
        model_file = run_dir / "detector.pt"
    elif task.task == "person-detection":  # a person detector on keyframes (the --detector of detect-actions)
        from vidstruct.recipes.person_detection import run_person_detection_training

        result = run_person_detection_training(
            task.cfg, run_dir, composed=task.composed, resume=args.resume, quiet=quiet
        )
        model_file = run_dir / "person_detector.pt"
    elif task.task == "localization":  # temporal action localization on snippet features
        from vidstruct.recipes.localization import run_localization_training

        result = run_localization_training(task.cfg, run_dir, composed=task.composed, resume=args.resume, quiet=quiet)
        model_file = run_dir / "localizer.pt"
    else:
        from vidstruct.recipes.recognition import run_training

        result = run_training(task.cfg, run_dir, composed=task.composed, resume=args.resume, quiet=quiet)
        model_file = run_dir / "model.pt"
    if result.rank != 0:  # under torchrun only rank 0 reports
        return 0
    summary = {
        "run_dir": str(run_dir),
        "step": result.step,
        "metrics": result.metrics,
        "model": str(model_file),
        "resumed_from": str(result.resumed_from) if result.resumed_from else None,
    }
    if args.json:
        print_json(summary)
    else:
        metrics = "  ".join(f"{k} {v:.4f}" for k, v in result.metrics.items())
        print(
            f"trained {result.step} steps into {run_dir}; model: {summary['model']}"
            + (f"; {metrics}" if metrics else "")
        )
    return 0

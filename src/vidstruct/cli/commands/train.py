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
    parser.add_argument("--json", action="store_true", help="print a JSON summary (step, metrics, files)")


def run(args: argparse.Namespace) -> int:
    from vidstruct.cli.output import print_json
    from vidstruct.config import ExperimentConfig, compose, validate
    from vidstruct.engine.recipes import run_training
    from vidstruct.errors import ConfigError

    run_dir = Path(args.run_dir or Path("runs") / Path(args.config).stem)
    overrides = list(args.overrides)
    if args.max_steps is not None:
        if args.max_steps < 1:
            raise ConfigError(f"--max-steps: expected a positive number of steps, got {args.max_steps}")
        overrides.append(f"train.max_steps={args.max_steps}")
    composed = compose(args.config, overrides)
    if composed.data.get("task") == "localization":  # temporal action localization on snippet features
        from vidstruct.engine.localization.config import LocalizationExperimentConfig
        from vidstruct.engine.localization.recipe import run_localization_training

        loc_cfg = validate(LocalizationExperimentConfig, composed)
        result = run_localization_training(
            loc_cfg, run_dir, composed=composed, resume=args.resume, quiet=args.quiet or args.json
        )
        model_file = run_dir / "localizer.pt"
    else:
        cfg = validate(ExperimentConfig, composed)
        result = run_training(cfg, run_dir, composed=composed, resume=args.resume, quiet=args.quiet or args.json)
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

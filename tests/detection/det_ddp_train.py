"""``vidstruct train`` on a ``task: detection`` config, instrumented for tests/detection/test_det_ddp.py.

Run under ``python -m torch.distributed.run --nproc_per_node 2`` (or alone) as::

    det_ddp_train.py OUT CONFIG RUN_DIR [overrides...]

It runs the real CLI (``vidstruct.cli.main.main(["train", CONFIG, *overrides, "--out", RUN_DIR, "-q"])``) and
writes ``OUT/rank{RANK}.pt`` with what this rank did: ``grads`` (per optimizer step, each parameter's gradient
as the optimizer saw it, i.e. after DDP's all-reduce), ``losses`` (per step, this rank's micro-batch loss),
``indices`` (the training samples it loaded, in order), ``weights`` (the model when ``train`` returned),
``saves`` (the checkpoint / detector files it wrote) and ``world_size``.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any

import torch

import vidstruct.engine.checkpoint as ckpt_io
import vidstruct.engine.trainer as trainer
import vidstruct.recipes.detection as recipe
from vidstruct.cli.main import main
from vidstruct.data.detection import KeyframeClipDataset

RECORD: dict[str, Any] = {"grads": [], "losses": [], "indices": [], "saves": [], "weights": None}


def _instrument() -> None:
    build_optimizer, save_atomic, save_detector = trainer.build_optimizer, ckpt_io.save_atomic, recipe.save_detector
    getitem, loss_fn, train = KeyframeClipDataset.__getitem__, recipe.detection_loss, recipe.train

    def optimizer_with_grad_record(model: torch.nn.Module, optim: Any) -> torch.optim.Optimizer:
        opt = build_optimizer(model, optim)

        def record(*_: Any) -> None:
            grads = {n: None if p.grad is None else p.grad.detach().clone() for n, p in model.named_parameters()}
            RECORD["grads"].append(grads)

        opt.register_step_pre_hook(record)
        return opt

    def recorded_save(state: Any, path: Any) -> Any:
        RECORD["saves"].append(Path(path).name)
        return save_atomic(state, path)

    def recorded_detector(path: Any, *args: Any, **kwargs: Any) -> Any:
        RECORD["saves"].append(Path(path).name)
        return save_detector(path, *args, **kwargs)

    def recorded_item(self: KeyframeClipDataset, i: int) -> Any:
        if self.train:
            RECORD["indices"].append(int(i))
        return getitem(self, i)

    def recorded_loss(net: torch.nn.Module, batch: Any, device: torch.device) -> torch.Tensor:
        loss = loss_fn(net, batch, device)
        RECORD["losses"].append(float(loss.detach()))
        return loss

    def recorded_train(model: torch.nn.Module, *args: Any, **kwargs: Any) -> Any:
        kwargs["loss_fn"] = recorded_loss
        result = train(model, *args, **kwargs)
        RECORD["weights"] = {k: v.detach().clone() for k, v in model.state_dict().items()}
        return result

    trainer.build_optimizer = optimizer_with_grad_record
    ckpt_io.save_atomic = recorded_save
    recipe.save_detector = recorded_detector
    KeyframeClipDataset.__getitem__ = recorded_item  # type: ignore[method-assign]
    recipe.train = recorded_train


if __name__ == "__main__":
    out, config, run_dir, *overrides = sys.argv[1:]
    torch.set_num_threads(1)
    _instrument()
    code = main(["train", config, *overrides, "--out", run_dir, "-q"])
    RECORD["world_size"] = int(os.environ.get("WORLD_SIZE", "1"))
    Path(out).mkdir(parents=True, exist_ok=True)
    torch.save(RECORD, Path(out) / f"rank{os.environ.get('RANK', '0')}.pt")
    sys.exit(code)

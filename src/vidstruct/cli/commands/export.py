"""``vidstruct export CKPT --format onnx|torchscript --out FILE``."""

from __future__ import annotations

import argparse

NAME = "export"
HELP = "export a trained model to ONNX or TorchScript (input: normalized clip, output: probabilities)"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("checkpoint", help="run directory or model checkpoint (model.pt)")
    parser.add_argument("--format", choices=["onnx", "torchscript"], default="onnx")
    parser.add_argument("--out", required=True, help="output file (.onnx / .pt)")
    parser.add_argument(
        "--no-check", action="store_true", help="skip the parity check (onnxruntime / torch.jit.load vs PyTorch)"
    )
    parser.add_argument("--json", action="store_true", help="print JSON")


def run(args: argparse.Namespace) -> int:
    import torch

    from vidstruct.cli.output import print_json
    from vidstruct.models.checkpoint import load_model_checkpoint
    from vidstruct.models.export import export_model
    from vidstruct.pipeline.recognizer import resolve_model_checkpoint

    model, meta = load_model_checkpoint(resolve_model_checkpoint(args.checkpoint))
    example = torch.randn(2, *model.input_spec.shape, generator=torch.Generator().manual_seed(0))
    exported = export_model(model, example, args.out, args.format, check=not args.no_check)
    out = exported.path
    result = {"out": str(out), "format": args.format, "input": list(model.input_spec.shape), "output": "probs"}
    if exported.max_abs_diff is not None:
        result["max_abs_diff"] = exported.max_abs_diff
    if args.json:
        print_json(result)
    else:
        print(
            f"wrote {out} ({args.format}; input clip [B, {', '.join(map(str, model.input_spec.shape))}], "
            f"output softmax probabilities)"
            + (f"; parity check max |diff| {result['max_abs_diff']:.2e}" if "max_abs_diff" in result else "")
        )
    return 0

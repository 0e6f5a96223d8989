"""``vidstruct convert --from pytorchvideo|hf SRC --model NAME --out CKPT``: import public weights."""

from __future__ import annotations

import argparse
from pathlib import Path

NAME = "convert"
HELP = "convert a PyTorchVideo / Hugging Face checkpoint into a vidstruct model checkpoint"
DESCRIPTION = (
    "Convert published weights into a vidstruct checkpoint (weights + model name + input spec + classes). "
    "Nothing is downloaded: SRC is a local file (PyTorchVideo .pyth / .pt) or folder (Hugging Face)."
)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--from", dest="source", required=True, metavar="FORMAT", help="pytorchvideo or hf")
    parser.add_argument("src", metavar="SRC", help="source checkpoint file or folder")
    parser.add_argument("--model", required=True, help="vidstruct model name (see 'vidstruct models list')")
    parser.add_argument("--out", required=True, help="output checkpoint path (.pt)")
    parser.add_argument("--classes", default=None, help="text file with one class name per line, in class order")
    parser.add_argument(
        "--trust-source", action="store_true", help="allow full unpickling of SRC (only for files you trust)"
    )
    parser.add_argument("--json", action="store_true", help="print the result as JSON")


def _read_classes(path: str) -> list[str]:
    from vidstruct.errors import ConfigError

    file = Path(path)
    if not file.is_file():
        raise ConfigError(f"--classes {path}: no such file")
    names = [line.strip() for line in file.read_text(encoding="utf-8").splitlines() if line.strip()]
    if not names:
        raise ConfigError(f"--classes {path}: no class names (expected one per line)")
    return names


def run(args: argparse.Namespace) -> int:
    from vidstruct.cli.output import print_json
    from vidstruct.models.convert import convert_checkpoint

    classes = _read_classes(args.classes) if args.classes else None
    path, report = convert_checkpoint(
        args.source, args.src, args.model, args.out, classes=classes, trust_source=args.trust_source
    )
    result = {"out": str(path), "model": args.model, "source": args.source, "tensors": report.loaded}
    if args.json:
        print_json(result)
    else:
        print(f"wrote {path} ({args.model}, {report.loaded} tensors from {args.source} {args.src})")
    return 0

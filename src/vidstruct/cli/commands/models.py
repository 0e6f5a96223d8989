"""``vidstruct models list|info``: the registered models."""

from __future__ import annotations

import argparse

NAME = "models"
HELP = "list registered models or show one model's size and input"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="models_action", metavar="ACTION", required=True)
    lst = sub.add_parser("list", help="print the registered model names")
    lst.add_argument("--json", action="store_true", help="print a JSON list")
    info = sub.add_parser("info", help="parameters, GFLOPs per view and default input of a model")
    info.add_argument("name")
    info.add_argument("--num-classes", type=int, default=400)
    info.add_argument("--json", action="store_true", help="print JSON (keys: params, gflops, input)")


def run(args: argparse.Namespace) -> int:
    from vidstruct.cli.output import print_json
    from vidstruct.models import MODELS

    if args.models_action == "list":
        names = MODELS.names()
        if args.json:
            print_json(names)
        else:
            print("\n".join(names))
        return 0
    from vidstruct.models.info import model_info

    info = model_info(args.name, num_classes=args.num_classes)
    if args.json:
        print_json(info)
    else:
        for key, value in info.items():
            print(f"{key}: {value}")
    return 0

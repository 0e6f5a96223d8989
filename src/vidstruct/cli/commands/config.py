"""``vidstruct config show CONFIG [key=value ...]``: print the resolved config."""

from __future__ import annotations

import argparse

NAME = "config"
HELP = "show a fully resolved experiment config"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="config_action", metavar="ACTION", required=True)
    show = sub.add_parser("show", help="print the composed, validated config as YAML")
    show.add_argument("config", help="YAML config file")
    show.add_argument("overrides", nargs="*", help="dotted overrides, e.g. optim.lr=0.01")
    show.add_argument(
        "--schema",
        choices=["experiment", "none"],
        default="experiment",
        help="validate against the experiment schema (default) or print the raw composition",
    )


def run(args: argparse.Namespace) -> int:
    from vidstruct.config import ExperimentConfig, compose, load_config, resolve_model_kwargs, to_yaml

    if args.schema == "none":
        print(to_yaml(compose(args.config, args.overrides).data), end="")
        return 0
    cfg, composed = load_config(args.config, args.overrides, ExperimentConfig)
    resolve_model_kwargs(cfg, composed)
    print(to_yaml(cfg), end="")
    return 0

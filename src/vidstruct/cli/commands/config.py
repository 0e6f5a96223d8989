"""``vidstruct config show CONFIG [key=value ...]``: print the resolved config of any task.

The config's ``task`` (``recognition`` by default, ``localization``, ``detection``, ``person-detection``, ``mosi``,
``analyze``) picks its schema (:data:`vidstruct.config.TASKS`); the output is the validated config with every
default filled in, as YAML that validates again to the same config. A moderation policy (no ``task``, a ``rules``
list: ``vidstruct serve --policy``) is validated by the service's policy schema and shown the same way.
"""

from __future__ import annotations

import argparse

NAME = "config"
HELP = "show a fully resolved config (any task, or a moderation policy)"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="config_action", metavar="ACTION", required=True)
    show = sub.add_parser("show", help="print the composed, validated config as YAML")
    show.add_argument("config", help="YAML config file")
    show.add_argument("overrides", nargs="*", help="dotted overrides, e.g. optim.lr=0.01")
    show.add_argument(
        "--schema",
        choices=["experiment", "none"],
        default="experiment",
        help="validate against the experiment schema of the config's task (default) or print the raw composition",
    )


def run(args: argparse.Namespace) -> int:
    # imported here, not at module top: `vidstruct --help` imports every command module (see train.py)
    from vidstruct.config import check_model_kwargs, compose, load_task_config, to_yaml

    if args.schema == "none":
        print(to_yaml(compose(args.config, args.overrides).data), end="")
        return 0
    composed = compose(args.config, args.overrides)
    if isinstance(composed.data, dict) and "task" not in composed.data and "rules" in composed.data:
        from vidstruct.service.moderation.policy import PolicySpec, parse_policy

        parse_policy(composed.data, args.config)  # the policy's own checks, one-line PolicyError
        print(to_yaml(PolicySpec.model_validate(composed.data).model_dump(mode="json")), end="")
        return 0
    task = load_task_config(args.config, args.overrides)
    if "model" in type(task.cfg).model_fields:  # an analysis profile names checkpoints, not a model to build
        check_model_kwargs(task.cfg, task.composed)
    print(to_yaml(task.cfg), end="")
    return 0

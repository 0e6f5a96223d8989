"""``vidstruct schema structure [--out FILE]``: the JSON Schema of a vidstruct document format."""

from __future__ import annotations

import argparse

NAME = "schema"
HELP = "print the JSON Schema (draft 2020-12) of a vidstruct document: structure (vidstruct.structure/1)"

SCHEMAS = ("structure",)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("name", choices=SCHEMAS, help="which document: structure (what 'vidstruct analyze' writes)")
    parser.add_argument("--out", help="write the schema to this file (atomically) instead of printing it")


def run(args: argparse.Namespace) -> int:
    from vidstruct.structure.schema import schema_text

    text = schema_text()
    if args.out:
        from vidstruct.atomic import write_text_atomic

        write_text_atomic(args.out, text)
        print(f"wrote {args.out}")
    else:
        print(text, end="" if text.endswith("\n") else "\n")
    return 0

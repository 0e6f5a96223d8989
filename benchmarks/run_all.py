"""Run every benchmark in this folder (``make bench``).

Each ``benchmarks/<name>.py`` defines ``main(argv: list[str] | None) -> int``
and accepts ``--quick``. Results print as markdown tables; nothing is written
into the repository (outputs go to ``bench_out/``, which git ignores).

Usage: ``python benchmarks/run_all.py [--quick|--full] [--only decode,models]``
"""

from __future__ import annotations

import argparse
import importlib.util
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent


def discover() -> list[Path]:
    return sorted(
        p for p in HERE.glob("*.py") if p.name not in {"run_all.py", "__init__.py"} and not p.name.startswith("_")
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument("--quick", action="store_true", default=True, help="small inputs, few repeats (default)")
    mode.add_argument("--full", action="store_true", help="default model inputs and long videos")
    parser.add_argument("--only", default="", help="comma-separated benchmark names")
    args = parser.parse_args(argv)
    only = {n.strip() for n in args.only.split(",") if n.strip()}
    failures = 0
    for path in discover():
        if only and path.stem not in only:
            continue
        print(f"\n## benchmark: {path.stem} ({'full' if args.full else 'quick'})\n", flush=True)
        spec = importlib.util.spec_from_file_location(f"bench_{path.stem}", path)
        assert spec and spec.loader
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        start = time.perf_counter()
        full_args = ["--full"] if '"--full"' in path.read_text() else []  # some default to quick, some to full
        rc = module.main(full_args if args.full else ["--quick"])
        print(f"\n({path.stem} took {time.perf_counter() - start:.0f} s, exit {rc})", flush=True)
        failures += int(rc != 0)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())

"""Latency of ``POST /v1/search/similar/clip`` end to end (FastAPI test client, SQLite), and the models it loads.

A collection of ``--videos`` 64 px, 3 s videos is analyzed by a worker, half with profile ``a``, half with ``b``: each a
TransNetV2 shot detector (its packaged weights) and its own tiny ``r2plus1d_tiny`` recognizer (1 s windows every
0.5 s), so there are two embedding spaces. Then a 1.5 s clip is searched:

- ``cold``: the first request of the process (its models loaded then);
- ``warm``: ``--repeats`` requests naming profile ``a`` (p50 / p95 ms, requests per second);
- ``alternating``: ``--repeats`` requests naming ``a`` and ``b`` in turn (a cache that keeps one profile's models
  reloads them on every request).

Loads are counted by wrapping the registry's ``MODELS.build`` (model constructions) and the TransNetV2 builder.
Run it on two source trees to compare them (``PYTHONPATH=OLD/src`` for the code before a change); it uses only
the service's public routes.

    python benchmarks/similar_clip.py [--videos N] [--repeats N]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np
import torch

import vidstruct
from vidstruct.io import write_video
from vidstruct.models import MODELS
from vidstruct.models.checkpoint import save_model_checkpoint
from vidstruct.models.spec import InputSpec
from vidstruct.service.api.app import create_app
from vidstruct.service.auth import create_key
from vidstruct.service.db.migrate import upgrade
from vidstruct.service.db.session import make_engine, transaction
from vidstruct.service.jobs.worker import JobWorker
from vidstruct.service.settings import ServiceSettings

SPEC = InputSpec(num_frames=4, frame_interval=2, crop_size=48, short_side=56, target_fps=10.0)


def backbone(path: Path, seed: int) -> Path:
    torch.manual_seed(seed)
    model = MODELS.build("r2plus1d_tiny", num_classes=4, widths=[4, 4, 4, 8])
    model.input_spec = SPEC
    return save_model_checkpoint(path, model.eval(), model_name="r2plus1d_tiny", model_kwargs={"widths": [4, 4, 4, 8]})


def profile(root: Path, name: str, seed: int) -> None:
    ckpt = backbone(root / f"{name}.pt", seed)
    (root / f"{name}.yaml").write_text(
        f"task: analyze\nname: {name}\nrecognizer: {{checkpoint: {ckpt.name}, window_s: 1.0, stride_s: 0.5}}\n"
        "shots: {detector: transnetv2}\nthumbnails: {width: 48}\nruntime: {device: cpu}\n"
    )


def video(path: Path, seed: int, seconds: float = 3.0, fps: float = 10.0) -> Path:
    rng = np.random.default_rng(seed)
    n = int(seconds * fps)
    frames = np.empty((n, 64, 64, 3), dtype=np.uint8)
    colour = rng.integers(0, 256, 3)
    for i in range(n):
        frames[i] = colour
        x = int(i * 48 / (n - 1))
        frames[i, 24:40, x : x + 16] = 255 - colour
    return write_video(path, frames, fps)


def count_loads() -> Counter[str]:
    counts: Counter[str] = Counter()
    build = MODELS.build

    def counted(name: str, *args: Any, **kwargs: Any) -> Any:
        counts[name] += 1
        return build(name, *args, **kwargs)

    MODELS.build = counted  # type: ignore[method-assign]
    from vidstruct.models.shots.transnetv2 import TransNetV2Network

    init = TransNetV2Network.__init__

    def counted_init(self: Any, *a: Any, **k: Any) -> None:
        counts["transnetv2"] += 1
        init(self, *a, **k)

    TransNetV2Network.__init__ = counted_init  # type: ignore[method-assign]
    return counts


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--videos", type=int, default=4)
    parser.add_argument("--repeats", type=int, default=20)
    args = parser.parse_args(argv)
    print(f"vidstruct from {Path(vidstruct.__file__).parent}")
    torch.set_num_threads(1)
    with tempfile.TemporaryDirectory(prefix="bench-clip-") as tmp:
        root = Path(tmp)
        (root / "profiles").mkdir()
        profile(root / "profiles", "a", 0)
        profile(root / "profiles", "b", 1)
        url = f"sqlite+pysqlite:///{root / 'db.sqlite'}"
        engine = make_engine(url)
        upgrade(engine)
        engine.dispose()
        settings = ServiceSettings(data_dir=root / "data", db_url=url, profile_dirs=(root / "profiles",),
                                   default_profile="a")  # fmt: skip
        from fastapi.testclient import TestClient

        app = create_app(settings)
        factory = app.state.service.factory
        with transaction(factory) as session:
            write, read = create_key(session, "write")[0], create_key(session, "read")[0]
        clip = video(root / "clip.mp4", 999, seconds=1.5)
        with TestClient(app) as client:
            for i in range(args.videos):  # a video's newest analysis is the one searched: half in each space
                upload = {"file": (f"v{i}.mp4", video(root / f"v{i}.mp4", i).read_bytes(), "video/mp4")}
                auth = {"Authorization": f"Bearer {write}"}
                answer = client.post("/v1/jobs", files=upload, data={"profile": "ab"[i % 2]}, headers=auth)
                assert answer.status_code == 202, answer.text
            done = JobWorker(settings, factory=factory).run(exit_when_idle=True)
            assert done == args.videos, done
            counts = count_loads()

            def search(name: str) -> float:
                start = time.perf_counter()
                answer = client.post("/v1/search/similar/clip", files={"file": ("c.mp4", clip.read_bytes())},
                                     data={"profile": name}, headers={"Authorization": f"Bearer {read}"})  # fmt: skip
                assert answer.status_code == 200, answer.text
                return time.perf_counter() - start

            cold = search("a")
            print(f"cold (first request): {cold * 1e3:.1f} ms; models constructed: {dict(counts)}")
            counts.clear()
            warm = [search("a") for _ in range(args.repeats)]
            print(f"models constructed over {args.repeats} warm requests: {dict(counts)}")
            counts.clear()
            alternating = [search("ab"[i % 2]) for i in range(args.repeats)]
            print(f"models constructed over {args.repeats} alternating requests: {dict(counts)}")
        app.state.service.engine.dispose()
    print("| requests | p50 ms | p95 ms | requests/s |")
    print("|---|---:|---:|---:|")
    for label, times in (("warm, profile a", warm), ("alternating a / b", alternating)):
        p50, p95 = statistics.median(times) * 1e3, float(np.percentile(times, 95)) * 1e3
        print(f"| {label} | {p50:.1f} | {p95:.1f} | {len(times) / sum(times):.1f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())

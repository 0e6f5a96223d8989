"""Worker processes that die, runs that are killed, Ray that is missing or unreachable: the run goes on, or
stops in one line, and never loses a video already recorded."""

from __future__ import annotations

import json
import multiprocessing as mp
import os
import signal
import socket
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

import vidstruct.pipeline.features as pf
from vidstruct.cli.main import main
from vidstruct.data.features import MANIFEST_NAME, FeatureStore
from vidstruct.data.procpool import WorkerDied, map_surviving
from vidstruct.pipeline.features import extract_features

FORK = mp.get_context("fork")


# ----------------------------------------------------------------------------------------------- the pool


def _square_or_die(x: int) -> int:
    if x == 3:
        os.kill(os.getpid(), signal.SIGKILL)
    if x == 6:
        os._exit(7)
    return x * x


def test_map_surviving_fails_only_the_job_that_kills_its_worker() -> None:
    outcomes = list(map_surviving(_square_or_die, range(10), workers=2, mp_context=FORK))
    assert sorted(job for job, _ in outcomes) == list(range(10)), "every job exactly once"
    got = dict(outcomes)
    assert {j: str(got[j]) for j in (3, 6)} == {
        3: "worker process died (killed by SIGKILL)",
        6: "worker process died (exit code 7)",
    }
    assert all(isinstance(got[j], WorkerDied) for j in (3, 6))
    assert {j: got[j] for j in got if j not in (3, 6)} == {j: j * j for j in range(10) if j not in (3, 6)}


def _bad_init() -> None:
    raise LookupError("checkpoint vanished")


def test_an_initializer_error_is_raised_not_taken_for_dead_workers() -> None:
    with pytest.raises(LookupError, match="checkpoint vanished"):
        list(map_surviving(_square_or_die, [1, 2], workers=2, mp_context=FORK, initializer=_bad_init))


# ----------------------------------------------------------------------------------------------- extract-features


def _args(ckpt: Path, videos: Path, out: Path, *extra: str) -> list[str]:
    return ["extract-features", "--checkpoint", str(ckpt), "--videos", str(videos), "--out", str(out), *extra]


def test_a_worker_killed_on_one_video_fails_only_that_video(
    tmp_path: Path,
    checkpoint: Path,
    clips: dict[str, Path],
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """The worker that decodes ``boom`` gets SIGKILL (as from the OOM killer): ``boom`` fails with the reason,
    the videos in flight with it are redone, the rest goes on in a new pool; exit 1 and a summary."""
    folder = tmp_path / "videos"
    folder.mkdir()
    for vid in ("a", "b", "c"):
        (folder / f"{vid}.mp4").symlink_to(clips[vid])
    (folder / "boom.mp4").symlink_to(clips["b"])
    real = pf.snippet_features

    def killed_on_boom(backbone, video_path, **kwargs):
        if Path(video_path).stem == "boom":
            os.kill(os.getpid(), signal.SIGKILL)
        return real(backbone, video_path, **kwargs)

    # workers forked from this process run the patched function (forkserver children would import afresh)
    monkeypatch.setattr(pf, "_pool_context", lambda: FORK)
    monkeypatch.setattr(pf, "snippet_features", killed_on_boom)
    out = tmp_path / "feats"
    args = _args(checkpoint, folder, out, "--workers", "2", "--window-s", "1", "--stride-s", "0.5", "--device", "cpu")
    assert main([*args, "-q"]) == 1
    text = capsys.readouterr().out
    reason = f"{folder / 'boom.mp4'}: worker process died (killed by SIGKILL)"
    assert f"{out}: 3 done, 0 skipped (already done), 1 failed" in text
    assert f"failed: boom: {reason}" in text
    store = FeatureStore(out)
    assert store.video_ids == ["a", "b", "c"] and store.failed == {"boom": reason}
    assert [store.meta["videos"][v]["num_snippets"] for v in "abc"] == [6, 4, 5]

    # rerun: the done videos are skipped, boom is tried again (and dies again)
    assert main([*args, "-q", "--json"]) == 1
    report = json.loads(capsys.readouterr().out)
    assert sorted(report["skipped"]) == ["a", "b", "c"] and report["failed"] == {"boom": reason}


_KILLED_RUN = textwrap.dedent(
    """
    import os, signal, sys
    import vidstruct.pipeline.features as pf

    real, count = pf._record, [0]

    def record(*args, **kwargs):  # the whole run is killed right after its second video is recorded
        real(*args, **kwargs)
        count[0] += 1
        if count[0] == 2:
            os.kill(os.getpid(), signal.SIGKILL)

    pf._record = record
    ckpt, out, *videos = sys.argv[1:]
    pf.extract_features(ckpt, videos, out, window_s=1.0, stride_s=0.5, device="cpu")
    """
)


def test_a_killed_run_keeps_what_it_recorded_and_the_resume_skips_exactly_that(
    tmp_path: Path, checkpoint: Path, clips: dict[str, Path]
) -> None:
    out = tmp_path / "feats"
    videos = [str(clips[v]) for v in "abc"]
    proc = subprocess.run(
        [sys.executable, "-c", _KILLED_RUN, str(checkpoint), str(out), *videos], capture_output=True, timeout=300
    )
    assert proc.returncode == -signal.SIGKILL, proc.stderr.decode()
    assert json.loads((out / MANIFEST_NAME).read_text())["videos"] == {}, "killed before any compaction"
    assert FeatureStore(out).video_ids == ["a", "b"], "the journal kept both records"
    mtimes = {v: os.stat(out / f"{v}.npy").st_mtime_ns for v in "ab"}

    report = extract_features(checkpoint, videos, out, window_s=1.0, stride_s=0.5, device="cpu")
    assert report.skipped == ["a", "b"] and report.done == ["c"] and report.failed == {}
    assert {v: os.stat(out / f"{v}.npy").st_mtime_ns for v in "ab"} == mtimes
    assert sorted(json.loads((out / MANIFEST_NAME).read_text())["videos"]) == ["a", "b", "c"]


# ----------------------------------------------------------------------------------------------- Ray


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_unreachable_ray_address_is_one_line_and_exit_2(
    tmp_path: Path, checkpoint: Path, clips: dict[str, Path]
) -> None:
    port = _free_port()  # nothing listens there any more
    out = tmp_path / "feats"
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "vidstruct",
            *_args(checkpoint, clips["a"].parent, out),
            "--ray-address",
            f"127.0.0.1:{port}",
        ],
        capture_output=True,
        text=True,
        timeout=120,  # Ray alone would retry for minutes
    )
    assert proc.returncode == 2
    assert proc.stderr == f"error: --ray-address 127.0.0.1:{port}: no Ray cluster answered (Connection refused)\n"
    assert not out.exists(), "nothing is written before Ray answers"


def test_malformed_ray_address_is_one_line(
    tmp_path: Path, checkpoint: Path, clips: dict[str, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    assert main([*_args(checkpoint, clips["a"].parent, tmp_path / "feats"), "--ray-address", "headnode", "-q"]) == 2
    err = capsys.readouterr().err
    assert err == "error: --ray-address headnode: expected HOST:PORT (e.g. 10.0.0.5:6379)\n"


def test_ray_not_installed_names_the_extra(
    tmp_path: Path,
    checkpoint: Path,
    clips: dict[str, Path],
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setitem(sys.modules, "ray", None)  # ``import ray`` raises ImportError
    out = tmp_path / "feats"
    assert main([*_args(checkpoint, clips["a"].parent, out), "--ray", "-q"]) == 2
    err = capsys.readouterr().err
    assert err == "error: --ray needs Ray, an optional extra that is not installed: pip install 'vidstruct[ray]'\n"
    assert not out.exists()


@pytest.mark.slow
def test_a_ray_worker_killed_on_one_video_fails_only_that_video(
    tmp_path: Path, checkpoint: Path, clips: dict[str, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    import ray

    real = pf._ray_task

    def make_task():
        def task(ckpt_bytes, sha256, device, threads, video_id, path, **kwargs):  # pickled by value to Ray
            if video_id == "boom":
                os.kill(os.getpid(), signal.SIGKILL)
            return real(ckpt_bytes, sha256, device, threads, video_id, path, **kwargs)

        return task

    monkeypatch.setattr(pf, "_ray_task", make_task())
    videos = {"b": clips["b"], "boom": clips["a"], "c": clips["c"]}
    out = tmp_path / "feats"
    report = extract_features(checkpoint, videos, out, window_s=1.0, stride_s=0.5, workers=2, ray=True, device="cpu")
    assert sorted(report.done) == ["b", "c"] and list(report.failed) == ["boom"]
    assert report.failed["boom"].startswith(f"{clips['a']}: worker process died (Ray: ")
    assert FeatureStore(out).failed == report.failed and not ray.is_initialized()

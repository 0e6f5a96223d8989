"""``vidstruct reel`` through the CLI: the written reel and chapters, JSON output, one-line user errors (exit 2)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from reelkit import chapters, reel_duration_s, reel_ids, write_doc

from vidstruct.cli.main import main


def test_reel_command_writes_the_reel_and_its_chapters(
    reel_doc: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "reel.mp4"
    code = main(["reel", str(reel_doc), "--label", "jump", "--max-s", "2", "--out", str(out), "--json"])
    assert code == 0
    report = json.loads(capsys.readouterr().out)
    assert report["mode"] == "copy" and report["frames"] == 20 and report["duration_s"] == 2.0
    assert [(p["reel_start_s"], p["reel_end_s"], p["segments"]) for p in report["parts"]] == [(0, 1, [0]), (1, 2, [1])]
    assert reel_ids(out) == [*range(10, 20), *range(30, 40)]
    assert reel_duration_s(out) == pytest.approx(2.0, abs=0.1)
    assert report["chapters"] == str(tmp_path / "reel.chapters.vtt")
    assert [c[3] for c in chapters(Path(report["chapters"]))] == ["jump", "jump"]
    assert not [p.name for p in tmp_path.iterdir() if p.name.endswith(".tmp.mp4")]  # no temp file left


def _one_line_error(argv: list[str], capsys: pytest.CaptureFixture[str]) -> str:
    assert main(argv) == 2
    captured = capsys.readouterr()
    assert captured.err.startswith("error: ") and captured.err.count("\n") == 1, captured.err
    return captured.err


@pytest.mark.parametrize(
    ("options", "message"),
    [
        (["--label", "swim"], "label 'swim' is not in the document (its segment labels: jump, run)"),
        (["--label", "jump", "--min-score", "0.95"], "no segment of label 'jump' has a score >= 0.95"),
        (["--label", "jump", "--max-s", "0"], "--max-s must be > 0 seconds, got 0"),
        (["--label", "jump", "--max-s", "-1"], "--max-s must be > 0 seconds, got -1"),
    ],
)
def test_bad_requests_give_one_line(
    reel_doc: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], options: list[str], message: str
) -> None:
    out = tmp_path / "reel.mp4"
    err = _one_line_error(["reel", str(reel_doc), *options, "--out", str(out)], capsys)
    assert message in err
    assert not out.exists()


def test_a_structure_whose_video_is_gone_gives_one_line(
    reel_video: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    video = shutil.copy(reel_video, tmp_path / "gone.mp4")
    doc = write_doc(tmp_path / "analysis", Path(video))
    Path(video).unlink()
    err = _one_line_error(["reel", str(doc), "--label", "jump", "--out", str(tmp_path / "r.mp4")], capsys)
    assert f"video file {video} not found" in err


def test_an_unknown_video_id_without_a_database_gives_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = ["reel", "abc123", "--label", "jump", "--out", str(tmp_path / "r.mp4"), "--data-dir", str(tmp_path / "d")]
    err = _one_line_error(argv, capsys)
    assert "'abc123' is not a structure file, and there is no service database" in err
    assert not (tmp_path / "d").exists()


def test_a_video_id_is_looked_up_in_the_service_database(
    reel_video: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from vidstruct.service.db.migrate import upgrade
    from vidstruct.service.db.models import Video
    from vidstruct.service.db.session import make_engine, session_factory, transaction
    from vidstruct.service.db.store import add_analysis

    data = tmp_path / "data"
    data.mkdir()
    engine = make_engine(f"sqlite+pysqlite:///{data / 'vidstruct.db'}")
    upgrade(engine)
    document = json.loads(write_doc(tmp_path / "doc", reel_video).read_text())
    with transaction(session_factory(engine)) as session:
        video = Video(sha256="d" * 64, path=str(reel_video), stored=False, size_bytes=reel_video.stat().st_size)
        session.add(video)
        session.flush()
        add_analysis(session, document, video_id=video.id, job_id=None, folder="analyses/ids/out")
        video_id = video.id
    engine.dispose()
    out = tmp_path / "byid.mp4"
    argv = ["reel", video_id, "--data-dir", str(data), "--label", "run", "--out", str(out), "--json"]
    assert main(argv) == 0
    assert json.loads(capsys.readouterr().out)["mode"] == "copy"
    assert reel_ids(out) == list(range(20))
    err = _one_line_error(["reel", "f" * 32, "--data-dir", str(data), "--label", "run", "--out", str(out)], capsys)
    assert f"no video with id '{'f' * 32}'" in err

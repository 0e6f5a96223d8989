"""vidstruct.atomic: a destination holds the old content or the whole new one, and no temporary file survives."""

from __future__ import annotations

import json
import os
import stat
import threading
from pathlib import Path

import pytest

from vidstruct.atomic import atomic_open, atomic_path, write_bytes_atomic, write_json_atomic, write_text_atomic


def _leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name.startswith("."))


def test_write_then_overwrite(tmp_path: Path) -> None:
    target = tmp_path / "sub" / "a.json"
    write_json_atomic(target, {"x": 1})
    assert json.loads(target.read_text()) == {"x": 1}
    write_text_atomic(target, "new\n")
    assert target.read_text() == "new\n"
    assert _leftovers(target.parent) == []


def test_error_inside_block_keeps_old_content_and_removes_temp(tmp_path: Path) -> None:
    target = tmp_path / "log.csv"
    target.write_text("old\n")
    with pytest.raises(RuntimeError, match="boom"), atomic_open(target, "w") as fh:
        fh.write("half")
        raise RuntimeError("boom")
    assert target.read_text() == "old\n"
    assert _leftovers(tmp_path) == []


def test_atomic_path_keeps_suffix_and_cleans_up_on_error(tmp_path: Path) -> None:
    target = tmp_path / "frame.png"
    with atomic_path(target) as tmp:
        assert tmp.parent == tmp_path and tmp.name.endswith(".png") and tmp != target
        tmp.write_bytes(b"png")
    assert target.read_bytes() == b"png"
    with pytest.raises(KeyboardInterrupt), atomic_path(target) as tmp:
        tmp.write_bytes(b"partial")
        raise KeyboardInterrupt
    assert target.read_bytes() == b"png"
    assert _leftovers(tmp_path) == []


def test_callable_writer_and_concurrent_writers_use_distinct_temps(tmp_path: Path) -> None:
    target = tmp_path / "blob.bin"
    seen: list[str] = []
    barrier = threading.Barrier(2)

    def writer(payload: bytes) -> None:
        def write(fh) -> None:
            seen.append(fh.name)
            barrier.wait(timeout=10)  # both temporaries exist at once
            fh.write(payload)

        write_bytes_atomic(target, write)

    threads = [threading.Thread(target=writer, args=(bytes([i]) * 1000,)) for i in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(set(seen)) == 2
    assert target.read_bytes() in (b"\x00" * 1000, b"\x01" * 1000)
    assert _leftovers(tmp_path) == []


def test_rejects_append_mode(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="mode"), atomic_open(tmp_path / "x", "a"):
        pass


def test_special_files_are_written_in_place_not_replaced() -> None:
    devnull = Path("/dev/null")
    before = devnull.stat()
    write_text_atomic(devnull, "discarded\n")
    with atomic_path(devnull) as tmp:
        assert tmp == devnull
        tmp.write_bytes(b"x")
    after = devnull.stat()
    assert (after.st_ino, after.st_mode) == (before.st_ino, before.st_mode)


def test_error_names_the_destination_not_the_temporary_file(tmp_path: Path) -> None:
    target = tmp_path / "out.bin"
    with pytest.raises(OSError) as info, atomic_path(target) as tmp:
        raise FileNotFoundError(2, "No such file or directory", str(tmp))
    assert info.value.filename == str(target)


def test_new_files_get_the_umask_mode_and_existing_files_keep_theirs(tmp_path: Path) -> None:
    mask = os.umask(0o022)  # read the process umask (it can only be read by setting it)
    os.umask(mask)
    expected = 0o666 & ~mask  # what open(path, "w") gives a new file; mkstemp alone would give 0600
    fresh = tmp_path / "fresh.txt"
    write_text_atomic(fresh, "a")
    with atomic_path(tmp_path / "video.mp4") as tmp:
        tmp.write_bytes(b"v")
    assert stat.S_IMODE(fresh.stat().st_mode) == expected
    assert stat.S_IMODE((tmp_path / "video.mp4").stat().st_mode) == expected
    kept = tmp_path / "kept.txt"
    kept.write_text("old")
    kept.chmod(0o640)
    write_text_atomic(kept, "new")
    assert stat.S_IMODE(kept.stat().st_mode) == 0o640

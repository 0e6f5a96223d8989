"""Writers of small EPIC-100 files for the eval_epic tests (labels CSV, tail / unseen CSVs)."""

from __future__ import annotations

from pathlib import Path

HEADER = (
    "narration_id,participant_id,video_id,narration_timestamp,start_timestamp,stop_timestamp,start_frame,"
    "stop_frame,narration,verb,verb_class,noun,noun_class,all_nouns,all_noun_classes"
)


def seconds_to_timestamp(t: float) -> str:
    h, rest = divmod(t, 3600)
    m, s = divmod(rest, 60)
    return f"{int(h):02d}:{int(m):02d}:{s:05.2f}"


def write_labels_csv(path: Path, rows: list[tuple]) -> Path:
    """``rows``: ``(narration_id, participant_id, video_id, start_s, stop_s, verb_class, noun_class)``."""
    lines = [HEADER]
    for nid, pid, vid, start, stop, verb, noun in rows:
        ts0, ts1 = seconds_to_timestamp(start), seconds_to_timestamp(stop)
        lines.append(
            f"{nid},{pid},{vid},{ts0},{ts0},{ts1},{int(start * 50)},{int(stop * 50)},do thing,v{verb},{verb},"
            f'n{noun},{noun},"[\'n{noun}\']","[{noun}]"'
        )
    path.write_text("\n".join(lines) + "\n")
    return path


def write_column_csv(path: Path, column: str, values: list) -> Path:
    path.write_text("\n".join([column] + [str(v) for v in values]) + "\n")
    return path

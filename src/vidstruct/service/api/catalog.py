"""``/v1/profiles`` and ``/v1/labels``: what a caller can choose from (scope ``read``).

``GET /v1/profiles``: the analysis profiles a job may name, every ``NAME.yaml`` of the folders jobs look in
(``DATA/profiles``, then the ``--profile-dir`` folders, then ``configs/analyze``; the first file of a name wins, as
:meth:`~vidstruct.service.settings.ServiceSettings.profile_path` picks it). Each says the name a job gives
(``name``), the name its analyses record (``analysis_name``), a description (the first sentence of the file's
leading comment), whether it is the service's default, its hash (``profile_sha256``, as each analysis records
it) and the models it names, keyed as an analysis's ``models`` are (``shots``, ``recognizer``, ``localizer``,
``localizer_backbone``, ``actors``, ``persons``): model name, task and checkpoint SHA-256, read from the
checkpoint's own metadata (weights memory-mapped, not loaded). No server path is shown: a profile that does not
validate, or names a missing or unreadable file, says so in ``problems`` in this module's words (the full error
goes to the server log). A profile's answer is kept until its file or one of its checkpoints changes (size,
mtime).

``GET /v1/labels``: the distinct labels of the segments of each video's newest complete analysis (the segments
search sees), with how many segments and how many videos carry each, most segments first (ties: more videos,
then the label). ``prefix`` keeps the labels that start with it, case-insensitively (Unicode case folding).
Keys that cannot review (``read``, ``write``) do not see the segments of videos blocked by moderation (a ``block``
flag awaiting a decision or confirmed, as :func:`vidstruct.service.moderation.checker.is_blocking` says).
``limit`` labels a page (1-500, default 50), ``next_token`` the next page (:mod:`.pagination`).

The labels query uses the ``(label, score)`` index of ``segments`` twice: the distinct labels are read by a
recursive skip scan (one index seek per label, not a pass over the segments), and with a ``prefix`` only the
matching labels' index ranges are counted. Without a prefix every current segment is counted.
"""

from __future__ import annotations

import logging
import re
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from fastapi import APIRouter, Depends, Query, Request
from pydantic import BaseModel, Field
from sqlalchemy import and_, func, or_, select
from sqlalchemy.orm import Session

from vidstruct.errors import VidstructError
from vidstruct.models.checkpoint import sha256_file
from vidstruct.models.shots.transnetv2 import transnetv2_weights_path
from vidstruct.pipeline.analyze.settings import AnalyzeSettings
from vidstruct.recipes.analyze import analyze_settings, load_profile
from vidstruct.service.api.deps import db_session, require, state
from vidstruct.service.api.pagination import decode_token, page_token
from vidstruct.service.auth import grants
from vidstruct.service.db.models import Analysis, ApiKey, ModerationFlag, Segment
from vidstruct.service.search.filters import current_analysis_condition
from vidstruct.service.settings import ServiceSettings

log = logging.getLogger(__name__)
router = APIRouter(prefix="/v1", tags=["catalog"])
PROFILE_NAME = re.compile(r"^[A-Za-z0-9_-]{1,100}$")  # the profile names POST /v1/jobs accepts
MAX_LABELS = 500
_IN_CHUNK = 500  # labels per IN (...) list: bound parameters stay far below every database's limit


class ProfileModel(BaseModel):
    """A model a profile names, as the analyses made with it will record it."""

    key: str = Field(description="its key in an analysis's models: shots, recognizer, localizer, ...")
    name: str | None = Field(description="the model's name (from its checkpoint); null when unreadable")
    task: str = Field(description="shots, recognition, localization, action-detection or person-detection")
    checkpoint_sha256: str | None = Field(description="SHA-256 of its file; null without one or when missing")


class ProfileView(BaseModel):
    name: str = Field(description="what POST /v1/jobs takes as 'profile'")
    analysis_name: str | None = Field(description="the profile name its analyses record (the file's name:)")
    description: str | None = Field(description="the first sentence of the file's leading comment")
    is_default: bool = Field(description="the profile of jobs that name none")
    profile_sha256: str | None = Field(description="the profile hash its analyses record")
    models: list[ProfileModel]
    usable: bool = Field(description="it validates and every file it names is there")
    problems: list[str] = Field(description="why it is not usable (no server paths)")


class ProfileList(BaseModel):
    profiles: list[ProfileView]
    default_profile: str


class LabelCount(BaseModel):
    label: str
    segments: int = Field(description="segments with this label (newest complete analysis of each video)")
    videos: int = Field(description="videos with at least one such segment")


class LabelList(BaseModel):
    labels: list[LabelCount]
    next_token: str | None


# --- profiles


def profile_files(settings: ServiceSettings) -> dict[str, Path]:
    """``{name: file}`` of every profile a job may name, the file :meth:`ServiceSettings.profile_path` picks."""
    found: dict[str, Path] = {}
    for folder in (settings.data_dir / "profiles", *settings.profile_dirs):
        if not folder.is_dir():
            continue
        for path in sorted(folder.glob("*.yaml")):
            if PROFILE_NAME.match(path.stem) and path.stem not in found and path.is_file():
                found[path.stem] = path
    return found


def description_of(text: str) -> str | None:
    """The first sentence of the leading ``#`` comment of a YAML text (at most 300 characters), or None."""
    lines: list[str] = []
    for line in text.splitlines():
        stripped = line.strip()
        if not stripped.startswith("#"):
            break
        body = stripped.lstrip("#").strip()
        if not body:
            if lines:
                break
            continue
        lines.append(body)
    words = " ".join(lines)
    if not words:
        return None
    end = re.search(r"[.!?](\s|$)", words)
    sentence = words[: end.start() + 1] if end else words
    return sentence if len(sentence) <= 300 else sentence[:299].rstrip() + "…"


_Stamp = tuple[tuple[str, int, int] | tuple[str, None, None], ...]


def _stamp(paths: list[Path]) -> _Stamp:
    out: list[Any] = []
    for path in paths:
        try:
            st = path.stat()
            out.append((str(path), st.st_mtime_ns, st.st_size))
        except OSError:
            out.append((str(path), None, None))
    return tuple(out)


@dataclass
class _Files:
    """The checkpoint files a description read (their stamps decide whether it is still current)."""

    read: list[Path]

    def sha256(self, path: Path) -> str | None:
        self.read.append(path)
        return sha256_file(path) if path.is_file() else None

    def doc(self, path: Path) -> dict[str, Any] | None:
        """A checkpoint's metadata dict (weights memory-mapped, not read), or None when missing or unreadable."""
        self.read.append(path)
        if not path.is_file():
            return None
        for mmap in (True, False):  # mmap needs the zip format of torch.save; older files load without it
            try:
                doc = torch.load(path, map_location="cpu", weights_only=True, mmap=mmap)
            except Exception:  # a foreign or damaged file: reported as unreadable
                continue
            return doc if isinstance(doc, dict) else None
        return None


def _run_file(path: str, run_file: str) -> Path:
    given = Path(path)
    return given / run_file if given.is_dir() else given


def _models(analyze: AnalyzeSettings, files: _Files) -> tuple[list[ProfileModel], list[str]]:
    """The models ``analyze`` names (keys and names as :meth:`AnalyzeModels.records` gives them) and problems."""
    models: list[ProfileModel] = []
    problems: list[str] = []

    def checkpoint(key: str, task: str, path: str, run_file: str, name_of: Any) -> ProfileModel:
        file = _run_file(path, run_file)
        doc = files.doc(file)
        sha = files.sha256(file)
        if sha is None:
            problems.append(f"{key}: its checkpoint file is missing")
        elif doc is None:
            problems.append(f"{key}: its checkpoint file is not a readable checkpoint")
        name = name_of(doc, file) if doc is not None else None
        return ProfileModel(key=key, name=None if name is None else str(name), task=task, checkpoint_sha256=sha)

    shots = analyze.shots.detector
    if shots != "none":
        sha = files.sha256(transnetv2_weights_path()) if shots == "transnetv2" else None
        models.append(ProfileModel(key="shots", name=shots, task="shots", checkpoint_sha256=sha))
    rec, loc = analyze.recognition, analyze.localization
    recognizer = None
    if rec.checkpoint is not None:
        recognizer = checkpoint("recognizer", "recognition", rec.checkpoint, "model.pt", lambda d, f: d.get("model"))
        models.append(recognizer)
    if loc.checkpoint is not None:
        localizer = checkpoint("localizer", "localization", loc.checkpoint, "localizer.pt", lambda d, f: d.get("model"))
        models.append(localizer)
        key = "recognizer" if recognizer is None else "localizer_backbone"  # no recognizer: the backbone is it
        if loc.backbone is not None:
            backbone = checkpoint(key, "recognition", loc.backbone, "model.pt", lambda d, f: d.get("model"))
        else:  # the backbone the localizer records
            file = _run_file(loc.checkpoint, "localizer.pt")
            features = (files.doc(file) or {}).get("features") or {}
            name, sha = features.get("backbone_model"), features.get("backbone_sha256")
            backbone = ProfileModel(key=key, name=None if name is None else str(name), task="recognition",
                                    checkpoint_sha256=None if sha is None else str(sha))  # fmt: skip
        if recognizer is None or backbone.checkpoint_sha256 != recognizer.checkpoint_sha256:
            models.append(backbone)
    act = analyze.actors
    if act.detector is not None:
        models.append(checkpoint("actors", "action-detection", act.detector, "detector.pt",
                                 lambda d, f: d.get("name") or f.parent.name))  # fmt: skip
        models.append(_persons(act.proposals, act.person_detector, act.person_weights, files, problems))
    return models, problems


def _persons(
    proposals: str | None, detector: str | None, weights: str | None, files: _Files, problems: list[str]
) -> ProfileModel:
    """The ``persons`` entry: a proposals file, a torchvision detector with its weights, or a detector checkpoint."""
    if proposals is not None:
        name, file = "proposals", Path(proposals)
    elif weights is not None:
        name, file = str(detector), Path(weights)
    else:
        file = _run_file(str(detector), "person_detector.pt")
        name = file.parent.name if file.name == "person_detector.pt" else file.stem
    sha = files.sha256(file)
    if sha is None:
        problems.append("persons: its file is missing")
    return ProfileModel(key="persons", name=name, task="person-detection", checkpoint_sha256=sha)


def describe_profile(name: str, path: Path, default: str) -> tuple[ProfileView, list[Path]]:
    """What ``GET /v1/profiles`` says of the profile ``name`` at ``path`` (see the module doc), and the
    checkpoint files it read."""
    try:
        description = description_of(path.read_text(encoding="utf-8", errors="replace"))
        profile, composed = load_profile(path)
        analyze = analyze_settings(profile, composed, name=name, report=False)
    except (VidstructError, OSError) as exc:
        log.warning("profile %r does not load: %s", name, exc)
        view = ProfileView(
            name=name, analysis_name=None, description=None, is_default=name == default, profile_sha256=None,
            models=[], usable=False, problems=["the profile does not validate (the server's log says why)"],
        )  # fmt: skip
        return view, []
    files = _Files([])
    models, problems = _models(analyze, files)
    view = ProfileView(
        name=name, analysis_name=analyze.profile_name, description=description, is_default=name == default,
        profile_sha256=analyze.profile_sha256, models=models, usable=not problems, problems=problems,
    )  # fmt: skip
    return view, files.read


class ProfileCache:
    """Descriptions kept per profile file until it or a checkpoint it read changes (size or mtime)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._entries: dict[tuple[str, str, str], tuple[_Stamp, ProfileView]] = {}

    def get(self, name: str, path: Path, default: str) -> ProfileView:
        key = (name, str(path), default)
        with self._lock:
            entry = self._entries.get(key)
        if entry is not None and _stamp([Path(p[0]) for p in entry[0]]) == entry[0]:
            return entry[1]
        before = _stamp([path])
        view, read = describe_profile(name, path, default)
        with self._lock:
            if len(self._entries) > 256:
                self._entries.clear()
            self._entries[key] = (before + _stamp(list(dict.fromkeys(read))), view)
        return view


_PROFILES = ProfileCache()


@router.get("/profiles", summary="the analysis profiles a job may name, with the models each runs")
def list_profiles(request: Request, _: ApiKey = Depends(require("read"))) -> ProfileList:
    """Every profile of the service's profile folders, by name (see the module doc); no server path is shown."""
    settings = state(request).settings
    default = settings.default_profile
    views = [_PROFILES.get(name, path, default) for name, path in sorted(profile_files(settings).items())]
    return ProfileList(profiles=views, default_profile=default)


# --- labels


def distinct_labels(session: Session) -> list[str]:
    """Every label of ``segments``, in order, by a recursive skip scan of the ``(label, score)`` index."""
    first = select(func.min(Segment.label).label("label")).cte("label_scan", recursive=True)
    following = (
        select(Segment.label).where(Segment.label > first.c.label).order_by(Segment.label).limit(1).scalar_subquery()
    )
    scan = first.union_all(select(following.label("label")).where(first.c.label.is_not(None)))
    return [label for label in session.scalars(select(scan.c.label)) if label is not None]


def blocked_videos() -> Any:
    """The ids of the videos moderation blocks, as SQL (:func:`~vidstruct.service.moderation.checker.is_blocking`:
    a ``block`` flag open or escalated, or reviewed and confirmed)."""
    return select(ModerationFlag.video_id).where(
        ModerationFlag.action == "block",
        or_(
            ModerationFlag.status.in_(("open", "escalated")),
            and_(ModerationFlag.status == "reviewed", ModerationFlag.decision == "confirm"),
        ),
    )


def _count_labels(analysis_id: Any, hide_blocked: bool, labels: list[str] | None = None) -> Any:
    """Segments and videos per label of the current segments (``analysis_id``: the column, or an expression of
    it that keeps the planner off its index; ``labels``: only these). Videos are counted as the groups of a
    (label, video) grouping, not by ``count(DISTINCT)``, which PostgreSQL answers by sorting every row."""
    current = select(Analysis.id).where(current_analysis_condition())
    pairs = select(Segment.label, func.count(Segment.id).label("n")).where(analysis_id.in_(current))
    if hide_blocked:
        pairs = pairs.where(Segment.video_id.not_in(blocked_videos()))
    if labels is not None:
        pairs = pairs.where(Segment.label.in_(labels))
    by_video = pairs.group_by(Segment.label, Segment.video_id).subquery()
    return select(by_video.c.label, func.sum(by_video.c.n), func.count()).group_by(by_video.c.label)


def label_counts(session: Session, prefix: str, *, hide_blocked: bool) -> list[LabelCount]:
    """Every label of the current segments starting with ``prefix`` (case-insensitively) and its counts, most
    segments first, then most videos, then by label."""
    if prefix:
        folded = prefix.casefold()
        wanted = [label for label in distinct_labels(session) if label.casefold().startswith(folded)]
        # analysis_id || '': with statistics, SQLite would rather walk every current analysis's segments by
        # ix_segments_analysis_id than the matching labels' ranges of ix_segments_label_score
        chunks = [wanted[i : i + _IN_CHUNK] for i in range(0, len(wanted), _IN_CHUNK)]
        by_label = Segment.analysis_id.concat("")
        rows = [row for chunk in chunks for row in session.execute(_count_labels(by_label, hide_blocked, chunk))]
    else:
        rows = list(session.execute(_count_labels(Segment.analysis_id, hide_blocked)))
    counts = [LabelCount(label=label, segments=int(n), videos=int(v)) for label, n, v in rows]
    return sorted(counts, key=lambda c: (-c.segments, -c.videos, c.label))


@router.get("/labels", summary="the labels in the collection with their segment and video counts")
def list_labels(
    prefix: str = Query("", max_length=200, description="labels starting with this (case-insensitive)"),
    limit: int = Query(50, ge=1, le=MAX_LABELS, description="labels a page"),
    next_token: str | None = Query(None, max_length=2000),
    session: Session = Depends(db_session),
    key: ApiKey = Depends(require("read")),
) -> LabelList:
    """Labels of the newest complete analysis of each video, most segments first (see the module doc)."""
    offset = decode_token(next_token)
    counts = label_counts(session, prefix, hide_blocked=not grants(key.scope, "review"))
    page = counts[offset : offset + limit]
    return LabelList(labels=page, next_token=page_token(offset, len(page), limit, len(counts) > offset + limit))

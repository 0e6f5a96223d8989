"""Settings of the service, shared by the API, the workers and the ``db`` / ``keys`` commands.

The data folder (``--data-dir``, default ``./vidstruct_data``) holds everything the service writes when no
other place is given: the embedded SQLite database (``vidstruct.db``, WAL mode), uploaded videos
(``videos/``), uploads in progress (``uploads/``), analysis folders (``analyses/``) and profiles
(``profiles/NAME.yaml``, looked up before the shipped ``configs/analyze``).
"""

from __future__ import annotations

import argparse
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from vidstruct.errors import InputError

DEFAULT_DATA_DIR = "vidstruct_data"
SQLITE_FILE = "vidstruct.db"
FEATURES = ("shots", "labels", "segments", "actors", "moderation")
#: what a job analyses and indexes when it names no features (every finished job is checked against the moderation
#: policy of ``--policy`` whatever its features, and so also analyses what the policy reads; naming ``moderation`` is
#: accepted)
DEFAULT_FEATURES = ("shots", "labels", "segments", "actors")


@dataclass(frozen=True)
class ServiceSettings:
    """Everything the service parts need, explicit.

    - ``db_url``: a SQLAlchemy URL (None: SQLite at ``data_dir / vidstruct.db``);
    - ``allow_roots``: folders whose files a job may name by ``path`` (none: only uploads);
    - ``max_upload_bytes`` / ``max_form_bytes``: largest uploaded video / largest non-file form field;
    - ``lease_s``: how long a claimed job stays a worker's without renewal; ``max_attempts``: claims before a job
      fails for good; ``poll_s``: how often an idle worker looks for work;
    - ``profile_dirs``: folders searched for ``NAME.yaml`` after ``data_dir / profiles``;
    - ``cors_origins``: origins allowed to call the API from a browser (none by default);
    - ``webhook_*``: the signing secret (None: see :mod:`vidstruct.service.jobs.webhooks`), tries, the first
      retry's wait (seconds, doubling after each try, with jitter) and each call's timeout (seconds);
      ``webhook_allow_private`` / ``webhook_allowed_hosts``: the SSRF guard's allowances (default: webhooks reach
      public addresses only; see :mod:`vidstruct.service.jobs.webhook_guard`);
    - ``policy_path``: the moderation policy YAML (None: no moderation; see :mod:`vidstruct.service.moderation`);
    - ``stream_*`` / ``streams_*``: job event streams (:mod:`vidstruct.service.api.job_events`): how often a stream
      reads its jobs, the heartbeat after that long without an event, a stream's longest life (seconds), and the
      open streams allowed per API key and in all (per API process).
    """

    data_dir: Path = Path(DEFAULT_DATA_DIR)
    db_url: str | None = None
    allow_roots: tuple[Path, ...] = ()
    max_upload_bytes: int = 2 * 1024**3
    max_form_bytes: int = 64 * 1024
    lease_s: float = 60.0
    max_attempts: int = 3
    poll_s: float = 1.0
    profile_dirs: tuple[Path, ...] = (Path("configs/analyze"),)
    default_profile: str = "default"
    cors_origins: tuple[str, ...] = ()
    heartbeat_s: float = field(default=5.0)
    webhook_secret: str | None = None
    webhook_attempts: int = 5
    webhook_backoff_s: float = 1.0
    webhook_timeout_s: float = 10.0
    webhook_allow_private: bool = False
    webhook_allowed_hosts: tuple[str, ...] = ()
    policy_path: Path | None = None
    stream_poll_s: float = 0.5
    stream_heartbeat_s: float = 15.0
    stream_max_s: float = 600.0
    streams_per_key: int = 8
    streams_total: int = 200

    def __post_init__(self) -> None:
        if self.max_upload_bytes <= 0 or self.max_form_bytes <= 0:
            raise InputError("upload and form size limits must be positive")
        if self.lease_s <= 0 or self.poll_s <= 0 or self.heartbeat_s <= 0:
            raise InputError("lease, poll and heartbeat intervals must be positive seconds")
        if min(self.stream_poll_s, self.stream_heartbeat_s, self.stream_max_s) <= 0:
            raise InputError("event stream poll, heartbeat and lifetime must be positive seconds")
        if self.streams_per_key < 1 or self.streams_total < 1:
            raise InputError("event stream limits must be at least 1")
        if self.max_attempts < 1:
            raise InputError(f"max attempts must be at least 1, got {self.max_attempts}")
        if self.webhook_attempts < 1 or self.webhook_backoff_s < 0 or self.webhook_timeout_s <= 0:
            raise InputError("webhook tries must be at least 1, the backoff >= 0 s and the timeout > 0 s")
        if self.webhook_allowed_hosts:
            from vidstruct.service.jobs.webhook_guard import parse_allowed_hosts

            parse_allowed_hosts(tuple(self.webhook_allowed_hosts))  # a bad entry: one line, at start

    @property
    def database_url(self) -> str:
        """The SQLAlchemy URL of the database (the embedded SQLite file when ``db_url`` is None)."""
        if self.db_url:
            return self.db_url
        return f"sqlite+pysqlite:///{(self.data_dir / SQLITE_FILE).resolve()}"

    @property
    def videos_dir(self) -> Path:
        return self.data_dir / "videos"

    @property
    def uploads_dir(self) -> Path:
        return self.data_dir / "uploads"

    @property
    def analyses_dir(self) -> Path:
        return self.data_dir / "analyses"

    def profile_path(self, name: str) -> Path | None:
        """The YAML file of profile ``name`` (``data_dir/profiles`` first, then ``profile_dirs``), or None."""
        for folder in (self.data_dir / "profiles", *self.profile_dirs):
            path = folder / f"{name}.yaml"
            if path.is_file():
                return path
        return None


def add_store_arguments(parser: argparse.ArgumentParser) -> None:
    """``--data-dir`` and ``--db``, the options every service command (serve, worker, db, keys) shares."""
    parser.add_argument(
        "--data-dir",
        default=DEFAULT_DATA_DIR,
        metavar="DIR",
        help=f"the service's files (videos, analyses; the SQLite database unless --db) (default ./{DEFAULT_DATA_DIR})",
    )
    parser.add_argument(
        "--db",
        default=None,
        metavar="URL",
        help="database URL, e.g. postgresql+psycopg://user@host/db (default: SQLite in WAL mode under --data-dir)",
    )


def add_worker_arguments(parser: argparse.ArgumentParser) -> None:
    """What workers need besides the store: where profiles are, the lease and the attempts."""
    parser.add_argument(
        "--profile-dir",
        action="append",
        default=[],
        metavar="DIR",
        help="folder of analysis profiles NAME.yaml (repeatable; DATA/profiles first, then these, then "
        "configs/analyze)",
    )
    parser.add_argument("--default-profile", default="default", metavar="NAME", help="profile of jobs naming none")
    parser.add_argument("--lease-s", type=float, default=60.0, help="seconds a claimed job stays a worker's unrenewed")
    parser.add_argument("--max-attempts", type=int, default=3, help="claims of a job before it fails for good")
    parser.add_argument(
        "--policy",
        default=None,
        metavar="FILE",
        help="moderation policy YAML: every finished job is checked against it (see configs/moderation)",
    )
    parser.add_argument("--webhook-attempts", type=int, default=5, help="tries of a webhook before it fails")
    parser.add_argument("--webhook-backoff-s", type=float, default=1.0, help="wait before a webhook's first retry "
                        "(seconds; doubling after each try, with jitter)")  # fmt: skip
    parser.add_argument("--webhook-timeout-s", type=float, default=10.0, help="timeout of a webhook try's "
                        "connect, send and answer, each (seconds)")  # fmt: skip
    parser.add_argument("--webhook-allow-private", action="store_true", help="let webhooks reach "
                        "loopback, private and link-local addresses (default: public ones only; env "
                        "VIDSTRUCT_WEBHOOK_ALLOW_PRIVATE=1)")  # fmt: skip
    parser.add_argument("--webhook-allow-host", action="append", default=[], metavar="HOST|CIDR", help="a host "
                        "name, address or network webhooks may reach although not public (repeatable; env "
                        "VIDSTRUCT_WEBHOOK_ALLOWED_HOSTS, comma-separated)")  # fmt: skip


def store_settings(args: argparse.Namespace, **more: Any) -> ServiceSettings:
    """:class:`ServiceSettings` from ``--data-dir`` / ``--db`` (or the ``VIDSTRUCT_DB`` environment variable, how
    ``serve`` hands the URL to its workers without showing it in the process list), the worker options when the
    command has them, and ``more`` fields."""
    fields: dict[str, Any] = {}
    if hasattr(args, "lease_s"):
        fields.update(
            profile_dirs=(*(Path(p) for p in args.profile_dir), Path("configs/analyze")),
            default_profile=args.default_profile,
            lease_s=args.lease_s,
            max_attempts=args.max_attempts,
            heartbeat_s=min(5.0, args.lease_s / 3),
            policy_path=Path(args.policy).resolve() if args.policy else None,
        )
    if hasattr(args, "webhook_attempts"):
        fields.update(webhook_attempts=args.webhook_attempts, webhook_backoff_s=args.webhook_backoff_s,
                      webhook_timeout_s=args.webhook_timeout_s)  # fmt: skip
        env_private = os.environ.get("VIDSTRUCT_WEBHOOK_ALLOW_PRIVATE", "").strip().lower() in ("1", "true", "yes")
        hosts = args.webhook_allow_host or [os.environ.get("VIDSTRUCT_WEBHOOK_ALLOWED_HOSTS", "")]
        allowed = tuple(h.strip() for v in hosts for h in v.split(",") if h.strip())
        fields.update(webhook_allow_private=bool(args.webhook_allow_private or env_private),
                      webhook_allowed_hosts=allowed)  # fmt: skip
    db = args.db or os.environ.get("VIDSTRUCT_DB") or None
    return ServiceSettings(data_dir=Path(args.data_dir), db_url=db, **{**fields, **more})
